//! Telemetry to an MQTT broker, per the telemetry contract: one message per
//! reading on `<prefix>/telemetry/<sensor_id>`, `{"ts": <ms>, "v": <value>}`
//! (or `{"ts": <ms>, "event": "<event>"}`), QoS 1. Paced to the simulated
//! clock (real time, or `speed` times faster), or as fast as the broker
//! takes it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use linepack_network::Network;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::run::Sink;
use crate::telemetry::Record;

/// How publishing follows the simulated clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pacing {
    /// Simulated time runs `speed` times as fast as the wall clock (1: real time).
    Speed(f64),
    /// No waiting.
    Unpaced,
}

/// Where to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub topic_prefix: String,
    pub client_id: String,
}

impl Target {
    /// `mqtt://host:port` (port 1883 if omitted).
    ///
    /// # Errors
    /// A message naming what is wrong with the URL.
    pub fn parse(url: &str, topic_prefix: &str, client_id: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("mqtt://")
            .ok_or_else(|| format!("--mqtt '{url}': use mqtt://host:port"))?;
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.trim_end_matches('/')
                    .parse::<u16>()
                    .map_err(|_| format!("--mqtt '{url}': '{p}' is not a port"))?,
            ),
            None => (rest.trim_end_matches('/'), 1883),
        };
        if host.is_empty() {
            return Err(format!("--mqtt '{url}': no host"));
        }
        Ok(Target {
            host: host.to_string(),
            port,
            topic_prefix: topic_prefix.trim_end_matches('/').to_string(),
            client_id: client_id.to_string(),
        })
    }
}

/// Publishes to a broker (see the module docs).
pub struct MqttSink {
    rt: tokio::runtime::Runtime,
    client: AsyncClient,
    prefix: String,
    pacing: Pacing,
    clock: Option<(Instant, i64)>,
    published: u64,
    acked: Arc<AtomicU64>,
}

impl MqttSink {
    /// Connects (the connection is made in the background and retried).
    ///
    /// # Errors
    /// When the runtime cannot start.
    pub fn connect(target: &Target, pacing: Pacing) -> std::io::Result<MqttSink> {
        // A worker of its own, so the event loop keeps the connection alive
        // while the simulation waits for its clock.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let mut options = MqttOptions::new(target.client_id.clone(), target.host.clone(), target.port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(false)
            .set_inflight(1000)
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 10_000);
        eventloop.network_options.set_tcp_nodelay(true);
        let acked = Arc::new(AtomicU64::new(0));
        let counter = acked.clone();
        // The only task that polls the event loop; it never stops polling,
        // so rumqttc reconnects and resends what was not acknowledged.
        rt.spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "MQTT connection lost; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        });
        Ok(MqttSink {
            rt,
            client,
            prefix: target.topic_prefix.clone(),
            pacing,
            clock: None,
            published: 0,
            acked,
        })
    }

    /// Messages acknowledged by the broker so far.
    pub fn acknowledged(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }
}

/// The JSON payload of one record.
pub fn payload(r: &Record) -> String {
    match r.event {
        Some(e) if r.value.is_finite() => {
            format!("{{\"ts\":{},\"v\":{:?},\"event\":\"{}\"}}", r.ts_ms, r.value, e.name())
        }
        Some(e) => format!("{{\"ts\":{},\"event\":\"{}\"}}", r.ts_ms, e.name()),
        None => format!("{{\"ts\":{},\"v\":{:?}}}", r.ts_ms, r.value),
    }
}

impl Sink for MqttSink {
    fn send(&mut self, t_ms: i64, records: &[Record], network: &Network) -> std::io::Result<()> {
        if let Pacing::Speed(speed) = self.pacing {
            let (wall0, sim0) = *self.clock.get_or_insert((Instant::now(), t_ms));
            let due = wall0 + Duration::from_secs_f64(((t_ms - sim0) as f64 / 1000.0 / speed).max(0.0));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let client = &self.client;
        let prefix = &self.prefix;
        self.rt.block_on(async {
            for r in records {
                let topic = format!("{prefix}/telemetry/{}", network.sensors[r.sensor.index()].id);
                client
                    .publish(topic, QoS::AtLeastOnce, false, payload(r))
                    .await
                    .map_err(std::io::Error::other)?;
            }
            Ok::<(), std::io::Error>(())
        })?;
        self.published += records.len() as u64;
        Ok(())
    }

    /// Waits (up to a minute) until the broker acknowledged everything.
    fn finish(&mut self) -> std::io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let acked = self.acked.clone();
        let published = self.published;
        self.rt.block_on(async {
            while acked.load(Ordering::Relaxed) < published {
                if Instant::now() > deadline {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "the broker acknowledged {} of {published} messages within a minute",
                            acked.load(Ordering::Relaxed)
                        ),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(())
        })?;
        let _ = self.rt.block_on(self.client.disconnect());
        Ok(())
    }
}
