//! Ingest against real brokers: the embedded one, and a Mosquitto started by
//! the test (installed by `.ci/run`; the test fails if it is missing).

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use linepack_ingest::mqtt::{MqttConfig, MqttIngest};
use linepack_ingest::telemetry::{RejectReason, UnitsConfig};

fn units() -> UnitsConfig {
    let mut u = UnitsConfig::default();
    u.sensors.insert("PT-B".into(), "kPa_g".into());
    u.flow = "nm3_h".into();
    u
}

/// Publishes good readings, every class of bad input between them, and a
/// site batch; checks what arrives and what is counted.
fn readings_arrive_converted_and_bad_input_is_counted(config: MqttConfig, broker_addr: Option<std::net::SocketAddr>) {
    logs();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let net = network();
    let (ingest, rx) = MqttIngest::start(rt.handle(), &config, &units(), &net).unwrap();
    let addr = broker_addr.or(ingest.broker.as_ref().map(|b| b.addr)).unwrap();
    assert!(wait_for(Duration::from_secs(10), || ingest
        .metrics
        .connected
        .load(Ordering::Relaxed)));
    // Let the subscription settle before publishing.
    std::thread::sleep(Duration::from_millis(300));

    let pubc = publisher(&rt, addr, "test-publisher");
    let t0 = linepack_ingest::mqtt::client::now_ms() - 60_000;
    rt.block_on(async {
        publish(&pubc, "gas/telemetry/PT-A", format!(r#"{{"ts": {t0}, "v": 3.95}}"#)).await;
        publish(&pubc, "gas/telemetry/PT-A", "{not json").await;
        publish(&pubc, "gas/telemetry/NOPE", r#"{"v": 1}"#).await;
        publish(
            &pubc,
            "gas/telemetry/PT-B",
            format!(r#"{{"ts": {}, "v": 396.0}}"#, t0 + 1),
        )
        .await;
        publish(&pubc, "gas/telemetry/PT-B", r#"{"v": "NaN"}"#).await;
        publish(
            &pubc,
            "gas/telemetry/PT-B",
            format!(r#"{{"ts": {}, "v": 390.0}}"#, t0 - 5000),
        )
        .await; // out of order
        publish(&pubc, "gas/telemetry/PT-A", r#"{"v": 3.9, "ts": 9999999999999}"#).await;
        publish(&pubc, "gas/telemetry/PT-A", format!(r#"{{"ts": {t0}, "v": 3.95}}"#)).await; // duplicate
        publish(&pubc, "gas/telemetry/PT-A", vec![b'x'; 70_000]).await;
        publish(
            &pubc,
            "gas/telemetry/site/station-1",
            format!(
                r#"{{"ts": {}, "seq": 7, "readings": {{"PT-A": 3.97, "FT-S": 3600, "GD-C": 0.5}}}}"#,
                t0 + 2
            ),
        )
        .await;
        publish(
            &pubc,
            "gas/telemetry/GD-C",
            format!(r#"{{"ts": {}, "event": "tamper"}}"#, t0 + 3),
        )
        .await;
    });

    let got = collect(&rx, 6, Duration::from_secs(10));
    let mut values: Vec<(String, String)> = got
        .iter()
        .map(|r| (net.sensors[r.sensor.index()].id.clone(), format!("{:.4}", r.value)))
        .collect();
    values.sort();
    assert_eq!(
        values,
        [
            ("FT-S".to_string(), "0.8000".to_string()), // 3600 Nm³/h at 0.8 kg/Nm³
            ("GD-C".into(), "0.5000".into()),
            ("GD-C".into(), "NaN".into()), // the tamper event
            ("PT-A".into(), "3.9500".into()),
            ("PT-A".into(), "3.9700".into()),
            ("PT-B".into(), "3.9600".into()), // 396 kPa g
        ]
    );
    let m = &ingest.metrics;
    assert!(
        wait_for(Duration::from_secs(5), || m.rejected_total() == 7),
        "{:?}",
        m.snapshot()
    );
    for reason in [
        RejectReason::InvalidJson,
        RejectReason::UnknownSensor,
        RejectReason::NonFinite,
        RejectReason::BadTimestamp,
        RejectReason::Duplicate,
        RejectReason::OutOfOrder,
        RejectReason::TooLarge,
    ] {
        assert_eq!(m.rejected(reason), 1, "{reason}: {:?}", m.snapshot());
    }
    assert_eq!(m.readings_accepted.load(Ordering::Relaxed), 6);
    rt.block_on(ingest.stop());
}

#[test]
fn embedded_broker_readings_and_rejections() {
    let config = MqttConfig {
        embedded_listen: "127.0.0.1:0".into(),
        client_id: "linepack-test-embedded".into(),
        ..MqttConfig::default()
    };
    readings_arrive_converted_and_bad_input_is_counted(config, None);
}

#[test]
fn mosquitto_readings_and_rejections() {
    let mosquitto = Mosquitto::start();
    let config = MqttConfig {
        broker: format!("mqtt://{}", mosquitto.addr),
        client_id: "linepack-test-mosquitto".into(),
        ..MqttConfig::default()
    };
    readings_arrive_converted_and_bad_input_is_counted(config, Some(mosquitto.addr));
}

/// Mosquitto with persistence and QoS 1, restarted in the middle of a
/// stream: every reading published after the subscription arrives exactly
/// once after de-duplication, and the client reconnects with back-off.
#[test]
fn mosquitto_restart_mid_stream_loses_nothing_and_duplicates_nothing() {
    logs();
    let mut mosquitto = Mosquitto::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let net = network();
    let config = MqttConfig {
        broker: format!("mqtt://{}", mosquitto.addr),
        client_id: "linepack-test-restart".into(),
        backoff_initial_ms: 100,
        backoff_max_ms: 1000,
        ..MqttConfig::default()
    };
    let (ingest, rx) = MqttIngest::start(rt.handle(), &config, &UnitsConfig::default(), &net).unwrap();
    assert!(wait_for(Duration::from_secs(10), || ingest
        .metrics
        .connected
        .load(Ordering::Relaxed)));
    std::thread::sleep(Duration::from_millis(300));

    // The engine side drains in its own thread, like the hot loop.
    let collector = std::thread::spawn(move || collect(&rx, N, Duration::from_secs(60)));

    const N: usize = 3000;
    let pubc = publisher(&rt, mosquitto.addr, "restart-publisher");
    let t0 = linepack_ingest::mqtt::client::now_ms() - 120_000;
    for i in 0..N {
        rt.block_on(publish(
            &pubc,
            "gas/telemetry/PT-A",
            format!(r#"{{"ts": {}, "v": {i}}}"#, t0 + i as i64),
        ));
        if i % 100 == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
        if i == N / 3 {
            mosquitto.restart(Duration::from_millis(800));
        }
    }

    let got = collector.join().unwrap();
    let mut values: Vec<i64> = got.iter().map(|r| r.value as i64).collect();
    values.sort_unstable();
    let expected: Vec<i64> = (0..N as i64).collect();
    let m = ingest.metrics.snapshot();
    assert_eq!(values.len(), N, "received {} of {N}: {m:?}", values.len());
    assert_eq!(values, expected, "each reading exactly once");
    assert!(m.connects >= 2 && m.connection_errors >= 1, "reconnected: {m:?}");
    rt.block_on(ingest.stop());
}

/// TLS with the broker's CA from config, and username/password.
/// Regression: the hand-off flush tick once cancelled rumqttc's `poll` in the
/// middle of the TLS handshake, so a TLS connection never completed.
#[test]
fn mosquitto_over_tls_with_a_password() {
    logs();
    let mut ca = None;
    let mosquitto = Mosquitto::start_with(|dir| {
        ca = Some(make_certificates(dir));
        let passwords = make_password_file(dir, "engine", "s3cret");
        format!(
            "cafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\npassword_file {1}\nallow_anonymous false\n",
            dir.display(),
            passwords.display()
        )
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let net = network();
    let tls = |password: &str, id: &str| MqttConfig {
        broker: format!("mqtts://localhost:{}", mosquitto.addr.port()),
        ca_file: ca.clone(),
        username: Some("engine".into()),
        password: Some(password.into()),
        client_id: id.into(),
        backoff_initial_ms: 50,
        ..MqttConfig::default()
    };

    // A wrong password never connects, and says so in the counters.
    let (bad, _bad_rx) =
        MqttIngest::start(rt.handle(), &tls("wrong", "bad-client"), &UnitsConfig::default(), &net).unwrap();
    assert!(wait_for(Duration::from_secs(5), || bad
        .metrics
        .connection_errors
        .load(Ordering::Relaxed)
        >= 2));
    assert!(!bad.metrics.connected.load(Ordering::Relaxed));

    let (ingest, rx) = MqttIngest::start(
        rt.handle(),
        &tls("s3cret", "good-client"),
        &UnitsConfig::default(),
        &net,
    )
    .unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || ingest
            .metrics
            .connected
            .load(Ordering::Relaxed)),
        "{:?}",
        ingest.metrics.snapshot()
    );
    std::thread::sleep(Duration::from_millis(300));

    // Publish over TLS too.
    let mut o = rumqttc::MqttOptions::new("tls-publisher", "localhost", mosquitto.addr.port());
    o.set_credentials("engine", "s3cret")
        .set_transport(rumqttc::Transport::Tls(rumqttc::TlsConfiguration::Simple {
            ca: std::fs::read(ca.as_ref().unwrap()).unwrap(),
            alpn: None,
            client_auth: None,
        }));
    let (pubc, mut el) = rumqttc::AsyncClient::new(o, 100);
    rt.spawn(async move { while el.poll().await.is_ok() {} });
    rt.block_on(publish(&pubc, "gas/telemetry/PT-A", r#"{"v": 4.02}"#));
    let got = collect(&rx, 1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].value, 4.02);
    rt.block_on(ingest.stop());
    rt.block_on(bad.stop());
}

/// Two engines in one shared-subscription group split the stream: together
/// they see every message once.
#[test]
fn shared_subscription_splits_the_load() {
    let mosquitto = Mosquitto::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let net = network();
    let engine = |id: &str| MqttConfig {
        broker: format!("mqtt://{}", mosquitto.addr),
        client_id: id.into(),
        shared_group: Some("engines".into()),
        ..MqttConfig::default()
    };
    let (a, rx_a) = MqttIngest::start(rt.handle(), &engine("engine-a"), &UnitsConfig::default(), &net).unwrap();
    let (b, rx_b) = MqttIngest::start(rt.handle(), &engine("engine-b"), &UnitsConfig::default(), &net).unwrap();
    assert!(wait_for(Duration::from_secs(10), || a
        .metrics
        .connected
        .load(Ordering::Relaxed)
        && b.metrics.connected.load(Ordering::Relaxed)));
    std::thread::sleep(Duration::from_millis(300));
    let pubc = publisher(&rt, mosquitto.addr, "shared-publisher");
    let t0 = linepack_ingest::mqtt::client::now_ms() - 60_000;
    const N: usize = 400;
    rt.block_on(async {
        for i in 0..N {
            // Alternate sensors: each engine's decoder sees a subsequence.
            let sensor = if i % 2 == 0 { "PT-A" } else { "PT-B" };
            publish(
                &pubc,
                &format!("gas/telemetry/{sensor}"),
                format!(r#"{{"ts": {}, "v": {i}}}"#, t0 + i as i64),
            )
            .await;
        }
    });
    let ta = std::thread::spawn(move || collect(&rx_a, N, Duration::from_secs(5)));
    let tb = std::thread::spawn(move || collect(&rx_b, N, Duration::from_secs(5)));
    let (ga, gb) = (ta.join().unwrap(), tb.join().unwrap());
    assert!(
        !ga.is_empty() && !gb.is_empty(),
        "both engines get a share: {} and {}",
        ga.len(),
        gb.len()
    );
    let mut all: Vec<i64> = ga.iter().chain(&gb).map(|r| r.value as i64).collect();
    all.sort_unstable();
    assert_eq!(all, (0..N as i64).collect::<Vec<_>>());
    rt.block_on(a.stop());
    rt.block_on(b.stop());
}

/// Refused messages are republished to `<prefix>/deadletter` with the reason.
#[test]
fn dead_letters_carry_the_reason() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = MqttConfig {
        embedded_listen: "127.0.0.1:0".into(),
        client_id: "dead-letter-engine".into(),
        dead_letter: true,
        ..MqttConfig::default()
    };
    let (ingest, _rx) = MqttIngest::start(rt.handle(), &config, &UnitsConfig::default(), &network()).unwrap();
    let addr = ingest.broker.as_ref().unwrap().addr;
    assert!(wait_for(Duration::from_secs(10), || ingest
        .metrics
        .connected
        .load(Ordering::Relaxed)));

    let mut o = rumqttc::MqttOptions::new("dead-letter-reader", addr.ip().to_string(), addr.port());
    o.set_keep_alive(Duration::from_secs(5));
    let (reader, mut el) = rumqttc::AsyncClient::new(o, 100);
    let (tx, letters) = std::sync::mpsc::channel();
    rt.spawn(async move {
        while let Ok(ev) = el.poll().await {
            if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) = ev {
                let _ = tx.send(String::from_utf8_lossy(&p.payload).into_owned());
            }
        }
    });
    rt.block_on(reader.subscribe("gas/deadletter", rumqttc::QoS::AtLeastOnce))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pubc = publisher(&rt, addr, "dead-letter-publisher");
    rt.block_on(publish(&pubc, "gas/telemetry/NO-SUCH-SENSOR", r#"{"v": 1}"#));
    let letter: serde_json::Value =
        serde_json::from_str(&letters.recv_timeout(Duration::from_secs(10)).expect("a dead letter")).unwrap();
    assert_eq!(letter["topic"], "gas/telemetry/NO-SUCH-SENSOR");
    assert_eq!(letter["reasons"][0], "unknown_sensor");
    assert_eq!(letter["payload"], r#"{"v": 1}"#);
    assert_eq!(ingest.metrics.dead_lettered.load(Ordering::Relaxed), 1);
    rt.block_on(ingest.stop());
}
