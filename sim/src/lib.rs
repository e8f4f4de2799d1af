//! `linepack-sim`: the network simulator engineers use.
//!
//! Owns:
//! - [`generate`]: synthetic city networks (trunk with stations, metered
//!   districts, users of every kind, sensors, zones) for the demo, tests
//!   and benches;
//! - [`rng`]: the deterministic random source every simulation draws from;
//! - [`scenario`]: scenario files (TOML) resolved against a network, and
//!   scenario sets for evaluation;
//! - [`simulation`]: time stepping (warm-started quasi-steady solves with
//!   the linepack change), demand profiles, leaks, outages, set points,
//!   valves and device events;
//! - [`telemetry`]: what each sensor reports, with noise and faults;
//! - [`truth`]: the ground truth and mass totals of a run;
//! - [`run`] and [`publish`]: a whole run to an NDJSON recording or an MQTT
//!   broker;
//! - [`outage`]: what-if with an element out of service.

pub mod generate;
pub mod outage;
pub mod publish;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod simulation;
pub mod telemetry;
pub mod truth;
