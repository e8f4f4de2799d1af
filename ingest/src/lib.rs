//! `linepack-ingest` owns the way readings come in:
//! - [`telemetry`]: the telemetry contract: readings, units and their
//!   conversion (`[units]`), timestamps, the topic and payload decoder;
//! - [`mqtt`]: the MQTT client task (rumqttc), the embedded broker (rumqttd)
//!   and their configuration (`[mqtt]`);
//! - [`replay`]: the NDJSON recording source;
//! - [`handoff`]: the bounded channel of batches to the engine, with an
//!   explicit, counted policy when the engine is slower than the input;
//! - [`metrics`]: the counters of both sources.

pub mod handoff;
pub mod metrics;
pub mod mqtt;
pub mod replay;
pub mod telemetry;
