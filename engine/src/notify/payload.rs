//! What each kind of receiver is sent: the request (URL, headers, body),
//! built when the notification is written to the outbox, so the outbox
//! holds exactly what goes on the wire.
//!
//! * webhook: the group and its alarm events as JSON, HMAC-SHA256 signed;
//! * alertmanager: Alertmanager's webhook payload, version 4;
//! * pagerduty: Events API v2, one dedup key per group: trigger,
//!   acknowledge (every firing alarm acknowledged), resolve (none firing);
//! * sms: one short text per recipient through a request template.

use std::collections::BTreeMap;

use ring::hmac;
use serde_json::{Value, json};

use super::route::{Receiver, ReceiverKind};
use crate::alarm::AlarmEvent;

/// One notification for one group: what fires, what resolved since the
/// last one.
#[derive(Clone, Debug)]
pub struct Notice<'a> {
    /// Stable per route and group: PagerDuty's dedup key, Alertmanager's
    /// group key.
    pub group_key: String,
    pub group_labels: &'a BTreeMap<String, String>,
    pub firing: Vec<&'a AlarmEvent>,
    pub resolved: Vec<&'a AlarmEvent>,
    pub external_url: &'a str,
    /// An escalation: nobody acknowledged in time.
    pub escalated: bool,
}

/// A request to send.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    pub receiver: String,
    pub dedup_key: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// PagerDuty's severity of an alarm priority.
pub fn pagerduty_severity(priority: &str) -> &'static str {
    match priority {
        "critical" => "critical",
        "high" => "error",
        "medium" => "warning",
        _ => "info",
    }
}

fn short_priority(p: &str) -> &'static str {
    match p {
        "critical" => "CRIT",
        "high" => "HIGH",
        "medium" => "MED",
        _ => "LOW",
    }
}

/// A one-line summary of a notice, `max` characters at most (on a char
/// boundary).
pub fn summary(n: &Notice, max: usize) -> String {
    let head = match (n.firing.first(), n.resolved.first()) {
        (Some(a), _) => {
            let mut s = format!("[{}] {}", short_priority(&a.priority), a.message);
            if a.state == "acknowledged" {
                s.push_str(" (acknowledged)");
            }
            s
        }
        (None, Some(a)) => format!("[OK] cleared: {}", a.message),
        (None, None) => "[OK] nothing standing".into(),
    };
    let head = if n.escalated { format!("ESCALATED {head}") } else { head };
    let more = (n.firing.len() + n.resolved.len()).saturating_sub(1);
    let tail = if more > 0 {
        format!(" (+{more} more)")
    } else {
        String::new()
    };
    let room = max.saturating_sub(tail.chars().count());
    let mut s: String = head.chars().take(room).collect();
    if head.chars().count() > room && room > 0 {
        s.pop();
        s.push('…');
    }
    s + &tail
}

fn rank(priority: &str) -> u8 {
    match priority {
        "critical" => 3,
        "high" => 2,
        "medium" => 1,
        _ => 0,
    }
}

/// Standard base64 with padding (HTTP basic authentication).
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn json_escape(s: &str) -> String {
    let quoted = serde_json::to_string(s).expect("strings serialize");
    quoted[1..quoted.len() - 1].to_string()
}

/// The requests one notice makes at receiver `r`.
pub fn requests(r: &Receiver, n: &Notice) -> Vec<Outgoing> {
    let mut headers: Vec<(String, String)> = vec![("Content-Type".into(), r.content_type.clone())];
    if let Some((user, pass)) = &r.basic_auth {
        headers.push((
            "Authorization".into(),
            format!("Basic {}", base64(format!("{user}:{pass}").as_bytes())),
        ));
    }
    headers.extend(r.headers.iter().cloned());
    let out = |dedup_key: String, headers: Vec<(String, String)>, body: Vec<u8>| Outgoing {
        receiver: r.name.clone(),
        dedup_key,
        url: r.url.clone(),
        headers,
        body,
    };
    match &r.kind {
        ReceiverKind::Webhook { secret } => {
            let body = serde_json::to_vec(&json!({
                "version": "1",
                "receiver": r.name,
                "status": if n.firing.is_empty() { "resolved" } else { "firing" },
                "escalated": n.escalated,
                "group_key": n.group_key,
                "group_labels": n.group_labels,
                "external_url": n.external_url,
                "summary": summary(n, 300),
                "alarms": n.firing.iter().chain(&n.resolved).collect::<Vec<_>>(),
            }))
            .expect("JSON");
            headers.push(("X-Linepack-Dedup-Key".into(), n.group_key.clone()));
            if let Some(secret) = secret {
                let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
                let sig = hmac::sign(&key, &body);
                headers.push(("X-Linepack-Signature".into(), format!("sha256={}", hex(sig.as_ref()))));
            }
            vec![out(n.group_key.clone(), headers, body)]
        }
        ReceiverKind::Alertmanager => {
            let alert = |a: &AlarmEvent, status: &str| {
                json!({
                    "status": status,
                    "labels": {"alertname": a.kind, "alarm_id": a.alarm_id, "priority": a.priority,
                               "severity": pagerduty_severity(&a.priority), "source": a.source,
                               "zone": a.zone, "state": a.state},
                    "annotations": {"summary": a.message,
                                    "description": a.leak.as_ref().map_or(a.message.as_str(), |l| l.explanation.as_str())},
                    "startsAt": a.ts,
                    "endsAt": if status == "resolved" { a.ts.clone() } else { "0001-01-01T00:00:00Z".to_string() },
                    "generatorURL": n.external_url,
                    "fingerprint": a.alarm_id,
                })
            };
            let alerts: Vec<Value> = n
                .firing
                .iter()
                .map(|a| alert(a, "firing"))
                .chain(n.resolved.iter().map(|a| alert(a, "resolved")))
                .collect();
            let all: Vec<&AlarmEvent> = n.firing.iter().chain(&n.resolved).copied().collect();
            let common = |f: fn(&AlarmEvent) -> &str| {
                let first = all.first().map(|a| f(a));
                first.filter(|v| all.iter().all(|a| f(a) == *v)).map(str::to_string)
            };
            let mut common_labels = serde_json::Map::new();
            for (k, v) in [
                ("alertname", common(|a| &a.kind)),
                ("priority", common(|a| &a.priority)),
                ("source", common(|a| &a.source)),
            ] {
                if let Some(v) = v {
                    common_labels.insert(k.into(), Value::String(v));
                }
            }
            let body = serde_json::to_vec(&json!({
                "version": "4",
                "groupKey": n.group_key,
                "truncatedAlerts": 0,
                "status": if n.firing.is_empty() { "resolved" } else { "firing" },
                "receiver": r.name,
                "groupLabels": n.group_labels,
                "commonLabels": common_labels,
                "commonAnnotations": {},
                "externalURL": n.external_url,
                "alerts": alerts,
            }))
            .expect("JSON");
            vec![out(n.group_key.clone(), headers, body)]
        }
        ReceiverKind::PagerDuty { routing_key } => {
            let action = if n.firing.is_empty() {
                "resolve"
            } else if n.firing.iter().all(|a| a.state == "acknowledged") {
                "acknowledge"
            } else {
                "trigger"
            };
            let mut event = json!({
                "routing_key": routing_key,
                "event_action": action,
                "dedup_key": n.group_key,
            });
            if action == "trigger" {
                let worst = n.firing.iter().max_by_key(|a| rank(&a.priority)).expect("firing");
                event["payload"] = json!({
                    "summary": summary(n, 1024),
                    "source": worst.source,
                    "severity": pagerduty_severity(&worst.priority),
                    "timestamp": worst.ts,
                    "component": worst.zone,
                    "group": worst.zone,
                    "class": worst.kind,
                    "custom_details": {"alarms": n.firing, "escalated": n.escalated},
                });
                event["links"] = json!([{"href": n.external_url, "text": "Linepack control room"}]);
                event["client"] = json!("Linepack");
                event["client_url"] = json!(n.external_url);
            }
            vec![out(
                n.group_key.clone(),
                headers,
                serde_json::to_vec(&event).expect("JSON"),
            )]
        }
        ReceiverKind::Sms {
            to,
            from,
            body,
            max_chars,
        } => {
            let text = summary(n, *max_chars);
            let form = r.content_type.contains("x-www-form-urlencoded");
            let fill = |v: &str| if form { form_encode(v) } else { json_escape(v) };
            to.iter()
                .map(|recipient| {
                    let b = body
                        .replace("{to}", &fill(recipient))
                        .replace("{from}", &fill(from))
                        .replace("{text}", &fill(&text));
                    out(format!("{}:{recipient}", n.group_key), headers.clone(), b.into_bytes())
                })
                .collect()
        }
    }
}
