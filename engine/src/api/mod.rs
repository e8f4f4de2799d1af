//! The HTTP API and the control-room page (axum): the network as GeoJSON,
//! live values and trends, alarms and their history, operator commands,
//! server-sent events, health, Prometheus metrics and the OpenAPI
//! description. Handlers read the [`View`] and send [`Command`]s to the hot
//! loop; none of them touches the engine.

pub mod auth;
mod events;
mod handlers;
mod metrics;
mod network;
pub mod tls;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use crossbeam_channel::Sender;
use linepack_ingest::metrics::IngestMetrics;
use linepack_network::Network;
use serde::Serialize;

use crate::command::Command;
use crate::engine::Engine;
use crate::view::View;
pub use auth::{Caller, Role, Tokens};
pub use network::{Catalog, kind_and_unit};

/// The control-room page: one file, no build step.
const PAGE: &str = include_str!("page.html");

/// The OpenAPI 3.1 description of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Everything a handler may use.
#[derive(Clone)]
pub struct ApiState {
    pub view: Arc<View>,
    pub commands: Sender<Command>,
    pub catalog: Arc<Catalog>,
    pub tokens: Arc<Tokens>,
    pub ingest: Arc<IngestMetrics>,
    pub journal: PathBuf,
    /// Notification counters, when notifications are configured.
    pub notify: Option<Arc<crate::notify::NotifyMetrics>>,
    /// Archive counters, when the archive is configured.
    pub archive: Option<Arc<crate::archive::ArchiveMetrics>>,
    /// Set when the server shuts down: event streams end.
    closing: Arc<tokio::sync::watch::Sender<bool>>,
}

impl ApiState {
    pub fn new(
        network: &Network,
        engine: &Engine,
        view: Arc<View>,
        commands: Sender<Command>,
        tokens: Tokens,
        ingest: Arc<IngestMetrics>,
        journal: PathBuf,
    ) -> ApiState {
        ApiState {
            view,
            commands,
            catalog: Arc::new(Catalog::new(network, engine)),
            tokens: Arc::new(tokens),
            ingest,
            journal,
            notify: None,
            archive: None,
            closing: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }
}

/// Serves the API on `listener` (plain TCP or [`tls::TlsListener`]) until
/// `shutdown` resolves; then event streams end and requests in flight
/// finish.
///
/// # Errors
/// When the listener fails.
pub async fn serve<L>(
    listener: L,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let closing = state.closing.clone();
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            closing.send_replace(true);
        })
        .await
}

/// The routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::readyz))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics::metrics))
        .route("/api/whoami", get(handlers::whoami))
        .route("/api/status", get(handlers::status))
        .route("/api/network", get(network::geojson))
        .route("/api/network/state", get(network::state))
        .route("/api/sensors", get(network::sensors))
        .route("/api/live", get(handlers::live))
        .route("/api/live/{sensor}/trend", get(handlers::trend))
        .route("/api/alarms", get(handlers::alarms))
        .route("/api/alarms/history", get(handlers::history))
        .route("/api/alarms/{id}", get(handlers::alarm))
        .route("/api/alarms/{id}/acknowledge", post(handlers::acknowledge))
        .route("/api/alarms/{id}/shelve", post(handlers::shelve))
        .route("/api/alarms/{id}/unshelve", post(handlers::unshelve))
        .route("/api/alarms/{id}/out-of-service", post(handlers::out_of_service))
        .route("/api/events", get(events::events))
        .fallback(not_found)
        .with_state(state)
}

async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see /openapi.json".into())
}

/// An answer other than success, as `{"error": "..."}` with its status.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    Unauthorized(String),
    Forbidden(String),
    NotFound(String),
    Conflict(String),
    Unavailable(String),
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, m),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
            ApiError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
        };
        let mut response = (status, axum::Json(ErrorBody { error: message })).into_response();
        if matches!(self, ApiError::Unauthorized(_)) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
