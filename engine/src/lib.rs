//! `linepack-engine`: the engine and the `linepack` command.
//!
//! Owns:
//! - [`config`]: the engine configuration file (`config/default.toml`);
//! - [`sensors`]: each sensor's place and resolved limits;
//! - [`state`]: live state per sensor;
//! - [`detect`]: the detectors (validity, limits, user devices, usage);
//! - [`alarm`]: the ISA-18.2 alarm book, flood detection, alarm events;
//! - [`engine`]: routing to shards and what spans them (gaps, floods,
//!   topology suppression), operator commands;
//! - [`leak`]: leak detection (zone balances with linepack, model
//!   residuals, localization);
//! - [`eval`]: scoring leak detection on simulated scenario sets;
//! - [`journal`]: the SQLite alarm journal and restore;
//! - [`hotloop`]: hand-off → engine → journal → announcement, operator
//!   commands between steps ([`command`]);
//! - [`live`]: the engine running live (ingest, restore, hot loop thread),
//!   [`view`]: what the control room reads, [`api`]: the HTTP API and page;
//! - [`report`]: reports of steady-state solves;
//! - the `linepack` binary (`src/main.rs`, commands in `src/cli/`).
//!
//! - [`notify`]: alarm notifications (routes, grouping, receivers, the
//!   durable outbox).
//! - [`archive`]: the telemetry archive (InfluxDB line protocol, memory and
//!   disk buffering).

pub mod alarm;
pub mod api;
pub mod archive;
pub mod command;
pub mod config;
pub mod detect;
pub mod engine;
pub mod eval;
pub mod hotloop;
pub mod http;
pub mod journal;
pub mod leak;
pub mod live;
pub mod notify;
pub mod report;
pub mod sensors;
pub mod state;
pub mod view;

/// The documented default configuration (`config/default.toml`).
pub const DEFAULT_CONFIG: &str = include_str!("../../config/default.toml");
