//! NDJSON recordings (`specs/telemetry.md`): one reading per line, the
//! single-reading fields plus the sensor id:
//! `{"sensor": "PT-101", "ts": "2026-11-23T08:00:00.000Z", "v": 3.98}`.
//! `linepack sim run --out` writes them, `linepack replay` reads them.

use std::fmt::Write;

use super::reading::{DeviceEvent, Quality};
use super::time::format_rfc3339_ms;

/// One recording line (without the newline). `value` NaN means the line
/// carries only an event; values are written in the sensor's configured
/// unit, as a device would send them.
pub fn record_line(sensor: &str, ts_ms: i64, value: f64, quality: Quality, event: Option<DeviceEvent>) -> String {
    let mut line = String::with_capacity(80);
    let _ = write!(
        line,
        "{{\"sensor\":{},\"ts\":\"{}\"",
        serde_json::Value::from(sensor),
        format_rfc3339_ms(ts_ms)
    );
    if value.is_finite() {
        // Rust's shortest round-trip representation: the value reads back exactly.
        let _ = write!(line, ",\"v\":{value:?}");
    }
    if quality != Quality::Good {
        let _ = write!(line, ",\"q\":\"{}\"", quality.name());
    }
    if let Some(e) = event {
        let _ = write!(line, ",\"event\":\"{}\"", e.name());
    }
    line.push('}');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_look_like_the_spec() {
        assert_eq!(
            record_line("PT-101", 1_795_420_800_000, 3.98, Quality::Good, None),
            r#"{"sensor":"PT-101","ts":"2026-11-23T08:00:00.000Z","v":3.98}"#
        );
        assert_eq!(
            record_line("GD-1", 0, f64::NAN, Quality::Bad, Some(DeviceEvent::Tamper)),
            r#"{"sensor":"GD-1","ts":"1970-01-01T00:00:00.000Z","q":"bad","event":"tamper"}"#
        );
        assert_eq!(
            record_line("x\"y", 0, 1.0, Quality::Good, None)[..17],
            *r#"{"sensor":"x\"y","#
        );
    }
}
