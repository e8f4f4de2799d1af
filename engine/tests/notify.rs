//! Notifications: routing, grouping and repeat timing, inhibition,
//! escalation and quiet hours on the dispatcher with time the test
//! controls; the receivers' payloads against the published shapes; delivery
//! through the outbox to a local HTTP receiver that is down for a while;
//! and `linepack serve` killed with notifications pending.

mod live;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use linepack_engine::alarm::AlarmEvent;
use linepack_engine::notify::Notifier;
use linepack_engine::notify::config::{EscalationConfig, NotifyConfig, QuietHoursConfig, ReceiverConfig, RouteConfig};
use linepack_engine::notify::dispatch::Dispatcher;
use linepack_engine::notify::payload::Outgoing;
use linepack_engine::notify::route::Routes;
use live::*;
use serde_json::Value;

fn event(id: &str, priority: &str, state: &str, active: bool) -> AlarmEvent {
    let (kind, source) = id.split_once(':').unwrap();
    AlarmEvent {
        alarm_id: id.into(),
        kind: kind.into(),
        priority: priority.into(),
        state: state.into(),
        previous_state: if state == "unacknowledged" {
            "normal".into()
        } else {
            "unacknowledged".into()
        },
        active,
        source: source.into(),
        zone: Some("Z0".into()),
        ts: "2026-11-23T08:00:00.000Z".into(),
        ts_ms: 1_795_420_800_000,
        value: Some(0.5),
        limit: Some(1.0),
        message: format!("{source}: {kind}"),
        by: None,
        comment: None,
        shelved_until: None,
        leak: None,
    }
}

fn receiver(kind: &str, url: &str) -> ReceiverConfig {
    ReceiverConfig::new(kind, url)
}

/// Root → "ops" (grouped by zone, 30 s / 5 min / 1 h); critical → "pager"
/// with an escalation to "boss" after 15 min; low → "ops" with quiet hours
/// 22:00–07:00 UTC.
fn config(url: &str) -> NotifyConfig {
    let mut c = NotifyConfig::default();
    c.receivers.insert("ops".into(), receiver("webhook", url));
    let mut pager = receiver("pagerduty", url);
    pager.routing_key = Some("R0UT1NG".into());
    c.receivers.insert("pager".into(), pager);
    c.receivers.insert("boss".into(), receiver("webhook", url));
    c.route = RouteConfig {
        receivers: vec!["ops".into()],
        group_wait_s: Some(30.0),
        group_interval_s: Some(300.0),
        repeat_interval_s: Some(3600.0),
        routes: vec![
            RouteConfig {
                matches: [("priority".to_string(), vec!["critical".to_string()])].into(),
                receivers: vec!["pager".into()],
                group_wait_s: Some(0.0),
                escalate: vec![EscalationConfig {
                    after_min: 15.0,
                    receivers: vec!["boss".into()],
                }],
                ..RouteConfig::default()
            },
            RouteConfig {
                matches: [("priority".to_string(), vec!["low".to_string()])].into(),
                receivers: vec!["ops".into()],
                quiet_hours: Some(QuietHoursConfig {
                    from: "22:00".into(),
                    to: "07:00".into(),
                    priorities: vec!["low".into()],
                }),
                ..RouteConfig::default()
            },
        ],
        ..RouteConfig::default()
    };
    c
}

fn dispatcher(c: &NotifyConfig) -> Dispatcher {
    Dispatcher::new(Routes::build(c).unwrap(), &c.external_url, c.inhibit, 0.0)
}

fn bodies(out: &[Outgoing], receiver: &str) -> Vec<Value> {
    out.iter()
        .filter(|o| o.receiver == receiver)
        .map(|o| serde_json::from_slice(&o.body).unwrap())
        .collect()
}

/// Noon UTC on the day of the events: outside the quiet hours.
const NOON_MS: i64 = 1_795_435_200_000;

#[test]
fn routing_grouping_and_repeat_follow_the_route_timings() {
    let c = config("http://127.0.0.1:9/");
    let mut d = dispatcher(&c);
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut out: Vec<Outgoing> = Vec::new();

    // Two medium alarms in one zone within the group wait: one notice.
    d.event(event("low:PT-1", "medium", "unacknowledged", true), at(0));
    d.flush(at(10), NOON_MS, &mut out);
    assert!(out.is_empty(), "group_wait holds the first notice");
    d.event(event("low:PT-2", "medium", "unacknowledged", true), at(20));
    assert_eq!(d.next_due(), Some(at(30)));
    d.flush(at(30), NOON_MS, &mut out);
    let ops = bodies(&out, "ops");
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0]["alarms"].as_array().unwrap().len(), 2);
    assert_eq!(ops[0]["group_labels"]["zone"], "Z0");
    assert!(bodies(&out, "pager").is_empty(), "medium alarms do not page");

    // A change after that waits for the group interval (5 min).
    out.clear();
    d.event(event("low:PT-3", "medium", "unacknowledged", true), at(60));
    d.flush(at(200), NOON_MS, &mut out);
    assert!(out.is_empty());
    assert_eq!(d.next_due(), Some(at(330)));
    d.flush(at(330), NOON_MS, &mut out);
    assert_eq!(bodies(&out, "ops")[0]["alarms"].as_array().unwrap().len(), 3);

    // Nothing changes: sent again after the repeat interval (1 h).
    out.clear();
    d.flush(at(330 + 1800), NOON_MS, &mut out);
    assert!(out.is_empty());
    d.flush(at(330 + 3600), NOON_MS, &mut out);
    assert_eq!(bodies(&out, "ops").len(), 1, "repeat");

    // An operator's acknowledgement goes out at once; a clear is sent as
    // resolved.
    out.clear();
    let mut acked = event("low:PT-1", "medium", "acknowledged", true);
    acked.by = Some("otto".into());
    d.event(acked, at(4000));
    d.flush(at(4000), NOON_MS, &mut out);
    let b = &bodies(&out, "ops")[0];
    let states: Vec<&str> = b["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["state"].as_str().unwrap())
        .collect();
    assert!(states.contains(&"acknowledged"), "{states:?}");
    out.clear();
    for id in ["low:PT-1", "low:PT-2", "low:PT-3"] {
        d.event(event(id, "medium", "normal", false), at(4100));
    }
    d.flush(at(4300), NOON_MS, &mut out);
    let b = &bodies(&out, "ops")[0];
    assert_eq!(b["status"], "resolved");
    assert_eq!(d.next_due(), None, "a resolved group is done");

    // A critical alarm takes the critical route at once (group_wait 0):
    // paged, not sent to ops.
    out.clear();
    d.event(event("leak:Z0", "critical", "unacknowledged", true), at(5000));
    d.flush(at(5000), NOON_MS, &mut out);
    assert_eq!(bodies(&out, "pager").len(), 1);
    assert!(bodies(&out, "ops").is_empty());
}

#[test]
fn a_critical_alarm_inhibits_lesser_ones_of_its_source_and_escalation_follows_no_acknowledgement() {
    let c = config("http://127.0.0.1:9/");
    let mut d = dispatcher(&c);
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut out: Vec<Outgoing> = Vec::new();
    d.event(
        event("gas_detected_high:GD-1", "critical", "unacknowledged", true),
        at(0),
    );
    d.event(event("gas_detected:GD-1", "high", "unacknowledged", true), at(0));
    d.event(event("low:PT-9", "high", "unacknowledged", true), at(0));
    d.flush(at(30), NOON_MS, &mut out);
    let ops = bodies(&out, "ops");
    let ids: Vec<&str> = ops[0]["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["alarm_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec!["low:PT-9"],
        "gas_detected:GD-1 is inhibited by its critical alarm"
    );

    // Not acknowledged within 15 minutes: escalated to "boss", once.
    out.clear();
    d.flush(at(899), NOON_MS, &mut out);
    assert!(bodies(&out, "boss").is_empty());
    d.flush(at(900), NOON_MS, &mut out);
    let boss = bodies(&out, "boss");
    assert_eq!(boss.len(), 1);
    assert_eq!(boss[0]["escalated"], true);
    assert!(
        boss[0]["summary"].as_str().unwrap().starts_with("ESCALATED [CRIT]"),
        "{}",
        boss[0]["summary"]
    );

    // Acknowledged in time: no escalation.
    let mut d = dispatcher(&c);
    let mut out: Vec<Outgoing> = Vec::new();
    d.event(event("leak:Z1", "critical", "unacknowledged", true), at(0));
    let mut acked = event("leak:Z1", "critical", "acknowledged", true);
    acked.by = Some("otto".into());
    d.event(acked, at(600));
    d.flush(at(2000), NOON_MS, &mut out);
    assert!(bodies(&out, "boss").is_empty());
    // PagerDuty got trigger then acknowledge, one dedup key.
    let pd = bodies(&out, "pager");
    let actions: Vec<&str> = pd.iter().map(|b| b["event_action"].as_str().unwrap()).collect();
    assert_eq!(actions.last(), Some(&"acknowledge"), "{actions:?}");
}

#[test]
fn quiet_hours_hold_low_priority_until_they_end() {
    let c = config("http://127.0.0.1:9/");
    let mut d = dispatcher(&c);
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut out: Vec<Outgoing> = Vec::new();
    let night = NOON_MS + 11 * 3_600_000; // 23:00 UTC
    d.event(event("stale:TT-1", "low", "unacknowledged", true), at(0));
    d.flush(at(30), night, &mut out);
    assert!(out.is_empty(), "held during quiet hours");
    // Held until 07:00, eight hours later.
    assert_eq!(d.next_due(), Some(at(30 + 8 * 3600)));
    d.flush(at(30 + 8 * 3600), night + 8 * 3_600_000, &mut out);
    assert_eq!(bodies(&out, "ops").len(), 1);
}

#[test]
fn payloads_match_the_published_shapes() {
    let mut c = config("https://events.example.com/v2/enqueue");
    c.receivers.get_mut("ops").unwrap().secret = Some("s3cret".into());
    let mut sms = receiver("sms", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json");
    sms.to = vec!["+4917012345678".into()];
    sms.from = Some("+15005550006".into());
    sms.username = Some("AC1".into());
    sms.password = Some("tok".into());
    c.receivers.insert("sms".into(), sms);
    c.receivers
        .insert("am".into(), receiver("alertmanager", "http://127.0.0.1:9/"));
    c.route.routes[0].receivers = vec!["pager".into(), "sms".into(), "am".into()];
    let mut d = dispatcher(&c);
    let t0 = Instant::now();
    let mut out: Vec<Outgoing> = Vec::new();
    let mut leak = event("leak:Z0", "critical", "unacknowledged", true);
    leak.message = "suspected leak: zone Z0: 0.0365 kg/s unaccounted for since 2026-11-23T14:44:00.000Z; the 15-minute mean is 5.9 standard deviations above normal; most likely near node N84".into();
    d.event(leak.clone(), t0);
    d.flush(t0, NOON_MS, &mut out);

    // PagerDuty Events API v2: routing_key, event_action, dedup_key, and a
    // payload with summary (≤ 1024), source, severity, timestamp.
    let pd = bodies(&out, "pager");
    let t = &pd[0];
    assert_eq!(
        (t["routing_key"].as_str(), t["event_action"].as_str()),
        (Some("R0UT1NG"), Some("trigger"))
    );
    let key = t["dedup_key"].as_str().unwrap().to_string();
    assert!(!key.is_empty() && key.len() <= 255);
    let p = &t["payload"];
    assert!(p["summary"].as_str().unwrap().len() <= 1024);
    assert_eq!(
        (p["source"].as_str(), p["severity"].as_str()),
        (Some("Z0"), Some("critical"))
    );
    assert!(p["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(["critical", "error", "warning", "info"].contains(&p["severity"].as_str().unwrap()));
    assert_eq!(
        out.iter().find(|o| o.receiver == "pager").unwrap().url,
        "https://events.example.com/v2/enqueue"
    );

    // Acknowledge and resolve share the dedup key and carry no payload.
    out.clear();
    let mut acked = leak.clone();
    acked.state = "acknowledged".into();
    acked.by = Some("otto".into());
    d.event(acked, t0 + Duration::from_secs(60));
    d.flush(t0 + Duration::from_secs(60), NOON_MS, &mut out);
    let mut cleared = leak.clone();
    cleared.state = "normal".into();
    cleared.active = false;
    cleared.by = Some("otto".into());
    d.event(cleared, t0 + Duration::from_secs(120));
    d.flush(t0 + Duration::from_secs(120), NOON_MS, &mut out);
    let pd = bodies(&out, "pager");
    let actions: Vec<(&str, &str)> = pd
        .iter()
        .map(|b| (b["event_action"].as_str().unwrap(), b["dedup_key"].as_str().unwrap()))
        .collect();
    assert_eq!(actions, vec![("acknowledge", key.as_str()), ("resolve", key.as_str())]);
    assert!(pd.iter().all(|b| b.get("payload").is_none()));

    // SMS: the Twilio Messages API form (To, From, Body), basic auth, and a
    // text of at most 160 characters that starts with the priority.
    let mut d = dispatcher(&c);
    let mut out: Vec<Outgoing> = Vec::new();
    d.event(leak.clone(), t0);
    d.flush(t0, NOON_MS, &mut out);
    let s = out.iter().find(|o| o.receiver == "sms").unwrap();
    assert!(
        s.headers
            .contains(&("Content-Type".into(), "application/x-www-form-urlencoded".into()))
    );
    assert!(
        s.headers
            .contains(&("Authorization".into(), "Basic QUMxOnRvaw==".into()))
    );
    let form = String::from_utf8(s.body.clone()).unwrap();
    let fields: BTreeMap<&str, String> = form
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k, decode(v))
        })
        .collect();
    assert_eq!(fields["To"], "+4917012345678");
    assert_eq!(fields["From"], "+15005550006");
    let text = &fields["Body"];
    assert!(text.chars().count() <= 160, "{} chars: {text}", text.chars().count());
    assert!(text.starts_with("[CRIT] suspected leak: zone Z0"), "{text}");
    assert!(text.ends_with('…'), "{text}");

    // Alertmanager webhook, version 4.
    let am = bodies(&out, "am");
    let a = &am[0];
    assert_eq!(
        (a["version"].as_str(), a["status"].as_str()),
        (Some("4"), Some("firing"))
    );
    for k in [
        "groupKey",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
    ] {
        assert!(a.get(k).is_some(), "{k}");
    }
    let alert = &a["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "leak");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    for k in ["status", "annotations", "startsAt", "generatorURL", "fingerprint"] {
        assert!(alert.get(k).is_some(), "{k}");
    }
}

fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// A local HTTP receiver: records bodies; answers 503 to the first
/// `fail_first` requests.
/// Headers and body of one request.
type Request = (Vec<(String, String)>, Vec<u8>);

struct Receiver {
    got: Arc<Mutex<Vec<Request>>>,
    _rt: tokio::runtime::Runtime,
}

fn start_receiver(port: u16, fail_first: usize) -> Receiver {
    use axum::http::{HeaderMap, StatusCode};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (g, s) = (got.clone(), seen.clone());
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: axum::body::Bytes| {
        let (g, s) = (g.clone(), s.clone());
        async move {
            if s.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < fail_first {
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            let h = headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect();
            g.lock().unwrap().push((h, body.to_vec()));
            StatusCode::OK
        }
    });
    let listener = rt.block_on(tokio::net::TcpListener::bind(("127.0.0.1", port))).unwrap();
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { got, _rt: rt }
}

#[test]
fn the_receiver_down_for_a_while_then_back_gets_every_notification_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut c = config(&format!("http://127.0.0.1:{port}/hook"));
    c.retry_initial_s = 0.2;
    c.retry_max_s = 1.0;
    c.route.group_wait_s = Some(0.0);
    c.route.group_interval_s = Some(0.0);
    c.receivers.get_mut("ops").unwrap().secret = Some("k".into());
    let notifier = Notifier::start(&c, &dir.path().join("outbox.sqlite")).unwrap();
    let tx = notifier.handle();
    // 20 alarms in 20 zones while nobody listens.
    for i in 0..20 {
        let mut e = event(&format!("low:PT-{i}"), "medium", "unacknowledged", true);
        e.zone = Some(format!("Z{i}"));
        tx.send(e).unwrap();
    }
    let metrics = notifier.metrics.clone();
    assert!(wait_for(Duration::from_secs(10), || metrics
        .retries
        .load(std::sync::atomic::Ordering::Relaxed)
        >= 2));
    assert_eq!(metrics.sent.load(std::sync::atomic::Ordering::Relaxed), 0);
    // Back, and still failing for its first 3 answers (503).
    let receiver = start_receiver(port, 3);
    assert!(
        wait_for(Duration::from_secs(30), || receiver.got.lock().unwrap().len() >= 20),
        "only {} of 20 arrived",
        receiver.got.lock().unwrap().len()
    );
    let got = receiver.got.lock().unwrap().clone();
    let zones: Vec<String> = got
        .iter()
        .map(|(_, b)| {
            serde_json::from_slice::<Value>(b).unwrap()["group_labels"]["zone"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let want: Vec<String> = (0..20).map(|i| format!("Z{i}")).collect();
    let mut sorted = zones.clone();
    sorted.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(sorted, want_sorted, "every notification, none twice");
    // Signed: HMAC-SHA256 of the body with the shared secret.
    let (headers, body) = &got[0];
    let sig = headers
        .iter()
        .find(|(k, _)| k == "x-linepack-signature")
        .unwrap()
        .1
        .clone();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"k");
    let hex: String = ring::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(sig, format!("sha256={hex}"));
    assert_eq!(metrics.pending.load(std::sync::atomic::Ordering::Relaxed), 0);
    drop(tx);
    notifier.stop();
}

#[test]
fn serve_killed_with_notifications_pending_delivers_them_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (api_port, broker, hook) = (free_port(), free_port(), free_port());
    let config = serve_config(dir.path(), api_port, broker);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[notify]\noutbox = \"outbox.sqlite\"\nretry_initial_s = 0.2\nretry_max_s = 0.5\n\
         [notify.receivers.ops]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{hook}/hook\"\n\
         [notify.route]\nreceivers = [\"ops\"]\ngroup_wait_s = 0\n"
    ));
    std::fs::write(&config, text).unwrap();
    let mut serve = Serve::start(&config, api_port);
    // The receiver is down: the alarm's notification waits in the outbox.
    let mut m = String::new();
    let retried = wait_for(Duration::from_secs(20), || {
        publish(broker, "PT-N17", r#"{"v": 0.5}"#);
        m = get(&serve.base, "/metrics", Some(VIEWER)).body;
        m.contains("linepack_notify_retries_total") && !m.contains("linepack_notify_retries_total 0\n")
    });
    assert!(retried, "no delivery attempt: {m}");
    let m = get(&serve.base, "/metrics", Some(VIEWER)).body;
    assert!(m.contains("linepack_notify_pending 1"), "{m}");
    serve.kill();

    let receiver = start_receiver(hook, 0);
    let serve = Serve::start(&config, api_port);
    assert!(
        wait_for(Duration::from_secs(20), || !receiver.got.lock().unwrap().is_empty()),
        "the pending notification was not delivered after the restart"
    );
    let got = receiver.got.lock().unwrap().clone();
    let body: Value = serde_json::from_slice(&got[0].1).unwrap();
    assert_eq!(body["alarms"][0]["alarm_id"], "low:PT-N17");
    drop(serve);
}
