//! End-to-end ingest throughput, for BENCHMARKS.md. One publisher floods
//! single-reading messages (QoS 1) at a broker; what is timed is from the
//! first publish to the last reading arriving.
//!
//! * `mosquitto`: a Mosquitto started on a free port; the same stream drained
//!   by `mosquitto_sub -q 1 > /dev/null` and by linepack's MQTT source into
//!   the hand-off channel, alternately, three times each.
//! * `embedded`: the embedded broker (rumqttd) and linepack's source.
//!
//! Usage: ingest_throughput mosquitto|embedded [--readings N]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use linepack_ingest::mqtt::{MqttConfig, MqttIngest};
use linepack_ingest::telemetry::UnitsConfig;
use linepack_network::Network;
use rumqttc::{AsyncClient, MqttOptions, QoS};

const SENSORS: usize = 1000;

fn network() -> Network {
    let f = linepack_sim::generate::city(&linepack_sim::generate::CityConfig {
        nodes: 100,
        seed: 1,
        ..Default::default()
    });
    let mut f = f;
    f.sensors = (0..SENSORS)
        .map(|i| linepack_network::file::schema::SensorSpec {
            id: format!("PT-{i:04}"),
            kind: linepack_network::network::SensorKind::Pressure,
            at: format!("N{}", i % 100),
        })
        .collect();
    let text = linepack_network::file::to_string(&f, linepack_network::file::Format::Json);
    linepack_network::file::parse(&text, linepack_network::file::Format::Json, "bench.json".as_ref()).unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Publishes `n` readings as fast as the client takes them; returns when all
/// are queued (the event loop keeps sending).
fn flood(rt: &tokio::runtime::Runtime, addr: SocketAddr, id: &str, n: usize, t0: i64) -> Instant {
    let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_keep_alive(Duration::from_secs(30))
        .set_inflight(u16::MAX)
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(o, 200_000);
    eventloop.network_options.set_tcp_nodelay(true);
    rt.spawn(async move { while eventloop.poll().await.is_ok() {} });
    let topics: Vec<String> = (0..SENSORS).map(|i| format!("gas/telemetry/PT-{i:04}")).collect();
    let start = Instant::now();
    rt.block_on(async {
        for k in 0..n {
            let payload = format!(
                r#"{{"ts": {}, "v": {:.2}}}"#,
                t0 + (k / SENSORS) as i64,
                3.9 + (k % 7) as f64 * 0.01
            );
            client
                .publish(&topics[k % SENSORS], QoS::AtLeastOnce, false, payload)
                .await
                .unwrap();
        }
    });
    start
}

fn now_ms() -> i64 {
    linepack_ingest::mqtt::client::now_ms()
}

/// linepack's source: readings per second into the hand-off.
fn linepack_rate(rt: &tokio::runtime::Runtime, broker: Option<SocketAddr>, n: usize, run: usize) -> f64 {
    let net = network();
    let config = match broker {
        Some(addr) => MqttConfig {
            broker: format!("mqtt://{addr}"),
            client_id: format!("bench-{run}"),
            clean_session: true,
            ..Default::default()
        },
        None => MqttConfig {
            embedded_listen: "127.0.0.1:0".into(),
            client_id: format!("bench-{run}"),
            clean_session: true,
            ..Default::default()
        },
    };
    let (ingest, rx) = MqttIngest::start(rt.handle(), &config, &UnitsConfig::default(), &net).unwrap();
    let addr = broker.or(ingest.broker.as_ref().map(|b| b.addr)).unwrap();
    while !ingest.metrics.connected.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    let counted = Arc::new(AtomicUsize::new(0));
    let c = counted.clone();
    let drain = std::thread::spawn(move || {
        let mut got = 0;
        while got < n {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(Some(b)) => got += b.readings.len(),
                _ => break,
            }
        }
        c.store(got, Ordering::Relaxed);
        Instant::now()
    });
    // A fresh clock per run: the decoder of a new session starts empty anyway.
    let start = flood(rt, addr, &format!("bench-pub-{run}"), n, now_ms() - 3_600_000);
    let end = drain.join().unwrap();
    let got = counted.load(Ordering::Relaxed);
    assert_eq!(
        got,
        n,
        "linepack received {got} of {n}: {:?}",
        ingest.metrics.snapshot()
    );
    rt.block_on(ingest.stop());
    n as f64 / (end - start).as_secs_f64()
}

/// `mosquitto_sub -q 1` to /dev/null: readings per second.
fn mosquitto_sub_rate(rt: &tokio::runtime::Runtime, addr: SocketAddr, n: usize, run: usize) -> f64 {
    let mut sub = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &addr.port().to_string(),
            "-q",
            "1",
            "-t",
            "gas/telemetry/#",
            "-C",
            &n.to_string(),
        ])
        .args(["-i", &format!("bench-sub-{run}")])
        .stdout(Stdio::null())
        .spawn()
        .expect("mosquitto_sub is installed (mosquitto-clients)");
    std::thread::sleep(Duration::from_millis(500));
    let start = flood(rt, addr, &format!("bench-subpub-{run}"), n, now_ms() - 3_600_000);
    let status = sub.wait().unwrap();
    assert!(status.success());
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("embedded");
    let n: usize = args
        .iter()
        .position(|a| a == "--readings")
        .and_then(|i| args.get(i + 1))
        .map_or(300_000, |s| s.parse().unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    match mode {
        "mosquitto" => {
            let dir = tempfile_dir();
            let port = free_port();
            let conf = format!("{dir}/m.conf");
            std::fs::write(&conf, format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 0\nlog_dest none\n"
            )).unwrap();
            let mut broker = Command::new("/usr/sbin/mosquitto")
                .args(["-c", &conf])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("mosquitto is installed");
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            while TcpStream::connect(addr).is_err() {
                std::thread::sleep(Duration::from_millis(20));
            }
            let (mut subs, mut ours) = (Vec::new(), Vec::new());
            for run in 0..3 {
                subs.push(mosquitto_sub_rate(&rt, addr, n, run));
                ours.push(linepack_rate(&rt, Some(addr), n, run));
            }
            let _ = broker.kill();
            let _ = broker.wait();
            let med = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let (s, o) = (med(&mut subs), med(&mut ours));
            println!(
                "{{\"readings\": {n}, \"mosquitto_sub_per_s\": {s:.0}, \"linepack_per_s\": {o:.0}, \"ratio\": {:.3}, \"runs_sub\": {subs:?}, \"runs_linepack\": {ours:?}}}",
                o / s
            );
        }
        _ => {
            let mut ours: Vec<f64> = (0..3).map(|run| linepack_rate(&rt, None, n, run)).collect();
            ours.sort_by(f64::total_cmp);
            println!(
                "{{\"readings\": {n}, \"embedded_linepack_per_s\": {:.0}, \"runs\": {ours:?}}}",
                ours[1]
            );
        }
    }
}

fn tempfile_dir() -> String {
    let d = std::env::temp_dir().join(format!("linepack-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.display().to_string()
}
