//! MQTT: configuration, the client task, the embedded broker, and
//! [`MqttIngest`] which starts them.

pub mod broker;
pub mod client;
pub mod config;
pub mod publisher;

use std::sync::Arc;

use linepack_network::Network;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use broker::{BrokerError, EmbeddedBroker};
pub use config::{BrokerChoice, MqttConfig, MqttConfigError, MqttSettings};

use crate::handoff::{Backpressure, HandoffReceiver, handoff};
use crate::metrics::IngestMetrics;
use crate::telemetry::{Decoder, UnitsConfig, UnitsError};

/// Ingest could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] MqttConfigError),
    #[error(transparent)]
    Units(#[from] UnitsError),
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

/// A running MQTT source (and, by default, the embedded broker).
pub struct MqttIngest {
    pub metrics: Arc<IngestMetrics>,
    pub broker: Option<EmbeddedBroker>,
    settings: MqttSettings,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl MqttIngest {
    /// Validates the configuration, starts the embedded broker if asked,
    /// and spawns the source on `runtime`. Returns the engine's end of the
    /// hand-off.
    ///
    /// # Errors
    /// [`StartError`] naming the configuration key or the broker problem.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        config: &MqttConfig,
        units: &UnitsConfig,
        network: &Network,
    ) -> Result<(MqttIngest, HandoffReceiver), StartError> {
        let settings = config.build()?;
        let table = units.sensor_table(network)?;
        let decoder = Decoder::new(&settings.topic_prefix, table, network.sensors.len(), settings.limits);
        let broker = match settings.broker {
            BrokerChoice::Embedded(addr) => Some(EmbeddedBroker::start(addr, settings.limits.max_payload_bytes)?),
            BrokerChoice::External { .. } => None,
        };
        let metrics = Arc::new(IngestMetrics::default());
        let (tx, rx) = handoff(
            settings.handoff_batches,
            Backpressure::BlockThenDropOldest(settings.handoff_block),
            metrics.clone(),
        );
        let (shutdown, shutdown_rx) = watch::channel(false);
        let broker_addr = broker.as_ref().map(|b| b.addr);
        let task = runtime.spawn(client::run(
            settings.clone(),
            broker_addr,
            decoder,
            tx,
            metrics.clone(),
            shutdown_rx,
        ));
        Ok((
            MqttIngest {
                metrics,
                broker,
                settings,
                shutdown,
                task,
            },
            rx,
        ))
    }

    /// A publisher to the same broker (alarm transitions out).
    pub fn publisher(&self, runtime: &tokio::runtime::Handle) -> publisher::Publisher {
        publisher::Publisher::start(runtime, &self.settings, self.broker.as_ref().map(|b| b.addr))
    }

    /// Hands off what was decoded, acknowledges it, disconnects, and waits
    /// for the task to end.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}
