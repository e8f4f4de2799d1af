//! `linepack serve` and `linepack demo` as processes: every API endpoint
//! with its authentication and errors, server-sent events, alarms that
//! come back after SIGKILL, a graceful SIGTERM, and the demo's first live
//! data within 10 seconds. Readings are published with mosquitto_pub to
//! the embedded broker.

mod live;

use std::io::{BufRead, BufReader};
use std::time::Duration;

use live::*;
use serde_json::Value;

fn alarm(base: &str, id: &str) -> Option<Value> {
    let a = get(base, "/api/alarms", Some(VIEWER)).json();
    a["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["alarm_id"] == id)
        .cloned()
}

/// Publishes a low pressure until the engine raises its alarm.
fn raise_low(base: &str, broker: u16, sensor: &str) -> Value {
    let id = format!("low:{sensor}");
    let mut found = None;
    assert!(
        wait_for(Duration::from_secs(20), || {
            publish(broker, sensor, r#"{"v": 0.5}"#);
            found = alarm(base, &id);
            found.is_some()
        }),
        "no {id} alarm"
    );
    found.unwrap()
}

#[test]
fn the_api_answers_every_endpoint_with_roles_and_clear_errors_and_alarms_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let (api_port, broker) = (free_port(), free_port());
    let config = serve_config(dir.path(), api_port, broker);
    let serve = Serve::start(&config, api_port);
    let base = serve.base.clone();

    // Open endpoints.
    let h = get(&base, "/healthz", None);
    assert_eq!((h.status, h.body.trim()), (200, "ok"));
    assert_eq!(get(&base, "/readyz", None).json()["ready"], true);
    let openapi = get(&base, "/openapi.json", None).json();
    assert_eq!(openapi["openapi"].as_str().unwrap().get(..2), Some("3."));
    let page = get(&base, "/", None);
    assert!(page.status == 200 && page.body.contains("<svg id=\"map\""));

    // Every protected endpoint: 401 without a token, with a bad one, with a
    // malformed header; the viewer reads all of them.
    let protected = [
        "/metrics",
        "/api/whoami",
        "/api/status",
        "/api/network",
        "/api/network/state",
        "/api/sensors",
        "/api/live",
        "/api/live/PT-N17/trend",
        "/api/alarms",
        "/api/alarms/history",
        "/api/alarms/low:PT-N17",
    ];
    for path in protected {
        let a = get(&base, path, None);
        assert_eq!(a.status, 401, "{path}");
        assert!(a.error().contains("Authorization"), "{path}: {}", a.body);
        assert_eq!(a.www_authenticate.as_deref(), Some("Bearer"), "{path}");
        let a = get(&base, path, Some("not-a-token"));
        assert_eq!((a.status, a.error().as_str()), (401, "unknown token"), "{path}");
        let a = agent(Some(Duration::from_secs(5)))
            .get(format!("{base}{path}"))
            .header("Authorization", format!("Basic {VIEWER}"))
            .call()
            .unwrap();
        assert_eq!(a.status(), 401, "{path}");
        // Every path is described in the OpenAPI document.
        let template = path
            .replace("PT-N17/trend", "{sensor}/trend")
            .replace("low:PT-N17", "{id}");
        assert!(
            openapi["paths"].get(&template).is_some(),
            "{template} missing from openapi.json"
        );
    }
    for path in [
        "/api/alarms/{id}/acknowledge",
        "/api/alarms/{id}/shelve",
        "/api/alarms/{id}/unshelve",
        "/api/alarms/{id}/out-of-service",
        "/api/events",
    ] {
        assert!(openapi["paths"].get(path).is_some(), "{path} missing from openapi.json");
    }
    let ev = get(&base, "/api/events", None);
    assert_eq!(ev.status, 401);
    assert_eq!(get(&base, "/api/events", Some("nope")).status, 401);
    let who = get(&base, "/api/whoami", Some(VIEWER)).json();
    assert_eq!(
        (who["name"].as_str(), who["role"].as_str()),
        (Some("vera"), Some("viewer"))
    );

    // The network as GeoJSON; the sensor catalog.
    let geo = get(&base, "/api/network", Some(VIEWER)).json();
    assert_eq!(geo["type"], "FeatureCollection");
    let features = geo["features"].as_array().unwrap();
    let count = |e: &str| features.iter().filter(|f| f["properties"]["element"] == e).count();
    assert_eq!((count("node"), count("pipe"), count("supply")), (416, 500, 1));
    assert_eq!(count("regulator"), 9);
    let sensors = get(&base, "/api/sensors", Some(VIEWER)).json();
    let pt = sensors["sensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "PT-N17")
        .unwrap()
        .clone();
    assert_eq!(
        (pt["kind"].as_str(), pt["unit"].as_str(), pt["node"].as_str()),
        (Some("pressure"), Some("bar_g"), Some("N17"))
    );
    // The model's state comes with the first judged period; before it, a
    // clear 503.
    let st = get(&base, "/api/network/state", Some(VIEWER));
    assert!(
        st.status == 200 || (st.status == 503 && st.error().contains("no state yet")),
        "{}",
        st.body
    );

    // Server-sent events: open the stream, then raise an alarm.
    let events = {
        let base = base.clone();
        std::thread::spawn(move || {
            let r = agent(None)
                .get(format!("{base}/api/events"))
                .header("Authorization", format!("Bearer {VIEWER}"))
                .call()
                .unwrap();
            assert_eq!(r.status(), 200);
            let mut seen = Vec::new();
            let mut event = String::new();
            for line in BufReader::new(r.into_body().into_reader()).lines() {
                let line = line.unwrap();
                if let Some(e) = line.strip_prefix("event: ") {
                    event = e.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    seen.push(event.clone());
                    if event == "alarm" {
                        let a: Value = serde_json::from_str(d).unwrap();
                        if a["alarm_id"] == "low:PT-N17" {
                            return seen;
                        }
                    }
                }
            }
            panic!("the event stream ended");
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let raised = raise_low(&base, broker, "PT-N17");
    assert_eq!(
        (raised["state"].as_str(), raised["priority"].as_str()),
        (Some("unacknowledged"), Some("medium"))
    );
    let seen = events.join().unwrap();
    assert!(seen.contains(&"alarm".to_string()), "{seen:?}");
    // The same transition on the contract's MQTT topic, retained.
    let out: Value = serde_json::from_str(&subscribe_one(broker, "gas/alarms/low:PT-N17")).unwrap();
    assert_eq!(
        (out["alarm_id"].as_str(), out["state"].as_str()),
        (Some("low:PT-N17"), Some("unacknowledged"))
    );

    // Live values, trend, one alarm, filters.
    let live = get(&base, "/api/live", Some(VIEWER)).json();
    let v = live["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["sensor"] == "PT-N17")
        .unwrap();
    assert_eq!(v["value"], 0.5);
    let trend = get(&base, "/api/live/PT-N17/trend?minutes=30", Some(VIEWER)).json();
    assert!(!trend["points"].as_array().unwrap().is_empty());
    assert_eq!(trend["unit"], "bar_g");
    assert_eq!(get(&base, "/api/live/NOPE/trend", Some(VIEWER)).status, 404);
    let bad = get(&base, "/api/live/PT-N17/trend?minutes=-3", Some(VIEWER));
    assert!(bad.status == 400 && bad.error().contains("minutes"), "{}", bad.body);
    let bad = get(&base, "/api/live/PT-N17/trend?minutes=soon", Some(VIEWER));
    assert!(bad.status == 400 && bad.error().contains("minutes"), "{}", bad.body);
    assert_eq!(
        get(&base, "/api/alarms/low:PT-N17", Some(VIEWER)).json()["alarm_id"],
        "low:PT-N17"
    );
    let missing = get(&base, "/api/alarms/low:NOPE", Some(VIEWER));
    assert_eq!(missing.status, 404);
    let zone = raised["zone"].as_str().expect("PT-N17 lies in a zone");
    let f = get(
        &base,
        &format!("/api/alarms?priority=medium&kind=low&zone={zone}"),
        Some(VIEWER),
    )
    .json();
    assert_eq!(f["alarms"].as_array().unwrap().len(), 1, "{f}");
    let f = get(&base, "/api/alarms?zone=nowhere", Some(VIEWER)).json();
    assert!(f["alarms"].as_array().unwrap().is_empty(), "{f}");
    assert!(
        get(&base, "/api/alarms?priority=urgent", Some(VIEWER))
            .error()
            .contains("unknown priority")
    );
    assert!(
        get(&base, "/api/alarms?kind=lowish", Some(VIEWER))
            .error()
            .contains("unknown alarm kind")
    );
    assert!(
        get(&base, "/api/alarms?state=sleepy", Some(VIEWER))
            .error()
            .contains("unknown state")
    );
    assert_eq!(get(&base, "/api/alarms?colour=red", Some(VIEWER)).status, 400);

    // Commands: the viewer may not; the operator may, and is journaled.
    let ack = "/api/alarms/low:PT-N17/acknowledge";
    let denied = post(&base, ack, Some(VIEWER), None);
    assert_eq!(denied.status, 403);
    assert!(denied.error().contains("needs operator"), "{}", denied.body);
    assert_eq!(post(&base, ack, None, None).status, 401);
    let done = post(&base, ack, Some(OPERATOR), Some(r#"{"comment": "crew informed"}"#));
    assert_eq!(done.status, 200, "{}", done.body);
    let e = done.json();
    assert_eq!(
        (e["state"].as_str(), e["by"].as_str()),
        (Some("acknowledged"), Some("otto"))
    );
    let again = post(&base, ack, Some(OPERATOR), None);
    assert!(
        again.status == 409 && again.error().contains("acknowledged"),
        "{}",
        again.body
    );
    assert_eq!(
        post(&base, "/api/alarms/low:NOPE/acknowledge", Some(OPERATOR), None).status,
        404
    );
    let bad = post(&base, ack, Some(OPERATOR), Some("{not json"));
    assert_eq!(bad.status, 400, "{}", bad.body);

    // Shelve: a comment and a sane duration are required.
    raise_low(&base, broker, "PT-N57");
    let shelve = "/api/alarms/low:PT-N57/shelve";
    let no_comment = post(
        &base,
        shelve,
        Some(OPERATOR),
        Some(r#"{"minutes": 30, "comment": " "}"#),
    );
    assert!(
        no_comment.status == 400 && no_comment.error().contains("comment"),
        "{}",
        no_comment.body
    );
    let forever = post(
        &base,
        shelve,
        Some(OPERATOR),
        Some(r#"{"minutes": 1e9, "comment": "x"}"#),
    );
    assert!(
        forever.status == 400 && forever.error().contains("minutes"),
        "{}",
        forever.body
    );
    let missing = post(&base, shelve, Some(OPERATOR), Some(r#"{"comment": "x"}"#));
    assert!(
        missing.status == 400 && missing.error().contains("minutes"),
        "{}",
        missing.body
    );
    let shelved = post(
        &base,
        shelve,
        Some(ADMIN),
        Some(r#"{"minutes": 120, "comment": "sensor being replaced"}"#),
    );
    assert_eq!(shelved.status, 200, "{}", shelved.body);
    let e = shelved.json();
    assert_eq!((e["state"].as_str(), e["by"].as_str()), (Some("shelved"), Some("ada")));
    assert!(e["shelved_until"].is_string());
    let unshelved = post(&base, "/api/alarms/low:PT-N57/unshelve", Some(OPERATOR), None);
    assert_eq!(unshelved.json()["state"], "unacknowledged");
    assert_eq!(
        post(&base, "/api/alarms/low:PT-N57/unshelve", Some(OPERATOR), None).status,
        409
    );
    assert_eq!(
        post(
            &base,
            shelve,
            Some(OPERATOR),
            Some(r#"{"minutes": 60, "comment": "maintenance"}"#)
        )
        .status,
        200
    );

    // Out of service and back.
    let oos = "/api/alarms/low:PT-N17/out-of-service";
    assert_eq!(
        post(&base, oos, Some(OPERATOR), Some(r#"{"out_of_service": true}"#)).status,
        400
    );
    let on = post(
        &base,
        oos,
        Some(OPERATOR),
        Some(r#"{"out_of_service": true, "comment": "loop check"}"#),
    );
    assert_eq!(on.json()["state"], "out_of_service");
    let off = post(
        &base,
        oos,
        Some(OPERATOR),
        Some(r#"{"out_of_service": false, "comment": "done"}"#),
    );
    assert_eq!(off.status, 200, "{}", off.body);
    // Back in service, a standing condition asks for acknowledgement again.
    assert_eq!(off.json()["state"], "unacknowledged");
    assert_eq!(post(&base, ack, Some(OPERATOR), None).json()["state"], "acknowledged");

    // History: journaled with the token's name; filters and their errors.
    let h = get(&base, "/api/alarms/history?alarm_id=low:PT-N17&limit=50", Some(VIEWER)).json();
    let rows = h["transitions"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["state"] == "acknowledged" && r["by"] == "otto" && r["comment"] == "crew informed"),
        "{h}"
    );
    assert!(rows.iter().all(|r| r["alarm_id"] == "low:PT-N17"));
    let since = get(&base, "/api/alarms/history?since=2100-01-01T00:00:00Z", Some(VIEWER)).json();
    assert!(since["transitions"].as_array().unwrap().is_empty());
    assert!(
        get(&base, "/api/alarms/history?since=yesterday", Some(VIEWER))
            .error()
            .contains("RFC 3339")
    );
    assert!(
        get(&base, "/api/alarms/history?limit=0", Some(VIEWER))
            .error()
            .contains("limit")
    );

    // Status and metrics.
    let s = get(&base, "/api/status", Some(VIEWER)).json();
    assert_eq!(
        (s["running"].as_bool(), s["stale"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(s["alarms"]["standing"].as_u64().unwrap() >= 2);
    let m = get(&base, "/metrics", Some(VIEWER)).body;
    for name in [
        "linepack_ingest_readings_total",
        "linepack_ingest_rejected_total{reason=\"invalid_json\"}",
        "linepack_handoff_depth",
        "linepack_engine_step_seconds_bucket{le=\"+Inf\"}",
        "linepack_alarms_standing{priority=\"medium\",state=\"shelved\"} 1",
    ] {
        assert!(m.contains(name), "{name} missing from /metrics:\n{m}");
    }
    let nf = get(&base, "/api/nothing", Some(VIEWER));
    assert!(nf.status == 404 && nf.error().contains("no such endpoint"));

    // SIGKILL with the alarms standing: after a restart they are back with
    // their states.
    let acked_before = alarm(&base, "low:PT-N17").unwrap();
    drop(serve);
    let serve = Serve::start(&config, api_port);
    let a = alarm(&serve.base, "low:PT-N17").expect("low:PT-N17 restored");
    assert_eq!(a["state"], acked_before["state"]);
    assert_eq!(a["state"], "acknowledged");
    let b = alarm(&serve.base, "low:PT-N57").expect("low:PT-N57 restored");
    assert_eq!(b["state"], "shelved");
    // The restored alarm still takes commands.
    let unshelved = post(&serve.base, "/api/alarms/low:PT-N57/unshelve", Some(OPERATOR), None);
    assert_eq!(unshelved.status, 200, "{}", unshelved.body);

    // SIGTERM: a graceful stop.
    let (status, stderr) = serve.terminate();
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("stopped:"), "{stderr}");
}

#[test]
fn serve_refuses_a_configuration_without_network_or_journal_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let run = |text: &str| {
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_linepack"))
            .args(["serve", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = run("[journal]\npath = \"j.sqlite\"\n");
    assert_eq!(code, Some(2));
    assert!(err.contains("network.file"), "{err}");
    let (code, err) = run(&format!(
        "[network]\nfile = {:?}\n",
        repo_file("config/networks/demo-city.json")
    ));
    assert_eq!(code, Some(2));
    assert!(err.contains("journal.path"), "{err}");
    let (code, err) = run(&format!(
        "[network]\nfile = {:?}\n[journal]\npath = \"j.sqlite\"\n[[api.tokens]]\nname = \"x\"\nrole = \"boss\"\nsha256 = \"{}\"\n",
        repo_file("config/networks/demo-city.json"),
        "a".repeat(64)
    ));
    assert_eq!(code, Some(2));
    assert!(err.contains("api.tokens[0] (x): role 'boss'"), "{err}");
}

#[test]
fn the_demo_shows_live_data_within_10_seconds() {
    let demo = Demo::start(60.0);
    let first = wait_for(Duration::from_secs(10), || {
        let a = get(&demo.base, "/api/live", Some(&demo.token));
        a.status == 200 && !a.json()["values"].as_array().unwrap().is_empty()
    });
    let took = demo.started.elapsed();
    assert!(
        first && took < Duration::from_secs(10),
        "no live data {took:?} after start"
    );
    let page = get(&demo.base, "/", None);
    assert_eq!(page.status, 200);
    let who = get(&demo.base, "/api/whoami", Some(&demo.token)).json();
    assert_eq!(who["role"], "operator");
    eprintln!("first live data {:.1} s after start", took.as_secs_f64());
}

/// One HTTPS request through `openssl s_client`, verifying the server
/// against `ca`; the raw response.
fn https_get(port: u16, path: &str, token: Option<&str>, ca: &std::path::Path) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-verify_return_error",
            "-servername",
            "localhost",
            "-connect",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-CAfile")
        .arg(ca)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl is installed (.ci/run installs it)");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    child.stdin.take().unwrap().write_all(request.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn serve_speaks_https_when_given_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed (.ci/run installs it)");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let (api_port, broker) = (free_port(), free_port());
    let config = serve_config(dir.path(), api_port, broker);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = text.replace(
        "[api]\n",
        "[api]\ntls_cert_file = \"cert.pem\"\ntls_key_file = \"key.pem\"\n",
    );
    std::fs::write(&config, text).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_linepack"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut health = String::new();
    let up = wait_for(Duration::from_secs(30), || {
        health = https_get(api_port, "/healthz", None, &cert);
        health.contains("200 OK")
    });
    let who = https_get(api_port, "/api/whoami", Some(VIEWER), &cert);
    // The engine's own HTTPS client (notifications, archive) speaks TLS with
    // its one crypto provider: it refuses this self-signed certificate
    // rather than failing to choose a provider.
    let ours = linepack_engine::http::agent(Duration::from_secs(5))
        .get(format!("https://127.0.0.1:{api_port}/healthz"))
        .call();
    let ours = format!("{:?}", ours.map(|r| r.status()));
    assert!(
        ours.contains("InvalidCertificate") || ours.contains("UnknownIssuer"),
        "{ours}"
    );
    let plain = agent(Some(Duration::from_secs(5)))
        .get(format!("http://127.0.0.1:{api_port}/healthz"))
        .call();
    let _ = child.kill();
    let _ = child.wait();
    assert!(up, "no HTTPS answer: {health}");
    assert!(who.contains("200 OK") && who.contains("\"vera\""), "{who}");
    assert!(
        plain.is_err() || plain.unwrap().status() != 200,
        "plain HTTP must not be served on the TLS port"
    );

    // Only one of the two files: refused by name.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = text.replace("tls_key_file = \"key.pem\"\n", "");
    std::fs::write(&config, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_linepack"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set both or neither"));
}
