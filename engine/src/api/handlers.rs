//! Health, status, live values, alarms and operator commands.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use linepack_ingest::mqtt::client::now_ms;
use linepack_ingest::telemetry::time::{format_rfc3339_ms, parse_rfc3339_ms};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ApiError, ApiState, Caller, Role};
use crate::alarm::{Actor, AlarmEvent, AlarmKind, Priority};
use crate::command::{Action, Command, Refusal};
use crate::journal::{HistoryQuery, Journal};

/// Data older than this (by arrival, wall clock) is stale on the page.
pub const STALE_AFTER_MS: i64 = 120_000;

/// Longest shelving, minutes (a week): a shelved alarm must come back.
const MAX_SHELVE_MINUTES: f64 = 7.0 * 24.0 * 60.0;

/// Most history rows one call returns.
const MAX_HISTORY: usize = 10_000;

pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the hot loop runs and ingest is connected to its broker.
pub async fn readyz(State(s): State<ApiState>) -> impl IntoResponse {
    let running = s.view.running();
    let connected = s.ingest.connected.load(Ordering::Relaxed);
    let status = if running && connected {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"ready": running && connected, "engine": running, "broker_connected": connected})),
    )
}

pub async fn whoami(caller: Caller) -> Result<impl IntoResponse, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(Json(json!({"name": caller.name, "role": caller.role.name()})))
}

/// What the page's banner needs: is data flowing, is a flood on, how many
/// alarms stand at each priority.
pub async fn status(caller: Caller, State(s): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let c = &s.view.counters;
    let last = c.last_reading_wall_ms.load(Ordering::Relaxed);
    let now = now_ms();
    let age_s = (last > 0).then(|| (now - last) as f64 / 1000.0);
    let alarms = s.view.alarms();
    let count = |p: &str| alarms.iter().filter(|a| a.priority == p).count();
    let unacknowledged = alarms.iter().filter(|a| a.state.ends_with("unacknowledged")).count();
    let flood = alarms
        .iter()
        .any(|a| a.kind == AlarmKind::AlarmFlood.name() && a.active);
    let clock = c.clock_ms.load(Ordering::Relaxed);
    Ok(Json(json!({
        "running": s.view.running(),
        "broker_connected": s.ingest.connected.load(Ordering::Relaxed),
        "engine_clock": (clock > 0).then(|| format_rfc3339_ms(clock)),
        "last_reading_age_s": age_s,
        "stale": last == 0 || now - last > STALE_AFTER_MS,
        "flood": flood,
        "readings": c.readings.load(Ordering::Relaxed),
        "alarms": {"standing": alarms.len(), "unacknowledged": unacknowledged,
                   "critical": count("critical"), "high": count("high"),
                   "medium": count("medium"), "low": count("low")},
    })))
}

pub async fn live(caller: Caller, State(s): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(Json(json!({ "values": s.view.values() })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrendParams {
    /// How far back, minutes (default 60).
    minutes: Option<f64>,
}

pub async fn trend(
    caller: Caller,
    State(s): State<ApiState>,
    Path(sensor): Path<String>,
    params: Result<Query<TrendParams>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let Query(p) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let minutes = p.minutes.unwrap_or(60.0);
    if !(minutes.is_finite() && minutes > 0.0) {
        return Err(ApiError::BadRequest(format!(
            "minutes={minutes}: must be a positive number"
        )));
    }
    let &i = s
        .catalog
        .sensor_index
        .get(&sensor)
        .ok_or_else(|| ApiError::NotFound(format!("no sensor '{sensor}'")))?;
    // Back from the sensor's own last reading: a replayed or accelerated
    // clock has its own "now".
    let last = s.view.trend(i, i64::MIN).last().map_or(0, |p| p.0);
    let since = last - (minutes * 60_000.0) as i64;
    let points: Vec<(i64, f32)> = s.view.trend(i, since);
    let entry = &s.catalog.sensors[i];
    Ok(Json(json!({
        "sensor": sensor, "kind": entry.kind, "unit": entry.unit,
        "points": points.iter().map(|(t, v)| json!([t, v])).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmFilter {
    priority: Option<String>,
    kind: Option<String>,
    zone: Option<String>,
    state: Option<String>,
}

fn check_priority(p: &Option<String>) -> Result<(), ApiError> {
    match p {
        Some(p) => p.parse::<Priority>().map(|_| ()).map_err(ApiError::BadRequest),
        None => Ok(()),
    }
}

fn check_kind(k: &Option<String>) -> Result<(), ApiError> {
    match k {
        Some(k) if AlarmKind::parse(k).is_none() => Err(ApiError::BadRequest(format!(
            "unknown alarm kind '{k}'; kinds: {}",
            AlarmKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
        ))),
        _ => Ok(()),
    }
}

fn priority_rank(p: &str) -> u8 {
    p.parse::<Priority>().map_or(0, |p| p as u8)
}

/// Standing alarms, highest priority first, newest first within one.
pub async fn alarms(
    caller: Caller,
    State(s): State<ApiState>,
    filter: Result<Query<AlarmFilter>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let Query(f) = filter.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    check_priority(&f.priority)?;
    check_kind(&f.kind)?;
    if let Some(st) = &f.state
        && crate::alarm::AlarmState::parse(st).is_none()
    {
        return Err(ApiError::BadRequest(format!(
            "unknown state '{st}'; states: unacknowledged, acknowledged, returned_unacknowledged, shelved, suppressed, out_of_service, normal"
        )));
    }
    let keep = |a: &AlarmEvent| {
        f.priority.as_ref().is_none_or(|p| &a.priority == p)
            && f.kind.as_ref().is_none_or(|k| &a.kind == k)
            && f.zone.as_ref().is_none_or(|z| a.zone.as_ref() == Some(z))
            && f.state.as_ref().is_none_or(|st| &a.state == st)
    };
    let mut list: Vec<AlarmEvent> = s.view.alarms().into_iter().filter(keep).collect();
    list.sort_by(|a, b| {
        priority_rank(&b.priority)
            .cmp(&priority_rank(&a.priority))
            .then(b.ts_ms.cmp(&a.ts_ms))
    });
    Ok(Json(json!({ "alarms": list })))
}

pub async fn alarm(
    caller: Caller,
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let a = s
        .view
        .alarm(&id)
        .ok_or_else(|| ApiError::NotFound(format!("no standing alarm '{id}'")))?;
    Ok(Json(a))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    alarm_id: Option<String>,
    kind: Option<String>,
    zone: Option<String>,
    priority: Option<String>,
    /// RFC 3339.
    since: Option<String>,
    until: Option<String>,
    /// Default 100, at most 10,000.
    limit: Option<usize>,
}

fn time_param(name: &str, v: &Option<String>) -> Result<Option<i64>, ApiError> {
    v.as_deref()
        .map(|t| {
            parse_rfc3339_ms(t).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "{name}='{t}': not an RFC 3339 time (e.g. 2026-11-23T08:00:00Z)"
                ))
            })
        })
        .transpose()
}

/// Journaled transitions, newest first.
pub async fn history(
    caller: Caller,
    State(s): State<ApiState>,
    params: Result<Query<HistoryParams>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let Query(p) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    check_priority(&p.priority)?;
    check_kind(&p.kind)?;
    let limit = p.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_HISTORY {
        return Err(ApiError::BadRequest(format!(
            "limit={limit}: must be 1 to {MAX_HISTORY}"
        )));
    }
    let q = HistoryQuery {
        since_ms: time_param("since", &p.since)?,
        until_ms: time_param("until", &p.until)?,
        alarm_id: p.alarm_id,
        kind: p.kind,
        zone: p.zone,
        priority: p.priority,
        limit,
    };
    let path = s.journal.clone();
    let rows = tokio::task::spawn_blocking(move || Journal::read_history(&path, &q))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    #[derive(Serialize)]
    struct Row {
        #[serde(flatten)]
        entry: crate::journal::JournalEntry,
        ts: String,
    }
    let rows: Vec<Row> = rows
        .into_iter()
        .map(|entry| Row {
            ts: format_rfc3339_ms(entry.ts_ms),
            entry,
        })
        .collect();
    Ok(Json(json!({ "transitions": rows })))
}

/// Body of acknowledge and unshelve.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    comment: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShelveBody {
    /// How long, minutes.
    minutes: f64,
    /// Why (required: a shelved alarm is a hidden alarm).
    comment: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutOfServiceBody {
    out_of_service: bool,
    comment: String,
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(t)| t).map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// An empty body counts as `{}`.
fn optional_body<T: Default>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    match b {
        Err(JsonRejection::MissingJsonContentType(_)) => Ok(T::default()),
        other => body(other),
    }
}

fn required_comment(c: &str) -> Result<String, ApiError> {
    let c = c.trim();
    if c.is_empty() {
        return Err(ApiError::BadRequest("comment: say why (it is journaled)".into()));
    }
    Ok(c.to_string())
}

async fn command(
    s: &ApiState,
    caller: &Caller,
    id: String,
    action: Action,
    comment: String,
) -> Result<Json<AlarmEvent>, ApiError> {
    caller.require(Role::Operator)?;
    let actor = Actor {
        user: caller.name.clone(),
        comment,
    };
    match Command::send(&s.commands, id, action, actor).await {
        Ok(event) => Ok(Json(event)),
        Err(Refusal::UnknownAlarm(id)) => Err(ApiError::NotFound(format!("no alarm '{id}'"))),
        Err(e @ Refusal::Refused(_)) => Err(ApiError::Conflict(e.to_string())),
        Err(e @ Refusal::Stopped) => Err(ApiError::Unavailable(e.to_string())),
    }
}

/// Acknowledge and unshelve: an optional comment, nothing else.
async fn with_optional_comment(
    caller: Caller,
    s: ApiState,
    id: String,
    b: Result<Json<CommentBody>, JsonRejection>,
    action: Action,
) -> Result<Json<AlarmEvent>, ApiError> {
    caller.require(Role::Operator)?;
    let b = optional_body(b)?;
    command(&s, &caller, id, action, b.comment.unwrap_or_default()).await
}

pub async fn acknowledge(
    caller: Caller,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    b: Result<Json<CommentBody>, JsonRejection>,
) -> Result<Json<AlarmEvent>, ApiError> {
    with_optional_comment(caller, s, id, b, Action::Acknowledge).await
}

pub async fn shelve(
    caller: Caller,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    b: Result<Json<ShelveBody>, JsonRejection>,
) -> Result<Json<AlarmEvent>, ApiError> {
    caller.require(Role::Operator)?;
    let b = body(b)?;
    if !(b.minutes.is_finite() && b.minutes > 0.0 && b.minutes <= MAX_SHELVE_MINUTES) {
        return Err(ApiError::BadRequest(format!(
            "minutes={}: must be more than 0 and at most {MAX_SHELVE_MINUTES} (a week)",
            b.minutes
        )));
    }
    let comment = required_comment(&b.comment)?;
    let for_ms = (b.minutes * 60_000.0).round() as i64;
    command(&s, &caller, id, Action::Shelve { for_ms }, comment).await
}

pub async fn unshelve(
    caller: Caller,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    b: Result<Json<CommentBody>, JsonRejection>,
) -> Result<Json<AlarmEvent>, ApiError> {
    with_optional_comment(caller, s, id, b, Action::Unshelve).await
}

pub async fn out_of_service(
    caller: Caller,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    b: Result<Json<OutOfServiceBody>, JsonRejection>,
) -> Result<Json<AlarmEvent>, ApiError> {
    caller.require(Role::Operator)?;
    let b = body(b)?;
    let comment = required_comment(&b.comment)?;
    command(&s, &caller, id, Action::OutOfService(b.out_of_service), comment).await
}
