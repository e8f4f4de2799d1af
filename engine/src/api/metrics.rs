//! `/metrics` in the Prometheus text format: ingest, the hot loop, alarms,
//! the API's own subscribers.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::{ApiError, ApiState, Caller, Role};
use crate::view::STEP_BUCKETS_S;

/// Writes one metric with its help and type lines.
fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, v) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {v}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    }
}

pub async fn metrics(caller: Caller, State(s): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let mut out = String::with_capacity(4096);
    let i = s.ingest.snapshot();
    let m = |out: &mut String, name: &str, kind: &str, help: &str, v: u64| {
        metric(out, name, kind, help, &[("", v as f64)]);
    };
    m(
        &mut out,
        "linepack_ingest_messages_total",
        "counter",
        "MQTT messages received.",
        i.messages,
    );
    m(
        &mut out,
        "linepack_ingest_readings_total",
        "counter",
        "Readings accepted.",
        i.readings_accepted,
    );
    let rejects: Vec<(String, f64)> = i
        .rejected
        .iter()
        .map(|(reason, n)| (format!("reason=\"{reason}\""), *n as f64))
        .collect();
    let rejects: Vec<(&str, f64)> = rejects.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    metric(
        &mut out,
        "linepack_ingest_rejected_total",
        "counter",
        "Messages refused, by reason.",
        &rejects,
    );
    m(
        &mut out,
        "linepack_ingest_sequence_gaps_total",
        "counter",
        "Sequence gaps seen.",
        i.sequence_gaps,
    );
    m(
        &mut out,
        "linepack_ingest_batches_dropped_total",
        "counter",
        "Hand-off batches dropped when full.",
        i.batches_dropped,
    );
    m(
        &mut out,
        "linepack_ingest_readings_dropped_total",
        "counter",
        "Readings in dropped batches.",
        i.readings_dropped,
    );
    m(
        &mut out,
        "linepack_ingest_handoff_blocked_ms_total",
        "counter",
        "Time ingest waited on a full hand-off, ms.",
        i.handoff_blocked_ms,
    );
    m(
        &mut out,
        "linepack_ingest_connected",
        "gauge",
        "1 while connected to the broker.",
        u64::from(i.connected),
    );
    m(
        &mut out,
        "linepack_ingest_connects_total",
        "counter",
        "Connections made to the broker.",
        i.connects,
    );
    m(
        &mut out,
        "linepack_ingest_connection_errors_total",
        "counter",
        "Connection errors.",
        i.connection_errors,
    );

    let c = &s.view.counters;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    m(
        &mut out,
        "linepack_handoff_depth",
        "gauge",
        "Batches waiting between ingest and the engine.",
        get(&c.handoff_depth),
    );
    m(
        &mut out,
        "linepack_engine_readings_total",
        "counter",
        "Readings through the detectors.",
        get(&c.readings),
    );
    m(
        &mut out,
        "linepack_engine_transitions_total",
        "counter",
        "Alarm transitions journaled and announced.",
        get(&c.transitions),
    );
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
    metric(
        &mut out,
        "linepack_engine_step_seconds_max",
        "gauge",
        "Longest hot-loop step since start, s.",
        &[("", get(&c.step_ns_max) as f64 * 1e-9)],
    );

    let alarms = s.view.alarms();
    let mut by: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for a in &alarms {
        *by.entry((a.priority.clone(), a.state.clone())).or_default() += 1;
    }
    let labels: Vec<(String, f64)> = by
        .iter()
        .map(|((p, st), n)| (format!("priority=\"{p}\",state=\"{st}\""), *n as f64))
        .collect();
    let labels: Vec<(&str, f64)> = labels.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    metric(
        &mut out,
        "linepack_alarms_standing",
        "gauge",
        "Standing alarms by priority and state.",
        &labels,
    );
    m(
        &mut out,
        "linepack_api_event_subscribers",
        "gauge",
        "Server-sent event streams open.",
        s.view.subscribers() as u64,
    );
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    ))
}
