//! `[notify]`: receivers, the route tree, the outbox and retries, as serde
//! reads them; [`super::route::Routes::build`] checks them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Alarm notifications.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// SQLite outbox (relative to the configuration file): every
    /// notification is written here before it is sent. Required when
    /// receivers are configured.
    pub outbox: Option<PathBuf>,
    /// The control room's address, linked from notifications.
    pub external_url: String,
    /// Retries on errors, 429 and 5xx: first delay and ceiling, s (doubling).
    pub retry_initial_s: f64,
    pub retry_max_s: f64,
    /// A standing critical alarm mutes the lesser alarms of the same source.
    pub inhibit: bool,
    /// Quiet hours are local time this many hours east of UTC.
    pub utc_offset_hours: f64,
    pub receivers: BTreeMap<String, ReceiverConfig>,
    /// The root of the route tree; its receivers take what no child route
    /// takes.
    pub route: RouteConfig,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            outbox: None,
            external_url: "http://127.0.0.1:8080/".into(),
            retry_initial_s: 1.0,
            retry_max_s: 300.0,
            inhibit: true,
            utc_offset_hours: 0.0,
            receivers: BTreeMap::new(),
            route: RouteConfig::default(),
        }
    }
}

/// Where notifications go.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// `webhook`, `alertmanager`, `pagerduty` or `sms`.
    pub kind: String,
    /// Where to POST (pagerduty: default the Events API v2 endpoint).
    pub url: Option<String>,
    /// webhook: HMAC-SHA256 key; the signature of the body goes in
    /// `X-Linepack-Signature: sha256=<hex>`.
    pub secret: Option<String>,
    /// pagerduty: the integration's routing key.
    pub routing_key: Option<String>,
    /// sms: recipients, sender, request body template and its content type;
    /// `{to}`, `{from}` and `{text}` are replaced (form-encoded when the
    /// content type is a form). Default: the Twilio Messages API shape.
    #[serde(default)]
    pub to: Vec<String>,
    pub from: Option<String>,
    pub body: Option<String>,
    pub content_type: Option<String>,
    /// sms: the longest text, characters. Default 160.
    pub max_chars: Option<usize>,
    /// HTTP basic authentication (e.g. Twilio's account SID and token).
    pub username: Option<String>,
    pub password: Option<String>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Requests per minute at most; the rest wait. Default 60.
    pub rate_per_minute: Option<f64>,
}

impl ReceiverConfig {
    /// A receiver of `kind` at `url` with every other key at its default.
    pub fn new(kind: &str, url: &str) -> ReceiverConfig {
        ReceiverConfig {
            kind: kind.into(),
            url: Some(url.into()),
            secret: None,
            routing_key: None,
            to: Vec::new(),
            from: None,
            body: None,
            content_type: None,
            max_chars: None,
            username: None,
            password: None,
            headers: BTreeMap::new(),
            rate_per_minute: None,
        }
    }
}

/// A node of the route tree (Alertmanager's model).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// What an alarm must have to take this route: each key lists the
    /// values allowed (empty: any). Keys: priority, kind, zone, source.
    #[serde(rename = "match")]
    pub matches: BTreeMap<String, Vec<String>>,
    pub receivers: Vec<String>,
    /// Alarms are grouped by these event fields (zone, kind, priority,
    /// source, alarm_id); one notification per group. Inherited.
    pub group_by: Option<Vec<String>>,
    /// Wait this long after a group's first alarm for others, s. Inherited
    /// (root default 30).
    pub group_wait_s: Option<f64>,
    /// Send a group's changes at most this often, s (root default 300).
    pub group_interval_s: Option<f64>,
    /// Send a firing group again after this long without change, s (root
    /// default 14400).
    pub repeat_interval_s: Option<f64>,
    /// Not acknowledged this long after it was raised: also to these
    /// receivers.
    #[serde(default)]
    pub escalate: Vec<EscalationConfig>,
    /// Alarms of these priorities wait out these hours (local time).
    pub quiet_hours: Option<QuietHoursConfig>,
    /// Keep matching the following sibling routes after this one.
    #[serde(rename = "continue")]
    pub continue_matching: bool,
    pub routes: Vec<RouteConfig>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationConfig {
    pub after_min: f64,
    pub receivers: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursConfig {
    /// "HH:MM", local time; the window may run over midnight.
    pub from: String,
    pub to: String,
    /// Default ["low"].
    #[serde(default = "low_only")]
    pub priorities: Vec<String>,
}

fn low_only() -> Vec<String> {
    vec!["low".into()]
}
