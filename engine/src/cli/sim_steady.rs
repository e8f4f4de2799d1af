//! `linepack sim steady FILE [--friction nikuradse|colebrook] [--json]`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use linepack_engine::report::SteadyReport;
use linepack_network::file;
use linepack_network::linepack::linepack;
use linepack_network::solver::{FrictionLaw, SolveOptions, SteadySolver};

pub fn run(path: &Path, friction: FrictionLaw, json: bool) -> anyhow::Result<ExitCode> {
    let network = file::load(path)?;

    // Timed: from the validated network in memory to the results in memory,
    // with every setup of the solver (layout, symbolic factorization).
    let start = Instant::now();
    let mut solver = SteadySolver::new(
        &network,
        SolveOptions {
            friction,
            ..SolveOptions::default()
        },
    );
    // A failed solve still reports its last iterate, with `converged: false`.
    let (state, error) = match solver.solve(&network) {
        Ok(state) => (state, None),
        Err(e) => (e.last_state().clone(), Some(e.to_string())),
    };
    let stored = linepack(&network, &state);
    let solve_time_ms = start.elapsed().as_secs_f64() * 1e3;

    let report = SteadyReport::new(&network, &state, &stored, solve_time_ms, error.clone());
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.to_text(&network));
    }
    if let Some(e) = error {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
