//! InfluxDB line protocol: readings and alarm transitions as points.
//!
//! `reading,sensor=PT-101,kind=pressure,site=ST0,zone=Z0 value=3.98,quality="good" 1795420800000`
//! `alarm,alarm_id=low:PT-101,kind=low,priority=medium,source=PT-101,zone=Z0 state="unacknowledged",active=true,value=0.5 1795420800000`
//! (precision ms). Tags name what a point is about; fields carry values.

use std::fmt::Write;

use crate::alarm::AlarmEvent;

/// Escapes a tag key or value: commas, equals signs and spaces.
pub fn tag(out: &mut String, s: &str) {
    for c in s.chars() {
        if matches!(c, ',' | '=' | ' ') {
            out.push('\\');
        }
        if c != '\n' {
            out.push(c);
        }
    }
}

/// A string field value: quoted, with quotes and backslashes escaped.
pub fn string_field(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        if c != '\n' {
            out.push(c);
        }
    }
    out.push('"');
}

/// The tags of one sensor, escaped once at start: `,sensor=..,kind=..`.
pub fn sensor_tags(sensor: &str, kind: &str, site: Option<&str>, zone: Option<&str>) -> String {
    let mut t = String::new();
    for (k, v) in [
        ("sensor", Some(sensor)),
        ("kind", Some(kind)),
        ("site", site),
        ("zone", zone),
    ] {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            t.push(',');
            t.push_str(k);
            t.push('=');
            tag(&mut t, v);
        }
    }
    t
}

/// One reading. Non-finite values (event-only messages) carry no value
/// field but the quality.
pub fn reading(out: &mut String, tags: &str, value: f64, quality: &str, ts_ms: i64) {
    out.push_str("reading");
    out.push_str(tags);
    out.push(' ');
    if value.is_finite() {
        let _ = write!(out, "value={value:?},");
    }
    out.push_str("quality=");
    string_field(out, quality);
    let _ = writeln!(out, " {ts_ms}");
}

/// One alarm transition.
pub fn alarm(out: &mut String, e: &AlarmEvent) {
    out.push_str("alarm");
    for (k, v) in [
        ("alarm_id", Some(e.alarm_id.as_str())),
        ("kind", Some(e.kind.as_str())),
        ("priority", Some(e.priority.as_str())),
        ("source", Some(e.source.as_str())),
        ("zone", e.zone.as_deref()),
    ] {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            out.push(',');
            out.push_str(k);
            out.push('=');
            tag(out, v);
        }
    }
    out.push_str(" state=");
    string_field(out, &e.state);
    let _ = write!(out, ",active={}", e.active);
    if let Some(v) = e.value.filter(|v| v.is_finite()) {
        let _ = write!(out, ",value={v:?}");
    }
    out.push_str(",message=");
    string_field(out, &e.message);
    let _ = writeln!(out, " {}", e.ts_ms);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_strings_are_escaped() {
        let tags = sensor_tags("PT 1,a=b", "pressure", Some("ST0"), None);
        assert_eq!(tags, ",sensor=PT\\ 1\\,a\\=b,kind=pressure,site=ST0");
        let mut out = String::new();
        reading(&mut out, &tags, 3.5, "good", 7);
        assert_eq!(
            out,
            "reading,sensor=PT\\ 1\\,a\\=b,kind=pressure,site=ST0 value=3.5,quality=\"good\" 7\n"
        );
        let mut s = String::new();
        string_field(&mut s, "say \"hi\"\\");
        assert_eq!(s, "\"say \\\"hi\\\"\\\\\"");
    }
}
