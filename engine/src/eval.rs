//! Evaluation of leak detection on simulated scenario sets
//! (`linepack sim scenarios`): each scenario is simulated and its telemetry
//! goes, as recording lines, through the replay decoder into a fresh engine
//! on the recording's clock; the leak alarms are scored against the
//! ground truth: detection and time to detect, network distance from the
//! true leak to the top candidate, estimated against true rate, and leak
//! alarms where there is no leak.

use linepack_ingest::telemetry::recording::record_line;
use linepack_ingest::telemetry::{Batch, DecodeLimits, Decoder, Quality};
use linepack_network::topology::{Place, Topology, distance_to};
use linepack_network::{ElementRef, Network};
use linepack_sim::run::{Sink, run as run_sim};
use linepack_sim::scenario::Scenario;
use linepack_sim::simulation::Simulation;
use linepack_sim::telemetry::Record;
use linepack_sim::truth::{Truth, TruthLeak};
use serde::Serialize;

use crate::alarm::{AlarmKind, AlarmState, Source, Transition};
use crate::config::EngineConfig;
use crate::engine::Engine;
use crate::leak::model::Candidate;

/// A leak alarm raised during a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Raised {
    pub zone: String,
    pub ts_ms: i64,
    pub rate_kg_s: f64,
    /// The test that fired: `window 15 min`, `cusum 95 min`.
    pub test: String,
    /// The top candidate as refined up to [`LOCALIZATION_AFTER_MS`] after
    /// the alarm, if the localization gave one.
    pub top: Option<Candidate>,
    /// ... and as refined up to [`LATE_LOCALIZATION_AFTER_MS`].
    pub top_late: Option<Candidate>,
    /// The first [`SEARCH_STOPS`] candidates, at the same two times.
    #[serde(skip)]
    pub stops: Vec<Candidate>,
    #[serde(skip)]
    pub stops_late: Vec<Candidate>,
    /// ... and as it stood at each of [`SEARCH_LOCALIZATION_AFTER_MIN`]
    /// that the run reached (minutes after the alarm, top candidate).
    #[serde(skip)]
    pub searched: Vec<(i64, Option<Candidate>)>,
    /// The balance meter the alarm named as explaining it as well, if any,
    /// as the report stands [`LOCALIZATION_AFTER_MS`] after the alarm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meter_alternative: Option<String>,
}

/// A user's meter taken as faulty (a `meter_step` alarm) during a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MeterStepRaised {
    pub sensor: String,
    pub ts_ms: i64,
    /// The scenario had a fault on that sensor then (scored runs only).
    pub true_fault: bool,
}

/// Localization is scored on the candidates as they stand this long after
/// the alarm (they are refined as residuals accumulate) ...
pub const LOCALIZATION_AFTER_MS: i64 = 15 * 60_000;
/// ... and again an hour after it, when a crew sent on the first ranking
/// would be on site and the ranking has seen four times the data.
pub const LATE_LOCALIZATION_AFTER_MS: i64 = 60 * 60_000;
/// ... and while the alarm stands and a crew searches, minutes after it:
/// how far the place sharpens with hours of residuals.
pub const SEARCH_LOCALIZATION_AFTER_MIN: [i64; 2] = [180, 300];
/// Candidates a crew searches in order, scored as a plan: the leak within
/// 300 m of any of them.
pub const SEARCH_STOPS: usize = 3;
/// The acceptance scores localization where a zone has at least one
/// pressure sensor per this many nodes.
pub const NODES_PER_PRESSURE_SENSOR: f64 = 50.0;

/// The first [`SEARCH_STOPS`] of an alarm's candidates.
fn first_stops(candidates: &[Candidate]) -> Vec<Candidate> {
    candidates[..candidates.len().min(SEARCH_STOPS)].to_vec()
}

/// The top candidate's distance from the true leak, m, and the
/// localization's own probability that the leak lies within the search
/// radius of it, some minutes after the alarm.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Located {
    pub after_min: i64,
    pub distance_m: Option<f64>,
    pub confidence: Option<f64>,
}

/// How one scenario went.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    pub file: String,
    pub variant: String,
    /// Simulated time, days.
    pub days: f64,
    /// Of which judged without a leak (after learning, before the leak), days.
    pub normal_days: f64,
    /// The leak, if the scenario has one: percent of its zone's inflow,
    /// true rate, zone.
    pub leak_percent: Option<f64>,
    pub true_rate_kg_s: Option<f64>,
    pub leak_zone: Option<String>,
    /// First leak alarm in the leak's zone after it started.
    pub detected_after_s: Option<f64>,
    pub estimated_rate_kg_s: Option<f64>,
    /// Network distance from the true leak to the top candidate, m, 15
    /// minutes after the alarm ...
    pub localization_m: Option<f64>,
    /// ... and an hour after it.
    pub localization_late_m: Option<f64>,
    /// The localization's own probability that the leak lies within the
    /// search radius of that top candidate, 15 minutes and an hour after
    /// the alarm: what it expected of itself.
    pub top_confidence: Option<f64>,
    pub top_confidence_late: Option<f64>,
    /// The nearest of the first [`SEARCH_STOPS`] candidates, m, 15 minutes
    /// and an hour after the alarm, and the localization's own probability
    /// that the leak is within the search radius of one of them.
    pub plan_localization_m: Option<f64>,
    pub plan_localization_late_m: Option<f64>,
    pub plan_confidence: Option<f64>,
    pub plan_confidence_late: Option<f64>,
    /// The same, later into a standing alarm: at each of
    /// [`SEARCH_LOCALIZATION_AFTER_MIN`] the run lasted to.
    pub localization_searched: Vec<Located>,
    /// The balance meter the detecting alarm named as explaining it as
    /// well, if any, 15 minutes after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meter_alternative: Option<String>,
    /// The leak's zone has at least one pressure sensor per 50 nodes (the
    /// localization figure of the acceptance counts these leaks).
    pub dense_pressure_sensors: bool,
    /// Leak alarms raised where or when there was no leak.
    pub false_alarms: Vec<Raised>,
    /// Meters taken as faulty instead of a leak.
    pub meter_steps: Vec<MeterStepRaised>,
}

/// Feeds a simulation's telemetry to an engine as a replay would: each
/// message as a recording line through the decoder, the batch of one
/// simulated moment processed, then the clock ticked to it.
pub struct EngineSink<'a> {
    network: &'a Network,
    pub engine: Engine,
    decoder: Decoder,
    batch: Batch,
    rejects: Vec<linepack_ingest::telemetry::Reject>,
    transitions: Vec<Transition>,
    /// Leak alarms raised so far.
    pub raised: Vec<Raised>,
    /// Meters taken as faulty so far.
    pub meter_steps: Vec<MeterStepRaised>,
}

impl<'a> EngineSink<'a> {
    /// A fresh engine for `network`.
    ///
    /// # Errors
    /// When the engine cannot start on this configuration.
    pub fn new(network: &'a Network, config: &EngineConfig) -> anyhow::Result<Self> {
        let table = config.units.sensor_table(network)?;
        Ok(EngineSink {
            network,
            engine: Engine::new(network, config, 1)?,
            decoder: Decoder::new(
                &config.mqtt.topic_prefix,
                table,
                network.sensors.len(),
                DecodeLimits::default(),
            ),
            batch: Batch::default(),
            rejects: Vec::new(),
            transitions: Vec::new(),
            meter_steps: Vec::new(),
            raised: Vec::new(),
        })
    }

    fn collect(&mut self, now_ms: i64) {
        for r in &mut self.raised {
            let searched = SEARCH_LOCALIZATION_AFTER_MIN
                .get(r.searched.len())
                .copied()
                .filter(|after_min| now_ms >= r.ts_ms + after_min * 60_000);
            let refining = now_ms <= r.ts_ms + LATE_LOCALIZATION_AFTER_MS;
            if searched.is_none() && !refining {
                continue;
            }
            let report = self
                .engine
                .table
                .zone_names
                .iter()
                .position(|n| *n == r.zone)
                .and_then(|z| self.engine.leak_report(z as u32));
            if let Some(after_min) = searched {
                r.searched
                    .push((after_min, report.and_then(|report| report.candidates.first().cloned())));
            }
            if refining && let Some(report) = report {
                let top = report.candidates.first().cloned();
                let stops = first_stops(&report.candidates);
                if now_ms <= r.ts_ms + LOCALIZATION_AFTER_MS {
                    r.top.clone_from(&top);
                    r.stops.clone_from(&stops);
                    r.meter_alternative = report.meter_alternative.as_ref().map(|m| m.sensor.clone());
                }
                r.top_late = top;
                r.stops_late = stops;
            }
        }
        for t in self.transitions.drain(..) {
            if t.key.kind == AlarmKind::MeterStep
                && t.active
                && matches!(t.from, AlarmState::Normal | AlarmState::ReturnedUnacknowledged)
                && let Source::Sensor(s) = t.key.source
            {
                self.meter_steps.push(MeterStepRaised {
                    sensor: self.network.sensors[s as usize].id.clone(),
                    ts_ms: t.ts_ms,
                    true_fault: false,
                });
            }
            if t.key.kind == AlarmKind::Leak
                && t.active
                && t.to == AlarmState::Unacknowledged
                && matches!(t.from, AlarmState::Normal | AlarmState::ReturnedUnacknowledged)
                && let Source::Zone(z) = t.key.source
            {
                let report = self.engine.leak_report(z);
                let top = report.and_then(|r| r.candidates.first().cloned());
                let stops = report.map(|r| first_stops(&r.candidates)).unwrap_or_default();
                self.raised.push(Raised {
                    zone: self.engine.table.zone_names[z as usize].clone(),
                    ts_ms: t.ts_ms,
                    rate_kg_s: t.value,
                    test: report.map_or_else(String::new, |r| {
                        format!("{} {:.0} min, {:.1}σ", r.test, r.window_min, r.z)
                    }),
                    top_late: top.clone(),
                    top,
                    searched: Vec::new(),
                    stops_late: stops.clone(),
                    stops,
                    meter_alternative: report.and_then(|r| r.meter_alternative.as_ref().map(|m| m.sensor.clone())),
                });
            }
        }
    }
}

impl Sink for EngineSink<'_> {
    fn send(&mut self, t_ms: i64, records: &[Record], _network: &Network) -> std::io::Result<()> {
        self.batch.clear();
        for r in records {
            let id = &self.network.sensors[r.sensor.index()].id;
            let line = record_line(id, r.ts_ms, r.value, Quality::Good, r.event);
            self.decoder
                .decode_record(line.as_bytes(), &mut self.batch, &mut self.rejects);
        }
        self.rejects.clear();
        self.engine.process(&self.batch, &mut self.transitions);
        self.engine.tick(t_ms, &mut self.transitions);
        self.collect(t_ms);
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What one scenario's run raised, and its ground truth.
pub struct Run {
    pub raised: Vec<Raised>,
    pub meter_steps: Vec<MeterStepRaised>,
    pub truth: Truth,
}

/// Simulates `scenario` on `network` through a fresh engine.
///
/// # Errors
/// When the engine cannot start on this configuration or the simulation fails.
pub fn run_scenario(network: &Network, config: &EngineConfig, scenario: Scenario) -> anyhow::Result<Run> {
    let mut sink = EngineSink::new(network, config)?;
    let mut sim = Simulation::new(network, scenario)?;
    let truth = run_sim(&mut sim, &mut sink, |_| {})?;
    Ok(Run {
        raised: sink.raised,
        meter_steps: sink.meter_steps,
        truth,
    })
}

/// Scores a run against its truth.
pub fn score(
    network: &Network,
    file: &str,
    variant: &str,
    leak_percent: Option<f64>,
    learning_days: f64,
    run: &Run,
) -> Outcome {
    let (raised, truth) = (&run.raised, &run.truth);
    let start = truth_start_ms(truth);
    let days = (truth_end_ms(truth) - start) as f64 / 86_400_000.0;
    let leak = truth.leaks.first();
    let leak_free = leak.map_or(days, |l| (l.start_ms - start) as f64 / 86_400_000.0);
    let mut out = Outcome {
        file: file.into(),
        variant: variant.into(),
        days,
        normal_days: (leak_free - learning_days).max(0.0),
        leak_percent,
        true_rate_kg_s: leak.and_then(|l| l.rate_kg_s),
        leak_zone: leak.and_then(|l| l.zone.clone()),
        detected_after_s: None,
        estimated_rate_kg_s: None,
        localization_m: None,
        localization_late_m: None,
        top_confidence: None,
        top_confidence_late: None,
        localization_searched: Vec::new(),
        plan_localization_m: None,
        plan_localization_late_m: None,
        plan_confidence: None,
        plan_confidence_late: None,
        meter_alternative: None,
        dense_pressure_sensors: leak
            .and_then(|l| l.zone.as_deref())
            .is_some_and(|z| dense_pressure_sensors(network, z)),
        false_alarms: Vec::new(),
        meter_steps: run
            .meter_steps
            .iter()
            .map(|m| MeterStepRaised {
                true_fault: truth
                    .faults
                    .iter()
                    .any(|f| f.sensor == m.sensor && f.start_ms <= m.ts_ms && f.end_ms.is_none_or(|e| m.ts_ms <= e)),
                ..m.clone()
            })
            .collect(),
    };
    let distances = leak.and_then(|l| leak_distances(network, l));
    for r in raised {
        let hit = leak.is_some_and(|l| r.ts_ms >= l.start_ms && l.zone.as_deref() == Some(r.zone.as_str()));
        if hit && out.detected_after_s.is_none() {
            let l = leak.expect("hit");
            out.detected_after_s = Some((r.ts_ms - l.start_ms) as f64 / 1000.0);
            out.estimated_rate_kg_s = Some(r.rate_kg_s);
            let distance = |top: Option<&Candidate>| {
                let (top, d) = (top?, distances.as_ref()?);
                Some(candidate_distance(network, d, top)).filter(|d| d.is_finite())
            };
            out.localization_m = distance(r.top.as_ref());
            out.localization_late_m = distance(r.top_late.as_ref());
            out.top_confidence = r.top.as_ref().map(|c| c.within_radius);
            out.top_confidence_late = r.top_late.as_ref().map(|c| c.within_radius);
            let nearest = |stops: &[Candidate]| stops.iter().filter_map(|c| distance(Some(c))).min_by(f64::total_cmp);
            out.plan_localization_m = nearest(&r.stops);
            out.plan_localization_late_m = nearest(&r.stops_late);
            out.plan_confidence = r.stops.last().map(|c| c.covered);
            out.plan_confidence_late = r.stops_late.last().map(|c| c.covered);
            out.localization_searched = r
                .searched
                .iter()
                .map(|(after_min, top)| Located {
                    after_min: *after_min,
                    distance_m: distance(top.as_ref()),
                    confidence: top.as_ref().map(|c| c.within_radius),
                })
                .collect();
            out.meter_alternative.clone_from(&r.meter_alternative);
        } else if !hit {
            out.false_alarms.push(r.clone());
        }
    }
    out
}

/// Whether zone `zone` has at least one pressure sensor per
/// [`NODES_PER_PRESSURE_SENSOR`] nodes.
fn dense_pressure_sensors(network: &Network, zone: &str) -> bool {
    let Some(z) = network.zones.iter().find(|z| z.id == zone) else {
        return false;
    };
    let in_zone: std::collections::HashSet<_> = z.nodes.iter().copied().collect();
    let sensors = network
        .sensors
        .iter()
        .filter(|s| s.kind == linepack_network::network::SensorKind::Pressure)
        .filter(|s| match s.at {
            linepack_network::ElementRef::Node(n) => in_zone.contains(&n),
            linepack_network::ElementRef::Supply(k) => in_zone.contains(&network.supplies[k.index()].node),
            _ => false,
        })
        .count();
    sensors as f64 * NODES_PER_PRESSURE_SENSOR >= z.nodes.len() as f64
}

fn truth_start_ms(t: &Truth) -> i64 {
    linepack_ingest::telemetry::time::parse_rfc3339_ms(&t.start).unwrap_or(0)
}

fn truth_end_ms(t: &Truth) -> i64 {
    linepack_ingest::telemetry::time::parse_rfc3339_ms(&t.end).unwrap_or(0)
}

/// Where a leak or a candidate is: along its pipe where it names one and a
/// position, else at its node.
fn place(network: &Network, node: &str, pipe: Option<&str>, position: Option<f64>) -> Option<Place> {
    match (pipe.and_then(|id| network.find(id)), position) {
        (Some(ElementRef::Pipe(i)), Some(x)) => Some(Place::Pipe(i, x)),
        _ => network.find_node(node).map(Place::Node),
    }
}

/// The leak's place, and the network distance (m, along pipes; valves and
/// regulators count 0) from it to every node.
fn leak_distances(network: &Network, leak: &TruthLeak) -> Option<(Place, Vec<f64>)> {
    let start = place(network, &leak.node, leak.pipe.as_deref(), leak.position)?;
    Some((
        start,
        Topology::new(network).distances_from(network, start, f64::INFINITY),
    ))
}

/// Network distance from the leak to a candidate's place; the leak's from
/// [`leak_distances`].
fn candidate_distance(network: &Network, (start, distances): &(Place, Vec<f64>), c: &Candidate) -> f64 {
    place(network, &c.node, c.pipe.as_deref(), c.position)
        .map_or(f64::INFINITY, |at| distance_to(network, distances, *start, at))
}

/// The figures the acceptance asks for, over a set of outcomes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub scenarios: usize,
    pub leak_scenarios: usize,
    /// Simulated days without a leak (normal runs and the time before each
    /// leak), and leak alarms in them.
    pub normal_days: f64,
    pub false_alarms: usize,
    pub false_alarms_per_day: f64,
    pub bins: Vec<SizeBin>,
    /// Leaks of at least 2 %: share detected within 15 minutes.
    pub large_within_15_min: f64,
    /// Leaks of at least 0.5 %: share detected within 2 hours.
    pub all_within_2_h: f64,
    /// Detected leaks in zones with at least one pressure sensor per 50
    /// nodes: how many, and the share with the top candidate within 300 m
    /// 15 minutes after the alarm ...
    pub localization_scored: usize,
    pub localized_within_300_m: f64,
    /// ... and an hour after it.
    pub localized_within_300_m_late: f64,
    /// What the localization expected of itself on those leaks: the mean
    /// of its own probability that the leak is within its search radius
    /// (300 m by default, the acceptance's distance) of its top
    /// candidate, 15 minutes and an hour after the alarm. Where it is about
    /// the share found, the ranking is as good as its probabilities say,
    /// and a higher share needs more from the sensors, not from the fit.
    pub expected_within_300_m: f64,
    pub expected_within_300_m_late: f64,
    /// The share with one of the first [`SEARCH_STOPS`] candidates within
    /// 300 m (a crew searching them in order finds the leak), 15 minutes
    /// and an hour after the alarm, and the share expected.
    pub plan_within_300_m: f64,
    pub plan_within_300_m_late: f64,
    pub plan_expected: f64,
    pub plan_expected_late: f64,
    /// The same later into the standing alarms, of the scored leaks whose
    /// run lasted that long after the alarm.
    pub searched: Vec<SearchShare>,
    /// Every detected leak, whatever its zone's sensors, 15 minutes after.
    pub all_localized_within_300_m: f64,
    /// Users' meters taken as faulty (`meter_step` alarms), and of those
    /// the ones without a fault on that meter then.
    pub meter_steps: usize,
    pub meter_steps_without_fault: usize,
}

/// Localization some minutes after the alarm: of `scored` leaks, the share
/// with the top candidate within 300 m, and the share the localization
/// expected.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchShare {
    pub after_min: i64,
    pub scored: usize,
    pub within_300_m: f64,
    pub expected: f64,
}

/// Detection by leak size.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SizeBin {
    pub from_percent: f64,
    pub to_percent: f64,
    pub leaks: usize,
    pub detected: usize,
    pub within_15_min: usize,
    pub within_2_h: usize,
    pub median_detect_min: Option<f64>,
    pub median_localization_m: Option<f64>,
    pub within_300_m: usize,
    /// Median of estimated / true rate.
    pub median_rate_ratio: Option<f64>,
}

/// The mean of `m` over `of`, a missing value counting 0 (no candidate:
/// nothing expected); NaN for none.
fn mean_of(of: &[&&Outcome], m: fn(&Outcome) -> Option<f64>) -> f64 {
    of.iter().map(|o| m(o).unwrap_or(0.0)).sum::<f64>() / of.len() as f64
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

fn share(n: usize, of: usize) -> f64 {
    if of == 0 { f64::NAN } else { n as f64 / of as f64 }
}

pub fn summarize(outcomes: &[Outcome]) -> Summary {
    let bins: Vec<SizeBin> = [(0.0, 1.0), (1.0, 2.0), (2.0, 5.0), (5.0, 100.0)]
        .iter()
        .map(|&(a, b)| {
            let of: Vec<&Outcome> = outcomes
                .iter()
                .filter(|o| o.leak_percent.is_some_and(|p| p >= a && p < b))
                .collect();
            let detected: Vec<&&Outcome> = of.iter().filter(|o| o.detected_after_s.is_some()).collect();
            SizeBin {
                from_percent: a,
                to_percent: b,
                leaks: of.len(),
                detected: detected.len(),
                within_15_min: of
                    .iter()
                    .filter(|o| o.detected_after_s.is_some_and(|s| s <= 900.0))
                    .count(),
                within_2_h: of
                    .iter()
                    .filter(|o| o.detected_after_s.is_some_and(|s| s <= 7200.0))
                    .count(),
                median_detect_min: median(
                    detected
                        .iter()
                        .filter_map(|o| o.detected_after_s)
                        .map(|s| s / 60.0)
                        .collect(),
                ),
                median_localization_m: median(detected.iter().filter_map(|o| o.localization_m).collect()),
                within_300_m: detected
                    .iter()
                    .filter(|o| o.localization_m.is_some_and(|m| m <= 300.0))
                    .count(),
                median_rate_ratio: median(
                    detected
                        .iter()
                        .filter_map(|o| Some(o.estimated_rate_kg_s? / o.true_rate_kg_s?))
                        .collect(),
                ),
            }
        })
        .filter(|b| b.leaks > 0)
        .collect();
    let leaks: Vec<&Outcome> = outcomes.iter().filter(|o| o.leak_percent.is_some()).collect();
    let normal_days: f64 = outcomes.iter().map(|o| o.normal_days).sum();
    let false_alarms: usize = outcomes.iter().map(|o| o.false_alarms.len()).sum();
    let large: Vec<&&Outcome> = leaks
        .iter()
        .filter(|o| o.leak_percent.is_some_and(|p| p >= 2.0))
        .collect();
    let detected: Vec<&&Outcome> = leaks.iter().filter(|o| o.detected_after_s.is_some()).collect();
    let scored: Vec<&&Outcome> = detected.iter().copied().filter(|o| o.dense_pressure_sensors).collect();
    let within_300 = |of: &[&&Outcome], m: fn(&Outcome) -> Option<f64>| {
        share(of.iter().filter(|o| m(o).is_some_and(|m| m <= 300.0)).count(), of.len())
    };
    Summary {
        scenarios: outcomes.len(),
        leak_scenarios: leaks.len(),
        normal_days,
        false_alarms,
        false_alarms_per_day: false_alarms as f64 / normal_days.max(1e-9),
        bins,
        large_within_15_min: share(
            large
                .iter()
                .filter(|o| o.detected_after_s.is_some_and(|s| s <= 900.0))
                .count(),
            large.len(),
        ),
        all_within_2_h: share(
            leaks
                .iter()
                .filter(|o| o.detected_after_s.is_some_and(|s| s <= 7200.0))
                .count(),
            leaks.len(),
        ),
        localization_scored: scored.len(),
        localized_within_300_m: within_300(&scored, |o| o.localization_m),
        localized_within_300_m_late: within_300(&scored, |o| o.localization_late_m),
        expected_within_300_m: mean_of(&scored, |o| o.top_confidence),
        expected_within_300_m_late: mean_of(&scored, |o| o.top_confidence_late),
        plan_within_300_m: within_300(&scored, |o| o.plan_localization_m),
        plan_within_300_m_late: within_300(&scored, |o| o.plan_localization_late_m),
        plan_expected: mean_of(&scored, |o| o.plan_confidence),
        plan_expected_late: mean_of(&scored, |o| o.plan_confidence_late),
        searched: SEARCH_LOCALIZATION_AFTER_MIN
            .iter()
            .map(|&after_min| {
                let at: Vec<&Located> = scored
                    .iter()
                    .filter_map(|o| o.localization_searched.iter().find(|l| l.after_min == after_min))
                    .collect();
                SearchShare {
                    after_min,
                    scored: at.len(),
                    within_300_m: share(
                        at.iter().filter(|l| l.distance_m.is_some_and(|m| m <= 300.0)).count(),
                        at.len(),
                    ),
                    expected: at.iter().map(|l| l.confidence.unwrap_or(0.0)).sum::<f64>() / at.len() as f64,
                }
            })
            .collect(),
        meter_steps: outcomes.iter().map(|o| o.meter_steps.len()).sum(),
        meter_steps_without_fault: outcomes
            .iter()
            .flat_map(|o| &o.meter_steps)
            .filter(|m| !m.true_fault)
            .count(),
        all_localized_within_300_m: within_300(&detected, |o| o.localization_m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candidate_is_scored_at_its_place_along_its_pipe() {
        // A–B–C in a row, 100 m pipes; the leak 30 m along P1 from A.
        let net = crate::leak::places::tests::row();
        let leak = TruthLeak {
            id: "leak".into(),
            node: "A".into(),
            pipe: Some("P1".into()),
            position: Some(0.3),
            x: None,
            y: None,
            zone: None,
            start: String::new(),
            start_ms: 0,
            end: None,
            end_ms: None,
            rate_kg_s: None,
            growth_per_hour: 0.0,
            lost_kg: 0.0,
        };
        let distances = leak_distances(&net, &leak).expect("the leak's pipe is in the network");
        let at = |node: &str, pipe: Option<&str>, position: Option<f64>| {
            let c = Candidate {
                node: node.into(),
                pipe: pipe.map(Into::into),
                position,
                x: None,
                y: None,
                rate_kg_s: 0.0,
                likelihood: 0.0,
                within_radius: 0.0,
                covered: 0.0,
            };
            candidate_distance(&net, &distances, &c)
        };
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        // Along the same pipe, then round by B, then at a node.
        assert!(close(at("B", Some("P1"), Some(0.7)), 40.0));
        assert!(close(at("B", Some("P2"), Some(0.5)), 120.0));
        assert!(close(at("C", None, None), 170.0));
        assert!(close(at("A", None, None), 30.0));
    }

    #[test]
    fn the_summary_sets_what_the_localization_expected_beside_what_it_found() {
        let outcome = |detected: bool, m: f64, confidence: f64| Outcome {
            file: "leak.toml".into(),
            variant: "noise".into(),
            days: 1.5,
            normal_days: 0.5,
            leak_percent: Some(1.0),
            true_rate_kg_s: Some(0.001),
            leak_zone: Some("Z0".into()),
            detected_after_s: detected.then_some(300.0),
            estimated_rate_kg_s: detected.then_some(0.001),
            localization_m: detected.then_some(m),
            localization_late_m: detected.then_some(m),
            top_confidence: detected.then_some(confidence),
            top_confidence_late: detected.then_some(confidence),
            plan_localization_m: detected.then_some(m / 2.0),
            plan_localization_late_m: detected.then_some(m),
            plan_confidence: detected.then_some(confidence),
            plan_confidence_late: detected.then_some(confidence),
            localization_searched: vec![Located {
                after_min: 180,
                distance_m: detected.then_some(m),
                confidence: detected.then_some(confidence),
            }],
            meter_alternative: None,
            dense_pressure_sensors: true,
            false_alarms: Vec::new(),
            meter_steps: Vec::new(),
        };
        // Found near with 0.5, missed with 0.9; the undetected leak is not scored.
        let s = summarize(&[
            outcome(true, 100.0, 0.5),
            outcome(true, 400.0, 0.9),
            outcome(false, 0.0, 0.0),
        ]);
        assert_eq!(s.localization_scored, 2);
        assert!((s.localized_within_300_m - 0.5).abs() < 1e-12);
        assert!(
            (s.expected_within_300_m - 0.7).abs() < 1e-12,
            "{}",
            s.expected_within_300_m
        );
        assert!((s.expected_within_300_m_late - 0.7).abs() < 1e-12);
        // Three stops: the 400 m leak's nearest stop 200 m off at first.
        assert!((s.plan_within_300_m - 1.0).abs() < 1e-12);
        assert!((s.plan_within_300_m_late - 0.5).abs() < 1e-12);
        // Three hours in, the same two; five hours in, none reached.
        assert_eq!(s.searched[0].scored, 2);
        assert!((s.searched[0].within_300_m - 0.5).abs() < 1e-12);
        assert_eq!(s.searched[1].scored, 0);
        assert!(s.searched[1].within_300_m.is_nan());
    }
}
