//! `linepack sim generate --nodes N --seed S [--smart-meters] [-o FILE]`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use linepack_engine::report::element_counts;
use linepack_network::file::{self, Format};
use linepack_sim::generate::{CityConfig, city};

pub fn run(nodes: usize, seed: u64, smart_meters: bool, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(nodes >= 4, "--nodes must be at least 4, got {nodes}");
    let generated = city(&CityConfig {
        nodes,
        seed,
        smart_meters,
        ..CityConfig::default()
    });
    let format = match out {
        None => Format::Json,
        Some(path) => {
            Format::from_path(path).with_context(|| format!("{}: use a .json or .toml extension", path.display()))?
        }
    };
    let text = file::to_string(&generated, format);
    // Validated like any file a user loads, before anyone sees it.
    let network = file::parse(&text, format, out.unwrap_or(Path::new("generated.json")))
        .context("the generator produced an invalid network (a bug)")?;
    match out {
        None => println!("{text}"),
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}: {}", path.display(), element_counts(&network));
        }
    }
    Ok(ExitCode::SUCCESS)
}
