//! Shared pieces of the ingest integration tests: a small network with
//! sensors, a publisher, a collector, and a real Mosquitto on a free port.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use linepack_ingest::handoff::HandoffReceiver;
use linepack_ingest::telemetry::Reading;
use linepack_network::Network;
use linepack_network::file::{Format, parse};
use rumqttc::{AsyncClient, MqttOptions, QoS};

/// Logs to the test output when `RUST_LOG` is set.
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Two pressure sensors (one reporting kPa), a flow meter, a gas detector.
pub fn network() -> Network {
    let text = r#"{
        "version": 1, "name": "ingest-test",
        "gas": {"name": "ng", "density_normal_kg_m3": 0.8, "viscosity_pa_s": 1.1e-5, "temperature_k": 283.15,
                "compressibility": {"model": "constant", "z": 1.0}},
        "nodes": [{"id": "A", "elevation_m": 0}, {"id": "B", "elevation_m": 0}],
        "pipes": [{"id": "P", "from": "A", "to": "B", "length_m": 100, "diameter_mm": 100, "roughness_mm": 0.1}],
        "supplies": [{"id": "S", "node": "A", "pressure_bar_g": 4, "kind": "city_gate"}],
        "consumers": [{"id": "C", "node": "B", "kind": "commercial", "demand_kg_s": 0.1}],
        "sensors": [
            {"id": "PT-A", "kind": "pressure", "at": "A"},
            {"id": "PT-B", "kind": "pressure", "at": "B"},
            {"id": "FT-S", "kind": "flow", "at": "S"},
            {"id": "GD-C", "kind": "gas_detector", "at": "C"}
        ]
    }"#;
    parse(text, Format::Json, Path::new("ingest-test.json")).unwrap()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A publisher connected to `addr`, its event loop polled in the background.
pub fn publisher(rt: &tokio::runtime::Runtime, addr: SocketAddr, id: &str) -> AsyncClient {
    let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_keep_alive(Duration::from_secs(5))
        .set_clean_session(false)
        .set_inflight(1000)
        .set_max_packet_size(1 << 24, 1 << 24);
    let (client, mut eventloop) = AsyncClient::new(o, 100_000);
    rt.spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(a))) => tracing::debug!(?a, "publisher connected"),
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "publisher connection error");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
    client
}

pub async fn publish(client: &AsyncClient, topic: &str, payload: impl Into<Vec<u8>>) {
    client.publish(topic, QoS::AtLeastOnce, false, payload).await.unwrap();
}

/// Collects readings until `n` arrived or `timeout` passed.
pub fn collect(rx: &HandoffReceiver, n: usize, timeout: Duration) -> Vec<Reading> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < deadline {
        if let Ok(Some(b)) = rx.recv_timeout(Duration::from_millis(50)) {
            got.extend(b.readings);
        }
    }
    got
}

/// Waits until `cond` holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// A Mosquitto broker started by the test on a free port, with persistence
/// in a temporary directory. Killed when dropped.
pub struct Mosquitto {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    /// Extra lines for the listener (TLS, authentication).
    listener_extra: String,
    child: Option<Child>,
}

fn mosquitto_binary() -> PathBuf {
    for p in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("mosquitto is not installed: `apt-get install -y mosquitto` (.ci/run does this); this test never skips");
}

impl Mosquitto {
    pub fn start() -> Mosquitto {
        Self::start_with(|_| String::new())
    }

    /// Starts with extra listener configuration, written by `extra` given
    /// the broker's own directory (for certificates and password files).
    pub fn start_with(extra: impl FnOnce(&Path) -> String) -> Mosquitto {
        let dir = tempfile::tempdir().unwrap();
        // Started as root, Mosquitto drops to its own user: it must be able
        // to write its persistence file here.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let listener_extra = extra(dir.path());
        let mut m = Mosquitto {
            addr,
            dir,
            listener_extra,
            child: None,
        };
        m.spawn();
        m
    }

    fn spawn(&mut self) {
        let conf = self.dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "per_listener_settings false\npersistence true\npersistence_location {}/\nautosave_interval 1\n\
                 max_queued_messages 1000000\nmax_inflight_messages 1000\nlog_dest stderr\nlog_type error\n\
                 listener {} 127.0.0.1\n{}\n{}",
                self.dir.path().display(),
                self.addr.port(),
                if self.listener_extra.contains("password_file") {
                    ""
                } else {
                    "allow_anonymous true"
                },
                self.listener_extra
            ),
        )
        .unwrap();
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts");
        self.child = Some(child);
        assert!(
            wait_for(Duration::from_secs(10), || TcpStream::connect(self.addr).is_ok()),
            "mosquitto did not listen on {}",
            self.addr
        );
    }

    /// Stops the broker with SIGTERM (it saves its persistent sessions) and
    /// starts it again on the same port.
    pub fn restart(&mut self, down_for: Duration) {
        self.stop();
        std::thread::sleep(down_for);
        self.spawn();
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A CA and a server certificate for `localhost` (openssl), in `dir`:
/// returns the CA file.
pub fn make_certificates(dir: &Path) -> PathBuf {
    let run = |args: &[&str]| {
        let ok = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl is installed (.ci/run installs it)")
            .success();
        assert!(ok, "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=linepack-test-ca",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    use std::os::unix::fs::PermissionsExt;
    for f in ["server.key", "server.pem", "ca.pem"] {
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    dir.join("ca.pem")
}

/// A Mosquitto password file with one user.
pub fn make_password_file(dir: &Path, user: &str, password: &str) -> PathBuf {
    let path = dir.join("passwords");
    let ok = Command::new("mosquitto_passwd")
        .arg("-c")
        .arg("-b")
        .arg(&path)
        .arg(user)
        .arg(password)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mosquitto_passwd is installed with mosquitto")
        .success();
    assert!(ok);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    path
}
