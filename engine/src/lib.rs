//! `linepack-engine`: the engine and the `linepack` command.
//!
//! Owns today:
//! - [`report`]: the reports of steady-state solves (the `sim steady --json`
//!   contract and the readable table);
//! - the `linepack` binary (`src/main.rs`, commands in `src/cli/`).
//!
//! Live state, detectors, the alarm lifecycle, notifications, the InfluxDB
//! sink and the HTTP API arrive with their issues.

pub mod alarm;
pub mod config;
pub mod detect;
pub mod engine;
pub mod report;
pub mod sensors;
pub mod state;

/// The documented default configuration (`config/default.toml`).
pub const DEFAULT_CONFIG: &str = include_str!("../../config/default.toml");
