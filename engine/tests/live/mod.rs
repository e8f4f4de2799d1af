//! Helpers for the tests that run `linepack serve` and `linepack demo` as
//! processes: free ports, HTTP calls, publishing with mosquitto_pub.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use linepack_engine::api::auth::{hex, sha256};

pub const VIEWER: &str = "viewer-token-0123456789";
pub const OPERATOR: &str = "operator-token-0123456789";
pub const ADMIN: &str = "admin-token-0123456789";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// An HTTP agent that returns 4xx/5xx as responses, not errors.
pub fn agent(timeout: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(timeout)
        .build()
        .into()
}

/// Status and body of a call.
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub www_authenticate: Option<String>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The `error` of a JSON error body.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_string()
    }
}

fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut r = r.expect("the server answers");
    Answer {
        status: r.status().as_u16(),
        www_authenticate: r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string()),
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

pub fn get(base: &str, path: &str, token: Option<&str>) -> Answer {
    let mut req = agent(Some(Duration::from_secs(10))).get(format!("{base}{path}"));
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    answer(req.call())
}

pub fn post(base: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Answer {
    let mut req = agent(Some(Duration::from_secs(10))).post(format!("{base}{path}"));
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    answer(match body {
        Some(b) => req.header("Content-Type", "application/json").send(b),
        None => req.send_empty(),
    })
}

pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn mosquitto_pub() -> PathBuf {
    for p in ["/usr/bin/mosquitto_pub", "/usr/local/bin/mosquitto_pub"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!(
        "mosquitto_pub is not installed: `apt-get install -y mosquitto-clients` (.ci/run does this); this test never skips"
    );
}

/// Publishes one reading (QoS 1) to the telemetry topic of `sensor`.
pub fn publish(broker_port: u16, sensor: &str, payload: &str) {
    let status = Command::new(mosquitto_pub())
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &broker_port.to_string(),
            "-q",
            "1",
            "-i",
            "test-publisher",
        ])
        .args(["-t", &format!("gas/telemetry/{sensor}"), "-m", payload])
        .status()
        .expect("mosquitto_pub runs");
    assert!(status.success(), "mosquitto_pub failed: {status}");
}

/// A configuration for `linepack serve` on the demo city with three tokens
/// and a low limit on PT-N17 and PT-N57.
pub fn serve_config(dir: &Path, api_port: u16, broker_port: u16) -> PathBuf {
    let token = |name: &str, role: &str, t: &str| {
        format!(
            "[[api.tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n",
            hex(&sha256(t))
        )
    };
    let text = format!(
        "[network]\nfile = {:?}\n\n[journal]\npath = \"journal.sqlite\"\n\n[mqtt]\nembedded_listen = \"127.0.0.1:{broker_port}\"\nclient_id = \"linepack-test\"\n\n\
         [sensors.overrides.\"PT-N17\"]\nlow = 1.0\n\n[sensors.overrides.\"PT-N57\"]\nlow = 1.0\n\n\
         [api]\nlisten = \"127.0.0.1:{api_port}\"\n{}{}{}",
        repo_file("config/networks/demo-city.json"),
        token("vera", "viewer", VIEWER),
        token("otto", "operator", OPERATOR),
        token("ada", "admin", ADMIN),
    );
    let path = dir.join("linepack.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `linepack serve`, stopped with SIGKILL when dropped.
pub struct Serve {
    pub child: Child,
    pub base: String,
}

impl Serve {
    pub fn start(config: &Path, api_port: u16) -> Serve {
        let child = Command::new(env!("CARGO_BIN_EXE_linepack"))
            .args(["serve", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("linepack serve starts");
        let base = format!("http://127.0.0.1:{api_port}");
        let mut serve = Serve { child, base };
        let ready = wait_for(Duration::from_secs(30), || {
            if let Ok(Some(status)) = serve.child.try_wait() {
                panic!("linepack serve exited: {status}");
            }
            agent(Some(Duration::from_secs(2)))
                .get(format!("{}/readyz", serve.base))
                .call()
                .is_ok_and(|r| r.status() == 200)
        });
        assert!(ready, "linepack serve not ready within 30 s");
        serve.base = format!("http://127.0.0.1:{api_port}");
        serve
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status and what it wrote to stderr.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        use std::io::Read;
        self.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        (status, err)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `linepack demo` on a free port: the process, its page URL and token,
/// stopped with SIGKILL when dropped.
pub struct Demo {
    pub child: Child,
    pub base: String,
    pub token: String,
    pub url: String,
    pub started: Instant,
    _stdout: std::thread::JoinHandle<()>,
}

impl Demo {
    pub fn start(speed: f64) -> Demo {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_linepack"))
            .args(["demo", "--listen", "127.0.0.1:0", "--speed", &speed.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("linepack demo starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("linepack demo printed its URL").unwrap();
            if let Some(at) = line.find("http://") {
                break line[at..].trim().to_string();
            }
        };
        // Keep reading so the demo never blocks on a full pipe.
        let drain = std::thread::spawn(move || drain(lines));
        let (base, token) = url.split_once("/#token=").expect("the URL carries the token");
        Demo {
            child,
            base: base.to_string(),
            token: token.to_string(),
            url,
            started,
            _stdout: drain,
        }
    }
}

fn drain(lines: std::io::Lines<BufReader<ChildStdout>>) {
    for _ in lines {}
}

impl Drop for Demo {
    /// SIGTERM, so the demo removes its temporary journal directory; SIGKILL
    /// if it has not stopped within 10 s.
    fn drop(&mut self) {
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let stopped = wait_for(Duration::from_secs(10), || matches!(self.child.try_wait(), Ok(Some(_))));
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The first message on `topic` (retained ones count), within 10 s.
pub fn subscribe_one(broker_port: u16, topic: &str) -> String {
    let sub = mosquitto_pub().with_file_name("mosquitto_sub");
    let out = Command::new(sub)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &broker_port.to_string(),
            "-q",
            "1",
            "-C",
            "1",
            "-W",
            "10",
        ])
        .args(["-t", topic])
        .output()
        .expect("mosquitto_sub runs");
    assert!(
        out.status.success(),
        "no message on {topic}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
