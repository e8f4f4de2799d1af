//! What the control room reads while the engine runs: each sensor's last
//! value and recent trend, the standing alarms, the model's network state
//! and the loop's counters, plus a broadcast of every change for
//! server-sent events. The hot loop writes it through [`ViewWriter`] (an
//! [`Observer`]) after each step; readers take short locks and never wait
//! for the engine.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use linepack_ingest::telemetry::Quality;
use linepack_network::Network;
use linepack_network::units::ambient_pressure_bar;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::alarm::AlarmEvent;
use crate::engine::Engine;
use crate::hotloop::{Observer, Step};

/// Points of trend kept per sensor (12 h of one-minute readings).
pub const TREND_POINTS: usize = 720;

/// Live values go out at most this often.
const VALUES_EVERY: Duration = Duration::from_secs(1);

/// The model's network state goes out at most this often.
const NETWORK_EVERY: Duration = Duration::from_secs(2);

/// Updates a slow subscriber may fall behind by before it misses some.
const UPDATES_BUFFER: usize = 4096;

/// One sensor's last value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LiveValue {
    pub sensor: String,
    pub value: Option<f64>,
    pub ts_ms: i64,
    pub quality: &'static str,
}

/// The model's pressures (bar g) per node and flows (kg/s) per pipe, in
/// network order; `null` where the model has none.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NetworkState {
    pub ts_ms: i64,
    pub pressure_bar_g: Vec<Option<f32>>,
    pub pipe_flow_kg_s: Vec<Option<f32>>,
}

/// A change, as server-sent events carry it.
#[derive(Clone, Debug)]
pub enum Update {
    Alarm(Box<AlarmEvent>),
    Values(Arc<Vec<LiveValue>>),
    Network(Arc<NetworkState>),
}

/// Counters of the hot loop.
#[derive(Debug, Default)]
pub struct LoopCounters {
    pub steps: AtomicU64,
    pub readings: AtomicU64,
    pub transitions: AtomicU64,
    /// Time spent in steps (detection, journal, announce), ns.
    pub step_ns: AtomicU64,
    pub step_ns_max: AtomicU64,
    /// Steps by duration: ≤ 1 ms, ≤ 10 ms, ≤ 100 ms, ≤ 1 s, longer.
    pub step_buckets: [AtomicU64; 5],
    /// Batches waiting in the hand-off after the last step.
    pub handoff_depth: AtomicU64,
    /// The engine's clock, ms since the epoch.
    pub clock_ms: AtomicI64,
    /// When the last reading arrived, wall clock ms (0: none yet).
    pub last_reading_wall_ms: AtomicI64,
}

/// Upper bounds of [`LoopCounters::step_buckets`], seconds.
pub const STEP_BUCKETS_S: [f64; 4] = [0.001, 0.01, 0.1, 1.0];

struct Sensor {
    value: f64,
    ts_ms: i64,
    quality: Quality,
    trend: VecDeque<(i64, f32)>,
}

/// The shared view.
pub struct View {
    sensor_ids: Vec<String>,
    sensors: Mutex<Vec<Sensor>>,
    alarms: Mutex<BTreeMap<String, AlarmEvent>>,
    network: Mutex<Option<Arc<NetworkState>>>,
    updates: broadcast::Sender<Update>,
    pub counters: LoopCounters,
    running: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl View {
    pub fn new(network: &Network) -> Arc<View> {
        let sensors = network
            .sensors
            .iter()
            .map(|_| Sensor {
                value: f64::NAN,
                ts_ms: 0,
                quality: Quality::Good,
                trend: VecDeque::new(),
            })
            .collect();
        Arc::new(View {
            sensor_ids: network.sensors.iter().map(|s| s.id.clone()).collect(),
            sensors: Mutex::new(sensors),
            alarms: Mutex::new(BTreeMap::new()),
            network: Mutex::new(None),
            updates: broadcast::channel(UPDATES_BUFFER).0,
            counters: LoopCounters::default(),
            running: AtomicBool::new(false),
        })
    }

    /// Every sensor that has reported, with its last value.
    pub fn values(&self) -> Vec<LiveValue> {
        let sensors = lock(&self.sensors);
        sensors
            .iter()
            .enumerate()
            .filter(|(_, s)| s.ts_ms != 0)
            .map(|(i, s)| self.live_value(i, s))
            .collect()
    }

    /// One sensor's trend since `since_ms`, oldest first.
    pub fn trend(&self, sensor: usize, since_ms: i64) -> Vec<(i64, f32)> {
        let sensors = lock(&self.sensors);
        sensors[sensor]
            .trend
            .iter()
            .filter(|(t, _)| *t >= since_ms)
            .copied()
            .collect()
    }

    /// Standing alarms (not normal, or still active), by alarm id.
    pub fn alarms(&self) -> Vec<AlarmEvent> {
        lock(&self.alarms).values().cloned().collect()
    }

    pub fn alarm(&self, alarm_id: &str) -> Option<AlarmEvent> {
        lock(&self.alarms).get(alarm_id).cloned()
    }

    pub fn network_state(&self) -> Option<Arc<NetworkState>> {
        lock(&self.network).clone()
    }

    /// Every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.updates.subscribe()
    }

    pub fn subscribers(&self) -> usize {
        self.updates.receiver_count()
    }

    /// Whether the hot loop is running.
    pub fn running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    pub fn set_running(&self, on: bool) {
        self.running.store(on, Ordering::Relaxed);
    }

    /// Puts alarms in as they stand (after a restore), without announcing.
    pub fn seed_alarms(&self, events: impl IntoIterator<Item = AlarmEvent>) {
        let mut alarms = lock(&self.alarms);
        for e in events {
            alarms.insert(e.alarm_id.clone(), e);
        }
    }

    fn live_value(&self, i: usize, s: &Sensor) -> LiveValue {
        LiveValue {
            sensor: self.sensor_ids[i].clone(),
            value: s.value.is_finite().then_some(s.value),
            ts_ms: s.ts_ms,
            quality: s.quality.name(),
        }
    }
}

/// The hot loop's side of the view.
pub struct ViewWriter {
    view: Arc<View>,
    network: Arc<Network>,
    dirty: Vec<u32>,
    is_dirty: Vec<bool>,
    values_sent: Instant,
    network_sent: Instant,
    network_ts_ms: i64,
}

impl ViewWriter {
    pub fn new(view: Arc<View>, network: Arc<Network>) -> ViewWriter {
        let n = network.sensors.len();
        ViewWriter {
            view,
            network,
            dirty: Vec::new(),
            is_dirty: vec![false; n],
            values_sent: Instant::now(),
            network_sent: Instant::now(),
            network_ts_ms: i64::MIN,
        }
    }

    fn send_values(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        let values: Vec<LiveValue> = {
            let sensors = lock(&self.view.sensors);
            self.dirty
                .iter()
                .map(|&i| self.view.live_value(i as usize, &sensors[i as usize]))
                .collect()
        };
        for &i in &self.dirty {
            self.is_dirty[i as usize] = false;
        }
        self.dirty.clear();
        let _ = self.view.updates.send(Update::Values(Arc::new(values)));
    }

    fn send_network(&mut self, engine: &Engine) {
        let Some(state) = engine.leak_detector().and_then(|l| l.network_state()) else {
            return;
        };
        let ts_ms = engine.clock_ms();
        if ts_ms == self.network_ts_ms {
            return;
        }
        self.network_ts_ms = ts_ms;
        let finite = |v: f64| v.is_finite().then_some(v as f32);
        let snapshot = Arc::new(NetworkState {
            ts_ms,
            pressure_bar_g: state
                .pressure_bar_abs
                .iter()
                .zip(&self.network.nodes)
                .map(|(p, n)| finite(p - ambient_pressure_bar(n.elevation_m)))
                .collect(),
            pipe_flow_kg_s: state.pipe_flow_kg_s.iter().map(|&q| finite(q)).collect(),
        });
        *lock(&self.view.network) = Some(snapshot.clone());
        let _ = self.view.updates.send(Update::Network(snapshot));
    }
}

impl Observer for ViewWriter {
    fn announce(&mut self, events: &[AlarmEvent]) {
        let mut alarms = lock(&self.view.alarms);
        for e in events {
            if e.state == "normal" && !e.active {
                alarms.remove(&e.alarm_id);
            } else {
                alarms.insert(e.alarm_id.clone(), e.clone());
            }
        }
        drop(alarms);
        for e in events {
            let _ = self.view.updates.send(Update::Alarm(Box::new(e.clone())));
        }
    }

    fn stepped(&mut self, engine: &Engine, step: &Step) {
        let c = &self.view.counters;
        c.steps.fetch_add(1, Ordering::Relaxed);
        c.readings.fetch_add(step.readings as u64, Ordering::Relaxed);
        c.transitions.fetch_add(step.transitions as u64, Ordering::Relaxed);
        let ns = step.took.as_nanos() as u64;
        c.step_ns.fetch_add(ns, Ordering::Relaxed);
        c.step_ns_max.fetch_max(ns, Ordering::Relaxed);
        let bucket = STEP_BUCKETS_S
            .iter()
            .position(|&b| step.took.as_secs_f64() <= b)
            .unwrap_or(STEP_BUCKETS_S.len());
        c.step_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        c.clock_ms.store(engine.clock_ms(), Ordering::Relaxed);
        c.handoff_depth.store(step.queued as u64, Ordering::Relaxed);
        if !step.sensors_read.is_empty() {
            c.last_reading_wall_ms
                .store(linepack_ingest::mqtt::client::now_ms(), Ordering::Relaxed);
            let mut sensors = lock(&self.view.sensors);
            for &i in step.sensors_read {
                let (value, ts_ms, quality) = engine.live(i);
                let s = &mut sensors[i as usize];
                if ts_ms == s.ts_ms && quality == s.quality && value.to_bits() == s.value.to_bits() {
                    continue;
                }
                if ts_ms > s.ts_ms && value.is_finite() {
                    if s.trend.len() == TREND_POINTS {
                        s.trend.pop_front();
                    }
                    s.trend.push_back((ts_ms, value as f32));
                }
                (s.value, s.ts_ms, s.quality) = (value, ts_ms, quality);
                if !self.is_dirty[i as usize] {
                    self.is_dirty[i as usize] = true;
                    self.dirty.push(i);
                }
            }
        }
        if self.values_sent.elapsed() >= VALUES_EVERY {
            self.values_sent = Instant::now();
            self.send_values();
        }
        if self.network_sent.elapsed() >= NETWORK_EVERY {
            self.network_sent = Instant::now();
            self.send_network(engine);
        }
    }
}
