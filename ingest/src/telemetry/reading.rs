//! What ingest hands to the engine: decoded, converted readings in batches.

use linepack_network::ids::SensorIdx;

/// How far a reading can be trusted (telemetry contract `q`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Quality {
    Good,
    Uncertain,
    /// Stored, but not used by the detectors.
    Bad,
}

impl Quality {
    pub fn parse(s: &str) -> Option<Quality> {
        match s {
            "good" => Some(Quality::Good),
            "uncertain" => Some(Quality::Uncertain),
            "bad" => Some(Quality::Bad),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Quality::Good => "good",
            Quality::Uncertain => "uncertain",
            Quality::Bad => "bad",
        }
    }
}

/// An event a user-side safety device reports beside (or instead of) a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DeviceEvent {
    Tamper,
    BatteryLow,
    Fault,
    Test,
}

impl DeviceEvent {
    pub fn parse(s: &str) -> Option<DeviceEvent> {
        match s {
            "tamper" => Some(DeviceEvent::Tamper),
            "battery_low" => Some(DeviceEvent::BatteryLow),
            "fault" => Some(DeviceEvent::Fault),
            "test" => Some(DeviceEvent::Test),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DeviceEvent::Tamper => "tamper",
            DeviceEvent::BatteryLow => "battery_low",
            DeviceEvent::Fault => "fault",
            DeviceEvent::Test => "test",
        }
    }
}

/// One decoded reading, in internal units (pressure bar g, flow kg/s,
/// temperature K, %LEL, valve 1/0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    pub sensor: SensorIdx,
    /// Milliseconds since the Unix epoch (the device's time, or arrival).
    pub ts_ms: i64,
    /// NaN when the message carried only an event.
    pub value: f64,
    pub quality: Quality,
    pub event: Option<DeviceEvent>,
}

/// A site's sequence number jumped: messages were lost upstream of ingest.
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceGap {
    pub site: Box<str>,
    pub expected: u64,
    pub received: u64,
    pub ts_ms: i64,
}

/// What one hand-off carries to the engine.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    pub readings: Vec<Reading>,
    pub gaps: Vec<SequenceGap>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.readings.is_empty() && self.gaps.is_empty()
    }

    pub fn clear(&mut self) {
        self.readings.clear();
        self.gaps.clear();
    }
}
