//! `linepack sim scenarios --network FILE --count N --seed S [--out DIR] ...`:
//! a set of leak and normal-operation scenarios, with a manifest.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use linepack_network::file;
use linepack_sim::scenario::Scenario;
use linepack_sim::scenario::sets::{Manifest, SetConfig, describe, scenario_set};

use super::BadInput;

pub fn run(network_path: &Path, cfg: &SetConfig, out: &Path) -> anyhow::Result<ExitCode> {
    let network = file::load(network_path)?;
    let bad = |m: String| Err(anyhow::anyhow!(m).context(BadInput("arguments".into())));
    if cfg.leaks == 0 && cfg.normal == 0 {
        return bad("nothing to make: --count and --normal are both 0".into());
    }
    if !(cfg.min_percent > 0.0 && cfg.min_percent <= cfg.max_percent && cfg.max_percent <= 100.0) {
        return bad(format!(
            "--min-percent {} and --max-percent {}: need 0 < min ≤ max ≤ 100",
            cfg.min_percent, cfg.max_percent
        ));
    }
    if !(cfg.leak_hours > 0.0 && cfg.normal_days > 0.0 && cfg.learning_days >= 1.0) {
        return bad("--leak-hours and --normal-days must be positive, --learning-days at least 1".into());
    }
    let n = &cfg.noise;
    for (flag, v) in [
        ("--pressure-noise-bar", n.pressure_bar),
        ("--flow-noise-relative", n.flow_relative),
        ("--flow-noise-kg-s", n.flow_kg_s),
    ] {
        if !(v >= 0.0 && v.is_finite()) {
            return bad(format!("{flag} {v}: need a standard deviation, finite and at least 0"));
        }
    }
    let entries = scenario_set(&network, cfg);
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for e in &entries {
        // Each scenario is checked against the network before it is written.
        Scenario::resolve(&e.scenario, &network, 0)
            .map_err(|p| anyhow::anyhow!("generated scenario {} is invalid (a bug): {}", e.file, p.join("; ")))?;
        let text = toml::to_string(&e.scenario).context("scenario to TOML")?;
        let path = out.join(&e.file);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let manifest = Manifest {
        network: network_path.display().to_string(),
        seed: cfg.seed,
        created_from: describe(cfg),
        scenarios: &entries,
    };
    let path = out.join("manifest.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&manifest).expect("the manifest serializes") + "\n",
    )
    .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "wrote {} scenarios ({} leak, {} normal) and manifest.json to {}",
        entries.len(),
        cfg.leaks,
        cfg.normal,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
