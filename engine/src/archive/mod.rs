//! The telemetry archive: readings and alarm transitions written to
//! InfluxDB v2 (or anything that takes its `/api/v2/write`, such as
//! VictoriaMetrics) as line protocol, batched by size and time, gzipped,
//! retried with back-off. While the database is unreachable, batches wait
//! in memory up to `memory_points`, then in files under the spill
//! directory; when it returns they go out oldest first. The hot loop hands
//! batches over without waiting (a full hand-off drops and counts); the
//! archive runs on its own thread.
//!
//! The influxdb2 crate is not used: its client brings a second async HTTP
//! stack for what is one POST of line protocol; the line protocol path is
//! this module plus ureq.

pub mod line;
mod spill;

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use linepack_ingest::telemetry::Batch;
use serde::{Deserialize, Serialize};

use crate::alarm::AlarmEvent;
use spill::Spill;

/// `[archive]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// The database's base URL (e.g. `http://127.0.0.1:8086`); none: no
    /// archive.
    pub url: Option<String>,
    pub org: String,
    pub bucket: String,
    /// API token (`Authorization: Token ...`).
    pub token: Option<String>,
    /// A write carries this many points at most. Default 5000.
    pub batch_points: usize,
    /// A partial batch goes out after this long, ms. Default 1000.
    pub flush_interval_ms: u64,
    pub gzip: bool,
    /// Points held in memory while the database is away; beyond, batches
    /// go to the spill directory. Default 200000.
    pub memory_points: usize,
    /// Where batches wait on disk (relative to the configuration file).
    /// Required with `url`.
    pub spill_dir: Option<PathBuf>,
    /// Back-off between failed writes: first and ceiling, s.
    pub retry_initial_s: f64,
    pub retry_max_s: f64,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            url: None,
            org: "linepack".into(),
            bucket: "telemetry".into(),
            token: None,
            batch_points: 5000,
            flush_interval_ms: 1000,
            gzip: true,
            memory_points: 200_000,
            spill_dir: None,
            retry_initial_s: 0.5,
            retry_max_s: 30.0,
        }
    }
}

/// Counters, in points.
#[derive(Debug, Default)]
pub struct ArchiveMetrics {
    pub written: AtomicU64,
    /// Points in writes that failed and will be tried again.
    pub retried: AtomicU64,
    pub spilled: AtomicU64,
    /// Lost: the hand-off was full, the spill could not be written, or the
    /// database refused the batch as malformed (4xx).
    pub dropped: AtomicU64,
    /// Waiting in memory or on disk.
    pub buffered: AtomicU64,
}

/// The archive could not start.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive.{0}")]
    Config(String),
    #[error("archive spill directory {path}: {source}")]
    Spill {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the archive thread: {0}")]
    Thread(std::io::Error),
}

/// What the hot loop hands over.
pub enum Item {
    Readings(Batch),
    Alarms(Vec<AlarmEvent>),
}

/// Batches the hand-off holds before it drops.
const HANDOFF: usize = 4096;

/// The running archive.
pub struct Archive {
    tx: Sender<Item>,
    pub metrics: Arc<ArchiveMetrics>,
    thread: JoinHandle<()>,
}

/// The hot loop's end: never waits.
#[derive(Clone)]
pub struct ArchiveSender {
    tx: Sender<Item>,
    metrics: Arc<ArchiveMetrics>,
}

impl ArchiveSender {
    pub fn send(&self, item: Item) {
        match self.tx.try_send(item) {
            Ok(()) => {}
            Err(TrySendError::Full(item) | TrySendError::Disconnected(item)) => {
                let n = match &item {
                    Item::Readings(b) => b.readings.len(),
                    Item::Alarms(a) => a.len(),
                };
                self.metrics.dropped.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
}

impl Archive {
    /// Starts the archive thread. `sensor_tags[i]` are the escaped tags of
    /// sensor `i` ([`line::sensor_tags`]). Batches spilled by an earlier run
    /// are sent first.
    ///
    /// # Errors
    /// [`ArchiveError`] naming the key or the directory.
    pub fn start(config: &ArchiveConfig, sensor_tags: Vec<String>) -> Result<Archive, ArchiveError> {
        let url = config
            .url
            .as_deref()
            .ok_or_else(|| ArchiveError::Config("url: not set".into()))?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ArchiveError::Config(format!(
                "url = \"{url}\": must be an http:// or https:// URL"
            )));
        }
        let dir = config
            .spill_dir
            .as_deref()
            .ok_or_else(|| ArchiveError::Config("spill_dir: required with url".into()))?;
        if config.batch_points == 0 || config.memory_points < config.batch_points {
            return Err(ArchiveError::Config(
                "batch_points must be at least 1 and memory_points at least batch_points".into(),
            ));
        }
        for (k, v) in [
            ("retry_initial_s", config.retry_initial_s),
            ("retry_max_s", config.retry_max_s),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(ArchiveError::Config(format!("{k} = {v}: must be more than 0")));
            }
        }
        let metrics = Arc::new(ArchiveMetrics::default());
        let spill = Spill::open(dir).map_err(|source| ArchiveError::Spill {
            path: dir.to_path_buf(),
            source,
        })?;
        metrics.buffered.store(spill.points(), Ordering::Relaxed);
        let writer = Writer::new(config, url, sensor_tags, spill, metrics.clone());
        let (tx, rx) = crossbeam_channel::bounded(HANDOFF);
        let thread = std::thread::Builder::new()
            .name("archive".into())
            .spawn(move || writer.run(&rx))
            .map_err(ArchiveError::Thread)?;
        Ok(Archive { tx, metrics, thread })
    }

    pub fn sender(&self) -> ArchiveSender {
        ArchiveSender {
            tx: self.tx.clone(),
            metrics: self.metrics.clone(),
        }
    }

    /// Writes what it can once more and spills the rest, then returns.
    pub fn stop(self) {
        drop(self.tx);
        let _ = self.thread.join();
    }
}

/// A sealed batch of lines.
struct Chunk {
    text: String,
    points: u64,
}

struct Writer {
    agent: ureq::Agent,
    write_url: String,
    token: Option<String>,
    gzip: bool,
    batch_points: u64,
    flush_interval: Duration,
    memory_points: u64,
    retry_initial: Duration,
    retry_max: Duration,
    sensor_tags: Vec<String>,
    /// The batch being filled and when its first point came.
    open: String,
    open_points: u64,
    open_since: Option<Instant>,
    memory: VecDeque<Chunk>,
    memory_held: u64,
    spill: Spill,
    backoff: Duration,
    next_attempt: Instant,
    metrics: Arc<ArchiveMetrics>,
}

/// How a write went.
enum Written {
    Ok,
    Retry(String),
    Refused(String),
}

impl Writer {
    fn new(
        config: &ArchiveConfig,
        url: &str,
        sensor_tags: Vec<String>,
        spill: Spill,
        metrics: Arc<ArchiveMetrics>,
    ) -> Writer {
        let enc = |s: &str| s.replace('&', "%26").replace(' ', "%20");
        Writer {
            agent: crate::http::agent(Duration::from_secs(15)),
            write_url: format!(
                "{}/api/v2/write?org={}&bucket={}&precision=ms",
                url.trim_end_matches('/'),
                enc(&config.org),
                enc(&config.bucket)
            ),
            token: config.token.clone(),
            gzip: config.gzip,
            batch_points: config.batch_points as u64,
            flush_interval: Duration::from_millis(config.flush_interval_ms),
            memory_points: config.memory_points as u64,
            retry_initial: Duration::from_secs_f64(config.retry_initial_s),
            retry_max: Duration::from_secs_f64(config.retry_max_s),
            sensor_tags,
            open: String::new(),
            open_points: 0,
            open_since: None,
            memory: VecDeque::new(),
            memory_held: 0,
            spill,
            backoff: Duration::ZERO,
            next_attempt: Instant::now(),
            metrics,
        }
    }

    fn add(&mut self, item: Item) {
        match item {
            Item::Readings(batch) => {
                for r in &batch.readings {
                    let tags = &self.sensor_tags[r.sensor.index()];
                    line::reading(&mut self.open, tags, r.value, r.quality.name(), r.ts_ms);
                    self.open_points += 1;
                }
            }
            Item::Alarms(events) => {
                for e in &events {
                    line::alarm(&mut self.open, e);
                    self.open_points += 1;
                }
            }
        }
        if self.open_points > 0 {
            self.open_since.get_or_insert_with(Instant::now);
        }
        if self.open_points >= self.batch_points {
            self.seal();
        }
    }

    /// Closes the open batch into the queue: memory while it has room and
    /// nothing is on disk (order), else the spill.
    fn seal(&mut self) {
        if self.open_points == 0 {
            return;
        }
        let chunk = Chunk {
            text: std::mem::take(&mut self.open),
            points: std::mem::take(&mut self.open_points),
        };
        self.open_since = None;
        self.metrics.buffered.fetch_add(chunk.points, Ordering::Relaxed);
        if self.spill.is_empty() && self.memory_held + chunk.points <= self.memory_points {
            self.memory_held += chunk.points;
            self.memory.push_back(chunk);
            return;
        }
        match self.spill.push(&chunk.text, chunk.points) {
            Ok(()) => {
                self.metrics.spilled.fetch_add(chunk.points, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::error!("archive: cannot spill {} points to disk: {e}; dropped", chunk.points);
                self.metrics.dropped.fetch_add(chunk.points, Ordering::Relaxed);
                self.metrics.buffered.fetch_sub(chunk.points, Ordering::Relaxed);
            }
        }
    }

    fn post(&self, text: &str) -> Written {
        let mut req = self
            .agent
            .post(&self.write_url)
            .header("Content-Type", "text/plain; charset=utf-8");
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Token {t}"));
        }
        let result = if self.gzip {
            let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(text.len() / 4), flate2::Compression::fast());
            gz.write_all(text.as_bytes()).expect("writing to memory");
            let body = gz.finish().expect("writing to memory");
            req.header("Content-Encoding", "gzip").send(&body[..])
        } else {
            req.send(text.as_bytes())
        };
        match result {
            Err(e) => Written::Retry(e.to_string()),
            Ok(mut r) => {
                let status = r.status().as_u16();
                match status {
                    200..=299 => Written::Ok,
                    429 | 500..=599 | 408 => Written::Retry(format!("HTTP {status}")),
                    _ => Written::Refused(format!(
                        "HTTP {status}: {}",
                        r.body_mut().read_to_string().unwrap_or_default().trim()
                    )),
                }
            }
        }
    }

    /// Sends queued batches, oldest first, until one fails.
    fn drain(&mut self) {
        while Instant::now() >= self.next_attempt {
            let from_memory = !self.memory.is_empty();
            let (text, points) = if let Some(c) = self.memory.front() {
                (c.text.clone(), c.points)
            } else {
                match self.spill.front() {
                    Ok(Some(c)) => c,
                    Ok(None) => return,
                    Err(e) => {
                        tracing::error!("archive: cannot read the spill: {e}");
                        return;
                    }
                }
            };
            let outcome = self.post(&text);
            if let Written::Retry(why) = &outcome {
                self.metrics.retried.fetch_add(points, Ordering::Relaxed);
                self.backoff = if self.backoff.is_zero() {
                    self.retry_initial
                } else {
                    (self.backoff * 2).min(self.retry_max)
                };
                tracing::warn!("archive: write failed ({why}); retrying in {:?}", self.backoff);
                self.next_attempt = Instant::now() + self.backoff;
                return;
            }
            match outcome {
                Written::Refused(why) => {
                    // Malformed for the database: retrying cannot help.
                    tracing::error!("archive: the database refused {points} points ({why}); dropped");
                    self.metrics.dropped.fetch_add(points, Ordering::Relaxed);
                }
                _ => {
                    self.metrics.written.fetch_add(points, Ordering::Relaxed);
                }
            }
            self.metrics.buffered.fetch_sub(points, Ordering::Relaxed);
            if from_memory {
                self.memory.pop_front();
                self.memory_held -= points;
            } else if let Err(e) = self.spill.pop() {
                tracing::error!("archive: cannot remove a sent spill file: {e}");
            }
            self.backoff = Duration::ZERO;
        }
    }
    fn run(mut self, rx: &Receiver<Item>) {
        loop {
            let now = Instant::now();
            let flush_at = self.open_since.map(|s| s + self.flush_interval);
            let retry_at = (!self.memory.is_empty() || !self.spill.is_empty()).then_some(self.next_attempt);
            let wake = [flush_at, retry_at].into_iter().flatten().min();
            let wait = wake.map_or(Duration::from_secs(1), |w| w.saturating_duration_since(now));
            match rx.recv_timeout(wait) {
                Ok(item) => {
                    self.add(item);
                    // Take what else is waiting before writing.
                    while let Ok(item) = rx.try_recv() {
                        self.add(item);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if self.open_since.is_some_and(|s| s.elapsed() >= self.flush_interval) {
                self.seal();
            }
            self.drain();
        }
        // Stopping: one more try, then everything left goes to disk.
        self.seal();
        self.next_attempt = Instant::now();
        self.drain();
        while let Some(c) = self.memory.pop_front() {
            if let Err(e) = self.spill.push(&c.text, c.points) {
                tracing::error!("archive: cannot spill {} points at shutdown: {e}; dropped", c.points);
                self.metrics.dropped.fetch_add(c.points, Ordering::Relaxed);
            } else {
                self.metrics.spilled.fetch_add(c.points, Ordering::Relaxed);
            }
        }
    }
}
