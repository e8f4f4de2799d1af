//! `linepack-ingest` will own the way readings come in: the MQTT client
//! (rumqttc) and the embedded broker (rumqttd), topic and payload decoding per
//! `specs/telemetry.md`, unit conversion, validation and dead-lettering, the
//! NDJSON replay source, and the bounded hand-off of decoded batches to the
//! engine.
//!
//! Nothing is implemented yet (issue "MQTT ingest"); the crate exists so the
//! workspace has its final shape.
