//! The control-room page in headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven over WebDriver): load the page on
//! `linepack demo`, see the network, see the demo's leak alarm arrive live
//! with its candidates on the map, acknowledge it as operator with a
//! click, reload, and see the acknowledgement stand.

mod live;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use live::*;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    process: Child,
    base: String,
    session: String,
}

impl Driver {
    fn start() -> Driver {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: `apt-get install -y chromium chromium-driver` (.ci/run does this); this test never skips"
            );
        }
        let port = free_port();
        let process = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        assert!(
            wait_for(Duration::from_secs(20), || agent(Some(Duration::from_secs(2)))
                .get(format!("{base}/status"))
                .call()
                .is_ok_and(|r| r.status() == 200)),
            "chromedriver did not answer"
        );
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,900"]}
        }}});
        let mut driver = Driver {
            process,
            base,
            session: String::new(),
        };
        let created = driver.call("POST", "/session", caps);
        driver.session = created["sessionId"].as_str().expect("a session id").to_string();
        driver
    }

    /// A WebDriver command's value, or its error.
    fn try_call(&self, method: &str, path: &str, body: Value) -> Result<Value, Value> {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let a = agent(Some(Duration::from_secs(60)));
        let mut r = match method {
            "POST" => a.post(&url).send_json(&body),
            _ => a.delete(&url).call(),
        }
        .expect("chromedriver answers");
        let v: Value = r.body_mut().read_json().expect("WebDriver answers JSON");
        match v["value"].get("error") {
            None => Ok(v["value"].clone()),
            Some(_) => Err(v["value"].clone()),
        }
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        self.try_call(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"))
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url }));
    }

    /// Runs `script` (a function body) in the page and returns its value.
    fn js(&self, script: &str) -> Value {
        self.call("POST", "/execute/sync", json!({"script": script, "args": []}))
    }

    fn wait_js(&self, timeout: Duration, what: &str, script: &str) -> Value {
        let mut last = Value::Null;
        let ok = wait_for(timeout, || {
            last = self.js(script);
            !(last.is_null() || last == json!(false))
        });
        assert!(ok, "{what}: not within {timeout:?} (last {last})");
        last
    }

    /// Clicks the element `css` finds; again if the page re-rendered it
    /// in between (the alarm list is redrawn on every alarm event).
    fn click(&self, css: &str) {
        for _ in 0..5 {
            let e = self.call("POST", "/element", json!({"using": "css selector", "value": css}));
            let id = e[ELEMENT]
                .as_str()
                .unwrap_or_else(|| panic!("no element {css}: {e}"))
                .to_string();
            match self.try_call("POST", &format!("/element/{id}/click"), json!({})) {
                Ok(_) => return,
                Err(e) if e["error"] == "stale element reference" => continue,
                Err(e) => panic!("clicking {css}: {e}"),
            }
        }
        panic!("{css} kept going stale");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = agent(Some(Duration::from_secs(10)))
                .delete(format!("{}/session/{}", self.base, self.session))
                .call();
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

#[test]
fn the_page_shows_the_network_a_live_leak_with_candidates_and_keeps_an_acknowledgement() {
    // Simulated time at 300x: the demo's leak starts after 32 s.
    let demo = Demo::start(300.0);
    let browser = Driver::start();
    browser.go(&demo.url);

    // The network is drawn: every node of the demo city, stations, users.
    let nodes = browser.wait_js(
        Duration::from_secs(30),
        "the network drawn",
        "return document.body.dataset.ready === '1' && document.querySelectorAll('#map circle.node').length",
    );
    assert_eq!(nodes, json!(416));
    assert_eq!(
        browser.js("return document.querySelectorAll('#map .supply').length"),
        json!(1)
    );
    assert_eq!(
        browser.js("return document.getElementById('who').textContent"),
        json!("operator (operator)")
    );

    // The leak alarm arrives without a reload, with candidates on the map.
    let leak = browser.wait_js(
        Duration::from_secs(150),
        "the leak alarm on the page",
        "const li = document.querySelector('#alarms li[data-kind=leak]'); return li && li.dataset.alarmId",
    );
    assert_eq!(leak, json!("leak:Z0"));
    let candidates = browser.wait_js(
        Duration::from_secs(10),
        "leak candidates on the map",
        "return document.querySelectorAll('#map circle.cand').length",
    );
    assert!(candidates.as_u64().unwrap() >= 1);
    let text = browser.js("return document.querySelector('#alarms li[data-kind=leak] .cands').textContent");
    assert!(text.as_str().unwrap().contains("candidates: N"), "{text}");

    // Acknowledge with a click, as operator.
    browser.click("#alarms li[data-kind=leak] button.ack");
    browser.wait_js(
        Duration::from_secs(10),
        "the leak alarm acknowledged",
        "const li = document.querySelector('#alarms li[data-kind=leak]'); return li && li.dataset.state === 'acknowledged'",
    );

    // Reload (the token stays in the browser): still acknowledged, by the
    // operator, as the server has it.
    browser.go(&format!("{}/", demo.base));
    browser.wait_js(
        Duration::from_secs(30),
        "the acknowledgement after a reload",
        "const li = document.querySelector('#alarms li[data-kind=leak]'); return li && li.dataset.state === 'acknowledged'",
    );
    let by = browser.js("return document.querySelector('#alarms li[data-kind=leak]').textContent");
    assert!(by.as_str().unwrap().contains("by operator"), "{by}");
    let server = get(&demo.base, "/api/alarms/leak:Z0", Some(&demo.token)).json();
    assert_eq!(
        (server["state"].as_str(), server["by"].as_str()),
        (Some("acknowledged"), Some("operator"))
    );
}
