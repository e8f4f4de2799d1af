//! Leak detection: per zone, a mass balance with linepack tested
//! sequentially ([`balance`]), and model residuals that place the leak
//! ([`model`], driven by the set points [`setpoint`] estimates and the
//! users' meters). Synchronous, no I/O; the engine feeds it readings and the
//! passing of time and puts its [`Condition`]s into the alarm book.
//!
//! Every `period_s` of data, judged `lag_s` after the period ends (so
//! readings stamped in it are in): each watched sensor's value for the
//! period (its latest reading no older than `max_age_s`; a flow meter
//! repeating the exact same value is taken as stuck), then the model update
//! (residuals, linepack), then each zone's balance
//!
//! ```text
//! e = Σ metered inflow − Σ metered outflow − Σ metered users
//!     − Δ linepack / Δt − Σ unmetered users' expected use
//! ```
//!
//! A zone with a boundary meter missing is not judged for that period.
//! When the test fires, a user's meter whose reading fell by what the
//! balance rose at that moment ([`meters`]) is a faulty meter, not a leak:
//! a `meter_step` alarm on it, and its reading corrected until it steps
//! back; so is one whose reading rose as the balance fell (looked for every
//! period: it would hide a leak). So is a meter between two zones when the
//! zone across it fell by as much at the same moment: a leak moves its own
//! zone's balance only.
//! A leak alarm (source: the zone) carries a [`LeakReport`]: the estimated
//! rate, which test fired, how far above the usual spread and since when,
//! the sensors whose residuals stand out, and the candidate nodes.

pub mod balance;
pub mod meters;
pub mod model;
pub mod places;
pub mod profile;
pub mod setpoint;

use std::collections::VecDeque;

use linepack_ingest::telemetry::time::format_rfc3339_ms;
use linepack_ingest::telemetry::{Quality, Reading};
use linepack_network::Network;
use linepack_network::ids::{ElementRef, NodeIdx, PipeIdx};
use linepack_network::network::SensorKind;
use linepack_network::topology::Topology;
use serde::{Deserialize, Serialize};

use crate::alarm::{AlarmKey, AlarmKind, Source};
use crate::config::LeakConfig;
use crate::detect::{Condition, NEVER};
use crate::sensors::SensorTable;
use balance::{BalanceTest, Thresholds, Verdict};
use meters::{Cause, Step, UserReadings};
use model::{Across, Candidate, MeterAlternative, Model, ResidualNote, Signatures};
use places::Places;
use profile::Correction;

/// Readings kept per watched sensor.
const HISTORY: usize = 8;
/// A flow meter repeating its exact value this many times is stuck.
const STUCK_REPEATS: u32 = 5;
/// Sensors named in an explanation.
const NOTABLE: usize = 4;
/// A user's meter reading below this is a fault, not a flow (kg/s; about
/// 0.5 m³/h, well beyond a meter's noise at zero flow).
pub const REVERSE_FLOW_KG_S: f64 = 1e-4;

/// A user's meter reading as a measure of the user's use (kg/s, with the
/// meter's noise about zero), or `None` for a reading of gas flowing back
/// into the network, which a user's meter cannot measure (a fault: a
/// bias, a wrong scale); the balance and the model then take the user's
/// expected use.
fn metered_use(reading: f64) -> Option<f64> {
    (reading >= -REVERSE_FLOW_KG_S).then_some(reading)
}
/// How often the candidates of a standing leak alarm are refined.
const RELOCALIZE_MS: i64 = 5 * 60_000;
/// Periods after the onset before a zone across a meter is judged to
/// mirror it or not: at a clean zone's first period over the threshold,
/// the zone across has had one period, or none, to show it.
const MIRROR_MIN_PERIODS: usize = 3;

/// ... and a corrected meter back to reading true when its other side
/// falls by this many spreads: its return is expected (a district's feed
/// meter back to true makes the district rise in minutes, and the trunk
/// across it would take an hour to fall by five of its spreads).
const RETURN_SIGMA: f64 = 2.0;

/// Whether a zone's step of `step` (± `spread`) is the `expected` one a
/// meter's error makes: within a quarter of it plus three spreads, as a
/// user's meter step must match its balance's (`meters::MATCH_FRACTION`).
fn agrees(step: f64, expected: f64, spread: f64) -> bool {
    (step - expected).abs() <= meters::MATCH_FRACTION * expected.abs() + 3.0 * spread
}

/// A `meter_step` alarm's condition on `sensor`: its reading's step
/// (`value`) and what the balance moved (`limit`), or its end.
fn meter_step(sensor: u32, active: bool, t: i64, value: f64, limit: f64) -> Condition {
    Condition {
        key: AlarmKey {
            kind: AlarmKind::MeterStep,
            source: Source::Sensor(sensor),
        },
        active,
        ts_ms: t,
        value,
        limit,
        priority: None,
    }
}

/// What the zones across a zone's boundary meters say of its imbalance.
enum Mirror {
    /// The meter (index in `boundary`) reading off by this much, kg/s,
    /// since this moment.
    Fault(usize, f64, i64),
    /// A zone across might mirror it, with too few periods yet to tell.
    TooSoon,
    None,
}

/// What a leak alarm says (the `leak` field of its alarm events).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeakReport {
    pub zone: String,
    /// Estimated leak rate from the zone balance, kg/s.
    pub rate_kg_s: f64,
    /// The zone's usual spread for the test that fired, kg/s.
    pub sigma_kg_s: f64,
    /// `window` (a moving mean) or `cusum`.
    pub test: String,
    pub window_min: f64,
    /// Standard deviations above normal (the CUSUM: its statistic).
    pub z: f64,
    /// Since when the imbalance stands.
    pub since: String,
    pub since_ms: i64,
    /// Ranked candidate locations, best first.
    pub candidates: Vec<Candidate>,
    /// The radius the candidates' `within_radius` is for, m.
    #[serde(default)]
    pub search_radius_m: f64,
    /// Sensors whose model residuals stand out most.
    pub residuals: Vec<ResidualNote>,
    /// A balance meter reading wrong that explains the residuals about as
    /// well as the best place (a leak at its feed and the meter look alike).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_alternative: Option<MeterAlternative>,
    /// One sentence for operators.
    pub explanation: String,
}

/// One period of a zone's balance, kg/s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BalanceSample {
    pub t_ms: i64,
    /// Metered inflow − outflow at the zone's boundary.
    pub inflow_kg_s: f64,
    /// Metered users.
    pub users_kg_s: f64,
    /// Linepack change per second.
    pub packing_kg_s: f64,
    /// Expected use of the unmetered users.
    pub expected_kg_s: f64,
    /// inflow − users − packing − expected: a leak's rate, or noise.
    pub imbalance_kg_s: f64,
}

/// A zone's balance as learned so far (reports, tests).
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneSpread {
    pub zone: String,
    /// Why the zone has no balance, if it has none.
    pub unbalanced: Option<String>,
    /// (window minutes, standard deviation of its mean imbalance relative
    /// to the zone's use); the CUSUM's hourly blocks last.
    pub relative_sigma: Vec<(f64, f64)>,
}

/// A sensor the detector reads, with its recent readings.
#[derive(Clone, Debug)]
struct Watched {
    recent: VecDeque<(i64, f64)>,
    repeats: u32,
    flow: bool,
}

impl Watched {
    fn push(&mut self, ts: i64, v: f64) {
        if let Some(&(last_ts, last_v)) = self.recent.back() {
            if ts <= last_ts {
                return; // late or duplicate: the newer reading stands
            }
            self.repeats = if v.to_bits() == last_v.to_bits() && v != 0.0 {
                self.repeats + 1
            } else {
                0
            };
        }
        if self.recent.len() == HISTORY {
            self.recent.pop_front();
        }
        self.recent.push_back((ts, v));
    }

    /// The value for the period ending at `t`: the latest reading at or
    /// before `t` and no older than `max_age`.
    fn at(&self, t: i64, max_age: i64) -> Option<f64> {
        if self.flow && self.repeats + 1 >= STUCK_REPEATS {
            return None;
        }
        self.recent
            .iter()
            .rev()
            .find(|&&(ts, _)| ts <= t)
            .filter(|&&(ts, _)| ts > t - max_age)
            .map(|&(_, v)| v)
    }
}

/// A user's meter in a zone's balance.
#[derive(Clone, Copy, Debug)]
struct MeteredUser {
    watched: usize,
    consumer: usize,
    sensor: u32,
}

/// A user's meter found reading wrong (low, or high): its reading is
/// corrected by `offset_kg_s` in the balance and the model until it reads
/// true again.
#[derive(Clone, Copy, Debug)]
struct FaultyMeter {
    /// Position in the zone's `users`.
    user: usize,
    offset_kg_s: f64,
}

/// A flow meter between two balanced zones. Its reading off by δ makes
/// one zone look δ short and the other δ over, both at once, which no leak
/// does: a leak moves its own zone's balance only (what it draws through
/// the meter, the zone upstream also draws through its own meters).
#[derive(Clone, Copy, Debug)]
struct BoundaryMeter {
    watched: usize,
    sensor: u32,
    /// The zone on either side, with the meter's sign in its balance (+1
    /// into it).
    sides: [(usize, f64); 2],
    /// While found faulty: what is added to its reading, kg/s, and since
    /// when its zones' periods are corrected.
    offset_kg_s: Option<f64>,
    since_ms: i64,
}

impl BoundaryMeter {
    /// Seen from zone `z`: the meter's sign in its balance and the zone
    /// across, if `z` is on either side.
    fn across_from(&self, z: usize) -> Option<(f64, usize)> {
        let k = self.sides.iter().position(|side| side.0 == z)?;
        Some((self.sides[k].1, self.sides[1 - k].0))
    }
}

/// One balance zone.
struct Zone {
    /// Boundary meters (watched index) with +1 into the zone, −1 out.
    meters: Vec<(usize, f64)>,
    /// Metered users.
    users: Vec<MeteredUser>,
    /// Their readings, to tell a faulty meter from a leak.
    readings: UserReadings,
    faulty: Option<FaultyMeter>,
    /// Unmetered users (consumer index).
    unmetered: Vec<usize>,
    pipes: Vec<PipeIdx>,
    /// The zone's nodes as candidate leak places.
    places: Places,
    /// Sensors in or at the zone, for the explanation.
    sensors: Vec<u32>,
    /// The model's residuals that see into the zone (localization), and
    /// each one's sign in the zone's balance (+1 a meter into the zone,
    /// −1 out, 0 none of its meters).
    residuals: Vec<usize>,
    balance_signs: Vec<f64>,
    /// Why the zone cannot be balanced, if it cannot.
    unbalanced: Option<String>,
    correction: Correction,
    test: BalanceTest,
    last_linepack: Option<(i64, f64)>,
    alarm: bool,
    report: Option<LeakReport>,
    last: Option<BalanceSample>,
    /// While in alarm: when the candidates are next worked out again, with
    /// the residuals gathered since.
    relocalize_ms: i64,
    /// While in alarm: the candidates' signatures taken so far.
    signatures: Signatures,
}

impl Zone {
    /// The imbalance since `since_ms` was `delta` kg/s too high, a faulty
    /// meter's doing: taken off the test's kept periods and the
    /// correction's held ones.
    fn rebase(&mut self, since_ms: i64, delta: f64) {
        self.test.rebase(since_ms, delta);
        self.correction.rebase(since_ms, delta);
    }

    /// Not a leak: user's meter `step.user` stepped by what the balance
    /// moved the other way (`balance_kg_s`). Its reading is corrected, and
    /// the imbalance since its step with it; a `meter_step` alarm names it.
    fn take_as_faulty(&mut self, step: Step, balance_kg_s: f64, t: i64, out: &mut Vec<Condition>) {
        let offset = -step.step_kg_s;
        self.faulty = Some(FaultyMeter {
            user: step.user,
            offset_kg_s: offset,
        });
        self.rebase(step.at_ms, offset);
        out.push(meter_step(
            self.users[step.user].sensor,
            true,
            t,
            step.step_kg_s,
            balance_kg_s,
        ));
    }
}

/// The leak detector of one network (see the module docs).
pub struct LeakDetector {
    config: LeakConfig,
    utc_offset_ms: i64,
    period_ms: i64,
    lag_ms: i64,
    max_age_ms: i64,
    learning_periods: u64,
    watch_of: Vec<u32>,
    watched: Vec<Watched>,
    zones: Vec<Zone>,
    boundary: Vec<BoundaryMeter>,
    zone_of_consumer: Vec<Option<u32>>,
    consumer_kind: Vec<linepack_network::network::ConsumerKind>,
    model: Model,
    /// Per sensor: its residual learns no bias this period (a zone it sees
    /// into is in alarm or suspect).
    paused: Vec<bool>,
    /// End of the next period to judge.
    next_ms: i64,
    sensor_names: Vec<String>,
    zone_names: Vec<String>,
}

impl LeakDetector {
    /// # Errors
    /// A configuration value that cannot work, naming its key.
    pub fn new(
        network: &Network,
        table: &SensorTable,
        config: &LeakConfig,
        utc_offset_hours: f64,
    ) -> Result<LeakDetector, String> {
        let c = config;
        for (key, v) in [
            ("period_s", c.period_s),
            ("lag_s", c.lag_s + 1.0),
            ("max_age_s", c.max_age_s),
            ("threshold_sigma", c.threshold_sigma),
            ("cusum_threshold_sigma", c.cusum_threshold_sigma),
            ("residual_time_constant_s", c.residual_time_constant_s),
            ("bias_time_constant_h", c.bias_time_constant_h),
            ("search_radius_m", c.search_radius_m),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("leak.{key} must be positive"));
            }
        }
        if c.windows_min.is_empty() || c.windows_min.iter().any(|w| !(w.is_finite() && *w > 0.0)) {
            return Err("leak.windows_min needs at least one positive window".into());
        }
        let profiles = profile::normalized(&c.profiles)?;

        let model = Model::new(network, c.period_s, c.residual_time_constant_s, c.bias_time_constant_h);
        let n_zones = table.zone_names.len();
        let zone_of_node = &table.node_zone;
        let thresholds = Thresholds {
            raise_sigma: c.threshold_sigma,
            clear_sigma: c.clear_sigma,
            cusum_allowance: c.cusum_allowance_sigma,
            cusum_threshold: c.cusum_threshold_sigma,
        };
        let mut zones: Vec<Zone> = (0..n_zones)
            .map(|z| Zone {
                meters: Vec::new(),
                users: Vec::new(),
                readings: UserReadings::default(),
                faulty: None,
                unmetered: Vec::new(),
                pipes: Vec::new(),
                places: Places::default(),
                sensors: Vec::new(),
                residuals: model.residuals_in(|n| zone_of_node[n.index()] == Some(z as u32)),
                balance_signs: Vec::new(),
                unbalanced: None,
                correction: Correction::new(c.period_s),
                test: BalanceTest::new(&c.windows_min, c.period_s, thresholds),
                last_linepack: None,
                alarm: false,
                report: None,
                last: None,
                relocalize_ms: NEVER,
                signatures: Signatures::default(),
            })
            .collect();
        let mut zone_nodes = vec![Vec::new(); n_zones];
        for (n, z) in zone_of_node.iter().enumerate() {
            if let Some(z) = z {
                zone_nodes[*z as usize].push(NodeIdx::new(n));
            }
        }
        let topology = Topology::new(network);
        for (zone, nodes) in zones.iter_mut().zip(zone_nodes) {
            zone.places = Places::new(network, &topology, nodes, c.search_radius_m);
        }

        let mut watch_of = vec![u32::MAX; network.sensors.len()];
        let mut watched: Vec<Watched> = Vec::new();
        let mut watch = |s: usize, watched: &mut Vec<Watched>| -> usize {
            if watch_of[s] == u32::MAX {
                watch_of[s] = watched.len() as u32;
                watched.push(Watched {
                    recent: VecDeque::with_capacity(HISTORY),
                    repeats: 0,
                    flow: network.sensors[s].kind == SensorKind::Flow,
                });
            }
            watch_of[s] as usize
        };
        for s in model.sensors() {
            watch(s as usize, &mut watched);
        }
        let zone = |n: NodeIdx| zone_of_node[n.index()];
        let mut metered_branch = std::collections::HashSet::new();
        let mut boundary = Vec::new();
        let mut metered_consumer = vec![false; network.consumers.len()];
        for (i, s) in network.sensors.iter().enumerate() {
            if let Some(z) = table.info[i].zone {
                zones[z as usize].sensors.push(i as u32);
            }
            if s.kind != SensorKind::Flow {
                continue;
            }
            let (from, to) = match s.at {
                ElementRef::Consumer(c) => {
                    metered_consumer[c.index()] = true;
                    if let Some(z) = zone(network.consumers[c.index()].node) {
                        let w = watch(i, &mut watched);
                        zones[z as usize].users.push(MeteredUser {
                            watched: w,
                            consumer: c.index(),
                            sensor: i as u32,
                        });
                    }
                    continue;
                }
                ElementRef::Supply(k) => (None, zone(network.supplies[k.index()].node)),
                ElementRef::Regulator(r) => {
                    metered_branch.insert(s.at);
                    let r = &network.regulators[r.index()];
                    (zone(r.from), zone(r.to))
                }
                ElementRef::Pipe(p) => {
                    metered_branch.insert(s.at);
                    let p = &network.pipes[p.index()];
                    (zone(p.from), zone(p.to))
                }
                ElementRef::Valve(v) => {
                    metered_branch.insert(s.at);
                    let v = &network.valves[v.index()];
                    (zone(v.from), zone(v.to))
                }
                _ => continue,
            };
            if from == to {
                continue;
            }
            let w = watch(i, &mut watched);
            if let (Some(a), Some(b)) = (from, to) {
                boundary.push(BoundaryMeter {
                    watched: w,
                    sensor: i as u32,
                    sides: [(a as usize, -1.0), (b as usize, 1.0)],
                    offset_kg_s: None,
                    since_ms: 0,
                });
            }
            if let Some(z) = from {
                zones[z as usize].meters.push((w, -1.0));
            }
            if let Some(z) = to {
                zones[z as usize].meters.push((w, 1.0));
            }
        }
        // Every way in or out of a zone must be metered for its balance.
        let mut crossing = |what: String, a: Option<u32>, b: Option<u32>, metered: bool| {
            if a != b && !metered {
                for z in [a, b].into_iter().flatten() {
                    zones[z as usize]
                        .unbalanced
                        .get_or_insert_with(|| format!("{what} crosses its boundary without a flow meter"));
                }
            }
        };
        for (k, p) in network.pipes.iter().enumerate() {
            let m = metered_branch.contains(&ElementRef::Pipe(linepack_network::ids::PipeIdx::new(k)));
            if p.in_service {
                crossing(format!("pipe {}", p.id), zone(p.from), zone(p.to), m);
            }
        }
        for (k, v) in network.valves.iter().enumerate() {
            let m = metered_branch.contains(&ElementRef::Valve(linepack_network::ids::ValveIdx::new(k)));
            if v.open {
                crossing(format!("valve {}", v.id), zone(v.from), zone(v.to), m);
            }
        }
        for (k, r) in network.regulators.iter().enumerate() {
            let m = metered_branch.contains(&ElementRef::Regulator(linepack_network::ids::RegulatorIdx::new(k)));
            if r.in_service {
                crossing(format!("regulator {}", r.id), zone(r.from), zone(r.to), m);
            }
        }
        for (k, s) in network.supplies.iter().enumerate() {
            let metered = network.sensors.iter().any(|x| {
                x.kind == SensorKind::Flow && x.at == ElementRef::Supply(linepack_network::ids::SupplyIdx::new(k))
            });
            if s.in_service {
                crossing(format!("supply {}", s.id), None, zone(s.node), metered);
            }
        }
        for inj in &network.injections {
            if let Some(z) = zone(inj.node) {
                zones[z as usize]
                    .unbalanced
                    .get_or_insert_with(|| format!("injection {} is not metered", inj.id));
            }
        }
        let mut zone_of_consumer = vec![None; network.consumers.len()];
        for (k, cons) in network.consumers.iter().enumerate() {
            zone_of_consumer[k] = zone(cons.node);
            if let Some(z) = zone(cons.node)
                && !metered_consumer[k]
            {
                zones[z as usize].unmetered.push(k);
            }
        }
        for (k, p) in network.pipes.iter().enumerate() {
            if p.in_service
                && let Some(z) = zone(p.from)
                && zone(p.to) == Some(z)
            {
                zones[z as usize].pipes.push(PipeIdx::new(k));
            }
        }
        for zone in &mut zones {
            zone.test.set_estimated_use(!zone.unmetered.is_empty());
            zone.readings = UserReadings::new(zone.users.len(), zone.test.longest());
            zone.balance_signs = zone
                .residuals
                .iter()
                .map(|&k| {
                    let w = watch_of[model.residual_sensor(k) as usize] as usize;
                    zone.meters.iter().find(|m| m.0 == w).map_or(0.0, |m| m.1)
                })
                .collect();
        }
        for (z, zone) in zones.iter().enumerate() {
            if let Some(why) = &zone.unbalanced {
                tracing::info!(zone = %table.zone_names[z], "no balance for this zone: {why}");
            }
        }
        Ok(LeakDetector {
            utc_offset_ms: (utc_offset_hours * 3_600_000.0) as i64,
            period_ms: (c.period_s * 1000.0) as i64,
            lag_ms: (c.lag_s * 1000.0) as i64,
            max_age_ms: (c.max_age_s * 1000.0) as i64,
            learning_periods: (c.learning_hours * 3600.0 / c.period_s).ceil() as u64,
            config: LeakConfig { profiles, ..c.clone() },
            watch_of,
            watched,
            zones,
            boundary,
            zone_of_consumer,
            consumer_kind: network.consumers.iter().map(|c| c.kind).collect(),
            paused: vec![false; network.sensors.len()],
            model,
            next_ms: NEVER,
            sensor_names: network.sensors.iter().map(|s| s.id.clone()).collect(),
            zone_names: table.zone_names.clone(),
        })
    }

    /// A reading the other detectors accepted (in range, not bad).
    #[inline]
    pub fn observe(&mut self, r: &Reading) {
        let w = self.watch_of[r.sensor.index()];
        if w == u32::MAX || r.quality == Quality::Bad || !r.value.is_finite() {
            return;
        }
        self.watched[w as usize].push(r.ts_ms, r.value);
        if self.next_ms == NEVER {
            self.next_ms = (r.ts_ms.div_euclid(self.period_ms) + 1) * self.period_ms;
        }
    }

    /// Judges every period that ended at least `lag` before `now_ms`.
    pub fn advance(&mut self, now_ms: i64, out: &mut Vec<Condition>) {
        if self.next_ms == NEVER {
            return;
        }
        // After a long silence, start again from the present.
        if now_ms - self.next_ms > 10 * self.period_ms + self.lag_ms {
            self.next_ms = (now_ms - self.lag_ms).div_euclid(self.period_ms) * self.period_ms;
        }
        while self.next_ms + self.lag_ms <= now_ms {
            let t = self.next_ms;
            self.judge(t, out);
            self.next_ms += self.period_ms;
        }
    }

    /// An alarm restored active from the journal: its zone is taken as in
    /// alarm, so that the alarm clears when the balance does.
    pub fn assume(&mut self, zone: u32) {
        if let Some(z) = self.zones.get_mut(zone as usize) {
            z.alarm = true;
            z.test.assume_alarm();
        }
    }

    /// A faulty meter's alarm restored active from the journal: its
    /// reading is corrected again by what it stepped (`step_kg_s`; a
    /// user's meter fell, negative) until it reads true.
    pub fn assume_faulty(&mut self, sensor: u32, step_kg_s: f64) {
        if let Some(m) = self.boundary.iter_mut().find(|m| m.sensor == sensor)
            && step_kg_s.is_finite()
        {
            m.offset_kg_s = Some(-step_kg_s);
        }
        for zone in &mut self.zones {
            if let Some(user) = zone.users.iter().position(|u| u.sensor == sensor)
                && step_kg_s.is_finite()
            {
                zone.faulty = Some(FaultyMeter {
                    user,
                    offset_kg_s: -step_kg_s,
                });
            }
        }
    }

    /// The report of a zone's leak alarm, while it has one.
    pub fn report(&self, zone: u32) -> Option<&LeakReport> {
        self.zones.get(zone as usize)?.report.as_ref()
    }

    /// The last judged period of a zone's balance, by zone name.
    /// The model's network state as of the last period judged.
    pub fn network_state(&self) -> Option<&linepack_network::solver::SteadyState> {
        self.model.state()
    }

    pub fn last_balance(&self, zone: &str) -> Option<BalanceSample> {
        let z = self.zone_names.iter().position(|n| n == zone)?;
        self.zones[z].last
    }

    /// Each zone's balance as learned so far.
    pub fn spreads(&self) -> Vec<ZoneSpread> {
        self.zones
            .iter()
            .zip(&self.zone_names)
            .map(|(z, name)| ZoneSpread {
                zone: name.clone(),
                unbalanced: z.unbalanced.clone(),
                relative_sigma: z.test.sigmas(),
            })
            .collect()
    }

    fn expected_use(&self, c: usize, t: i64) -> f64 {
        let f = profile::kind_factor(&self.config.profiles, self.consumer_kind[c], t, self.utc_offset_ms);
        let corr =
            self.zone_of_consumer[c].map_or(1.0, |z| self.zones[z as usize].correction.at(t, self.utc_offset_ms));
        self.model.base_demand(c) * f * corr
    }

    fn judge(&mut self, t: i64, out: &mut Vec<Condition>) {
        let raw: Vec<Option<f64>> = self.watched.iter().map(|w| w.at(t, self.max_age_ms)).collect();
        // A meter found reading low is corrected, for the balance and the
        // model alike.
        let mut values = raw.clone();
        for zone in &self.zones {
            if let Some(f) = zone.faulty
                && let Some(v) = &mut values[zone.users[f.user].watched]
            {
                *v += f.offset_kg_s;
            }
        }
        for m in &self.boundary {
            if let Some(offset) = m.offset_kg_s
                && let Some(v) = &mut values[m.watched]
            {
                *v += offset;
            }
        }
        let value = |s: u32| {
            let w = self.watch_of[s as usize];
            if w == u32::MAX { None } else { values[w as usize] }
        };
        // A residual learns no bias while a zone it sees into is in alarm
        // or suspect, so a starting leak is not learned as its normal. The
        // others learn on: behind their regulators, a district's leak moves
        // neither the trunk's residuals nor another district's (the feed's
        // flow meter is in both zones, and pauses).
        self.paused.fill(false);
        for zone in self.zones.iter().filter(|z| z.alarm || z.test.suspect(t)) {
            for &k in &zone.residuals {
                self.paused[self.model.residual_sensor(k) as usize] = true;
            }
        }
        let expected: Vec<f64> = (0..self.consumer_kind.len()).map(|c| self.expected_use(c, t)).collect();
        let paused = &self.paused;
        let solved = self.model.update(|c| expected[c], value, |s| !paused[s as usize]);

        for z in 0..self.zones.len() {
            let zone = &mut self.zones[z];
            if zone.unbalanced.is_some() {
                continue;
            }
            let linepack = if solved {
                self.model.linepack_kg(&zone.pipes)
            } else {
                None
            };
            let previous = std::mem::replace(&mut zone.last_linepack, linepack.map(|lp| (t, lp)));
            let packing = match (previous, linepack) {
                (Some((t0, lp0)), Some(lp)) if t > t0 => (lp - lp0) / ((t - t0) as f64 / 1000.0),
                _ => continue,
            };
            let mut inflow = 0.0;
            let mut through = 0.0;
            let mut users = 0.0;
            let mut complete = true;
            for &(w, sign) in &zone.meters {
                match values[w] {
                    Some(v) => {
                        inflow += sign * v;
                        through += (sign * v).max(0.0);
                    }
                    None => complete = false,
                }
            }
            for u in &zone.users {
                match values[u.watched] {
                    Some(v) => users += metered_use(v).unwrap_or(expected[u.consumer]),
                    None => complete = false,
                }
            }
            if !complete {
                continue;
            }
            let unmetered_use = inflow - users - packing;
            let expect: f64 = zone.unmetered.iter().map(|&c| expected[c]).sum();
            let e = unmetered_use - expect;
            zone.last = Some(BalanceSample {
                t_ms: t,
                inflow_kg_s: inflow,
                users_kg_s: users,
                packing_kg_s: packing,
                expected_kg_s: expect,
                imbalance_kg_s: e,
            });
            // `RUST_LOG=linepack_engine::leak=trace` shows each balance.
            tracing::trace!(
                zone = %self.zone_names[z], t, inflow, users, packing, expected = expect, imbalance = e,
                "balance"
            );
            let learning = zone.test.judged < self.learning_periods;
            let normal = !zone.alarm && (learning || !zone.test.suspect(t));
            // Scale: what flows through the zone, the gas its meters see
            // (in the trunk most of it goes on to the districts, not to
            // its own users).
            zone.test.push(t, e, through.max(expect + users), normal, !learning);
            // A faulty meter's steps are its user's (its bias is constant).
            zone.readings.push(t, zone.users.iter().map(|u| raw[u.watched]), normal);
            if normal {
                // The profile's expectation before the correction.
                let corr = zone.correction.at(t, self.utc_offset_ms);
                zone.correction
                    .learn(t, self.utc_offset_ms, unmetered_use, expect / corr.max(1e-9));
            }
            // Faulty users' meters are looked for once the zone is learned:
            // on the learning day the profiles' hourly steps are not yet
            // corrected, and a shop's meter stepping up as it opened at the
            // hour the district's estimate stepped up more was taken for a
            // meter reading high.
            if learning {
                continue;
            }
            if let Some(f) = zone.faulty
                && let Some(since) = zone.readings.returned(f.user, f.offset_kg_s)
            {
                // The meter reads true again: since then the correction
                // made the zone look `offset` short (over, if negative).
                zone.faulty = None;
                zone.rebase(since, -f.offset_kg_s);
                out.push(meter_step(zone.users[f.user].sensor, false, t, 0.0, f.offset_kg_s));
            }
            if !zone.alarm
                && zone.faulty.is_none()
                && let Some(step) = zone.readings.rose(|at| zone.test.step_with_spread(at))
            {
                let fall = zone.test.step_at(step.at_ms).unwrap_or(-step.step_kg_s);
                zone.take_as_faulty(step, -fall, t, out);
                continue;
            }
            if !zone.alarm {
                if let Some(v) = zone.test.raised(t) {
                    if zone.faulty.is_none() {
                        match zone.readings.cause(|at| zone.test.step_at(at), v.sigma_kg_s) {
                            // Judged again next period: a delay of a
                            // minute or two, only when a meter fell.
                            Cause::TooSoon => continue,
                            Cause::Meter(step) => {
                                zone.take_as_faulty(step, v.rate_kg_s, t, out);
                                continue;
                            }
                            Cause::NotAMeter => {}
                        }
                    }
                    match self.boundary_fault(z, t, v.since_ms, v.rate_kg_s, v.sigma_kg_s) {
                        Mirror::Fault(b, error, at) => {
                            self.correct_boundary(b, error, at, t, v.rate_kg_s, out);
                            continue;
                        }
                        // Judged again next period: a minute or two, only
                        // when a zone across a meter might mirror it.
                        Mirror::TooSoon => continue,
                        Mirror::None => {}
                    }
                    let zone = &mut self.zones[z];
                    zone.alarm = true;
                    zone.signatures = Signatures::default();
                    out.push(Condition {
                        key: AlarmKey {
                            kind: AlarmKind::Leak,
                            source: Source::Zone(z as u32),
                        },
                        active: true,
                        ts_ms: t,
                        value: v.rate_kg_s,
                        limit: v.sigma_kg_s * if v.cusum { 1.0 } else { self.config.threshold_sigma },
                        priority: None,
                    });
                    let report = self.explain(z, v, t);
                    self.zones[z].report = Some(report);
                    self.zones[z].relocalize_ms = t + RELOCALIZE_MS;
                }
            } else {
                let standing = zone.report.as_ref().map(|r| (r.since_ms, r.rate_kg_s, r.sigma_kg_s));
                let cleared = zone.test.cleared(t);
                if let Some((since, rate, sigma)) = standing
                    && let Mirror::Fault(b, error, at) = self.boundary_fault(z, t, since, rate, sigma)
                {
                    // The zone across a meter has fallen by as much since
                    // the alarm: the meter between them, not a leak.
                    self.correct_boundary(b, error, at, t, rate, out);
                    self.clear_leak(z, t, out);
                } else if cleared {
                    self.clear_leak(z, t, out);
                }
            }
        }
        // A corrected meter back to reading true moves its zones by its
        // correction; the zone it makes look short may be too noisy to
        // raise soon (a district in the morning), so it is looked for.
        for b in 0..self.boundary.len() {
            if let Some(offset) = self.boundary[b].offset_kg_s
                && let Some(at) = self.boundary_returned(b)
            {
                self.correct_boundary(b, offset, at, t, offset.abs(), out);
            }
        }
        if solved {
            self.relocalize(t);
        }
    }

    /// When corrected boundary meter `b` read true again, if it did: the
    /// zone its correction now makes look short rose by the correction,
    /// and the other fell by as much, both at least `RETURN_SIGMA` of their
    /// spreads, at the change point of either, since the correction began.
    fn boundary_returned(&self, b: usize) -> Option<i64> {
        let m = &self.boundary[b];
        let offset = m.offset_kg_s?;
        let size = offset.abs();
        // The side whose balance the correction now raises, and the other.
        let raised = usize::from(m.sides[0].1 * offset < 0.0);
        let (up, down) = (
            &self.zones[m.sides[raised].0].test,
            &self.zones[m.sides[1 - raised].0].test,
        );
        let instants = [up.onset(), down.fall()];
        instants.into_iter().flatten().map(|(at, _)| at).find(|&at| {
            at > m.since_ms
                && up
                    .step_with_spread(at)
                    .is_some_and(|(rise, spread)| rise > RETURN_SIGMA * spread && agrees(rise, size, spread))
                && down
                    .step_with_spread(at)
                    .is_some_and(|(fall, spread)| fall < -RETURN_SIGMA * spread && agrees(fall, -size, spread))
        })
    }

    /// Zone `z`'s leak alarm ends.
    fn clear_leak(&mut self, z: usize, t: i64, out: &mut Vec<Condition>) {
        let zone = &mut self.zones[z];
        zone.alarm = false;
        zone.relocalize_ms = NEVER;
        zone.signatures = Signatures::default();
        let m = zone.test.current(t).unwrap_or(0.0);
        out.push(Condition {
            key: AlarmKey {
                kind: AlarmKind::Leak,
                source: Source::Zone(z as u32),
            },
            active: false,
            ts_ms: t,
            value: m,
            limit: f64::NAN,
            priority: None,
        });
    }

    /// A meter on zone `z`'s boundary whose error explains the zone's
    /// imbalance of `rate` (± `sigma`) since `since_ms`, judged at `t`: the
    /// zone on its other side fell by as much at the same moment, as
    /// clearly as a rise that raises a leak alarm. The moment is this
    /// zone's onset, or the other zone's own change point (the cleaner of
    /// the two places it better: a trunk's CUSUM onset was 20 minutes
    /// before the fault). The meter comes with its reading's error in kg/s
    /// (positive when it reads high), from both sides' steps weighed by
    /// their spreads, and the moment.
    fn boundary_fault(&self, z: usize, t: i64, since_ms: i64, rate: f64, sigma: f64) -> Mirror {
        let mut best: Option<((f64, f64), usize, f64, i64)> = None;
        // The wait is bounded: only this soon after the onset.
        let early = t - since_ms < MIRROR_MIN_PERIODS as i64 * self.period_ms;
        let mut too_soon = false;
        let own = &self.zones[z].test;
        for (b, m) in self.boundary.iter().enumerate() {
            let Some((own_sign, across)) = m.across_from(z) else {
                continue;
            };
            let other = &self.zones[across];
            if other.alarm || other.unbalanced.is_some() || other.test.judged < self.learning_periods {
                continue;
            }
            // Worth waiting for only where the mirror image could be clear
            // by the end of the wait: not across a zone whose balance
            // spreads as widely as the trunk's.
            let early = early && rate > self.config.threshold_sigma * other.test.spread_over(MIRROR_MIN_PERIODS);
            let Some((step, spread)) = other.test.step_with_spread(since_ms) else {
                // Not a period of it since the onset yet (judged after
                // this zone, or the onset is this period).
                too_soon |= early;
                continue;
            };
            let matches = agrees(step, -rate, spread);
            too_soon |= early && matches;
            let at_fall = other.test.fall().and_then(|(at, _)| {
                let (rise, rise_sigma) = own.step_with_spread(at)?;
                let (fall, spread) = other.test.step_with_spread(at)?;
                Some((at, rise, rise_sigma, fall, spread))
            });
            for (at, rise, rise_sigma, fall, spread) in
                std::iter::once((since_ms, rate, sigma, step, spread)).chain(at_fall)
            {
                let miss = (fall + rise).abs();
                // `RUST_LOG=linepack_engine::leak=debug` shows each look across.
                tracing::debug!(
                    zone = %self.zone_names[z], meter = %self.sensor_names[m.sensor as usize],
                    other = %self.zone_names[across], at, rise, fall, spread,
                    "boundary meter"
                );
                if !(rise > 0.0
                    && spread > 0.0
                    && fall < -self.config.threshold_sigma * spread
                    && agrees(fall, -rise, spread))
                {
                    continue;
                }
                let size = if rise_sigma.is_finite() && rise_sigma > 0.0 {
                    let (w_own, w_other) = (rise_sigma.powi(-2), spread.powi(-2));
                    (rise * w_own - fall * w_other) / (w_own + w_other)
                } else {
                    -fall
                };
                // Two meters between the same zones (a district's two feeds)
                // fit the balances alike: the one whose own flow the model
                // finds off the same way is taken.
                let error = own_sign * size;
                let off = self.model.short_z(m.sensor).map_or(0.0, |z| z * error.signum());
                let key = (miss / spread, -off);
                if best.is_none_or(|best| key.0 < best.0.0 || (key.0 == best.0.0 && key.1 < best.0.1)) {
                    best = Some((key, b, error, at));
                }
            }
        }
        match best {
            Some((_, b, error, at)) => Mirror::Fault(b, error, at),
            None if too_soon => Mirror::TooSoon,
            None => Mirror::None,
        }
    }

    /// Boundary meter `b` found reading `error` kg/s off since `since_ms`:
    /// its reading is corrected, both zones' imbalance since then with it,
    /// and a `meter_step` alarm names it (cleared when the correction
    /// comes back to about zero: the meter reads true again, and the
    /// zones' mirror image of that undoes it).
    fn correct_boundary(&mut self, b: usize, error: f64, since_ms: i64, t: i64, rate: f64, out: &mut Vec<Condition>) {
        let meter = &mut self.boundary[b];
        let previous = meter.offset_kg_s.unwrap_or(0.0);
        let back = previous != 0.0 && (previous - error).abs() <= meters::MATCH_FRACTION * previous.abs();
        // Back to reading true, the meter moved by exactly its correction:
        // that, not the estimate, comes off the kept periods (a 0.0083
        // estimate of a 0.0095 return left a district 0.0012 kg/s short
        // for its CUSUM to add up).
        let error = if back { previous } else { error };
        let offset = previous - error;
        for (zone, sign) in meter.sides {
            self.zones[zone].rebase(since_ms, sign * error);
        }
        meter.offset_kg_s = (!back).then_some(offset);
        meter.since_ms = since_ms;
        tracing::debug!(meter = %self.sensor_names[meter.sensor as usize], since_ms, error, offset, back, "boundary meter corrected");
        out.push(meter_step(
            meter.sensor,
            !back,
            t,
            if back { 0.0 } else { -offset },
            rate,
        ));
    }

    /// Works out the candidates of zones in alarm again as residuals
    /// accumulate since the onset: every five minutes for the first half
    /// hour, then every quarter of an hour.
    fn relocalize(&mut self, t: i64) {
        for z in 0..self.zones.len() {
            let zone = &self.zones[z];
            if !zone.alarm || zone.relocalize_ms == NEVER || t < zone.relocalize_ms {
                continue;
            }
            let Some(report) = &zone.report else { continue };
            let (since, rate) = zone
                .test
                .standing_onset(report.since_ms)
                .unwrap_or((report.since_ms, report.rate_kg_s));
            let sigma = report.sigma_kg_s;
            let (candidates, residuals, alternative) = self.locate(z, t, since, rate, sigma);
            let zone = &mut self.zones[z];
            zone.relocalize_ms = t + if t - since < 30 * 60_000 {
                RELOCALIZE_MS
            } else {
                3 * RELOCALIZE_MS
            };
            if let Some(report) = &mut zone.report {
                report.candidates = candidates;
                report.residuals = residuals;
                report.meter_alternative = alternative;
                report.rate_kg_s = rate;
                report.since_ms = since;
                report.since = format_rfc3339_ms(since);
            }
        }
    }

    /// Zone `z`'s candidate locations, standing-out residuals and a meter
    /// that would explain them as well, from the residuals since
    /// `since_ms` (at least the last five periods).
    fn locate(
        &mut self,
        z: usize,
        t: i64,
        since_ms: i64,
        rate: f64,
        sigma: f64,
    ) -> (Vec<Candidate>, Vec<ResidualNote>, Option<MeterAlternative>) {
        let periods = ((t - since_ms) / self.period_ms + 1).max(5) as usize;
        let zone = &mut self.zones[z];
        let candidates = self.model.localize(
            &zone.places,
            &zone.residuals,
            &mut zone.signatures,
            periods,
            rate,
            sigma,
            self.config.candidates,
        );
        let residuals = self.model.notable(&zone.sensors, &self.sensor_names, NOTABLE);
        let mut alternative = self.model.meter_alternative(
            &zone.residuals,
            &zone.balance_signs,
            &zone.signatures,
            rate,
            sigma,
            &self.sensor_names,
        );
        if let Some(m) = &mut alternative {
            m.across = self.across(z, &m.sensor, since_ms);
        }
        (candidates, residuals, alternative)
    }

    /// How the zone across boundary meter `sensor` from zone `z` moved
    /// since `since_ms`.
    fn across(&self, z: usize, sensor: &str, since_ms: i64) -> Option<Across> {
        let meter = self
            .boundary
            .iter()
            .find(|m| self.sensor_names[m.sensor as usize] == sensor)?;
        let (_, other) = meter.across_from(z)?;
        let (step, sigma) = self.zones[other].test.step_with_spread(since_ms)?;
        Some(Across {
            zone: self.zone_names[other].clone(),
            step_kg_s: step,
            sigma_kg_s: sigma,
        })
    }

    fn explain(&mut self, z: usize, v: Verdict, t: i64) -> LeakReport {
        let (candidates, residuals, alternative) = self.locate(z, t, v.since_ms, v.rate_kg_s, v.sigma_kg_s);
        let zone = self.zone_names[z].clone();
        let test = if v.cusum {
            format!(
                "a CUSUM of hourly means reached {:.1} (threshold {:.1})",
                v.z, self.config.cusum_threshold_sigma
            )
        } else {
            format!(
                "the {:.0}-minute mean is {:.1} standard deviations ({:.4} kg/s) above normal",
                v.window_min, v.z, v.sigma_kg_s
            )
        };
        let mut explanation = format!(
            "zone {zone}: {:.4} kg/s unaccounted for since {}; {test}",
            v.rate_kg_s,
            format_rfc3339_ms(v.since_ms)
        );
        if let Some(top) = candidates.first() {
            explanation.push_str(&format!(
                "; most likely within {:.0} m of node {} ({:.0} %)",
                self.config.search_radius_m,
                top.node,
                100.0 * top.within_radius
            ));
            if let Some(last) = candidates.last().filter(|_| candidates.len() > 1) {
                explanation.push_str(&format!(
                    ", with the next {} candidates {:.0} %",
                    candidates.len() - 1,
                    100.0 * last.covered
                ));
            }
        }
        if let Some(m) = &alternative {
            let how = if m.bias_kg_s >= 0.0 { "high" } else { "low" };
            explanation.push_str(&format!(
                "; meter {} reading {:.4} kg/s {how} would explain it as well (χ² {:.1} against {:.1}): check the meter too",
                m.sensor,
                m.bias_kg_s.abs(),
                m.chi2,
                m.place_chi2
            ));
            if let Some(a) = &m.across {
                let moved = if a.step_kg_s < 0.0 { "fell" } else { "rose" };
                explanation.push_str(&format!(
                    "; zone {} across it {moved} by {:.4} kg/s ({:.1}σ) since then, where the meter's fault \
                     would make it fall by as much and a leak leave it level",
                    a.zone,
                    a.step_kg_s.abs(),
                    a.step_kg_s.abs() / a.sigma_kg_s
                ));
            }
        }
        if !residuals.is_empty() {
            let notes: Vec<String> = residuals
                .iter()
                .map(|r| format!("{} {:+.4} ({:.1}σ)", r.sensor, r.residual, r.residual / r.sigma))
                .collect();
            explanation.push_str(&format!("; residuals {}", notes.join(", ")));
        }
        LeakReport {
            zone,
            rate_kg_s: v.rate_kg_s,
            sigma_kg_s: v.sigma_kg_s,
            test: if v.cusum { "cusum" } else { "window" }.into(),
            window_min: v.window_min,
            z: v.z,
            since: format_rfc3339_ms(v.since_ms),
            since_ms: v.since_ms,
            candidates,
            search_radius_m: self.config.search_radius_m,
            residuals,
            meter_alternative: alternative,
            explanation,
        }
    }
}
