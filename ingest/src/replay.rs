//! The replay source: reads an NDJSON recording into the same hand-off as
//! MQTT, as fast as possible or paced by the recording's own clock.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::handoff::HandoffSender;
use crate::metrics::IngestMetrics;
use crate::telemetry::{Batch, Decoder};

/// How to replay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayOptions {
    /// `None`: as fast as possible; `Some(s)`: `s` recorded seconds per
    /// wall-clock second.
    pub speed: Option<f64>,
    /// Readings per hand-off batch.
    pub batch_size: usize,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            speed: None,
            batch_size: 1024,
        }
    }
}

/// What a replay read.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReplayStats {
    pub lines: u64,
    pub readings: u64,
    pub rejected: u64,
    pub first_ts_ms: Option<i64>,
    pub last_ts_ms: Option<i64>,
}

/// A replay that could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("recording {}: cannot read line {line}: {reason}", path.display())]
    Read {
        path: PathBuf,
        line: u64,
        reason: std::io::Error,
    },
    #[error("recording {}: cannot open: {reason}", path.display())]
    Open { path: PathBuf, reason: std::io::Error },
    #[error("the engine stopped taking readings")]
    Closed,
}

/// Opens `path` and replays it (see [`replay`]).
///
/// # Errors
/// [`ReplayError`] when the file cannot be opened or read, or the engine goes.
pub fn replay_file(
    path: &Path,
    decoder: &mut Decoder,
    handoff: &HandoffSender,
    metrics: &IngestMetrics,
    options: &ReplayOptions,
) -> Result<ReplayStats, ReplayError> {
    let file = std::fs::File::open(path).map_err(|reason| ReplayError::Open {
        path: path.into(),
        reason,
    })?;
    replay(
        std::io::BufReader::with_capacity(1 << 20, file),
        path,
        decoder,
        handoff,
        metrics,
        options,
    )
}

/// Replays recording lines from `reader` (`origin` names it in errors).
/// Bad lines are refused and counted like bad MQTT messages; blank lines
/// are skipped.
///
/// # Errors
/// [`ReplayError`] on a read error or when the engine goes.
pub fn replay(
    reader: impl BufRead,
    origin: &Path,
    decoder: &mut Decoder,
    handoff: &HandoffSender,
    metrics: &IngestMetrics,
    options: &ReplayOptions,
) -> Result<ReplayStats, ReplayError> {
    let mut stats = ReplayStats::default();
    let mut batch = Batch::default();
    let mut rejects = Vec::new();
    let started = Instant::now();
    let send = |batch: &mut Batch| -> Result<(), ReplayError> {
        if batch.is_empty() {
            return Ok(());
        }
        metrics
            .readings_accepted
            .fetch_add(batch.readings.len() as u64, Ordering::Relaxed);
        handoff
            .send_blocking(std::mem::take(batch))
            .map_err(|_| ReplayError::Closed)
    };
    for line in reader.split(b'\n') {
        stats.lines += 1;
        let line = line.map_err(|reason| ReplayError::Read {
            path: origin.into(),
            line: stats.lines,
            reason,
        })?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        metrics.messages.fetch_add(1, Ordering::Relaxed);
        rejects.clear();
        let before = batch.readings.len();
        decoder.decode_record(&line, &mut batch, &mut rejects);
        for r in &rejects {
            stats.rejected += 1;
            metrics.count_reject(r.reason);
            if stats.rejected <= 10 {
                tracing::warn!(recording = %origin.display(), line = stats.lines, reason = r.reason.name(), "Recording line rejected");
            }
        }
        if let Some(reading) = batch.readings.get(before).copied() {
            stats.readings += 1;
            let first = *stats.first_ts_ms.get_or_insert(reading.ts_ms);
            stats.last_ts_ms = Some(reading.ts_ms);
            if let Some(speed) = options.speed {
                // Paced: this reading is due `(ts − first) / speed` after the start.
                let due = Duration::from_secs_f64(((reading.ts_ms - first).max(0) as f64 / 1000.0) / speed);
                let elapsed = started.elapsed();
                if due > elapsed {
                    let last = batch.readings.pop().expect("just pushed");
                    send(&mut batch)?;
                    std::thread::sleep(due - elapsed);
                    batch.readings.push(last);
                }
            }
        }
        if batch.readings.len() >= options.batch_size {
            send(&mut batch)?;
        }
    }
    send(&mut batch)?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use linepack_network::ids::SensorIdx;

    use super::*;
    use crate::handoff::{Backpressure, handoff};
    use crate::telemetry::{DecodeLimits, Quality, SensorEntry, SensorTable, record_line};

    fn decoder() -> Decoder {
        let table = SensorTable::new([
            (
                "PT-1".to_string(),
                SensorEntry {
                    idx: SensorIdx::new(0),
                    scale: 0.01,
                    offset: 0.0,
                },
            ),
            (
                "FT-1".to_string(),
                SensorEntry {
                    idx: SensorIdx::new(1),
                    scale: 1.0,
                    offset: 0.0,
                },
            ),
        ]);
        Decoder::new("gas", table, 2, DecodeLimits::default())
    }

    #[test]
    fn recording_round_trip_through_the_decoder() {
        let t0 = 1_795_420_800_000;
        let mut text = String::new();
        for i in 0..2500i64 {
            text.push_str(&record_line(
                "PT-1",
                t0 + i * 1000,
                398.25 + i as f64 * 1e-3,
                Quality::Good,
                None,
            ));
            text.push('\n');
            text.push_str(&record_line(
                "FT-1",
                t0 + i * 1000,
                0.1 * i as f64,
                Quality::Uncertain,
                None,
            ));
            text.push('\n');
        }
        text.push_str("{not a reading}\n\n");
        let metrics = Arc::new(IngestMetrics::default());
        let (tx, rx) = handoff(4, Backpressure::Block, metrics.clone());
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            while let Some(b) = rx.recv() {
                all.extend(b.readings);
            }
            all
        });
        let stats = replay(
            text.as_bytes(),
            Path::new("mem.ndjson"),
            &mut decoder(),
            &tx,
            &metrics,
            &ReplayOptions::default(),
        )
        .unwrap();
        drop(tx);
        let got = reader.join().unwrap();
        assert_eq!((stats.readings, stats.rejected), (5000, 1));
        assert_eq!(got.len(), 5000);
        for (i, pair) in got.chunks(2).enumerate() {
            let i = i as i64;
            assert_eq!(pair[0].ts_ms, t0 + i * 1000);
            let want = (398.25 + i as f64 * 1e-3) * 0.01;
            assert!((pair[0].value - want).abs() < 1e-15, "{i}: {} vs {want}", pair[0].value);
            assert_eq!(pair[1].value, 0.1 * i as f64, "values come back exactly");
            assert_eq!(pair[1].quality, Quality::Uncertain);
        }
    }

    #[test]
    fn paced_replay_follows_the_recording_clock() {
        let t0 = 1_795_420_800_000;
        let text: String = (0..5)
            .map(|i| record_line("PT-1", t0 + i * 1000, 400.0, Quality::Good, None) + "\n")
            .collect();
        let metrics = Arc::new(IngestMetrics::default());
        let (tx, rx) = handoff(16, Backpressure::Block, metrics.clone());
        let options = ReplayOptions {
            speed: Some(20.0),
            batch_size: 100,
        };
        let start = Instant::now();
        replay(text.as_bytes(), Path::new("m"), &mut decoder(), &tx, &metrics, &options).unwrap();
        // 4 recorded seconds at 20× take 200 ms.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(190) && took < Duration::from_millis(600),
            "{took:?}"
        );
        drop(tx);
        let mut n = 0;
        while let Some(b) = rx.recv() {
            n += b.readings.len();
        }
        assert_eq!(n, 5);
    }

    #[test]
    fn unreadable_file_names_the_file() {
        let metrics = IngestMetrics::default();
        let (tx, _rx) = handoff(1, Backpressure::Block, Arc::new(IngestMetrics::default()));
        let err = replay_file(
            Path::new("/nope/rec.ndjson"),
            &mut decoder(),
            &tx,
            &metrics,
            &ReplayOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nope/rec.ndjson"));
    }
}
