//! Model residuals: the network model, stepped each period with the
//! linepack change (`SteadySolver::step`) and driven by what is measured
//! (supply and regulator outlet pressures as [`HeldPressure`]s, metered
//! users) and the expected use of the unmetered users predicts every other
//! pressure and flow sensor; the residual (measured − predicted − the
//! sensor's learned bias) is what no demand estimate explains. A leak
//! leaves a pattern in the residuals of its zone; each candidate node's
//! signature (the zone's sensors' response to one more kg/s withdrawn
//! there, from the solver's Jacobian) is fitted to the change since the
//! onset, and the nodes are ranked by how much of the pattern they explain.

use linepack_network::ids::{ConsumerIdx, ElementRef, NodeIdx, PipeIdx, RegulatorIdx, SupplyIdx};
use linepack_network::network::SensorKind;
use linepack_network::solver::{SolveOptions, SteadySolver, SteadyState, WithdrawalResponse};
use linepack_network::{Network, linepack};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

use super::places::Places;
use super::setpoint::HeldPressure;

/// Residuals kept per sensor: the localization averages those since a
/// leak's onset (at most this many periods). Six hours: a standing alarm's
/// place keeps sharpening while a crew searches (2,500-node smart-meter
/// city, within 300 m: 69 % an hour after the alarm, 73 % after three,
/// 81 % after five).
const HISTORY: usize = 360;

/// Periods after a leak's onset left out of its effect while the zone
/// unpacks (the signatures are steady state).
const TRANSIENT_PERIODS: usize = 2;
/// Periods before the onset whose mean residual is the baseline.
const BASELINE_PERIODS: usize = 60;

/// What the localizations of one alarm keep between them: the candidates'
/// signatures (the zone's sensors' response to one more kg/s at each node)
/// as taken at each localization, with the update each was taken at; and
/// each sensor's baseline (its mean residual over the hour before the
/// onset), which the history stops reaching a few hours into the leak;
/// and what the last one fitted: each used sensor's (position, effect,
/// weight), the best place's χ², and half the leak as it located it.
#[derive(Clone, Debug, Default)]
pub struct Signatures {
    order: Vec<NodeIdx>,
    taken: Vec<(u64, Vec<f64>)>,
    baselines: Vec<Option<Baseline>>,
    effects: Vec<(usize, f64, f64)>,
    best_chi2: f64,
    /// Half the leak (node, kg/s) spread over the places as the last
    /// localization weighed them: the next signatures are taken about the
    /// state with it withdrawn (the midpoint rule, see
    /// [`SteadySolver::withdrawal_responses`]).
    half_leak: Vec<(NodeIdx, f64)>,
}

/// A boundary meter reading wrong by `bias_kg_s` explains the residuals
/// about as well as a leak at the best place (χ² `chi2` against
/// `place_chi2`): a leak at the meter's own feed and the meter reading
/// high look alike.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeterAlternative {
    pub sensor: String,
    pub bias_kg_s: f64,
    pub chi2: f64,
    pub place_chi2: f64,
    /// For a meter between two zones: the other zone's step since the
    /// onset, which the meter's fault would make a fall by the rate and a
    /// leak would leave level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub across: Option<Across>,
}

/// The zone across a boundary meter: its imbalance's step since an onset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Across {
    pub zone: String,
    pub step_kg_s: f64,
    pub sigma_kg_s: f64,
}

/// A meter's bias is named as an alternative when its χ² is at most this
/// much above the best place's (a likelihood ratio of e).
const ALTERNATIVE_CHI2: f64 = 2.0;

/// A sensor's mean residual over the periods before an onset.
#[derive(Clone, Copy, Debug)]
struct Baseline {
    /// The first update after the onset it was taken for.
    onset: u64,
    mean: f64,
    periods: usize,
}

impl Signatures {
    /// The signatures averaged over the updates `from..=to`, each update
    /// with the signatures taken nearest to it: each set weighted by how
    /// many of those updates it is nearest to.
    fn averaged(&self, from: u64, to: u64, sensors: usize) -> Vec<f64> {
        let mut weight = vec![0.0; self.taken.len()];
        for t in from..=to {
            if let Some(k) = (0..self.taken.len()).min_by_key(|&k| self.taken[k].0.abs_diff(t)) {
                weight[k] += 1.0;
            }
        }
        let n: f64 = weight.iter().sum();
        let mut sum = vec![0.0; self.order.len() * sensors];
        for ((_, sig), w) in self.taken.iter().zip(weight).filter(|(_, w)| *w > 0.0) {
            for (s, v) in sum.iter_mut().zip(sig) {
                *s += w * v;
            }
        }
        if n > 0.0 {
            sum.iter_mut().for_each(|s| *s /= n);
        }
        sum
    }
}

/// The mean of the finite values, and how many there were.
fn mean_finite(values: impl Iterator<Item = f64>) -> (f64, usize) {
    let (sum, n) = values
        .filter(|v| v.is_finite())
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (if n == 0 { 0.0 } else { sum / n as f64 }, n)
}

/// The weight of the balance's rate in a fit: 1/σ², none when σ is unknown.
fn rate_weight(rate_sigma: f64) -> f64 {
    if rate_sigma > 0.0 && rate_sigma.is_finite() {
        1.0 / (rate_sigma * rate_sigma)
    } else {
        0.0
    }
}

/// What a residual sensor measures in the model.
#[derive(Clone, Copy, Debug)]
enum Measures {
    Pressure(NodeIdx),
    Regulator(RegulatorIdx),
    Supply(SupplyIdx),
    Pipe(PipeIdx),
}

/// A sensor compared with the model, and what is learned of it.
#[derive(Clone, Debug)]
struct Residual {
    sensor: u32,
    measures: Measures,
    /// Mean of measured − predicted in normal operation.
    bias: f64,
    /// Variance of the bias-corrected residual.
    variance: f64,
    learned: f64,
    /// Short exponential mean of the bias-corrected residual.
    short: f64,
    /// The residual of the last update (NaN when the sensor had no value).
    last: f64,
    /// The last few residuals, newest last (NaN where none).
    history: VecDeque<f64>,
}

/// A measured input of the model.
#[derive(Clone, Copy, Debug)]
enum Input {
    SupplyPressure(SupplyIdx),
    RegulatorOutlet(RegulatorIdx),
    ConsumerFlow(ConsumerIdx),
}

/// One candidate leak location.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The node nearest the place.
    pub node: String,
    /// The pipe the place is on, and how far along it from the pipe's
    /// `from` end (0 to 1); none for a place at a node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipe: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<f64>,
    /// Coordinates of the place, where the network has them.
    pub x: Option<f64>,
    pub y: Option<f64>,
    /// The leak rate that best explains the residuals at this node, kg/s.
    pub rate_kg_s: f64,
    /// Probability that the leak is on this pipe (at this node) (the
    /// candidates of one alarm sum to at most 1).
    pub likelihood: f64,
    /// Probability that the leak is within the search radius of this place
    /// (`leak.search_radius_m`).
    #[serde(default)]
    pub within_radius: f64,
    /// Probability that the leak is within the search radius of this
    /// candidate or of one listed before it: what searching the candidates
    /// in order finds.
    #[serde(default)]
    pub covered: f64,
}

/// A sensor's part in the explanation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResidualNote {
    pub sensor: String,
    /// Short mean of measured − model − bias, in the sensor's unit.
    pub residual: f64,
    /// Its usual spread.
    pub sigma: f64,
}

/// The model and what it learned (see the module docs).
pub struct Model {
    net: Network,
    base_demand: Vec<f64>,
    solver: SteadySolver,
    state: Option<SteadyState>,
    residuals: Vec<Residual>,
    inputs: Vec<(u32, Input)>,
    /// Per input: the estimate of a held pressure (unused for flows).
    held: Vec<HeldPressure>,
    short_alpha: f64,
    bias_alpha: f64,
    period_s: f64,
    /// Updates solved so far: the newest residual in each history is of
    /// this one.
    updates: u64,
    pub failures: u64,
}

/// Residual spread assumed until learned, by kind: bar, kg/s.
const PRESSURE_FLOOR_BAR: f64 = 1e-4;
const FLOW_FLOOR_KG_S: f64 = 1e-5;

impl Model {
    pub fn new(network: &Network, period_s: f64, short_tau_s: f64, bias_tau_h: f64) -> Model {
        let mut residuals = Vec::new();
        let mut inputs = Vec::new();
        let outlet_of = |n: NodeIdx| {
            network
                .regulators
                .iter()
                .position(|r| r.in_service && r.to == n)
                .map(RegulatorIdx::new)
        };
        let supply_at = |n: NodeIdx| {
            network
                .supplies
                .iter()
                .position(|s| s.in_service && s.node == n)
                .map(SupplyIdx::new)
        };
        for (i, s) in network.sensors.iter().enumerate() {
            let i = i as u32;
            let measures = match (s.kind, s.at) {
                (SensorKind::Pressure, at) => {
                    let node = match at {
                        ElementRef::Node(n) => n,
                        ElementRef::Supply(k) => network.supplies[k.index()].node,
                        _ => continue,
                    };
                    // Pressures the network holds are inputs, not residuals.
                    if let Some(k) = supply_at(node) {
                        inputs.push((i, Input::SupplyPressure(k)));
                        continue;
                    }
                    if let Some(r) = outlet_of(node) {
                        inputs.push((i, Input::RegulatorOutlet(r)));
                        continue;
                    }
                    Measures::Pressure(node)
                }
                (SensorKind::Flow, ElementRef::Consumer(c)) => {
                    inputs.push((i, Input::ConsumerFlow(c)));
                    continue;
                }
                (SensorKind::Flow, ElementRef::Regulator(r)) => Measures::Regulator(r),
                (SensorKind::Flow, ElementRef::Supply(k)) => Measures::Supply(k),
                (SensorKind::Flow, ElementRef::Pipe(p)) => Measures::Pipe(p),
                _ => continue,
            };
            residuals.push(Residual {
                sensor: i,
                measures,
                bias: 0.0,
                variance: 0.0,
                learned: 0.0,
                short: 0.0,
                last: f64::NAN,
                history: VecDeque::with_capacity(HISTORY),
            });
        }
        let alpha = |tau_s: f64| 1.0 - (-period_s / tau_s.max(period_s)).exp();
        Model {
            base_demand: network.consumers.iter().map(|c| c.demand_kg_s).collect(),
            net: network.clone(),
            solver: SteadySolver::new(network, SolveOptions::default()),
            state: None,
            residuals,
            held: vec![HeldPressure::default(); inputs.len()],
            inputs,
            short_alpha: alpha(short_tau_s),
            bias_alpha: alpha(bias_tau_h * 3600.0),
            period_s,
            updates: 0,
            failures: 0,
        }
    }

    /// Sensors the model reads (inputs and residuals).
    pub fn sensors(&self) -> impl Iterator<Item = u32> + '_ {
        self.inputs
            .iter()
            .map(|(s, _)| *s)
            .chain(self.residuals.iter().map(|r| r.sensor))
    }

    /// The base (file) demand of a consumer, kg/s.
    /// The network as last stepped: pressures at every node, flows in
    /// every pipe (for maps); `None` before the first period.
    pub fn state(&self) -> Option<&SteadyState> {
        self.state.as_ref()
    }

    pub fn base_demand(&self, c: usize) -> f64 {
        self.base_demand[c]
    }

    /// One update: `demand(c)` is each consumer's expected use (kg/s) when
    /// it has no meter; `value(sensor)` the sensor's value for this period.
    /// `learn`: fold the residuals into the biases and spreads. False when
    /// the model did not solve (the update is skipped).
    pub fn update(
        &mut self,
        demand: impl Fn(usize) -> f64,
        value: impl Fn(u32) -> Option<f64>,
        learn: impl Fn(u32) -> bool,
    ) -> bool {
        for (c, consumer) in self.net.consumers.iter_mut().enumerate() {
            consumer.demand_kg_s = demand(c);
        }
        for (&(sensor, input), held) in self.inputs.iter().zip(&mut self.held) {
            let Some(v) = value(sensor) else { continue };
            // Held pressures are set points: their sensors' noise is
            // averaged out (see `setpoint`), flows are taken as metered.
            match input {
                Input::SupplyPressure(k) => self.net.supplies[k.index()].pressure_bar_g = held.update(v),
                Input::RegulatorOutlet(r) => self.net.regulators[r.index()].outlet_pressure_bar_g = held.update(v),
                // A faulty meter leaves the expected use standing.
                Input::ConsumerFlow(c) => {
                    if let Some(v) = super::metered_use(v) {
                        self.net.consumers[c.index()].demand_kg_s = v.max(0.0);
                    }
                }
            }
        }
        // A time step with storage, as the network packs and unpacks
        // between periods: the same physics the linepack in the balance uses.
        let solved = match self.state.as_mut() {
            Some(state) => self.solver.step(&self.net, state, self.period_s).is_ok(),
            None => match self.solver.solve(&self.net) {
                Ok(s) => {
                    self.state = Some(s);
                    true
                }
                Err(_) => false,
            },
        };
        if !solved {
            self.failures += 1;
            self.state = None;
            return false;
        }
        self.updates += 1;
        let state = self.state.as_ref().expect("solved");
        let (a_short, a_bias) = (self.short_alpha, self.bias_alpha);
        for r in &mut self.residuals {
            if r.history.len() == HISTORY {
                r.history.pop_front();
            }
            r.history.push_back(f64::NAN);
            r.last = f64::NAN;
            let Some(v) = value(r.sensor) else { continue };
            let predicted = predict(&self.net, state, r.measures);
            if !predicted.is_finite() {
                continue;
            }
            let raw = v - predicted;
            if r.learned == 0.0 {
                r.bias = raw;
            }
            let e = raw - r.bias;
            r.last = e;
            *r.history.back_mut().expect("pushed above") = e;
            r.short += a_short * (e - r.short);
            if learn(r.sensor) {
                r.learned += 1.0;
                let a = a_bias.max(1.0 / r.learned);
                r.bias += a * (raw - r.bias);
                r.variance += a * (e * e - r.variance);
            }
        }
        true
    }

    /// Gas in the pipes of `pipes` in the last solved state, kg.
    pub fn linepack_kg(&self, pipes: &[PipeIdx]) -> Option<f64> {
        let state = self.state.as_ref()?;
        Some(
            pipes
                .iter()
                .map(|&p| linepack::pipe_linepack_kg(&self.net, state, p))
                .sum(),
        )
    }

    /// The residuals (indices) that see into a zone: pressures at its
    /// nodes, flows through elements with an end in it. Only these place a
    /// leak within the zone: every node of a district looks the same from
    /// the trunk's sensors, and the trunk answers with its own, slower,
    /// dynamics.
    pub fn residuals_in(&self, in_zone: impl Fn(NodeIdx) -> bool) -> Vec<usize> {
        let net = &self.net;
        (0..self.residuals.len())
            .filter(|&k| match self.residuals[k].measures {
                Measures::Pressure(n) => in_zone(n),
                Measures::Regulator(r) => {
                    let r = &net.regulators[r.index()];
                    in_zone(r.from) || in_zone(r.to)
                }
                Measures::Supply(s) => in_zone(net.supplies[s.index()].node),
                Measures::Pipe(p) => {
                    let p = &net.pipes[p.index()];
                    in_zone(p.from) || in_zone(p.to)
                }
            })
            .collect()
    }

    /// The sensor residual `k` is of.
    pub fn residual_sensor(&self, k: usize) -> u32 {
        self.residuals[k].sensor
    }

    /// Sensor `sensor`'s short residual in its spreads, where it is a
    /// residual with a learned spread.
    pub fn short_z(&self, sensor: u32) -> Option<f64> {
        let r = self.residuals.iter().find(|r| r.sensor == sensor && r.learned > 0.0)?;
        r.short.is_finite().then(|| r.short / self.short_sigma(r))
    }

    /// The smallest spread a residual is trusted to.
    fn floor(&self, r: &Residual) -> f64 {
        match r.measures {
            Measures::Pressure(_) => PRESSURE_FLOOR_BAR,
            _ => FLOW_FLOOR_KG_S,
        }
    }

    /// The spread of a residual's short mean, from its learned variance.
    fn short_sigma(&self, r: &Residual) -> f64 {
        let a = self.short_alpha;
        (r.variance * a / (2.0 - a)).sqrt().max(self.floor(r))
    }

    /// Ranks the `places` as leak locations from the residuals `sensors`
    /// (the zone's): for each point, the rate q that best explains each
    /// sensor's leak effect over the last `periods` updates (since the
    /// leak's onset) with the point's signature (weighted least squares),
    /// held to the zone balance's estimate `rate` ± `rate_sigma`, and the
    /// misfit χ² left. Each point's probability is its prior (its share of
    /// the mains) times exp(−χ²/2). The candidates are a search plan
    /// (`Places::search_plan`): first the point the probability lies
    /// closest to (`Places::closeness`), which places a crew where most of
    /// the evidence is rather than on the single best fit of a noisy ridge,
    /// then the points closest to the evidence not yet covered; `count` of
    /// them, one per pipe.
    /// The node signatures are taken now and kept in `taken`: a signature
    /// moves with the day's flows, so each period is matched with the one
    /// taken nearest to it.
    #[allow(clippy::too_many_arguments)]
    pub fn localize(
        &mut self,
        places: &Places,
        sensors: &[usize],
        taken: &mut Signatures,
        periods: usize,
        rate: f64,
        rate_sigma: f64,
        count: usize,
    ) -> Vec<Candidate> {
        let onset = (self.updates + 1).saturating_sub(periods as u64);
        let periods = periods.clamp(1, HISTORY);
        let Some(state) = self.state.as_ref() else {
            return Vec::new();
        };
        // The signatures now: nodes × sensors, steady responses about this
        // moment with half the leak as last located. The solver solves them
        // on its own copy of the state: the model's is a time step's, and
        // the next period steps on from it. About the state without the
        // leak, a 4 % leak in a district's far corner fitted its own place
        // with χ² ≈ 40 (the losses grow with the square of the flow) and a
        // place 600 m off better.
        let nodes = &places.nodes;
        let residuals = &self.residuals;
        let mut now = Vec::with_capacity(nodes.len() * sensors.len());
        let mut order = Vec::with_capacity(nodes.len());
        let solved = self
            .solver
            .withdrawal_responses(&self.net, state, &taken.half_leak, nodes, |resp| {
                order.push(resp.node);
                now.extend(sensors.iter().map(|&k| signature(resp, residuals[k].measures)));
            });
        if solved.is_err() || order.len() != nodes.len() {
            return Vec::new();
        }
        if taken.order != order {
            taken.order = order;
            taken.taken.clear();
        }
        taken.baselines.resize(sensors.len(), None);
        taken.taken.push((self.updates, now));
        // Older than any history a fit can reach: memory stays bounded
        // however long the alarm stands.
        let updates = self.updates;
        taken.taken.retain(|(at, _)| at + HISTORY as u64 >= updates);

        // The leak's effect on each sensor: the mean residual since the
        // onset (less the first periods while the zone unpacks, when there
        // are enough) against the mean of the hour before it, where the
        // history reaches back that far. The learned bias follows the day
        // only slowly; the hour before holds the offset of the moment
        // (a split between two feeds that moves with the flow level).
        let skip = if periods >= 3 * TRANSIENT_PERIODS {
            TRANSIENT_PERIODS
        } else {
            0
        };
        let used: Vec<(usize, f64, f64)> = sensors
            .iter()
            .enumerate()
            .filter(|&(_, &k)| self.residuals[k].learned > 0.0)
            .filter_map(|(j, &k)| {
                let r = &self.residuals[k];
                let newest_first = || r.history.iter().rev().copied();
                let (after, n_after) = mean_finite(newest_first().take(periods - skip));
                if n_after == 0 {
                    return None;
                }
                // Once the history no longer reaches before the onset, the
                // baseline kept from an earlier localization stands in: the
                // learned bias alone, hours older, made confident wrong places.
                let (mean, n) = mean_finite(newest_first().skip(periods).take(BASELINE_PERIODS));
                let fresh = (n >= BASELINE_PERIODS / 4).then_some(Baseline {
                    onset,
                    mean,
                    periods: n,
                });
                let kept = taken.baselines[j];
                let baseline = match (fresh, kept) {
                    (Some(f), Some(k)) if k.onset == onset && k.periods > f.periods => Some(k),
                    (Some(f), _) => Some(f),
                    (None, k) => k,
                };
                taken.baselines[j] = baseline;
                // The floor bounds a reading's spread; a mean of many
                // readings is that much surer.
                let variance = r.variance.max(self.floor(r).powi(2));
                let (effect, s2) = match baseline {
                    Some(b) => (
                        after - b.mean,
                        variance * (1.0 / n_after as f64 + 1.0 / b.periods as f64),
                    ),
                    None => (after, variance / n_after as f64),
                };
                Some((j, effect, 1.0 / s2))
            })
            .collect();
        let signatures = taken.averaged(self.updates + 1 - (periods - skip) as u64, self.updates, sensors.len());

        let prior = rate_weight(rate_sigma);
        let rr: f64 = used.iter().map(|&(_, r, w)| w * r * r).sum();
        let n_sensors = sensors.len();
        let fit = |sig: &[f64]| {
            let (mut a, mut b) = (0.0, 0.0);
            for &(j, r, w) in &used {
                a += w * sig[j] * r;
                b += w * sig[j] * sig[j];
            }
            let q = ((a + prior * rate) / (b + prior)).max(0.0);
            let chi2 = rr - 2.0 * q * a + q * q * b + prior * (q - rate) * (q - rate);
            (q, chi2)
        };
        if tracing::enabled!(tracing::Level::TRACE) {
            for (&node, sig) in taken.order.iter().zip(signatures.chunks_exact(n_sensors.max(1))) {
                let (q, chi2) = fit(sig);
                let sig: Vec<String> = used
                    .iter()
                    .map(|&(j, r, w)| format!("{}:{r:.3e}/{:.3e}/{w:.1e}", self.residuals[sensors[j]].sensor, sig[j]))
                    .collect();
                tracing::trace!(node = node.index(), q, chi2, "candidate {}", sig.join(" "));
            }
        }
        // Each point's fit over its piece of pipe: the rate where it fits
        // best, and the χ² of its mean likelihood there.
        let mut sig = vec![0.0; n_sensors];
        let mut samples = Vec::new();
        let fits: Vec<(f64, f64)> = places
            .points
            .iter()
            .map(|p| {
                samples.clear();
                samples.extend(Places::samples(p).map(|x| {
                    sig.iter_mut()
                        .zip(places.signature(p, x, &signatures, n_sensors))
                        .for_each(|(s, v)| *s = v);
                    fit(&sig)
                }));
                let best = samples
                    .iter()
                    .copied()
                    .fold((0.0, f64::INFINITY), |b, f| if f.1 < b.1 { f } else { b });
                if !best.1.is_finite() {
                    return best;
                }
                let mean = samples.iter().map(|f| (-0.5 * (f.1 - best.1)).exp()).sum::<f64>() / samples.len() as f64;
                (best.0, best.1 - 2.0 * mean.ln())
            })
            .collect();
        let best = fits.iter().map(|f| f.1).fold(f64::INFINITY, f64::min);
        taken.effects = used;
        taken.best_chi2 = best;
        let mut probability: Vec<f64> = fits
            .iter()
            .zip(&places.points)
            .map(|(f, p)| {
                if f.1.is_finite() {
                    p.prior_m * (-0.5 * (f.1 - best)).exp()
                } else {
                    0.0
                }
            })
            .collect();
        let total: f64 = probability.iter().sum();
        if total.is_nan() || total <= 0.0 {
            return Vec::new();
        }
        probability.iter_mut().for_each(|p| *p /= total);
        taken.half_leak = places.half_leak(&probability, &fits);
        let within = places.within(&probability);
        // A point's pipe (a lone node: the node).
        let pipe_of = |k: usize| (places.points[k].pipe, places.points[k].a);
        let mut on_pipe = std::collections::HashMap::new();
        for (k, pr) in probability.iter().enumerate() {
            *on_pipe.entry(pipe_of(k)).or_insert(0.0) += pr;
        }
        // A search plan: the place the probability lies closest to, then
        // the next places the rest of it points to; ties by their own fit.
        let chi2: Vec<f64> = fits.iter().map(|f| f.1).collect();
        places
            .search_plan(&probability, &chi2, pipe_of, count)
            .into_iter()
            .map(|(k, covered)| {
                let p = &places.points[k];
                let (a, b) = (
                    &self.net.nodes[nodes[p.a as usize].index()],
                    &self.net.nodes[nodes[p.b as usize].index()],
                );
                let along = |u: Option<f64>, v: Option<f64>| Some((1.0 - p.x) * u? + p.x * v?);
                Candidate {
                    node: if p.x <= 0.5 { &a.id } else { &b.id }.clone(),
                    pipe: p.pipe.map(|i| self.net.pipes[i.index()].id.clone()),
                    position: p.pipe.map(|_| p.x),
                    x: along(a.x, b.x),
                    y: along(a.y, b.y),
                    rate_kg_s: fits[k].0,
                    likelihood: on_pipe[&pipe_of(k)],
                    within_radius: within[k],
                    covered,
                }
            })
            .collect()
    }

    /// Whether one of the zone's balance meters reading wrong explains the
    /// effects of the last localization (`taken`) about as well as the best
    /// place: `sensors` the zone's residuals, `signs` each one's sign in
    /// the zone's balance (+1 a meter into the zone, −1 out, 0 not a
    /// balance meter: its bias would not show in the balance); the bias is
    /// held to the balance's `rate` ± `rate_sigma` as a leak's rate is.
    pub fn meter_alternative(
        &self,
        sensors: &[usize],
        signs: &[f64],
        taken: &Signatures,
        rate: f64,
        rate_sigma: f64,
        names: &[String],
    ) -> Option<MeterAlternative> {
        let prior = rate_weight(rate_sigma);
        let rr: f64 = taken.effects.iter().map(|&(_, r, w)| w * r * r).sum();
        taken
            .effects
            .iter()
            .filter(|&&(j, _, _)| signs[j] != 0.0)
            .map(|&(j, r, w)| {
                // Only sensor j is off, by b; the balance sees sign × b.
                let sign = signs[j];
                let b = (w * r + prior * sign * rate) / (w + prior);
                let chi2 = rr - w * r * r + w * (r - b) * (r - b) + prior * (sign * b - rate).powi(2);
                (j, b, chi2)
            })
            .min_by(|a, b| a.2.total_cmp(&b.2))
            .filter(|&(_, _, chi2)| chi2 <= taken.best_chi2 + ALTERNATIVE_CHI2)
            .map(|(j, b, chi2)| MeterAlternative {
                sensor: names[self.residuals[sensors[j]].sensor as usize].clone(),
                bias_kg_s: b,
                chi2,
                place_chi2: taken.best_chi2,
                across: None,
            })
    }

    /// The sensors whose short residual stands out most, for the
    /// explanation: (sensor, residual, spread), largest |z| first.
    pub fn notable(&self, sensors: &[u32], names: &[String], count: usize) -> Vec<ResidualNote> {
        let mut v: Vec<(f64, ResidualNote)> = self
            .residuals
            .iter()
            .filter(|r| r.learned > 0.0 && r.last.is_finite() && (sensors.is_empty() || sensors.contains(&r.sensor)))
            .map(|r| {
                let sigma = self.short_sigma(r);
                (
                    (r.short / sigma).abs(),
                    ResidualNote {
                        sensor: names[r.sensor as usize].clone(),
                        residual: r.short,
                        sigma,
                    },
                )
            })
            .collect();
        v.sort_by(|a, b| b.0.total_cmp(&a.0));
        v.into_iter().take(count).map(|(_, n)| n).collect()
    }
}

/// What the model says a sensor reads.
fn predict(net: &Network, state: &SteadyState, m: Measures) -> f64 {
    match m {
        Measures::Pressure(n) => state.pressure_bar_g(net, n).unwrap_or(f64::NAN),
        Measures::Regulator(r) => state.regulator_flow_kg_s[r.index()],
        Measures::Supply(k) => state.supply_flow_kg_s[k.index()],
        Measures::Pipe(p) => state.pipe_flow_kg_s[p.index()],
    }
}

/// A sensor's response to one more kg/s withdrawn at the response's node.
fn signature(resp: &WithdrawalResponse, m: Measures) -> f64 {
    match m {
        Measures::Pressure(n) => resp.pressure_bar[n.index()],
        Measures::Regulator(r) => resp.regulator_flow_kg_s[r.index()],
        Measures::Supply(k) => resp.supply_flow_kg_s[k.index()],
        Measures::Pipe(p) => resp.pipe_flow_kg_s[p.index()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linepack_network::topology::Topology;

    #[test]
    fn a_localization_leaves_the_stepped_state_as_it_was() {
        let net = crate::leak::places::tests::row();
        let mut model = Model::new(&net, 60.0, 600.0, 24.0);
        // The user's use rises period by period: the main unpacks, and the
        // stepped state differs from a steady one.
        for k in 0..20 {
            let use_kg_s = 0.01 + 0.002 * k as f64;
            assert!(model.update(|_| use_kg_s, |_| Some(1.9), |_| true));
        }
        let before = model.state().expect("solved").clone();
        let nodes: Vec<NodeIdx> = (0..3).map(NodeIdx::new).collect();
        let places = Places::new(&net, &Topology::new(&net), nodes, 300.0);
        let sensors = model.residuals_in(|_| true);
        let mut taken = Signatures::default();
        let candidates = model.localize(&places, &sensors, &mut taken, 5, 0.001, 0.0005, 3);
        assert!(!candidates.is_empty());
        let after = model.state().expect("still solved");
        assert_eq!(after.pressure_bar_abs, before.pressure_bar_abs);
        assert_eq!(after.pipe_flow_kg_s, before.pipe_flow_kg_s);
    }

    #[test]
    fn each_period_takes_the_signatures_nearest_to_it() {
        let taken = Signatures {
            order: vec![NodeIdx::new(0), NodeIdx::new(1)],
            taken: vec![(10, vec![1.0, 2.0]), (20, vec![3.0, 6.0])],
            ..Signatures::default()
        };
        // Updates 11..=15 nearest the first (15 ties, the earlier stands),
        // 16..=20 the second.
        assert_eq!(taken.averaged(11, 20, 1), vec![2.0, 4.0]);
        assert_eq!(taken.averaged(18, 20, 1), vec![3.0, 6.0]);
    }
}
