//! The durable outbox: every notification is a row (SQLite, synchronous
//! FULL) before anything is sent; the sender delivers rows in order per
//! receiver, retries errors, 429 and 5xx with exponential back-off (or the
//! receiver's Retry-After), marks a row done only on a 2xx, and gives up
//! only on other 4xx answers (a request the receiver will never take).
//! After a crash, pending rows are sent on start: delivery is at least
//! once, and each request carries the group's dedup key.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use rusqlite::{Connection, params};

use super::dispatch::Enqueue;
use super::payload::Outgoing;
use super::route::Receiver as ReceiverSpec;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    receiver TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    url TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    due_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending',
    last_error TEXT,
    done_ms INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (status, id);
";

/// Counters of the outbox.
#[derive(Debug, Default)]
pub struct NotifyMetrics {
    pub enqueued: AtomicU64,
    pub sent: AtomicU64,
    pub retries: AtomicU64,
    pub failed: AtomicU64,
    pub pending: AtomicU64,
}

/// The outbox could not be used.
#[derive(Debug, thiserror::Error)]
#[error("notification outbox {path}: {source}")]
pub struct OutboxError {
    pub path: PathBuf,
    #[source]
    pub source: rusqlite::Error,
}

/// The writing side.
pub struct Outbox {
    conn: Connection,
    path: PathBuf,
    metrics: Arc<NotifyMetrics>,
    wake: crossbeam_channel::Sender<()>,
}

fn open(path: &Path) -> Result<Connection, OutboxError> {
    let err = |source| OutboxError {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open(path).map_err(err)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
    conn.execute_batch(SCHEMA).map_err(err)?;
    Ok(conn)
}

impl Outbox {
    /// Opens (creating) the outbox; `wake` tells the sender a row came.
    ///
    /// # Errors
    /// [`OutboxError`] naming the file.
    pub fn open(
        path: &Path,
        metrics: Arc<NotifyMetrics>,
        wake: crossbeam_channel::Sender<()>,
    ) -> Result<Outbox, OutboxError> {
        let conn = open(path)?;
        let pending: i64 = conn
            .query_row("SELECT COUNT(*) FROM outbox WHERE status = 'pending'", [], |r| r.get(0))
            .map_err(|source| OutboxError {
                path: path.to_path_buf(),
                source,
            })?;
        metrics.pending.store(pending as u64, Ordering::Relaxed);
        Ok(Outbox {
            conn,
            path: path.to_path_buf(),
            metrics,
            wake,
        })
    }

    /// # Errors
    /// [`OutboxError`]: the row is not written.
    pub fn put(&mut self, o: &Outgoing, now_ms: i64) -> Result<(), OutboxError> {
        let headers = serde_json::to_string(&o.headers).expect("headers serialize");
        self.conn
            .execute(
                "INSERT INTO outbox (receiver, dedup_key, url, headers, body, created_ms, due_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![o.receiver, o.dedup_key, o.url, headers, o.body, now_ms],
            )
            .map_err(|source| OutboxError {
                path: self.path.clone(),
                source,
            })?;
        self.metrics.enqueued.fetch_add(1, Ordering::Relaxed);
        self.metrics.pending.fetch_add(1, Ordering::Relaxed);
        let _ = self.wake.try_send(());
        Ok(())
    }
}

impl Enqueue for Outbox {
    fn enqueue(&mut self, o: Outgoing) {
        let now = linepack_ingest::mqtt::client::now_ms();
        // A write that fails is retried: the notification must not be
        // lost, and the dispatcher has nowhere else to keep it.
        let mut delay = Duration::from_millis(100);
        while let Err(e) = self.put(&o, now) {
            tracing::error!("{e}; retrying");
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }
}

/// One pending row.
struct Row {
    id: i64,
    receiver: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    due_ms: i64,
    attempts: i64,
}

/// A token bucket per receiver: `rate_per_minute`, bursts up to a tenth of
/// a minute's worth (at least 1).
struct Bucket {
    tokens: f64,
    capacity: f64,
    per_ms: f64,
    at_ms: i64,
}

impl Bucket {
    fn new(rate_per_minute: f64) -> Bucket {
        let capacity = (rate_per_minute / 10.0).max(1.0);
        Bucket {
            tokens: capacity,
            capacity,
            per_ms: rate_per_minute / 60_000.0,
            at_ms: 0,
        }
    }

    /// Takes a token, or says how long until one is there, ms.
    fn take(&mut self, now_ms: i64) -> Result<(), i64> {
        if self.at_ms != 0 {
            self.tokens = (self.tokens + (now_ms - self.at_ms) as f64 * self.per_ms).min(self.capacity);
        }
        self.at_ms = now_ms;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - self.tokens) / self.per_ms).ceil() as i64)
        }
    }
}

/// How delivery went.
enum Delivery {
    Done,
    Retry { error: String, after_ms: Option<i64> },
    Refused(String),
}

fn deliver(agent: &ureq::Agent, row: &Row) -> Delivery {
    let mut req = agent.post(&row.url);
    for (k, v) in &row.headers {
        req = req.header(k, v);
    }
    match req.send(&row.body[..]) {
        Err(e) => Delivery::Retry {
            error: e.to_string(),
            after_ms: None,
        },
        Ok(r) => {
            let status = r.status().as_u16();
            let retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .map(|s| (s * 1000.0) as i64);
            match status {
                200..=299 => Delivery::Done,
                429 | 500..=599 | 408 => Delivery::Retry {
                    error: format!("HTTP {status}"),
                    after_ms: retry_after,
                },
                _ => Delivery::Refused(format!("HTTP {status}")),
            }
        }
    }
}

/// The sending side: runs on its own thread until `stop` says so.
pub struct Sender {
    conn: Connection,
    agent: ureq::Agent,
    receivers: Vec<ReceiverSpec>,
    buckets: Vec<Bucket>,
    retry_initial_ms: i64,
    retry_max_ms: i64,
    metrics: Arc<NotifyMetrics>,
}

impl Sender {
    /// # Errors
    /// [`OutboxError`] naming the file.
    pub fn open(
        path: &Path,
        receivers: Vec<ReceiverSpec>,
        retry_initial: Duration,
        retry_max: Duration,
        metrics: Arc<NotifyMetrics>,
    ) -> Result<Sender, OutboxError> {
        let agent = crate::http::agent(Duration::from_secs(10));
        Ok(Sender {
            conn: open(path)?,
            agent,
            buckets: receivers.iter().map(|r| Bucket::new(r.rate_per_minute)).collect(),
            receivers,
            retry_initial_ms: retry_initial.as_millis() as i64,
            retry_max_ms: retry_max.as_millis() as i64,
            metrics,
        })
    }

    fn pending(&self) -> rusqlite::Result<Vec<Row>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, receiver, url, headers, body, due_ms, attempts FROM outbox WHERE status = 'pending' ORDER BY id LIMIT 500",
        )?;
        stmt.query_map([], |r| {
            let headers: String = r.get(3)?;
            Ok(Row {
                id: r.get(0)?,
                receiver: r.get(1)?,
                url: r.get(2)?,
                headers: serde_json::from_str(&headers).unwrap_or_default(),
                body: r.get(4)?,
                due_ms: r.get(5)?,
                attempts: r.get(6)?,
            })
        })?
        .collect()
    }

    /// One pass over the pending rows; returns when to look again, ms from
    /// now at most.
    fn pass(&mut self) -> rusqlite::Result<i64> {
        let rows = self.pending()?;
        let mut blocked: Vec<&str> = Vec::new();
        let mut wait_ms = 1_000;
        for row in &rows {
            let now = linepack_ingest::mqtt::client::now_ms();
            // Order per receiver: nothing overtakes a row still waiting.
            if blocked.contains(&row.receiver.as_str()) {
                continue;
            }
            if row.due_ms > now {
                wait_ms = wait_ms.min(row.due_ms - now);
                blocked.push(&row.receiver);
                continue;
            }
            if let Some(i) = self.receivers.iter().position(|r| r.name == row.receiver)
                && let Err(ms) = self.buckets[i].take(now)
            {
                wait_ms = wait_ms.min(ms);
                blocked.push(&row.receiver);
                continue;
            }
            match deliver(&self.agent, row) {
                Delivery::Done => {
                    self.conn.execute(
                        "UPDATE outbox SET status = 'done', attempts = attempts + 1, done_ms = ?2 WHERE id = ?1",
                        params![row.id, linepack_ingest::mqtt::client::now_ms()],
                    )?;
                    self.metrics.sent.fetch_add(1, Ordering::Relaxed);
                    self.metrics.pending.fetch_sub(1, Ordering::Relaxed);
                }
                Delivery::Retry { error, after_ms } => {
                    let backoff = (self.retry_initial_ms << row.attempts.min(20)).min(self.retry_max_ms);
                    let after = after_ms.map_or(backoff, |a| a.clamp(0, self.retry_max_ms));
                    self.conn.execute(
                        "UPDATE outbox SET attempts = attempts + 1, due_ms = ?2, last_error = ?3 WHERE id = ?1",
                        params![row.id, now + after, error],
                    )?;
                    self.metrics.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(receiver = %row.receiver, "notification not delivered ({error}); retrying in {after} ms");
                    wait_ms = wait_ms.min(after);
                    blocked.push(&row.receiver);
                }
                Delivery::Refused(error) => {
                    self.conn.execute(
                        "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                        params![row.id, error],
                    )?;
                    self.metrics.failed.fetch_add(1, Ordering::Relaxed);
                    self.metrics.pending.fetch_sub(1, Ordering::Relaxed);
                    tracing::error!(receiver = %row.receiver, "notification refused ({error}); not retried");
                }
            }
        }
        Ok(if rows.len() == 500 { 0 } else { wait_ms.max(0) })
    }

    /// Sends until `wake` is closed and nothing is due.
    pub fn run(mut self, wake: &Receiver<()>) {
        loop {
            let wait = match self.pass() {
                Ok(ms) => ms,
                Err(e) => {
                    tracing::error!("notification outbox: {e}");
                    1_000
                }
            };
            match wake.recv_timeout(Duration::from_millis(wait as u64)) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Bucket;

    #[test]
    fn the_rate_limit_allows_a_burst_then_one_per_interval() {
        // 60 a minute: bursts of 6, then one a second.
        let mut b = Bucket::new(60.0);
        for _ in 0..6 {
            assert!(b.take(1_000).is_ok());
        }
        assert_eq!(b.take(1_000), Err(1_000));
        assert_eq!(b.take(1_500), Err(500));
        assert!(b.take(2_000).is_ok());
        assert!(b.take(2_000).is_err());
    }
}
