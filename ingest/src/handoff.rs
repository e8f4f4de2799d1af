//! The hand-off from ingest to the engine: a bounded crossbeam channel of
//! batches. The engine's hot loop blocks on it for one batch and drains more
//! with `try_recv`.
//!
//! When the engine is slower than the input the policy is explicit and
//! counted: the MQTT source waits up to a bound (without blocking its async
//! runtime), then drops the oldest batch to make room; the replay source
//! waits as long as it takes, since a recording can be read again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use crate::metrics::IngestMetrics;
use crate::telemetry::Batch;

/// What a full hand-off does to the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backpressure {
    /// Wait until the engine takes a batch (replay).
    Block,
    /// Wait up to the bound, then drop the oldest queued batch (live MQTT).
    BlockThenDropOldest(Duration),
}

/// The engine went away: nothing will ever read another batch.
#[derive(Debug, thiserror::Error)]
#[error("the engine side of the ingest hand-off is gone")]
pub struct Closed;

/// The ingest side.
#[derive(Clone)]
pub struct HandoffSender {
    tx: Sender<Batch>,
    /// Only used to drop the oldest batch when the policy says so.
    oldest: Receiver<Batch>,
    closed: Arc<AtomicBool>,
    policy: Backpressure,
    metrics: Arc<IngestMetrics>,
}

/// The engine side. Dropping it tells ingest to stop.
pub struct HandoffReceiver {
    rx: Receiver<Batch>,
    closed: Arc<AtomicBool>,
}

/// A hand-off of `capacity` batches.
pub fn handoff(capacity: usize, policy: Backpressure, metrics: Arc<IngestMetrics>) -> (HandoffSender, HandoffReceiver) {
    let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
    let closed = Arc::new(AtomicBool::new(false));
    (
        HandoffSender {
            tx,
            oldest: rx.clone(),
            closed: closed.clone(),
            policy,
            metrics,
        },
        HandoffReceiver { rx, closed },
    )
}

impl HandoffSender {
    fn drop_oldest(&self) {
        if let Ok(old) = self.oldest.try_recv() {
            self.metrics.batches_dropped.fetch_add(1, Ordering::Relaxed);
            self.metrics
                .readings_dropped
                .fetch_add(old.readings.len() as u64, Ordering::Relaxed);
        }
    }

    /// Hands a batch over from async code; waits by sleeping, never by
    /// blocking the runtime's thread.
    ///
    /// # Errors
    /// [`Closed`] when the engine side is gone.
    pub async fn send(&self, mut batch: Batch) -> Result<(), Closed> {
        let start = Instant::now();
        loop {
            if self.closed.load(Ordering::Relaxed) {
                return Err(Closed);
            }
            match self.tx.try_send(batch) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return Err(Closed),
                Err(TrySendError::Full(b)) => {
                    batch = b;
                    match self.policy {
                        Backpressure::BlockThenDropOldest(bound) if start.elapsed() >= bound => self.drop_oldest(),
                        _ => tokio::time::sleep(Duration::from_millis(1)).await,
                    }
                }
            }
        }
        self.count_blocked(start);
        self.metrics.batches_sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Hands a batch over from a plain thread (replay), by the same policy.
    ///
    /// # Errors
    /// [`Closed`] when the engine side is gone.
    pub fn send_blocking(&self, mut batch: Batch) -> Result<(), Closed> {
        let start = Instant::now();
        loop {
            if self.closed.load(Ordering::Relaxed) {
                return Err(Closed);
            }
            let wait = match self.policy {
                Backpressure::Block => Duration::from_millis(50),
                Backpressure::BlockThenDropOldest(bound) => bound.saturating_sub(start.elapsed()),
            };
            match self.tx.send_timeout(batch, wait) {
                Ok(()) => break,
                Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => return Err(Closed),
                Err(crossbeam_channel::SendTimeoutError::Timeout(b)) => {
                    batch = b;
                    if matches!(self.policy, Backpressure::BlockThenDropOldest(_)) {
                        self.drop_oldest();
                    }
                }
            }
        }
        self.count_blocked(start);
        self.metrics.batches_sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn count_blocked(&self, start: Instant) {
        let waited = start.elapsed().as_millis() as u64;
        if waited > 0 {
            self.metrics.handoff_blocked_ms.fetch_add(waited, Ordering::Relaxed);
        }
    }
}

impl HandoffReceiver {
    /// Waits for the next batch; `None` once every sender is gone.
    pub fn recv(&self) -> Option<Batch> {
        self.rx.recv().ok()
    }

    /// Waits up to `timeout`; `Ok(None)` on time-out, `Err` when every
    /// sender is gone.
    ///
    /// # Errors
    /// [`Closed`] when no sender is left.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Batch>, Closed> {
        match self.rx.recv_timeout(timeout) {
            Ok(b) => Ok(Some(b)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(Closed),
        }
    }

    /// The channel itself, to wait on it together with others
    /// (`crossbeam_channel::select!`).
    pub fn channel(&self) -> &Receiver<Batch> {
        &self.rx
    }

    /// The next batch if one is queued.
    pub fn try_recv(&self) -> Option<Batch> {
        self.rx.try_recv().ok()
    }

    /// Batches waiting.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

impl Drop for HandoffReceiver {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::Reading;
    use linepack_network::ids::SensorIdx;

    fn batch(n: usize, tag: f64) -> Batch {
        Batch {
            readings: vec![
                Reading {
                    sensor: SensorIdx::new(0),
                    ts_ms: 0,
                    value: tag,
                    quality: crate::telemetry::Quality::Good,
                    event: None
                };
                n
            ],
            gaps: Vec::new(),
        }
    }

    #[tokio::test]
    async fn full_handoff_waits_then_drops_the_oldest_and_counts_it() {
        let metrics = Arc::new(IngestMetrics::default());
        let policy = Backpressure::BlockThenDropOldest(Duration::from_millis(20));
        let (tx, rx) = handoff(2, policy, metrics.clone());
        tx.send(batch(3, 1.0)).await.unwrap();
        tx.send(batch(3, 2.0)).await.unwrap();
        tx.send(batch(3, 3.0)).await.unwrap(); // waits 20 ms, drops batch 1
        assert_eq!(metrics.batches_dropped.load(Ordering::Relaxed), 1);
        assert_eq!(metrics.readings_dropped.load(Ordering::Relaxed), 3);
        assert!(metrics.handoff_blocked_ms.load(Ordering::Relaxed) >= 20);
        assert_eq!(rx.recv().unwrap().readings[0].value, 2.0);
        assert_eq!(rx.recv().unwrap().readings[0].value, 3.0);
    }

    #[test]
    fn blocking_policy_never_drops() {
        let metrics = Arc::new(IngestMetrics::default());
        let (tx, rx) = handoff(1, Backpressure::Block, metrics.clone());
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            (0..5).map(|_| rx.recv().unwrap().readings[0].value).collect::<Vec<_>>()
        });
        for i in 0..5 {
            tx.send_blocking(batch(1, i as f64)).unwrap();
        }
        assert_eq!(reader.join().unwrap(), [0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(metrics.batches_dropped.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn sender_learns_the_engine_is_gone() {
        let (tx, rx) = handoff(4, Backpressure::Block, Arc::new(IngestMetrics::default()));
        drop(rx);
        assert!(tx.send(batch(1, 0.0)).await.is_err());
        assert!(tx.send_blocking(batch(1, 0.0)).is_err());
    }
}
