//! MQTT configuration (engine configuration, `[mqtt]`): what serde reads,
//! and its validation into [`MqttSettings`].

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::telemetry::DecodeLimits;

/// How ingest connects to MQTT.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// `"embedded"` to start the built-in broker (the single-machine
    /// default), or the URL of an external broker: `mqtt://host:port`,
    /// `mqtts://host:port` (TLS). Default `"embedded"`.
    pub broker: String,
    /// Where the embedded broker listens; port 0 picks a free port.
    /// Default `"127.0.0.1:1883"`.
    pub embedded_listen: String,
    /// Client id; keep it stable so a persistent session survives restarts.
    /// Default `"linepack-engine"`.
    pub client_id: String,
    /// Topic prefix of the telemetry contract. Default `"gas"`.
    pub topic_prefix: String,
    /// Subscription QoS, 0 or 1. Default 1.
    pub qos: u8,
    /// Start a clean session on connect (loses what the broker queued while
    /// the engine was away). Default false.
    pub clean_session: bool,
    /// Keep-alive, s. Default 30.
    pub keep_alive_s: u64,
    pub username: Option<String>,
    pub password: Option<String>,
    /// CA certificate (PEM) that signed the broker's certificate; required
    /// for `mqtts://`.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for brokers that ask for one.
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    /// Share the subscription with the other engines of this group
    /// (`$share/<group>/...`), splitting the load between them.
    pub shared_group: Option<String>,
    /// Republish refused messages to `<prefix>/deadletter`. Default false.
    pub dead_letter: bool,
    /// Messages larger than this are refused, bytes. Default 65536.
    pub max_payload_bytes: usize,
    /// Timestamps further ahead than this are refused, s. Default 300.
    pub max_future_s: u64,
    /// Readings per hand-off batch at most; a partial batch goes as soon as
    /// nothing more is waiting. Default 512.
    pub batch_size: usize,
    /// Batches the hand-off holds. Default 1024.
    pub handoff_batches: usize,
    /// When the hand-off is full, wait this long, then drop the oldest
    /// batch (counted), ms. Default 100.
    pub handoff_block_ms: u64,
    /// Reconnection back-off: first delay and ceiling, ms (with jitter).
    /// Defaults 200 and 30000.
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            broker: "embedded".into(),
            embedded_listen: "127.0.0.1:1883".into(),
            client_id: "linepack-engine".into(),
            topic_prefix: "gas".into(),
            qos: 1,
            clean_session: false,
            keep_alive_s: 30,
            username: None,
            password: None,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            shared_group: None,
            dead_letter: false,
            max_payload_bytes: 64 * 1024,
            max_future_s: 300,
            batch_size: 512,
            handoff_batches: 1024,
            handoff_block_ms: 100,
            backoff_initial_ms: 200,
            backoff_max_ms: 30_000,
        }
    }
}

/// Where the broker is.
#[derive(Clone, Debug, PartialEq)]
pub enum BrokerChoice {
    /// Start the embedded broker here.
    Embedded(SocketAddr),
    External {
        host: String,
        port: u16,
        tls: bool,
    },
}

/// Validated MQTT settings.
#[derive(Clone, Debug, PartialEq)]
pub struct MqttSettings {
    pub broker: BrokerChoice,
    pub client_id: String,
    pub topic_prefix: String,
    pub qos: u8,
    pub clean_session: bool,
    pub keep_alive: Duration,
    pub credentials: Option<(String, String)>,
    pub ca_pem: Option<Vec<u8>>,
    pub client_auth_pem: Option<(Vec<u8>, Vec<u8>)>,
    pub shared_group: Option<String>,
    pub dead_letter: bool,
    pub limits: DecodeLimits,
    pub batch_size: usize,
    pub handoff_batches: usize,
    pub handoff_block: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

/// A configuration that cannot work, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("mqtt.{key}: {message}")]
pub struct MqttConfigError {
    pub key: &'static str,
    pub message: String,
}

fn err(key: &'static str, message: impl Into<String>) -> MqttConfigError {
    MqttConfigError {
        key,
        message: message.into(),
    }
}

impl MqttConfig {
    /// Validates and reads the files this configuration names.
    ///
    /// # Errors
    /// [`MqttConfigError`] naming the key: a broker URL that does not parse,
    /// TLS without a CA, unreadable files, a QoS other than 0 or 1, a user
    /// without a password, zero sizes.
    pub fn build(&self) -> Result<MqttSettings, MqttConfigError> {
        let broker = if self.broker == "embedded" {
            let addr = self
                .embedded_listen
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| {
                    err(
                        "embedded_listen",
                        format!("'{}' is not host:port", self.embedded_listen),
                    )
                })?;
            BrokerChoice::Embedded(addr)
        } else {
            let (tls, rest) = if let Some(r) = self.broker.strip_prefix("mqtts://") {
                (true, r)
            } else if let Some(r) = self.broker.strip_prefix("mqtt://") {
                (false, r)
            } else {
                return Err(err(
                    "broker",
                    format!(
                        "'{}': use \"embedded\", mqtt://host:port or mqtts://host:port",
                        self.broker
                    ),
                ));
            };
            let (host, port) = match rest.trim_end_matches('/').rsplit_once(':') {
                Some((h, p)) => (
                    h,
                    p.parse()
                        .map_err(|_| err("broker", format!("bad port in '{}'", self.broker)))?,
                ),
                None => (rest.trim_end_matches('/'), if tls { 8883 } else { 1883 }),
            };
            if host.is_empty() {
                return Err(err("broker", format!("no host in '{}'", self.broker)));
            }
            BrokerChoice::External {
                host: host.to_string(),
                port,
                tls,
            }
        };
        let read = |key: &'static str, path: &PathBuf| {
            std::fs::read(path).map_err(|e| err(key, format!("cannot read {}: {e}", path.display())))
        };
        let tls = matches!(broker, BrokerChoice::External { tls: true, .. });
        let ca_pem = match (&self.ca_file, tls) {
            (Some(p), true) => Some(read("ca_file", p)?),
            (None, true) => return Err(err("ca_file", "mqtts:// needs the broker's CA certificate (PEM)")),
            (Some(_), false) => return Err(err("ca_file", "set only for an mqtts:// broker")),
            (None, false) => None,
        };
        let client_auth_pem = match (&self.client_cert_file, &self.client_key_file) {
            (Some(c), Some(k)) => Some((read("client_cert_file", c)?, read("client_key_file", k)?)),
            (None, None) => None,
            _ => {
                return Err(err(
                    "client_cert_file",
                    "give both client_cert_file and client_key_file",
                ));
            }
        };
        let credentials = match (&self.username, &self.password) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            (None, None) => None,
            _ => return Err(err("username", "give both username and password")),
        };
        if self.qos > 1 {
            return Err(err("qos", format!("{} is not supported; use 0 or 1", self.qos)));
        }
        if self.client_id.is_empty() {
            return Err(err("client_id", "must not be empty"));
        }
        let prefix = self.topic_prefix.trim_end_matches('/');
        if prefix.is_empty() || prefix.contains(['+', '#']) {
            return Err(err(
                "topic_prefix",
                format!("'{}' is not a topic prefix", self.topic_prefix),
            ));
        }
        if let Some(g) = &self.shared_group
            && (g.is_empty() || g.contains(['/', '+', '#']))
        {
            return Err(err("shared_group", format!("'{g}' is not a group name")));
        }
        for (key, v) in [
            ("batch_size", self.batch_size),
            ("handoff_batches", self.handoff_batches),
            ("max_payload_bytes", self.max_payload_bytes),
        ] {
            if v == 0 {
                return Err(err(key, "must be at least 1"));
            }
        }
        Ok(MqttSettings {
            broker,
            client_id: self.client_id.clone(),
            topic_prefix: prefix.to_string(),
            qos: self.qos,
            clean_session: self.clean_session,
            keep_alive: Duration::from_secs(self.keep_alive_s.max(5)),
            credentials,
            ca_pem,
            client_auth_pem,
            shared_group: self.shared_group.clone(),
            dead_letter: self.dead_letter,
            limits: DecodeLimits {
                max_payload_bytes: self.max_payload_bytes,
                max_future_ms: (self.max_future_s as i64).saturating_mul(1000),
                ..DecodeLimits::default()
            },
            batch_size: self.batch_size,
            handoff_batches: self.handoff_batches,
            handoff_block: Duration::from_millis(self.handoff_block_ms),
            backoff_initial: Duration::from_millis(self.backoff_initial_ms.max(1)),
            backoff_max: Duration::from_millis(self.backoff_max_ms.max(self.backoff_initial_ms.max(1))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_embedded_broker() {
        let s = MqttConfig::default().build().unwrap();
        assert_eq!(s.broker, BrokerChoice::Embedded("127.0.0.1:1883".parse().unwrap()));
        assert_eq!((s.qos, s.clean_session), (1, false));
    }

    #[test]
    fn external_urls() {
        let with = |url: &str| {
            MqttConfig {
                broker: url.into(),
                ..Default::default()
            }
            .build()
        };
        assert_eq!(
            with("mqtt://broker.local:1884").unwrap().broker,
            BrokerChoice::External {
                host: "broker.local".into(),
                port: 1884,
                tls: false
            }
        );
        assert_eq!(
            with("mqtt://10.0.0.5").unwrap().broker,
            BrokerChoice::External {
                host: "10.0.0.5".into(),
                port: 1883,
                tls: false
            }
        );
        assert_eq!(with("tcp://x:1").unwrap_err().key, "broker");
        assert_eq!(with("mqtt://x:port").unwrap_err().key, "broker");
        assert_eq!(with("mqtts://x:8883").unwrap_err().key, "ca_file");
    }

    #[test]
    fn tls_reads_the_ca_file() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, b"-----BEGIN CERTIFICATE-----\n").unwrap();
        let c = MqttConfig {
            broker: "mqtts://b:8883".into(),
            ca_file: Some(ca),
            ..Default::default()
        };
        assert!(c.build().unwrap().ca_pem.is_some());
        let missing = MqttConfig {
            broker: "mqtts://b".into(),
            ca_file: Some("/nope/ca.pem".into()),
            ..Default::default()
        };
        assert!(missing.build().unwrap_err().to_string().contains("/nope/ca.pem"));
    }

    #[test]
    fn half_credentials_bad_qos_and_bad_group_are_refused() {
        let user = MqttConfig {
            username: Some("u".into()),
            ..Default::default()
        };
        assert_eq!(user.build().unwrap_err().key, "username");
        assert_eq!(
            MqttConfig {
                qos: 2,
                ..Default::default()
            }
            .build()
            .unwrap_err()
            .key,
            "qos"
        );
        let g = MqttConfig {
            shared_group: Some("a/b".into()),
            ..Default::default()
        };
        assert_eq!(g.build().unwrap_err().key, "shared_group");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = toml::from_str::<MqttConfig>("brokr = \"embedded\"").unwrap_err();
        assert!(e.to_string().contains("brokr"));
    }
}
