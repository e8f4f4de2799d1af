//! `linepack-tests` holds the end-to-end tests that cross crates: a real
//! broker, the engine, and its sinks. They arrive with the MQTT ingest and
//! engine issues; command-line tests of the `linepack` binary live beside it
//! in `engine/tests/`.
