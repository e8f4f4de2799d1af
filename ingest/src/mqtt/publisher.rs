//! Publishing from the engine: alarm transitions go to
//! `<prefix>/alarms/<alarm_id>` (the telemetry contract's "Alarms out"),
//! QoS 1, retained, so a subscriber sees every alarm's current state at
//! once. A connection of its own (client id `<client_id>-out`), never the
//! ingest session's; publishing never waits: a full queue drops the
//! message and counts it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectionError, QoS};

use super::MqttSettings;
use super::client::options;

/// Messages waiting for the connection at most.
const QUEUE: usize = 10_000;

/// The publishing side.
pub struct Publisher {
    client: AsyncClient,
    prefix: String,
    /// Messages dropped because the queue was full.
    pub dropped: Arc<AtomicU64>,
}

impl Publisher {
    pub(crate) fn start(
        runtime: &tokio::runtime::Handle,
        settings: &MqttSettings,
        broker_addr: Option<std::net::SocketAddr>,
    ) -> Publisher {
        let mut settings = settings.clone();
        settings.client_id = format!("{}-out", settings.client_id);
        settings.clean_session = true;
        let (client, mut eventloop) = AsyncClient::new(options(&settings, broker_addr), QUEUE);
        runtime.spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(_) => {}
                    // Every client handle is gone: nothing more to send.
                    Err(ConnectionError::RequestsDone) => return,
                    Err(e) => {
                        tracing::warn!("alarm publisher: {e}; reconnecting");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        });
        Publisher {
            client,
            prefix: settings.topic_prefix,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Publishes one alarm event (JSON) to `<prefix>/alarms/<alarm_id>`,
    /// retained. MQTT wildcards in the id become `_`.
    pub fn alarm(&self, alarm_id: &str, json: Vec<u8>) {
        let id: String = alarm_id
            .chars()
            .map(|c| if matches!(c, '+' | '#') { '_' } else { c })
            .collect();
        let topic = format!("{}/alarms/{id}", self.prefix);
        if self.client.try_publish(topic, QoS::AtLeastOnce, true, json).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
