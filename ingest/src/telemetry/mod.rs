//! The telemetry contract (`specs/telemetry.md`): readings, units,
//! timestamps, the decoder of MQTT topics, payloads and recording lines, and
//! the recording line writer.

pub mod config;
pub mod decode;
pub mod reading;
pub mod recording;
pub mod time;
pub mod units;

pub use config::{UnitsConfig, UnitsError};
pub use decode::{DecodeLimits, Decoder, Reject, RejectReason, SensorEntry, SensorTable};
pub use reading::{Batch, DeviceEvent, Quality, Reading, SequenceGap};
pub use recording::record_line;
pub use units::Unit;
