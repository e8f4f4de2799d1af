//! `linepack-ingest` owns the way readings come in:
//! - [`telemetry`]: the telemetry contract: readings, units and their
//!   conversion, timestamps, the topic and payload decoder.
//!
//! To come in this issue: the MQTT client (rumqttc) and embedded broker
//! (rumqttd), the bounded hand-off to the engine, the NDJSON replay source.

pub mod telemetry;
