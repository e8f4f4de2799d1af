//! The telemetry contract (`specs/telemetry.md`): readings, units,
//! timestamps, and the decoder of MQTT topics and payloads.

pub mod config;
pub mod decode;
pub mod reading;
pub mod time;
pub mod units;

pub use config::{UnitsConfig, UnitsError};
pub use decode::{DecodeLimits, Decoder, Reject, RejectReason, SensorEntry, SensorTable};
pub use reading::{Batch, DeviceEvent, Quality, Reading, SequenceGap};
pub use units::Unit;
