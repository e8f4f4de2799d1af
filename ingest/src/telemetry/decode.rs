//! Topic and payload decoding per `specs/telemetry.md`. Never trusts input:
//! every way a message can be wrong is a [`RejectReason`], counted by the
//! caller, and a bad message never stops ingest or changes state.
//!
//! The hot path (a known sensor, a small JSON object) parses the payload in
//! place with borrowed strings, looks the sensor up once, converts the value
//! with a precomputed `scale · v + offset`, and pushes into the caller's
//! batch: no allocation unless a message is rejected.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use linepack_network::ids::SensorIdx;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::reading::{Batch, DeviceEvent, Quality, Reading, SequenceGap};
use super::time::parse_rfc3339_ms;

/// Why a message, or one reading in a site batch, was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    TooLarge,
    InvalidJson,
    UnknownTopic,
    UnknownSensor,
    NonFinite,
    BadTimestamp,
    BadQuality,
    BadEvent,
    NoValue,
    Duplicate,
    OutOfOrder,
}

impl RejectReason {
    pub const ALL: [RejectReason; 11] = [
        RejectReason::TooLarge,
        RejectReason::InvalidJson,
        RejectReason::UnknownTopic,
        RejectReason::UnknownSensor,
        RejectReason::NonFinite,
        RejectReason::BadTimestamp,
        RejectReason::BadQuality,
        RejectReason::BadEvent,
        RejectReason::NoValue,
        RejectReason::Duplicate,
        RejectReason::OutOfOrder,
    ];

    /// The label in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            RejectReason::TooLarge => "too_large",
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::UnknownTopic => "unknown_topic",
            RejectReason::UnknownSensor => "unknown_sensor",
            RejectReason::NonFinite => "non_finite",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::BadQuality => "bad_quality",
            RejectReason::BadEvent => "bad_event",
            RejectReason::NoValue => "no_value",
            RejectReason::Duplicate => "duplicate",
            RejectReason::OutOfOrder => "out_of_order",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One refusal: the reason and, for a reading in a site batch, its sensor id.
#[derive(Clone, Debug, PartialEq)]
pub struct Reject {
    pub reason: RejectReason,
    pub sensor: Option<String>,
}

/// How to convert one sensor's readings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SensorEntry {
    pub idx: SensorIdx,
    /// internal = scale · reported + offset.
    pub scale: f64,
    pub offset: f64,
}

/// The sensors ingest accepts, by string id.
#[derive(Clone, Debug, Default)]
pub struct SensorTable {
    by_id: HashMap<Box<str>, SensorEntry>,
}

impl SensorTable {
    pub fn new(entries: impl IntoIterator<Item = (String, SensorEntry)>) -> Self {
        SensorTable {
            by_id: entries.into_iter().map(|(id, e)| (id.into_boxed_str(), e)).collect(),
        }
    }

    pub fn get(&self, id: &str) -> Option<&SensorEntry> {
        self.by_id.get(id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// Bounds on what is accepted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecodeLimits {
    pub max_payload_bytes: usize,
    /// A timestamp more than this ahead of now is absurd.
    pub max_future_ms: i64,
    /// A timestamp before this is absurd (default 2000-01-01).
    pub earliest_ms: i64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_payload_bytes: 64 * 1024,
            max_future_ms: 5 * 60 * 1000,
            earliest_ms: 946_684_800_000,
        }
    }
}

/// Site sequence numbers tracked at most; beyond, new sites go untracked.
const MAX_SITES: usize = 100_000;

/// Decodes messages into readings. Holds the per-sensor last timestamp and
/// the per-site last sequence number, to refuse duplicates and messages out
/// of order.
pub struct Decoder {
    /// `<prefix>/telemetry/`
    telemetry_prefix: String,
    table: SensorTable,
    limits: DecodeLimits,
    last_ts: Vec<i64>,
    sites: HashMap<Box<str>, u64>,
}

impl Decoder {
    /// A decoder for topics under `prefix` (e.g. `gas`) and the sensors of
    /// `table`, which must be indexed below `n_sensors`.
    pub fn new(prefix: &str, table: SensorTable, n_sensors: usize, limits: DecodeLimits) -> Self {
        Decoder {
            telemetry_prefix: format!("{}/telemetry/", prefix.trim_end_matches('/')),
            table,
            limits,
            last_ts: vec![i64::MIN; n_sensors],
            sites: HashMap::new(),
        }
    }

    /// The topic filter that covers every telemetry topic.
    pub fn topic_filter(&self) -> String {
        format!("{}#", self.telemetry_prefix)
    }

    /// Decodes one message, appending accepted readings (and sequence gaps)
    /// to `out` and refusals to `rejects`; `now_ms` is the arrival time.
    pub fn decode(&mut self, topic: &str, payload: &[u8], now_ms: i64, out: &mut Batch, rejects: &mut Vec<Reject>) {
        let reject = |rejects: &mut Vec<Reject>, reason| rejects.push(Reject { reason, sensor: None });
        if payload.len() > self.limits.max_payload_bytes {
            return reject(rejects, RejectReason::TooLarge);
        }
        let Some(rest) = topic.strip_prefix(self.telemetry_prefix.as_str()) else {
            return reject(rejects, RejectReason::UnknownTopic);
        };
        if let Some(site) = rest.strip_prefix("site/") {
            if site.is_empty() || site.contains('/') {
                return reject(rejects, RejectReason::UnknownTopic);
            }
            return self.decode_site(site, payload, now_ms, out, rejects);
        }
        if rest.is_empty() || rest.contains('/') {
            return reject(rejects, RejectReason::UnknownTopic);
        }
        let Some(&entry) = self.table.get(rest) else {
            return reject(rejects, RejectReason::UnknownSensor);
        };
        match self.single(entry, payload, now_ms) {
            Ok(reading) => out.readings.push(reading),
            Err(reason) => reject(rejects, reason),
        }
    }

    fn single(&mut self, entry: SensorEntry, payload: &[u8], now_ms: i64) -> Result<Reading, RejectReason> {
        let first = payload.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'{') {
            let p: SinglePayload = serde_json::from_slice(payload).map_err(json_reason)?;
            let ts_ms = self.timestamp(p.ts.as_ref(), now_ms)?;
            self.fields(entry, ts_ms, p.v.as_ref(), p.q.as_deref(), p.event.as_deref())
        } else {
            // A bare number.
            let text = std::str::from_utf8(payload)
                .map_err(|_| RejectReason::InvalidJson)?
                .trim();
            let v: f64 = text.parse().map_err(|_| RejectReason::InvalidJson)?;
            let ts_ms = self.timestamp(None, now_ms)?;
            self.accept(entry, ts_ms, Some(finite(v)?), Quality::Good, None)
        }
    }

    /// Decodes one line of an NDJSON recording (`{"sensor": ..., "ts": ...,
    /// "v": ...}` plus optional `q` and `event`). A recording carries its own
    /// clock: `ts` is required and is not compared with the wall clock.
    pub fn decode_record(&mut self, line: &[u8], out: &mut Batch, rejects: &mut Vec<Reject>) {
        let result = serde_json::from_slice::<RecordLine>(line)
            .map_err(json_reason)
            .and_then(|r| {
                let entry = *self.table.get(&r.sensor.0).ok_or(RejectReason::UnknownSensor)?;
                let ts = r.ts.as_ref().ok_or(RejectReason::BadTimestamp)?;
                let ts_ms = self.timestamp(Some(ts), i64::MAX / 4)?;
                self.fields(entry, ts_ms, r.v.as_ref(), r.q.as_deref(), r.event.as_deref())
            });
        match result {
            Ok(reading) => out.readings.push(reading),
            Err(reason) => rejects.push(Reject { reason, sensor: None }),
        }
    }

    /// A reading from the fields of a single-reading payload or record.
    fn fields(
        &mut self,
        entry: SensorEntry,
        ts_ms: i64,
        v: Option<&Scalar>,
        q: Option<&str>,
        event: Option<&str>,
    ) -> Result<Reading, RejectReason> {
        let quality = match q {
            None => Quality::Good,
            Some(q) => Quality::parse(q).ok_or(RejectReason::BadQuality)?,
        };
        let event = match event {
            None => None,
            Some(e) => Some(DeviceEvent::parse(e).ok_or(RejectReason::BadEvent)?),
        };
        let value = match v {
            Some(v) => Some(v.number()?),
            None if event.is_some() => None,
            None => return Err(RejectReason::NoValue),
        };
        self.accept(entry, ts_ms, value, quality, event)
    }

    fn decode_site(&mut self, site: &str, payload: &[u8], now_ms: i64, out: &mut Batch, rejects: &mut Vec<Reject>) {
        let p: SitePayload = match serde_json::from_slice(payload) {
            Ok(p) => p,
            Err(e) => {
                rejects.push(Reject {
                    reason: json_reason(e),
                    sensor: None,
                });
                return;
            }
        };
        let quality = match p.q.as_deref() {
            None => Quality::Good,
            Some(q) => match Quality::parse(q) {
                Some(q) => q,
                None => {
                    rejects.push(Reject {
                        reason: RejectReason::BadQuality,
                        sensor: None,
                    });
                    return;
                }
            },
        };
        let ts_ms = match self.timestamp(p.ts.as_ref(), now_ms) {
            Ok(ts) => ts,
            Err(reason) => {
                rejects.push(Reject { reason, sensor: None });
                return;
            }
        };
        if let Some(seq) = p.seq {
            let tracked = self.sites.len();
            match self.sites.get_mut(site) {
                // 0 is a restarted device, not an old message.
                Some(last) if seq != 0 && seq <= *last => {
                    let reason = if seq == *last {
                        RejectReason::Duplicate
                    } else {
                        RejectReason::OutOfOrder
                    };
                    rejects.push(Reject { reason, sensor: None });
                    return;
                }
                Some(last) => {
                    if seq > *last + 1 {
                        out.gaps.push(SequenceGap {
                            site: site.into(),
                            expected: *last + 1,
                            received: seq,
                            ts_ms,
                        });
                    }
                    *last = seq;
                }
                None if tracked < MAX_SITES => {
                    self.sites.insert(site.into(), seq);
                }
                None => {}
            }
        }
        for (id, v) in p.readings.0 {
            let result = match self.table.get(&id) {
                None => Err(RejectReason::UnknownSensor),
                Some(&entry) => v
                    .number()
                    .and_then(|v| self.accept(entry, ts_ms, Some(v), quality, None)),
            };
            match result {
                Ok(r) => out.readings.push(r),
                Err(reason) => rejects.push(Reject {
                    reason,
                    sensor: Some(id.into_owned()),
                }),
            }
        }
    }

    fn timestamp(&self, ts: Option<&Scalar>, now_ms: i64) -> Result<i64, RejectReason> {
        let ts = match ts {
            None => return Ok(now_ms),
            Some(Scalar::Int(ms)) => *ms,
            Some(Scalar::Float(ms)) if ms.is_finite() && ms.fract() == 0.0 && ms.abs() < 9e15 => *ms as i64,
            Some(Scalar::Float(_)) => return Err(RejectReason::BadTimestamp),
            Some(Scalar::Text(s)) => parse_rfc3339_ms(s).ok_or(RejectReason::BadTimestamp)?,
        };
        if ts < self.limits.earliest_ms || ts > now_ms.saturating_add(self.limits.max_future_ms) {
            return Err(RejectReason::BadTimestamp);
        }
        Ok(ts)
    }

    /// Converts and de-duplicates one reading.
    fn accept(
        &mut self,
        entry: SensorEntry,
        ts_ms: i64,
        value: Option<f64>,
        quality: Quality,
        event: Option<DeviceEvent>,
    ) -> Result<Reading, RejectReason> {
        let last = &mut self.last_ts[entry.idx.index()];
        if ts_ms == *last {
            return Err(RejectReason::Duplicate);
        }
        if ts_ms < *last {
            return Err(RejectReason::OutOfOrder);
        }
        *last = ts_ms;
        Ok(Reading {
            sensor: entry.idx,
            ts_ms,
            value: value.map_or(f64::NAN, |v| entry.scale * v + entry.offset),
            quality,
            event,
        })
    }
}

fn finite(v: f64) -> Result<f64, RejectReason> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(RejectReason::NonFinite)
    }
}

/// serde_json refuses numbers beyond f64 ("number out of range"): those are
/// non-finite values, not broken JSON.
fn json_reason(e: serde_json::Error) -> RejectReason {
    if e.to_string().starts_with("number out of range") {
        RejectReason::NonFinite
    } else {
        RejectReason::InvalidJson
    }
}

/// A JSON scalar as devices send it: a number, or a string (an RFC 3339
/// time, or a number some devices quote, or "NaN").
#[derive(Debug)]
enum Scalar<'a> {
    Int(i64),
    Float(f64),
    Text(Cow<'a, str>),
}

impl Scalar<'_> {
    /// The value as a finite number.
    fn number(&self) -> Result<f64, RejectReason> {
        match self {
            Scalar::Int(i) => Ok(*i as f64),
            Scalar::Float(f) => finite(*f),
            Scalar::Text(s) => {
                let v: f64 = s.trim().parse().map_err(|_| RejectReason::InvalidJson)?;
                finite(v)
            }
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v).map(Scalar::Int).or(Ok(Scalar::Float(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct SinglePayload<'a> {
    #[serde(borrow, default)]
    ts: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    v: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    q: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct RecordLine<'a> {
    #[serde(borrow)]
    sensor: Key<'a>,
    #[serde(borrow, default)]
    ts: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    v: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    q: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct SitePayload<'a> {
    #[serde(borrow, default)]
    ts: Option<Scalar<'a>>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(borrow, default)]
    q: Option<Cow<'a, str>>,
    #[serde(borrow)]
    readings: SiteReadings<'a>,
}

/// The `readings` object of a site batch, in the order it was sent.
struct SiteReadings<'a>(Vec<(Cow<'a, str>, Scalar<'a>)>);

/// A map key, borrowed from the payload when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a sensor id")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for SiteReadings<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SiteReadings<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of sensor ids to values")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut v = Vec::with_capacity(map.size_hint().unwrap_or(8).min(1024));
                while let Some((Key(k), x)) = map.next_entry::<Key<'de>, Scalar<'de>>()? {
                    v.push((k, x));
                }
                Ok(SiteReadings(v))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests;
