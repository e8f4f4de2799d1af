//! `linepack-sim`: the network simulator engineers use.
//!
//! Owns today:
//! - [`generate`]: synthetic city networks (grid mesh, stations with
//!   regulators, users of every kind, sensors, zones) for the demo, tests
//!   and benches;
//! - [`rng`]: the deterministic random source every simulation draws from.
//!
//! Scenarios, time stepping and telemetry publishing arrive with the
//! simulator issue.

pub mod generate;
pub mod outage;
pub mod publish;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod simulation;
pub mod telemetry;
pub mod truth;
