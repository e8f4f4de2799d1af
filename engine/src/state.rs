//! Live state per sensor, in dense arrays indexed by sensor index: the last
//! value, its time and quality, and short statistics (exponentially weighted
//! mean and variance over about the last 20 readings).

use linepack_ingest::telemetry::{Quality, Reading};

use crate::detect::NEVER;

/// Weight of a new reading in the short statistics.
const ALPHA: f64 = 0.1;

#[derive(Clone, Debug)]
pub struct LiveState {
    pub value: Vec<f64>,
    pub ts_ms: Vec<i64>,
    pub quality: Vec<Quality>,
    pub mean: Vec<f64>,
    pub variance: Vec<f64>,
    pub count: Vec<u64>,
}

impl LiveState {
    pub fn new(n_sensors: usize) -> Self {
        LiveState {
            value: vec![f64::NAN; n_sensors],
            ts_ms: vec![NEVER; n_sensors],
            quality: vec![Quality::Bad; n_sensors],
            mean: vec![f64::NAN; n_sensors],
            variance: vec![0.0; n_sensors],
            count: vec![0; n_sensors],
        }
    }

    /// Stores a reading with a value (bad quality too: it is stored, though
    /// the detectors do not use it).
    #[inline]
    pub fn update(&mut self, r: &Reading) {
        let i = r.sensor.index();
        if r.ts_ms < self.ts_ms[i] {
            return; // late: the live value is the newest one
        }
        self.value[i] = r.value;
        self.ts_ms[i] = r.ts_ms;
        self.quality[i] = r.quality;
        if r.quality == Quality::Bad {
            return;
        }
        self.count[i] += 1;
        if self.count[i] == 1 {
            self.mean[i] = r.value;
        } else {
            let delta = r.value - self.mean[i];
            self.mean[i] += ALPHA * delta;
            self.variance[i] = (1.0 - ALPHA) * (self.variance[i] + ALPHA * delta * delta);
        }
    }
}
