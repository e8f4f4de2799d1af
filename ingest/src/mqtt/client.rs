//! The MQTT source: one task owns the rumqttc event loop and does nothing
//! but poll it, decode what arrives into batches, and hand them off. It never
//! awaits a publish.
//!
//! QoS 1 messages are acknowledged by rumqttc as they are read, in bunches
//! per socket read. Acknowledging after the hand-off instead was measured:
//! rumqttc writes each manual ack with its own flush, which cut throughput
//! five-fold, and bought nothing, since the hand-off lives in the same
//! process as the reader. While the hand-off is full the task stops
//! polling, so the socket backs up to the broker, which queues for the
//! persistent session; after the bound the oldest batch is dropped and
//! counted. The decoder drops what the broker sends twice.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Packet, Publish, QoS, TlsConfiguration, Transport,
};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::config::{BrokerChoice, MqttSettings};
use crate::handoff::HandoffSender;
use crate::metrics::IngestMetrics;
use crate::telemetry::{Batch, Decoder, Reject, RejectReason};

/// Wall-clock now, ms since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Exponential back-off with jitter (each delay uniform in [d/2, d]):
/// rumqttc itself would retry in a tight loop.
struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
    rng: u64,
}

impl Backoff {
    fn new(initial: Duration, max: Duration) -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1;
        Backoff {
            initial,
            max,
            next: initial,
            rng: seed,
        }
    }

    fn reset(&mut self) {
        self.next = self.initial;
    }

    fn delay(&mut self) -> Duration {
        // xorshift64: jitter needs no quality, only spread.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let unit = (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        let d = self.next.mul_f64(0.5 + 0.5 * unit);
        self.next = (self.next * 2).min(self.max);
        d
    }
}

/// At most one log line per reason every 10 s, with how many were not logged.
#[derive(Default)]
struct RejectLog {
    last: HashMap<RejectReason, (Instant, u64)>,
}

impl RejectLog {
    fn note(&mut self, topic: &str, reject: &Reject) {
        let now = Instant::now();
        let entry = self
            .last
            .entry(reject.reason)
            .or_insert((now - Duration::from_secs(60), 0));
        if now.duration_since(entry.0) >= Duration::from_secs(10) {
            warn!(
                topic,
                reason = reject.reason.name(),
                sensor = reject.sensor.as_deref().unwrap_or(""),
                suppressed = entry.1,
                "Telemetry rejected"
            );
            *entry = (now, 0);
        } else {
            entry.1 += 1;
        }
    }
}

/// The largest packet MQTT 3.1.1 can encode (a 4-byte remaining length).
const MQTT_MAX_PACKET: usize = 268_435_455;

pub(crate) fn options(settings: &MqttSettings, broker_addr: Option<std::net::SocketAddr>) -> MqttOptions {
    let (host, port) = match (&settings.broker, broker_addr) {
        (BrokerChoice::Embedded(_), Some(addr)) => (addr.ip().to_string(), addr.port()),
        (BrokerChoice::Embedded(addr), None) => (addr.ip().to_string(), addr.port()),
        (BrokerChoice::External { host, port, .. }, _) => (host.clone(), *port),
    };
    let mut o = MqttOptions::new(settings.client_id.clone(), host, port);
    o.set_keep_alive(settings.keep_alive)
        .set_clean_session(settings.clean_session)
        .set_inflight(500)
        // Take any message the protocol allows: one too large for the decoder
        // is then refused, counted and acknowledged, where a protocol error
        // would make the broker send it again after every reconnect.
        .set_max_packet_size(MQTT_MAX_PACKET, 256 * 1024);
    if let Some((u, p)) = &settings.credentials {
        o.set_credentials(u.clone(), p.clone());
    }
    if let Some(ca) = &settings.ca_pem {
        o.set_transport(Transport::Tls(TlsConfiguration::Simple {
            ca: ca.clone(),
            alpn: None,
            client_auth: settings.client_auth_pem.clone(),
        }));
    }
    o
}

/// One poll of the event loop, owning it: the future is never cancelled
/// (rumqttc's `poll` is not cancel-safe: dropped mid-connect, it starts the
/// connection over), and it hands the loop back when it completes.
async fn poll_once(mut eventloop: EventLoop) -> (EventLoop, Result<Event, ConnectionError>) {
    let event = eventloop.poll().await;
    (eventloop, event)
}

/// Polls `fut` once without waiting: `Some` if it is ready now.
fn ready_now<F: Future>(fut: Pin<&mut F>) -> Option<F::Output> {
    match fut.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

/// Runs the source until `shutdown` turns true or the engine goes away.
///
/// Messages are decoded into the current batch as they come; the batch is
/// handed off when it is full or as soon as the event loop has nothing more
/// ready. So a busy stream travels in large batches and a quiet one with no
/// added latency.
pub(crate) async fn run(
    settings: MqttSettings,
    broker_addr: Option<std::net::SocketAddr>,
    mut decoder: Decoder,
    handoff: HandoffSender,
    metrics: Arc<IngestMetrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (client, mut eventloop) = AsyncClient::new(options(&settings, broker_addr), 10_000);
    // Acknowledgements are small writes: without TCP_NODELAY, Nagle's
    // algorithm holds them back.
    eventloop.network_options.set_tcp_nodelay(true);
    let filter = match &settings.shared_group {
        Some(group) => format!("$share/{group}/{}", decoder.topic_filter()),
        None => decoder.topic_filter(),
    };
    let qos = if settings.qos == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    };
    let dead_letter_topic = format!("{}/deadletter", settings.topic_prefix);

    let mut batch = Batch::default();
    let mut rejects = Vec::new();
    let mut log = RejectLog::default();
    let mut backoff = Backoff::new(settings.backoff_initial, settings.backoff_max);
    let mut pending = std::pin::pin!(poll_once(eventloop));
    let mut ready = None;

    // Hands the batch off.
    macro_rules! flush {
        () => {{
            if !batch.is_empty() {
                metrics
                    .readings_accepted
                    .fetch_add(batch.readings.len() as u64, Ordering::Relaxed);
                metrics
                    .sequence_gaps
                    .fetch_add(batch.gaps.len() as u64, Ordering::Relaxed);
                let full = std::mem::replace(
                    &mut batch,
                    Batch {
                        readings: Vec::with_capacity(settings.batch_size),
                        gaps: Vec::new(),
                    },
                );
                if handoff.send(full).await.is_err() {
                    info!("Engine gone; MQTT source stops");
                    break;
                }
            }
        }};
    }

    loop {
        let (eventloop, event) = match ready.take() {
            Some(next) => next,
            None => tokio::select! {
                biased;
                _ = shutdown.changed() => {
                    flush!();
                    break;
                }
                next = &mut pending => next,
            },
        };
        match event {
            Ok(Event::Incoming(Packet::Publish(p))) => {
                metrics.messages.fetch_add(1, Ordering::Relaxed);
                rejects.clear();
                decoder.decode(&p.topic, &p.payload, now_ms(), &mut batch, &mut rejects);
                if !rejects.is_empty() {
                    for r in &rejects {
                        metrics.count_reject(r.reason);
                        log.note(&p.topic, r);
                    }
                    if settings.dead_letter {
                        let letter = dead_letter(&p, &rejects);
                        match client.try_publish(&dead_letter_topic, QoS::AtMostOnce, false, letter) {
                            Ok(()) => metrics.dead_lettered.fetch_add(1, Ordering::Relaxed),
                            Err(_) => metrics.dead_letters_lost.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                }
                if batch.readings.len() >= settings.batch_size {
                    flush!();
                }
            }
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                metrics.connected.store(true, Ordering::Relaxed);
                metrics.connects.fetch_add(1, Ordering::Relaxed);
                backoff.reset();
                info!(session_present = ack.session_present, filter = %filter, "MQTT connected");
                // Subscribe on every connect, not only when the broker
                // reports a lost session: some brokers report a session
                // they do not have, and subscribing again is harmless.
                if client.try_subscribe(&filter, qos).is_err() {
                    warn!(filter = %filter, "Could not queue the subscription");
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                debug!(codes = ?ack.return_codes, "Subscribed");
                if ack
                    .return_codes
                    .iter()
                    .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                {
                    warn!(filter = %filter, "The broker refused the subscription");
                }
            }
            Ok(_) => {}
            Err(e) => {
                let was_connected = metrics.connected.swap(false, Ordering::Relaxed);
                metrics.connection_errors.fetch_add(1, Ordering::Relaxed);
                // Keep what was decoded.
                flush!();
                let delay = backoff.delay();
                if was_connected {
                    warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "MQTT connection lost");
                } else {
                    debug!(error = %e, retry_in_ms = delay.as_millis() as u64, "MQTT connect failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => break,
                }
            }
        }
        pending.set(poll_once(eventloop));
        ready = ready_now(pending.as_mut());
        if ready.is_none() && !batch.is_empty() {
            flush!();
        }
    }
    metrics.connected.store(false, Ordering::Relaxed);
    // Say goodbye so the broker keeps the session without waiting for
    // keep-alive; the event loop sends the DISCONNECT on its next polls.
    if ready.is_none() && client.try_disconnect().is_ok() {
        let _ = tokio::time::timeout(Duration::from_millis(300), async {
            loop {
                let (eventloop, event) = (&mut pending).await;
                match event {
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => break,
                    Ok(_) => pending.set(poll_once(eventloop)),
                }
            }
        })
        .await;
    }
}

/// The dead letter of a refused message: its topic, the reasons, and the
/// payload (up to 4 KiB, lossy UTF-8).
fn dead_letter(p: &Publish, rejects: &[Reject]) -> String {
    serde_json::json!({
        "topic": &*p.topic,
        "reasons": rejects.iter().map(|r| match &r.sensor {
            Some(s) => format!("{}:{s}", r.reason),
            None => r.reason.name().to_string(),
        }).collect::<Vec<_>>(),
        "payload": String::from_utf8_lossy(&p.payload[..p.payload.len().min(4096)]),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_to_its_ceiling_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let first = b.delay();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let delays: Vec<Duration> = (0..8).map(|_| b.delay()).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(1000)));
        assert!(
            delays[5] >= Duration::from_millis(500),
            "reaches the ceiling: {delays:?}"
        );
        b.reset();
        assert!(b.delay() <= Duration::from_millis(100));
    }
}
