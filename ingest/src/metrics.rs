//! Ingest counters, updated per message or per batch with relaxed atomics,
//! read by the API and `/metrics`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;

use crate::telemetry::RejectReason;

/// Counters of one ingest source.
#[derive(Debug, Default)]
pub struct IngestMetrics {
    pub messages: AtomicU64,
    pub readings_accepted: AtomicU64,
    rejected: [AtomicU64; RejectReason::ALL.len()],
    pub sequence_gaps: AtomicU64,
    pub batches_sent: AtomicU64,
    pub batches_dropped: AtomicU64,
    pub readings_dropped: AtomicU64,
    /// Time the source waited on a full hand-off, ms.
    pub handoff_blocked_ms: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub dead_letters_lost: AtomicU64,
    pub connected: AtomicBool,
    pub connects: AtomicU64,
    pub connection_errors: AtomicU64,
}

fn reason_index(r: RejectReason) -> usize {
    RejectReason::ALL
        .iter()
        .position(|x| *x == r)
        .expect("every reason is in ALL")
}

impl IngestMetrics {
    pub fn count_reject(&self, reason: RejectReason) {
        self.rejected[reason_index(reason)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn rejected(&self, reason: RejectReason) -> u64 {
        self.rejected[reason_index(reason)].load(Ordering::Relaxed)
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// A consistent-enough copy for reports (each counter read once).
    pub fn snapshot(&self) -> IngestSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        IngestSnapshot {
            messages: get(&self.messages),
            readings_accepted: get(&self.readings_accepted),
            rejected: RejectReason::ALL
                .iter()
                .map(|r| (r.name(), self.rejected(*r)))
                .collect(),
            sequence_gaps: get(&self.sequence_gaps),
            batches_sent: get(&self.batches_sent),
            batches_dropped: get(&self.batches_dropped),
            readings_dropped: get(&self.readings_dropped),
            handoff_blocked_ms: get(&self.handoff_blocked_ms),
            dead_lettered: get(&self.dead_lettered),
            dead_letters_lost: get(&self.dead_letters_lost),
            connected: self.connected.load(Ordering::Relaxed),
            connects: get(&self.connects),
            connection_errors: get(&self.connection_errors),
        }
    }
}

/// A copy of the counters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IngestSnapshot {
    pub messages: u64,
    pub readings_accepted: u64,
    pub rejected: Vec<(&'static str, u64)>,
    pub sequence_gaps: u64,
    pub batches_sent: u64,
    pub batches_dropped: u64,
    pub readings_dropped: u64,
    pub handoff_blocked_ms: u64,
    pub dead_lettered: u64,
    pub dead_letters_lost: u64,
    pub connected: bool,
    pub connects: u64,
    pub connection_errors: u64,
}
