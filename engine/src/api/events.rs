//! Server-sent events: `alarm` (every transition, as the alarm event
//! schema), `values` (live values that changed, at most once a second),
//! `network` (the model's pressures and flows) and `lagged` (this client
//! fell behind and missed updates: reload the lists).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;

use super::{ApiError, ApiState, Caller, Role};
use crate::view::Update;

pub async fn events(
    caller: Caller,
    State(s): State<ApiState>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    caller.require(Role::Viewer)?;
    let rx = s.view.subscribe();
    let closing = s.closing.subscribe();
    let stream = stream::unfold((rx, closing), |(mut rx, mut closing)| async move {
        let update = tokio::select! {
            u = rx.recv() => u,
            _ = closing.wait_for(|c| *c) => return None,
        };
        let event = match update {
            Ok(Update::Alarm(a)) => json_event("alarm", &*a),
            Ok(Update::Values(v)) => json_event("values", &*v),
            Ok(Update::Network(n)) => json_event("network", &*n),
            Err(RecvError::Lagged(missed)) => Event::default().event("lagged").data(missed.to_string()),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), (rx, closing)))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn json_event(name: &str, value: &impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .data(serde_json::to_string(value).expect("updates serialize"))
}
