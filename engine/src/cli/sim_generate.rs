//! `linepack sim generate --nodes N --seed S [-o FILE]`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use linepack_network::file::{self, Format};
use linepack_sim::generate::{CityConfig, city};

pub fn run(nodes: usize, seed: u64, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(nodes >= 4, "--nodes must be at least 4, got {nodes}");
    let network = city(&CityConfig {
        nodes,
        seed,
        ..CityConfig::default()
    });
    match out {
        None => println!("{}", file::to_string(&network, Format::Json)),
        Some(path) => {
            let format = Format::from_path(path)
                .with_context(|| format!("{}: use a .json or .toml extension", path.display()))?;
            std::fs::write(path, file::to_string(&network, format))
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "wrote {}: {} nodes, {} pipes, {} valves, {} regulators, {} supplies, {} consumers, {} sensors, {} zones",
                path.display(),
                network.nodes.len(),
                network.pipes.len(),
                network.valves.len(),
                network.regulators.len(),
                network.supplies.len(),
                network.consumers.len(),
                network.sensors.len(),
                network.zones.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
