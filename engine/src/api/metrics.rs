//! `/metrics` in the Prometheus text format: ingest, the hot loop, alarms,
//! notifications, the API's own subscribers.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::{ApiError, ApiState, Caller, Role};
use crate::view::STEP_BUCKETS_S;

/// One metric: name, type, help, and its samples (labels, value).
struct Metric<'a> {
    name: &'a str,
    kind: &'a str,
    help: &'a str,
    samples: Vec<(String, f64)>,
}

fn one<'a>(name: &'a str, kind: &'a str, help: &'a str, v: u64) -> Metric<'a> {
    Metric {
        name,
        kind,
        help,
        samples: vec![(String::new(), v as f64)],
    }
}

fn write(out: &mut String, m: &Metric) {
    let _ = writeln!(out, "# HELP {} {}\n# TYPE {} {}", m.name, m.help, m.name, m.kind);
    for (labels, v) in &m.samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{} {v}", m.name);
        } else {
            let _ = writeln!(out, "{}{{{labels}}} {v}", m.name);
        }
    }
}

pub async fn metrics(caller: Caller, State(s): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let i = s.ingest.snapshot();
    let c = &s.view.counters;
    let mut metrics = vec![
        one(
            "linepack_ingest_messages_total",
            "counter",
            "MQTT messages received.",
            i.messages,
        ),
        one(
            "linepack_ingest_readings_total",
            "counter",
            "Readings accepted.",
            i.readings_accepted,
        ),
        Metric {
            name: "linepack_ingest_rejected_total",
            kind: "counter",
            help: "Messages refused, by reason.",
            samples: i
                .rejected
                .iter()
                .map(|(reason, n)| (format!("reason=\"{reason}\""), *n as f64))
                .collect(),
        },
        one(
            "linepack_ingest_sequence_gaps_total",
            "counter",
            "Sequence gaps seen.",
            i.sequence_gaps,
        ),
        one(
            "linepack_ingest_batches_dropped_total",
            "counter",
            "Hand-off batches dropped when full.",
            i.batches_dropped,
        ),
        one(
            "linepack_ingest_readings_dropped_total",
            "counter",
            "Readings in dropped batches.",
            i.readings_dropped,
        ),
        one(
            "linepack_ingest_handoff_blocked_ms_total",
            "counter",
            "Time ingest waited on a full hand-off, ms.",
            i.handoff_blocked_ms,
        ),
        one(
            "linepack_ingest_connected",
            "gauge",
            "1 while connected to the broker.",
            u64::from(i.connected),
        ),
        one(
            "linepack_ingest_connects_total",
            "counter",
            "Connections made to the broker.",
            i.connects,
        ),
        one(
            "linepack_ingest_connection_errors_total",
            "counter",
            "Connection errors.",
            i.connection_errors,
        ),
        one(
            "linepack_handoff_depth",
            "gauge",
            "Batches waiting between ingest and the engine.",
            get(&c.handoff_depth),
        ),
        one(
            "linepack_engine_readings_total",
            "counter",
            "Readings through the detectors.",
            get(&c.readings),
        ),
        one(
            "linepack_engine_transitions_total",
            "counter",
            "Alarm transitions journaled and announced.",
            get(&c.transitions),
        ),
        Metric {
            name: "linepack_engine_step_seconds_max",
            kind: "gauge",
            help: "Longest hot-loop step since start, s.",
            samples: vec![(String::new(), get(&c.step_ns_max) as f64 * 1e-9)],
        },
    ];
    let mut by: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for a in s.view.alarms() {
        *by.entry((a.priority, a.state)).or_default() += 1;
    }
    metrics.push(Metric {
        name: "linepack_alarms_standing",
        kind: "gauge",
        help: "Standing alarms by priority and state.",
        samples: by
            .iter()
            .map(|((p, st), n)| (format!("priority=\"{p}\",state=\"{st}\""), *n as f64))
            .collect(),
    });
    if let Some(n) = &s.notify {
        metrics.extend([
            one(
                "linepack_notify_enqueued_total",
                "counter",
                "Notifications written to the outbox.",
                get(&n.enqueued),
            ),
            one(
                "linepack_notify_sent_total",
                "counter",
                "Notifications a receiver took (2xx).",
                get(&n.sent),
            ),
            one(
                "linepack_notify_retries_total",
                "counter",
                "Failed attempts that will be retried.",
                get(&n.retries),
            ),
            one(
                "linepack_notify_failed_total",
                "counter",
                "Notifications refused (4xx), not retried.",
                get(&n.failed),
            ),
            one(
                "linepack_notify_pending",
                "gauge",
                "Notifications in the outbox not yet delivered.",
                get(&n.pending),
            ),
        ]);
    }
    if let Some(a) = &s.archive {
        metrics.extend([
            one(
                "linepack_archive_written_points_total",
                "counter",
                "Points the database took.",
                get(&a.written),
            ),
            one(
                "linepack_archive_retried_points_total",
                "counter",
                "Points in writes that failed and are retried.",
                get(&a.retried),
            ),
            one(
                "linepack_archive_spilled_points_total",
                "counter",
                "Points written to the spill directory.",
                get(&a.spilled),
            ),
            one(
                "linepack_archive_dropped_points_total",
                "counter",
                "Points lost (hand-off full, spill failed, refused).",
                get(&a.dropped),
            ),
            one(
                "linepack_archive_buffered_points",
                "gauge",
                "Points waiting in memory or on disk.",
                get(&a.buffered),
            ),
        ]);
    }
    metrics.push(one(
        "linepack_api_event_subscribers",
        "gauge",
        "Server-sent event streams open.",
        s.view.subscribers() as u64,
    ));
    let mut out = String::with_capacity(4096);
    for m in &metrics {
        write(&mut out, m);
    }
    // The step time as a Prometheus histogram (cumulative buckets).
    let _ = writeln!(
        out,
        "# HELP linepack_engine_step_seconds Hot-loop steps: detection, journal, announcement.\n# TYPE linepack_engine_step_seconds histogram"
    );
    let mut cumulative = 0;
    for (k, bound) in STEP_BUCKETS_S.iter().enumerate() {
        cumulative += get(&c.step_buckets[k]);
        let _ = writeln!(
            out,
            "linepack_engine_step_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
        );
    }
    cumulative += get(&c.step_buckets[STEP_BUCKETS_S.len()]);
    let _ = writeln!(out, "linepack_engine_step_seconds_bucket{{le=\"+Inf\"}} {cumulative}");
    let _ = writeln!(
        out,
        "linepack_engine_step_seconds_sum {}",
        get(&c.step_ns) as f64 * 1e-9
    );
    let _ = writeln!(out, "linepack_engine_step_seconds_count {cumulative}");
    let content_type = [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")];
    Ok((content_type, out))
}
