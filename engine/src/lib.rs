//! `linepack-engine`: the engine and the `linepack` command.
//!
//! Owns today:
//! - [`report`]: the reports of steady-state solves (the `sim steady --json`
//!   contract and the readable table);
//! - the `linepack` binary (`src/main.rs`, commands in `src/cli/`).
//!
//! Live state, detectors, the alarm lifecycle, notifications, the InfluxDB
//! sink and the HTTP API arrive with their issues.

pub mod report;
