//! Alarm notifications: the route tree (`route`), grouping, inhibition,
//! escalation and quiet hours (`dispatch`), what each receiver is sent
//! (`payload`: webhook, Alertmanager v4, PagerDuty Events v2, SMS), and the
//! durable outbox with its sender (`outbox`). The hot loop hands events
//! over a channel and never waits; the dispatcher and the sender each run
//! on a thread of their own.

pub mod config;
pub mod dispatch;
pub mod outbox;
pub mod payload;
pub mod route;

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use crate::alarm::AlarmEvent;
pub use config::NotifyConfig;
use dispatch::Dispatcher;
pub use outbox::{NotifyMetrics, OutboxError};
use outbox::{Outbox, Sender};
use route::Routes;

/// Notifications could not start.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("[notify]: {}", .0.join("; "))]
    Config(Vec<String>),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error("cannot start a notifier thread: {0}")]
    Thread(std::io::Error),
}

/// The running notifier.
pub struct Notifier {
    events: crossbeam_channel::Sender<AlarmEvent>,
    pub metrics: Arc<NotifyMetrics>,
    dispatcher: JoinHandle<()>,
    sender: JoinHandle<()>,
}

impl Notifier {
    /// Checks the configuration, opens the outbox at `path` (pending
    /// rows from before are sent first) and starts both threads.
    ///
    /// # Errors
    /// [`NotifyError`] naming the key or the file.
    pub fn start(config: &NotifyConfig, path: &Path) -> Result<Notifier, NotifyError> {
        let routes = Routes::build(config).map_err(NotifyError::Config)?;
        for (k, v) in [
            ("retry_initial_s", config.retry_initial_s),
            ("retry_max_s", config.retry_max_s),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(NotifyError::Config(vec![format!(
                    "notify.{k} = {v}: must be more than 0"
                )]));
            }
        }
        let metrics = Arc::new(NotifyMetrics::default());
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
        let mut outbox = Outbox::open(path, metrics.clone(), wake_tx)?;
        let sender = Sender::open(
            path,
            routes.receivers.clone(),
            Duration::from_secs_f64(config.retry_initial_s),
            Duration::from_secs_f64(config.retry_max_s),
            metrics.clone(),
        )?;
        let mut dispatcher = Dispatcher::new(routes, &config.external_url, config.inhibit, config.utc_offset_hours);
        let (events, rx) = crossbeam_channel::unbounded::<AlarmEvent>();
        let dispatcher = std::thread::Builder::new()
            .name("notify-dispatch".into())
            .spawn(move || {
                loop {
                    let wait = dispatcher
                        .next_due()
                        .map_or(Duration::from_secs(1), |d| d.saturating_duration_since(Instant::now()));
                    match rx.recv_timeout(wait) {
                        Ok(e) => dispatcher.event(e, Instant::now()),
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    dispatcher.flush(Instant::now(), linepack_ingest::mqtt::client::now_ms(), &mut outbox);
                }
                // Stopping: what still waits for company goes now.
                dispatcher.flush_all(Instant::now(), linepack_ingest::mqtt::client::now_ms(), &mut outbox);
            })
            .map_err(NotifyError::Thread)?;
        let sender = std::thread::Builder::new()
            .name("notify-send".into())
            .spawn(move || sender.run(&wake_rx))
            .map_err(NotifyError::Thread)?;
        Ok(Notifier {
            events,
            metrics,
            dispatcher,
            sender,
        })
    }

    /// A channel the hot loop can hand events to without waiting.
    pub fn handle(&self) -> crossbeam_channel::Sender<AlarmEvent> {
        self.events.clone()
    }

    /// Flushes the groups into the outbox and lets the sender finish its
    /// pass; what is still pending stays in the outbox for the next start.
    pub fn stop(self) {
        drop(self.events);
        let _ = self.dispatcher.join();
        let _ = self.sender.join();
    }
}
