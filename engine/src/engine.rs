//! The engine's hot path: routes each batch of readings to the shard that
//! owns its sensors, runs the detectors, turns their conditions into alarm
//! transitions, and applies what spans shards (sequence gaps, floods,
//! suppression downstream of a failed station or a closed valve). No I/O:
//! the caller journals and announces the transitions.
//!
//! A shard owns whole zones (sensors outside any zone go by sensor index):
//! its live state, detectors and alarm book are its own, so shards never
//! share mutable state and can run on their own threads.

use std::collections::HashMap;

use linepack_ingest::telemetry::{Batch, Quality, Reading};
use linepack_network::Network;
use linepack_network::ids::{ElementRef, SupplyIdx};
use linepack_network::network::SensorKind;
use linepack_network::topology::Topology;

use crate::alarm::{
    Actor, AlarmBook, AlarmKey, AlarmKind, AlarmState, CommandError, FloodDetector, Priority, Source, Transition,
};
use crate::config::EngineConfig;
use crate::detect::devices::DeviceDetector;
use crate::detect::limits::LimitDetector;
use crate::detect::usage::UsageDetector;
use crate::detect::validity::Validity;
use crate::detect::{Condition, NEVER};
use crate::leak::{LeakDetector, LeakReport};
use crate::sensors::{LimitsError, SensorTable};
use crate::state::LiveState;

/// A sequence-gap alarm clears after this long without another gap.
const GAP_CLEAR_MS: i64 = 10 * 60 * 1000;
/// Sites tracked at most (their names come from the network's gateways).
const MAX_SITES: usize = 100_000;

/// The engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Limits(#[from] LimitsError),
    #[error("alarms.priorities.{kind}: {message}")]
    Priority { kind: String, message: String },
    #[error("engine: {0}")]
    Config(String),
}

/// One shard: the sensors of some zones and everything about them.
struct Shard {
    live: LiveState,
    validity: Validity,
    limits: LimitDetector,
    devices: DeviceDetector,
    usage: UsageDetector,
    book: AlarmBook,
    readings: Vec<Reading>,
    conditions: Vec<Condition>,
    /// Time up to which time-based checks have run.
    ticked_ms: i64,
}

impl Shard {
    fn process(&mut self, table: &SensorTable) {
        for r in &self.readings {
            // Time first: what fell due before this reading is judged
            // without it (a sensor silent too long is stale, then returns).
            if r.ts_ms > self.ticked_ms {
                self.ticked_ms = r.ts_ms;
                self.validity.tick(r.ts_ms, table, &mut self.conditions);
                self.limits.tick(r.ts_ms, table, &mut self.conditions);
                self.devices.tick(r.ts_ms, &mut self.conditions);
            }
            let out = &mut self.conditions;
            if r.event.is_some() {
                self.devices.event(r, out);
            }
            if r.value.is_nan() || !self.validity.in_range(r, table, out) {
                continue;
            }
            self.live.update(r);
            if r.quality == Quality::Bad {
                continue;
            }
            self.validity.observe(r, table, out);
            self.limits.observe(r, table, out);
            self.devices.observe(r, table, out);
            self.usage.observe(r, out);
        }
        self.readings.clear();
    }

    fn tick(&mut self, now_ms: i64, table: &SensorTable) {
        if now_ms > self.ticked_ms {
            self.ticked_ms = now_ms;
            self.validity.tick(now_ms, table, &mut self.conditions);
            self.limits.tick(now_ms, table, &mut self.conditions);
            self.devices.tick(now_ms, &mut self.conditions);
        }
    }

    /// Conditions into transitions.
    fn settle(&mut self, priorities: &[Priority], out: &mut Vec<Transition>) {
        settle(&mut self.conditions, &mut self.book, priorities, out);
    }
}

/// Detectors' conditions into `book`'s transitions, each at its own
/// priority or its kind's.
fn settle(conditions: &mut Vec<Condition>, book: &mut AlarmBook, priorities: &[Priority], out: &mut Vec<Transition>) {
    for c in conditions.drain(..) {
        let priority = c.priority.unwrap_or(priorities[c.key.kind as usize]);
        book.condition(c.key, c.active, c.ts_ms, c.value, c.limit, priority, out);
    }
}

/// A station whose failure makes the alarms downstream consequential.
struct Station {
    /// Pressure sensors that tell it failed (at it, or at the outlets of
    /// the regulators it feeds).
    watch: Vec<u32>,
    /// Sensors at the nodes that lose gas without it.
    downstream: Vec<Source>,
    failed: bool,
}

/// The engine core (see the module docs).
pub struct Engine {
    pub table: SensorTable,
    shards: Vec<Shard>,
    shard_of: Vec<u16>,
    priorities: Vec<Priority>,
    /// Alarms that belong to no shard: floods, sequence gaps.
    system: AlarmBook,
    flood: FloodDetector,
    flood_limit: usize,
    sites: HashMap<Box<str>, u32>,
    site_names: Vec<String>,
    site_last_gap: Vec<i64>,
    stations: Vec<Station>,
    station_of_sensor: HashMap<u32, Vec<usize>>,
    clock_ms: i64,
    started: bool,
    /// Sources suppressed from the start (behind closed valves).
    closed_valve_sources: Vec<Source>,
    /// Zone balances and model residuals (none when turned off).
    leak: Option<LeakDetector>,
    leak_conditions: Vec<Condition>,
}

impl Engine {
    /// An engine for `network` with `shards` shards (at least 1).
    ///
    /// # Errors
    /// [`EngineError`] naming the configuration key.
    pub fn new(network: &Network, config: &EngineConfig, shards: usize) -> Result<Engine, EngineError> {
        let table = SensorTable::build(network, config)?;
        let n = table.info.len();
        let mut priorities: Vec<Priority> = AlarmKind::ALL.iter().map(|k| k.default_priority()).collect();
        for (kind, p) in &config.alarms.priorities {
            let k = AlarmKind::parse(kind).ok_or_else(|| EngineError::Priority {
                kind: kind.clone(),
                message: "no such alarm kind".into(),
            })?;
            priorities[k as usize] = p.parse().map_err(|message| EngineError::Priority {
                kind: kind.clone(),
                message,
            })?;
        }
        if config.alarms.flood_limit == 0 || config.alarms.flood_window_s == 0 {
            return Err(EngineError::Config(
                "alarms.flood_limit and flood_window_s must be positive".into(),
            ));
        }

        // Whole zones to shards, round robin by size; the rest by index.
        let shards = shards.clamp(1, u16::MAX as usize);
        let mut shard_of = vec![0u16; n];
        let n_zones = table.zone_names.len();
        let mut zone_sizes: Vec<(usize, usize)> = (0..n_zones).map(|z| (z, 0)).collect();
        for s in &table.info {
            if let Some(z) = s.zone {
                zone_sizes[z as usize].1 += 1;
            }
        }
        zone_sizes.sort_by_key(|&(z, size)| (std::cmp::Reverse(size), z));
        let mut load = vec![0usize; shards];
        let mut zone_shard = vec![0u16; n_zones];
        for (z, size) in zone_sizes {
            let least = (0..shards).min_by_key(|&s| (load[s], s)).unwrap_or(0);
            zone_shard[z] = least as u16;
            load[least] += size;
        }
        for (i, s) in table.info.iter().enumerate() {
            shard_of[i] = match s.zone {
                Some(z) => zone_shard[z as usize],
                None => (i % shards) as u16,
            };
        }
        let shards = (0..shards)
            .map(|k| {
                let sensors: Vec<u32> = (0..n as u32).filter(|&i| shard_of[i as usize] == k as u16).collect();
                Shard {
                    live: LiveState::new(n),
                    validity: Validity::new(n, sensors.clone()),
                    limits: LimitDetector::new(n),
                    devices: DeviceDetector::new(&table, config.devices.clone()),
                    usage: UsageDetector::new(&table, &sensors, config.usage.clone()),
                    book: AlarmBook::new(),
                    readings: Vec::new(),
                    conditions: Vec::new(),
                    ticked_ms: NEVER,
                }
            })
            .collect();

        let topology = Topology::new(network);
        let (stations, closed_valve_sources) = suppression_sets(network, &topology, &table);
        let mut station_of_sensor: HashMap<u32, Vec<usize>> = HashMap::new();
        for (k, st) in stations.iter().enumerate() {
            for &w in &st.watch {
                station_of_sensor.entry(w).or_default().push(k);
            }
        }

        let leak = if config.leak.enabled {
            Some(
                LeakDetector::new(network, &table, &config.leak, config.usage.utc_offset_hours)
                    .map_err(EngineError::Config)?,
            )
        } else {
            None
        };
        let mut engine = Engine {
            table,
            shards,
            shard_of,
            priorities,
            system: AlarmBook::new(),
            flood: FloodDetector::new(config.alarms.flood_limit, config.alarms.flood_window_s as i64 * 1000),
            flood_limit: config.alarms.flood_limit,
            sites: HashMap::new(),
            site_names: Vec::new(),
            site_last_gap: Vec::new(),
            stations,
            station_of_sensor,
            clock_ms: NEVER,
            started: false,
            closed_valve_sources,
            leak,
            leak_conditions: Vec::new(),
        };
        let sources = engine.closed_valve_sources.clone();
        let mut ignored = Vec::new();
        engine.suppress(&sources, true, 0, &mut ignored);
        Ok(engine)
    }

    /// The engine's clock: the latest reading or tick time seen, ms.
    pub fn clock_ms(&self) -> i64 {
        self.clock_ms
    }

    pub fn priority(&self, kind: AlarmKind) -> Priority {
        self.priorities[kind as usize]
    }

    /// Runs one batch through the detectors; appends the alarm transitions.
    pub fn process(&mut self, batch: &Batch, out: &mut Vec<Transition>) {
        let start = out.len();
        for r in &batch.readings {
            self.shards[self.shard_of[r.sensor.index()] as usize].readings.push(*r);
            self.clock_ms = self.clock_ms.max(r.ts_ms);
        }
        for shard in &mut self.shards {
            if !shard.readings.is_empty() {
                shard.process(&self.table);
                shard.settle(&self.priorities, out);
            }
        }
        for gap in &batch.gaps {
            self.clock_ms = self.clock_ms.max(gap.ts_ms);
            self.sequence_gap(gap, out);
        }
        if let Some(leak) = &mut self.leak {
            for r in &batch.readings {
                if self.table.limits[r.sensor.index()].in_physical_range(r.value) {
                    leak.observe(r);
                }
            }
        }
        self.leak_step(out);
        self.after(start, out);
    }

    /// Judges the leak detector's periods that are due; its conditions go
    /// to the book of their source: a leak's (its zone) to the system
    /// book, a faulty meter's to its sensor's shard.
    fn leak_step(&mut self, out: &mut Vec<Transition>) {
        let Some(leak) = &mut self.leak else { return };
        leak.advance(self.clock_ms, &mut self.leak_conditions);
        let mut conditions = std::mem::take(&mut self.leak_conditions);
        for c in conditions.drain(..) {
            let priority = c.priority.unwrap_or(self.priorities[c.key.kind as usize]);
            self.book(&c.key)
                .condition(c.key, c.active, c.ts_ms, c.value, c.limit, priority, out);
        }
        self.leak_conditions = conditions;
    }

    /// The report of a zone's leak alarm (candidates, explanation).
    pub fn leak_report(&self, zone: u32) -> Option<&LeakReport> {
        self.leak.as_ref()?.report(zone)
    }

    /// The leak detector, when it runs.
    pub fn leak_detector(&self) -> Option<&LeakDetector> {
        self.leak.as_ref()
    }

    /// Time passes to `now_ms` (wall clock live, the recording's clock in a
    /// replay): stale sensors, pending delays, shelves, gaps, floods.
    pub fn tick(&mut self, now_ms: i64, out: &mut Vec<Transition>) {
        let start = out.len();
        self.clock_ms = self.clock_ms.max(now_ms);
        let now = self.clock_ms;
        self.started = true;
        for shard in &mut self.shards {
            shard.tick(now, &self.table);
            shard.settle(&self.priorities, out);
            shard.book.expire_shelves(now, out);
        }
        self.system.expire_shelves(now, out);
        self.leak_step(out);
        for (site, last) in self.site_last_gap.iter_mut().enumerate() {
            if *last != NEVER && now - *last >= GAP_CLEAR_MS {
                *last = NEVER;
                let key = AlarmKey {
                    kind: AlarmKind::SequenceGap,
                    source: Source::Site(site as u32),
                };
                self.system.condition(
                    key,
                    false,
                    now,
                    f64::NAN,
                    f64::NAN,
                    self.priorities[AlarmKind::SequenceGap as usize],
                    out,
                );
            }
        }
        self.after(start, out);
    }

    fn sequence_gap(&mut self, gap: &linepack_ingest::telemetry::SequenceGap, out: &mut Vec<Transition>) {
        let site = match self.sites.get(&gap.site) {
            Some(&s) => s,
            None if self.site_names.len() < MAX_SITES => {
                let s = self.site_names.len() as u32;
                self.sites.insert(gap.site.clone(), s);
                self.site_names.push(gap.site.to_string());
                self.site_last_gap.push(NEVER);
                s
            }
            None => return,
        };
        self.site_last_gap[site as usize] = gap.ts_ms;
        let key = AlarmKey {
            kind: AlarmKind::SequenceGap,
            source: Source::Site(site),
        };
        let lost = gap.received.saturating_sub(gap.expected) as f64;
        self.system.condition(
            key,
            true,
            gap.ts_ms,
            lost,
            gap.expected as f64,
            self.priorities[AlarmKind::SequenceGap as usize],
            out,
        );
    }

    /// What follows from the transitions of one step: station failures
    /// suppress downstream alarms, new alarms feed the flood detector.
    fn after(&mut self, start: usize, out: &mut Vec<Transition>) {
        let mut i = start;
        while i < out.len() {
            let t = out[i].clone();
            i += 1;
            if t.to == AlarmState::Unacknowledged
                && matches!(t.from, AlarmState::Normal | AlarmState::ReturnedUnacknowledged)
            {
                self.flood.new_alarm(t.ts_ms);
            }
            if t.key.kind == AlarmKind::LowLow
                && let Source::Sensor(s) = t.key.source
                && let Some(stations) = self.station_of_sensor.get(&s).cloned()
            {
                for k in stations {
                    self.station_check(k, t.ts_ms, out);
                }
            }
        }
        if let Some((on, count)) = self.flood.update(self.clock_ms) {
            let key = AlarmKey {
                kind: AlarmKind::AlarmFlood,
                source: Source::System,
            };
            let limit = self.flood_limit as f64;
            self.system.condition(
                key,
                on,
                self.clock_ms,
                count as f64,
                limit,
                self.priorities[AlarmKind::AlarmFlood as usize],
                out,
            );
        }
    }

    /// A station is failed while any of its watched pressures is low-low.
    /// A silent (stale) station is not taken as failed: that would hide a
    /// real low pressure downstream behind a communication fault.
    fn station_check(&mut self, k: usize, ts_ms: i64, out: &mut Vec<Transition>) {
        let failed = self.stations[k].watch.iter().any(|&s| {
            let key = AlarmKey {
                kind: AlarmKind::LowLow,
                source: Source::Sensor(s),
            };
            self.shards[self.shard_of[s as usize] as usize]
                .book
                .get(&key)
                .is_some_and(|a| a.active)
        });
        if failed != self.stations[k].failed {
            self.stations[k].failed = failed;
            let sources = self.stations[k].downstream.clone();
            self.suppress(&sources, failed, ts_ms, out);
        }
    }

    fn suppress(&mut self, sources: &[Source], on: bool, ts_ms: i64, out: &mut Vec<Transition>) {
        let mut per_shard: Vec<Vec<Source>> = vec![Vec::new(); self.shards.len()];
        for s in sources {
            if let Source::Sensor(i) = s {
                per_shard[self.shard_of[*i as usize] as usize].push(*s);
            }
        }
        for (shard, sources) in self.shards.iter_mut().zip(per_shard) {
            if !sources.is_empty() {
                shard.book.suppress(&sources, on, ts_ms, out);
            }
        }
    }

    fn book(&mut self, key: &AlarmKey) -> &mut AlarmBook {
        match key.source {
            Source::Sensor(s) => &mut self.shards[self.shard_of[s as usize] as usize].book,
            _ => &mut self.system,
        }
    }

    /// An operator acknowledges an alarm.
    ///
    /// # Errors
    /// [`CommandError`] when it does not apply.
    pub fn acknowledge(&mut self, key: &AlarmKey, ts_ms: i64, actor: Actor) -> Result<Transition, CommandError> {
        self.book(key).acknowledge(key, ts_ms, actor)
    }

    /// # Errors
    /// [`CommandError`] when it does not apply.
    pub fn shelve(
        &mut self,
        key: &AlarmKey,
        ts_ms: i64,
        until_ms: i64,
        actor: Actor,
    ) -> Result<Transition, CommandError> {
        self.book(key).shelve(key, ts_ms, until_ms, actor)
    }

    /// # Errors
    /// [`CommandError`] when it does not apply.
    pub fn unshelve(&mut self, key: &AlarmKey, ts_ms: i64, actor: Actor) -> Result<Transition, CommandError> {
        self.book(key).unshelve(key, ts_ms, actor)
    }

    /// # Errors
    /// [`CommandError`] when it does not apply.
    pub fn set_out_of_service(
        &mut self,
        key: &AlarmKey,
        out_of_service: bool,
        ts_ms: i64,
        actor: Actor,
    ) -> Result<Transition, CommandError> {
        self.book(key).set_out_of_service(key, out_of_service, ts_ms, actor)
    }

    /// An operator commands a user's shut-off valve closed (or lifts the
    /// command): its closing is then expected.
    pub fn command_shutoff(&mut self, sensor: u32, closed: bool) {
        let shard = self.shard_of[sensor as usize] as usize;
        self.shards[shard].devices.command_closed(sensor as usize, closed);
    }

    /// Every alarm that is not normal and quiet, across shards.
    pub fn standing(&self) -> Vec<&crate::alarm::Alarm> {
        let mut v: Vec<&crate::alarm::Alarm> = self.shards.iter().flat_map(|s| s.book.standing()).collect();
        v.extend(self.system.standing());
        v
    }

    /// The alarm for `key`, if it was ever raised.
    pub fn alarm(&self, key: &AlarmKey) -> Option<&crate::alarm::Alarm> {
        match key.source {
            Source::Sensor(s) => self.shards[self.shard_of[s as usize] as usize].book.get(key),
            _ => self.system.get(key),
        }
    }

    /// Puts an alarm back as the journal last recorded it; an active one
    /// is taken as standing by its detector, so that it clears when its
    /// condition ends rather than being raised a second time.
    pub fn restore(&mut self, alarm: crate::alarm::Alarm) {
        let key = alarm.key;
        if alarm.active
            && let Source::Sensor(s) = key.source
        {
            let shard = &mut self.shards[self.shard_of[s as usize] as usize];
            let i = s as usize;
            shard.validity.assume(key.kind, i);
            shard.limits.assume(key.kind, i);
            shard.devices.assume(key.kind, i, alarm.priority);
            shard.usage.assume(key.kind, i);
        }
        if key.kind == AlarmKind::Leak
            && alarm.active
            && let Source::Zone(z) = key.source
            && let Some(leak) = &mut self.leak
        {
            leak.assume(z);
        }
        if key.kind == AlarmKind::MeterStep
            && alarm.active
            && let Source::Sensor(s) = key.source
            && let Some(leak) = &mut self.leak
        {
            leak.assume_faulty(s, alarm.value);
        }
        if key.kind == AlarmKind::SequenceGap
            && alarm.active
            && let Source::Site(site) = key.source
        {
            self.site_last_gap[site as usize] = alarm.last_ms;
        }
        self.book(&key).restore(alarm);
    }

    /// After a restore: stations whose low-low alarms came back are failed
    /// again, and what lies downstream is suppressed.
    pub fn restored(&mut self, out: &mut Vec<Transition>) {
        // As of the journal's last word.
        let ts = self.standing().iter().map(|a| a.last_ms).max().unwrap_or(0);
        for k in 0..self.stations.len() {
            self.station_check(k, ts, out);
        }
    }

    /// Sites seen so far.
    pub fn site_count(&self) -> usize {
        self.site_names.len()
    }

    /// The site name of a site index.
    pub fn site_name(&self, site: u32) -> &str {
        &self.site_names[site as usize]
    }

    /// The site index of a site name, creating it (journal restore).
    pub fn site_index(&mut self, name: &str) -> u32 {
        if let Some(&s) = self.sites.get(name) {
            return s;
        }
        let s = self.site_names.len() as u32;
        self.sites.insert(name.into(), s);
        self.site_names.push(name.to_string());
        self.site_last_gap.push(NEVER);
        s
    }

    /// The live state of one sensor: value, time, quality.
    pub fn live(&self, sensor: u32) -> (f64, i64, Quality) {
        let live = &self.shards[self.shard_of[sensor as usize] as usize].live;
        let i = sensor as usize;
        (live.value[i], live.ts_ms[i], live.quality[i])
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }
}

/// Stations and what fails with them; sensors behind closed valves.
fn suppression_sets(network: &Network, topology: &Topology, table: &SensorTable) -> (Vec<Station>, Vec<Source>) {
    let mut sensors_at_node: HashMap<usize, Vec<u32>> = HashMap::new();
    for (i, s) in table.info.iter().enumerate() {
        if let Some(n) = s.node {
            sensors_at_node.entry(n.index()).or_default().push(i as u32);
        }
    }
    let pressure_at = |node: usize| -> Vec<u32> {
        sensors_at_node
            .get(&node)
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|&i| table.info[i as usize].kind == SensorKind::Pressure)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut stations = Vec::new();
    for (k, s) in network.supplies.iter().enumerate() {
        if !s.in_service {
            continue;
        }
        let mut watch = pressure_at(s.node.index());
        for r in network.regulators.iter().filter(|r| r.in_service && r.from == s.node) {
            watch.extend(pressure_at(r.to.index()));
        }
        let downstream: Vec<Source> = topology
            .cut_off_by(network, ElementRef::Supply(SupplyIdx::new(k)))
            .into_iter()
            .flat_map(|n| sensors_at_node.get(&n.index()).cloned().unwrap_or_default())
            .filter(|i| !watch.contains(i))
            .map(Source::Sensor)
            .collect();
        if !watch.is_empty() && !downstream.is_empty() {
            stations.push(Station {
                watch,
                downstream,
                failed: false,
            });
        }
    }
    let supplied = topology.supplied(network);
    let behind_closed: Vec<Source> = (0..network.nodes.len())
        .filter(|&n| !supplied[n])
        .flat_map(|n| sensors_at_node.get(&n).cloned().unwrap_or_default())
        .map(Source::Sensor)
        .collect();
    (stations, behind_closed)
}
