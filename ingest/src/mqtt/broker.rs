//! The embedded broker (rumqttd): the single-machine default, so the demo
//! and tests need no external service.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

/// The embedded broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("embedded MQTT broker: cannot use {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: std::io::Error },
    #[error("embedded MQTT broker did not accept connections on {addr} within {seconds} s")]
    NotReady { addr: SocketAddr, seconds: u64 },
}

/// A running embedded broker. It serves until the process ends (rumqttd
/// has no stop); MQTT 3.1.1 clients, QoS 0 and 1, shared subscriptions.
#[derive(Debug)]
pub struct EmbeddedBroker {
    pub addr: SocketAddr,
}

impl EmbeddedBroker {
    /// Starts the broker on `listen` (port 0: a free port) and waits until it
    /// accepts connections.
    ///
    /// # Errors
    /// [`BrokerError`] when the address is taken or the broker does not come up.
    pub fn start(listen: SocketAddr, max_payload_bytes: usize) -> Result<Self, BrokerError> {
        // rumqttd binds by itself; find a free port first when asked for 0,
        // and check a fixed one is free, so the error is ours and clear.
        let probe = TcpListener::bind(listen).map_err(|reason| BrokerError::Listen { addr: listen, reason })?;
        let addr = probe
            .local_addr()
            .map_err(|reason| BrokerError::Listen { addr: listen, reason })?;
        drop(probe);

        let server = ServerSettings {
            name: "linepack".into(),
            listen: addr,
            tls: None,
            next_connection_delay_ms: 1,
            connections: ConnectionSettings {
                connection_timeout_ms: 60_000,
                // Larger than what ingest accepts, so that ingest sees, counts
                // and refuses an oversized message instead of the broker.
                max_payload_size: (4 * max_payload_bytes).max(1 << 20),
                max_inflight_count: 5000,
                auth: None,
                external_auth: None,
                dynamic_filters: true,
            },
        };
        let config = Config {
            id: 0,
            router: RouterConfig {
                max_connections: 10_010,
                max_outgoing_packet_count: 5000,
                max_segment_size: 100 * 1024 * 1024,
                max_segment_count: 10,
                custom_segment: None,
                initialized_filters: None,
                shared_subscriptions_strategy: Default::default(),
            },
            v4: Some(HashMap::from([("1".to_string(), server)])),
            ..Default::default()
        };
        std::thread::Builder::new()
            .name("mqtt-broker".into())
            .spawn(move || {
                let mut broker = Broker::new(config);
                if let Err(e) = broker.start() {
                    tracing::error!(error = %e, "Embedded MQTT broker stopped");
                }
            })
            .map_err(|reason| BrokerError::Listen { addr, reason })?;

        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            if Instant::now() > deadline {
                return Err(BrokerError::NotReady { addr, seconds: 5 });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        tracing::info!(%addr, "Embedded MQTT broker listening");
        Ok(EmbeddedBroker { addr })
    }
}
