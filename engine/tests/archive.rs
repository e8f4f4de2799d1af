//! The archive against a real line-protocol server: VictoriaMetrics from
//! Debian (`victoria-metrics`, installed by .ci/run) takes `/api/v2/write`;
//! what was written is read back through its export API. Includes an
//! outage in the middle of a stream: every point is there afterwards.

mod live;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use linepack_engine::archive::{Archive, ArchiveConfig, Item, line};
use linepack_ingest::telemetry::{Batch, Quality, Reading};
use linepack_network::ids::SensorIdx;
use live::{agent, free_port, wait_for};
use serde_json::Value;

const BINARY: &str = "/usr/bin/victoria-metrics";

struct Victoria {
    child: Option<Child>,
    port: u16,
    data: PathBuf,
}

impl Victoria {
    fn start(data: &Path) -> Victoria {
        assert!(
            Path::new(BINARY).exists(),
            "{BINARY} is missing: `apt-get install -y victoria-metrics` (.ci/run does this); this test never skips"
        );
        let mut v = Victoria {
            child: None,
            port: free_port(),
            data: data.to_path_buf(),
        };
        v.spawn();
        v
    }

    fn spawn(&mut self) {
        let child = Command::new(BINARY)
            .arg(format!("-httpListenAddr=127.0.0.1:{}", self.port))
            .arg(format!("-storageDataPath={}", self.data.display()))
            .arg("-retentionPeriod=10y")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("victoria-metrics starts");
        self.child = Some(child);
        let up = wait_for(Duration::from_secs(30), || {
            agent(Some(Duration::from_secs(2)))
                .get(format!("{}/health", self.url()))
                .call()
                .is_ok_and(|r| r.status() == 200)
        });
        assert!(up, "victoria-metrics did not come up");
    }

    /// SIGTERM: VictoriaMetrics flushes what it took (a SIGKILL would lose
    /// its last second of acknowledged writes, which is the database's loss,
    /// not the archive's).
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: signalling our own child by its pid.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Distinct timestamps per `sensor` label of `metric`.
    fn points(&self, metric: &str) -> BTreeMap<String, BTreeSet<i64>> {
        let _ = agent(Some(Duration::from_secs(10)))
            .get(format!("{}/internal/force_flush", self.url()))
            .call();
        let mut r = agent(Some(Duration::from_secs(30)))
            .get(format!("{}/api/v1/export", self.url()))
            .query("match[]", metric)
            .query("start", "0")
            .call()
            .expect("export answers");
        let text = r.body_mut().read_to_string().unwrap();
        let mut out: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
        for l in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(l).unwrap();
            let key = v["metric"]["sensor"]
                .as_str()
                .or(v["metric"]["alarm_id"].as_str())
                .unwrap_or("")
                .to_string();
            let ts = out.entry(key).or_default();
            for t in v["timestamps"].as_array().unwrap() {
                ts.insert(t.as_i64().unwrap());
            }
        }
        out
    }
}

impl Drop for Victoria {
    fn drop(&mut self) {
        self.stop();
    }
}

fn tags(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| line::sensor_tags(&format!("PT-{i}"), "pressure", Some("ST0"), Some("Z0")))
        .collect()
}

fn batch(sensors: usize, t_ms: i64) -> Batch {
    Batch {
        readings: (0..sensors)
            .map(|i| Reading {
                sensor: SensorIdx::new(i),
                ts_ms: t_ms,
                value: 3.0 + i as f64 * 0.01,
                quality: Quality::Good,
                event: None,
            })
            .collect(),
        gaps: Vec::new(),
    }
}

fn config(url: &str, spill: &Path) -> ArchiveConfig {
    ArchiveConfig {
        url: Some(url.into()),
        spill_dir: Some(spill.to_path_buf()),
        batch_points: 500,
        flush_interval_ms: 200,
        memory_points: 2000,
        retry_initial_s: 0.1,
        retry_max_s: 0.5,
        ..ArchiveConfig::default()
    }
}

fn now_ms() -> i64 {
    linepack_ingest::mqtt::client::now_ms()
}

#[test]
fn readings_and_alarms_are_written_with_their_tags() {
    let dir = tempfile::tempdir().unwrap();
    let vm = Victoria::start(&dir.path().join("vm"));
    let archive = Archive::start(&config(&vm.url(), &dir.path().join("spill")), tags(10)).unwrap();
    let tx = archive.sender();
    let t0 = now_ms() - 600_000;
    for k in 0..300 {
        tx.send(Item::Readings(batch(10, t0 + k * 1000)));
    }
    let mut alarm: linepack_engine::alarm::AlarmEvent = serde_json::from_value(serde_json::json!({
        "alarm_id": "low:PT-3", "kind": "low", "priority": "medium", "state": "unacknowledged",
        "previous_state": "normal", "active": true, "source": "PT-3", "zone": "Z0",
        "ts": "", "ts_ms": t0, "value": 0.5, "limit": 1.0, "message": "PT-3 below 1.0 bar"
    }))
    .unwrap();
    alarm.ts_ms = t0 + 5000;
    tx.send(Item::Alarms(vec![alarm]));
    let metrics = archive.metrics.clone();
    assert!(wait_for(Duration::from_secs(30), || metrics
        .written
        .load(Ordering::Relaxed)
        == 3001));
    drop(tx);
    archive.stop();

    let mut got = BTreeMap::new();
    assert!(
        wait_for(Duration::from_secs(30), || {
            got = vm.points("reading_value");
            got.values().map(BTreeSet::len).sum::<usize>() == 3000
        }),
        "in the database: {:?}",
        got.iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>()
    );
    assert_eq!(got.len(), 10);
    assert_eq!(got["PT-0"].len(), 300);
    // The tags came through as labels.
    let mut r = agent(Some(Duration::from_secs(10)))
        .get(format!("{}/api/v1/export", vm.url()))
        .query("match[]", "reading_value{sensor=\"PT-7\"}")
        .call()
        .unwrap();
    let first: Value = serde_json::from_str(r.body_mut().read_to_string().unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(first["metric"]["kind"], "pressure");
    assert_eq!(first["metric"]["site"], "ST0");
    assert_eq!(first["metric"]["zone"], "Z0");
    assert_eq!(first["values"][0], 3.07);
    let alarms = vm.points("alarm_value");
    assert_eq!(alarms["low:PT-3"].len(), 1);
    assert_eq!(metrics.dropped.load(Ordering::Relaxed), 0);
}

#[test]
fn an_outage_mid_stream_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut vm = Victoria::start(&dir.path().join("vm"));
    let mut c = config(&vm.url(), &dir.path().join("spill"));
    c.memory_points = 600;
    let archive = Archive::start(&c, tags(20)).unwrap();
    let tx = archive.sender();
    let metrics = archive.metrics.clone();
    let t0 = now_ms() - 3_600_000;
    let mut sent = 0u64;
    // 150 batches of 20 points; the database goes away after 30 and comes
    // back after 110: the memory bound (600 points) forces a spill.
    for k in 0..150i64 {
        if k == 30 {
            vm.stop();
        }
        if k == 110 {
            vm.spawn();
        }
        tx.send(Item::Readings(batch(20, t0 + k * 1000)));
        sent += 20;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        wait_for(Duration::from_secs(60), || metrics.written.load(Ordering::Relaxed)
            >= sent),
        "written {} of {sent}",
        metrics.written.load(Ordering::Relaxed)
    );
    drop(tx);
    archive.stop();
    assert!(metrics.retried.load(Ordering::Relaxed) > 0, "the outage was seen");
    assert!(
        metrics.spilled.load(Ordering::Relaxed) > 0,
        "the memory bound spilled to disk"
    );
    assert_eq!(metrics.dropped.load(Ordering::Relaxed), 0);
    assert_eq!(metrics.buffered.load(Ordering::Relaxed), 0);
    let mut got = BTreeMap::new();
    assert!(
        wait_for(Duration::from_secs(30), || {
            got = vm.points("reading_value");
            got.values().map(BTreeSet::len).sum::<usize>() as u64 == sent
        }),
        "in the database: {} of {sent}",
        got.values().map(BTreeSet::len).sum::<usize>()
    );
    assert!(got.values().all(|ts| ts.len() == 150));
    assert!(
        std::fs::read_dir(dir.path().join("spill")).unwrap().next().is_none(),
        "the spill is empty again"
    );
}
