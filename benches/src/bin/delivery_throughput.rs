//! Throughput of the two delivery paths, for BENCHMARKS.md, each against a
//! baseline measured in the same run:
//!
//! * `archive`: points/s from the archive's hand-off into VictoriaMetrics
//!   (Debian's `victoria-metrics`, started on a free port), gzip on and
//!   off; baseline: the same line protocol POSTed directly in batches of
//!   the same size, no archive in between.
//! * `outbox`: notifications/s through the notifier (dispatcher, SQLite
//!   outbox with synchronous=FULL, sender) to a local HTTP receiver;
//!   baseline: the same requests POSTed directly, no outbox.
//!
//! Usage: delivery_throughput archive [--points N] | outbox [--notifications N]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use linepack_engine::alarm::AlarmEvent;
use linepack_engine::archive::{Archive, ArchiveConfig, Item, line};
use linepack_engine::notify::Notifier;
use linepack_engine::notify::config::{NotifyConfig, ReceiverConfig, RouteConfig};
use linepack_ingest::telemetry::{Batch, Quality, Reading};
use linepack_network::ids::SensorIdx;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

const SENSORS: usize = 1000;

fn batch(t_ms: i64) -> Batch {
    Batch {
        readings: (0..SENSORS)
            .map(|i| Reading {
                sensor: SensorIdx::new(i),
                ts_ms: t_ms,
                value: 3.0 + (i as f64) * 1e-3,
                quality: Quality::Good,
                event: None,
            })
            .collect(),
        gaps: Vec::new(),
    }
}

fn archive(points: usize) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut vm = Command::new("/usr/bin/victoria-metrics")
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg(format!("-storageDataPath={}", dir.path().join("vm").display()))
        .arg("-retentionPeriod=10y")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("victoria-metrics (apt-get install victoria-metrics)");
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while agent()
        .get(format!("{url}/health"))
        .call()
        .map_or(true, |r| r.status() != 200)
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "victoria-metrics did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let tags: Vec<String> = (0..SENSORS)
        .map(|i| line::sensor_tags(&format!("PT-{i:04}"), "pressure", Some("ST0"), Some("Z0")))
        .collect();
    let batches = points / SENSORS;
    let t0 = linepack_ingest::mqtt::client::now_ms() - 86_400_000;
    let mut base_ts = t0;

    // Baseline: the same lines, POSTed directly, 5000 per request.
    let mut text = String::new();
    let mut bodies = Vec::new();
    for b in 0..batches {
        for r in &batch(base_ts + b as i64 * 1000).readings {
            line::reading(&mut text, &tags[r.sensor.index()], r.value, "good", r.ts_ms);
        }
        if ((b + 1) * SENSORS).is_multiple_of(5000) {
            bodies.push(std::mem::take(&mut text));
        }
    }
    let write = format!("{url}/api/v2/write?org=linepack&bucket=telemetry&precision=ms");
    let started = Instant::now();
    for body in &bodies {
        let r = agent().post(&write).send(body.as_bytes()).unwrap();
        assert!(r.status().is_success());
    }
    let raw = (bodies.len() * 5000) as f64 / started.elapsed().as_secs_f64();
    println!(
        "direct POST (baseline): {raw:.0} points/s ({} points)",
        bodies.len() * 5000
    );

    for gzip in [true, false] {
        base_ts += batches as i64 * 1000 + 1000;
        let config = ArchiveConfig {
            url: Some(url.clone()),
            spill_dir: Some(dir.path().join(format!("spill-{gzip}"))),
            gzip,
            ..ArchiveConfig::default()
        };
        let a = Archive::start(&config, tags.clone()).unwrap();
        let tx = a.sender();
        let started = Instant::now();
        for b in 0..batches {
            tx.send(Item::Readings(batch(base_ts + b as i64 * 1000)));
        }
        let want = (batches * SENSORS) as u64;
        while a.metrics.written.load(Ordering::Relaxed) < want {
            assert_eq!(a.metrics.dropped.load(Ordering::Relaxed), 0, "points dropped");
            std::thread::sleep(Duration::from_millis(2));
        }
        let rate = want as f64 / started.elapsed().as_secs_f64();
        println!(
            "archive (gzip {gzip}): {rate:.0} points/s ({want} points), {:.2} x the direct POST",
            rate / raw
        );
        drop(tx);
        a.stop();
    }
    let _ = vm.kill();
    let _ = vm.wait();
}

fn event(i: usize) -> AlarmEvent {
    serde_json::from_value(serde_json::json!({
        "alarm_id": format!("low:PT-{i}"), "kind": "low", "priority": "medium", "state": "unacknowledged",
        "previous_state": "normal", "active": true, "source": format!("PT-{i}"), "zone": "Z0",
        "ts": "2026-11-23T08:00:00.000Z", "ts_ms": 1_795_420_800_000i64, "value": 0.5, "limit": 1.0,
        "message": format!("PT-{i} below 1.0 bar g")
    }))
    .unwrap()
}

fn outbox(n: usize) {
    let port = free_port();
    let got = Arc::new(AtomicUsize::new(0));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let g = got.clone();
    let app = axum::Router::new().fallback(move || {
        let g = g.clone();
        async move {
            g.fetch_add(1, Ordering::Relaxed);
            "ok"
        }
    });
    let listener = rt.block_on(tokio::net::TcpListener::bind(("127.0.0.1", port))).unwrap();
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = format!("http://127.0.0.1:{port}/hook");

    // Baseline: one POST per notification, same size, no outbox.
    let body = serde_json::to_vec(&serde_json::json!({"alarms": [event(0)]})).unwrap();
    let started = Instant::now();
    let a = agent();
    for _ in 0..n {
        a.post(&url)
            .header("Content-Type", "application/json")
            .send(&body[..])
            .unwrap();
    }
    let raw = n as f64 / started.elapsed().as_secs_f64();
    println!("direct POST (baseline): {raw:.0} requests/s ({n} requests)");

    let dir = tempfile::tempdir().unwrap();
    let mut c = NotifyConfig::default();
    c.receivers.insert(
        "hook".into(),
        ReceiverConfig {
            secret: Some("k".into()),
            rate_per_minute: Some(1e9),
            ..ReceiverConfig::new("webhook", &url)
        },
    );
    c.route = RouteConfig {
        receivers: vec!["hook".into()],
        group_by: Some(vec!["alarm_id".into()]),
        group_wait_s: Some(0.0),
        group_interval_s: Some(0.0),
        ..RouteConfig::default()
    };
    let notifier = Notifier::start(&c, &dir.path().join("outbox.sqlite")).unwrap();
    let tx = notifier.handle();
    got.store(0, Ordering::Relaxed);
    let started = Instant::now();
    for i in 0..n {
        tx.send(event(i)).unwrap();
    }
    while notifier.metrics.sent.load(Ordering::Relaxed) < n as u64 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    println!(
        "outbox: {rate:.0} notifications/s ({n} notifications, each written and synced before sending), {:.2} x the direct POST",
        rate / raw
    );
    assert_eq!(got.load(Ordering::Relaxed), n);
    drop(tx);
    notifier.stop();
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("archive") => archive(arg("--points", 1_000_000)),
        Some("outbox") => outbox(arg("--notifications", 2000)),
        _ => {
            eprintln!("usage: delivery_throughput archive [--points N] | outbox [--notifications N]");
            std::process::exit(2);
        }
    }
}
