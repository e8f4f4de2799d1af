//! `linepack sim outage --network FILE --element ID [--min-pressure-bar-g P]
//! [--friction LAW] [--json]`.

use std::path::Path;
use std::process::ExitCode;

use linepack_network::file;
use linepack_network::solver::{FrictionLaw, SolveOptions};
use linepack_sim::outage::{OutageError, outage};

use super::BadInput;

pub fn run(
    network_path: &Path,
    element: &str,
    min_bar_g: f64,
    friction: FrictionLaw,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let network = file::load(network_path)?;
    if !(min_bar_g.is_finite() && min_bar_g >= 0.0) {
        return Err(anyhow::anyhow!("--min-pressure-bar-g {min_bar_g}: must be 0 or more")
            .context(BadInput("arguments".into())));
    }
    let options = SolveOptions {
        friction,
        ..SolveOptions::default()
    };
    let report = match outage(&network, element, min_bar_g, options) {
        Ok(r) => r,
        Err(e @ (OutageError::Unknown(_) | OutageError::NotSwitchable { .. })) => {
            return Err(anyhow::Error::new(e).context(BadInput(format!("--element {element}"))));
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("the report serializes")
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "outage of {} '{}': {}; {} of {} users affected ({:.4} kg/s)",
        report.element_kind,
        report.element,
        if report.solved {
            "the rest of the network solves"
        } else {
            "the rest of the network cannot be solved"
        },
        report.affected.len(),
        report.consumers,
        report.affected_demand_kg_s
    );
    if let Some(e) = &report.error {
        println!("  {e}");
    }
    if let Some(l) = &report.lowest {
        println!(
            "  lowest user pressure after: {} at {:.3} bar g",
            l.consumer, l.pressure_bar_g
        );
    }
    if report.affected.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let opt = |p: Option<f64>| p.map_or_else(|| "-".to_string(), |p| format!("{p:.3}"));
    println!(
        "  {:<12} {:<12} {:<10} {:>10} {:>10} {:>10}  status",
        "user", "kind", "node", "before", "after", "minimum"
    );
    for a in &report.affected {
        println!(
            "  {:<12} {:<12} {:<10} {:>10} {:>10} {:>10.3}  {}",
            a.id,
            format!("{:?}", a.kind).to_lowercase(),
            a.node,
            opt(a.pressure_before_bar_g),
            opt(a.pressure_after_bar_g),
            a.min_pressure_bar_g,
            a.status.replace('_', " ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
