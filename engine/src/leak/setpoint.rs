//! Held pressures: what a station or regulator outlet sensor says the
//! network is held at. The pressure itself is a controlled set point,
//! steady between the operators' changes; the sensor adds its noise to
//! every reading. Fed raw into the model, that noise moves the whole
//! zone's pressure level from period to period, and with it the zone's
//! linepack (a district of a few hundred m³ at MP-B holds about 0.3 kg per
//! mbar: 1 mbar of noise is several g/s of apparent packing a minute, more
//! than a small leak) and the split of flow between two feeds.
//!
//! [`HeldPressure`] averages the readings while they stay within the
//! sensor's noise band of the estimate (a running mean over up to
//! [`MEMORY`] readings) and follows a step (a changed set point, a
//! regulator that lost its inlet pressure) once [`STEP_READINGS`]
//! readings in a row lie outside the band on the same side.

/// Readings averaged at most: the estimate's noise is the sensor's over
/// the square root of this.
pub const MEMORY: f64 = 240.0;
/// Consecutive readings outside the band, on one side, that make a step.
pub const STEP_READINGS: u32 = 3;
/// The band: this many standard deviations of the sensor's noise ...
const BAND_SIGMA: f64 = 4.0;
/// ... and never narrower than this, bar (a clean sensor's resolution).
const MIN_BAND_BAR: f64 = 2e-4;

/// One held pressure's estimate (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct HeldPressure {
    value: f64,
    /// Readings in the running mean (capped at [`MEMORY`]).
    n: f64,
    /// Variance of a reading about the estimate, learned.
    noise_var: f64,
    noise_n: f64,
    /// Readings in a row outside the band: their count, sum and side.
    out: u32,
    out_sum: f64,
    out_side: f64,
}

impl HeldPressure {
    /// Takes a reading; returns the estimate.
    pub fn update(&mut self, v: f64) -> f64 {
        if self.n == 0.0 {
            self.value = v;
            self.n = 1.0;
            return v;
        }
        let d = v - self.value;
        let band = (BAND_SIGMA * self.noise_var.sqrt()).max(MIN_BAND_BAR);
        if d.abs() <= band {
            self.out = 0;
            self.n = (self.n + 1.0).min(MEMORY);
            self.value += d / self.n;
            self.noise_n = (self.noise_n + 1.0).min(10.0 * MEMORY);
            self.noise_var += (d * d - self.noise_var) / self.noise_n;
            return self.value;
        }
        let side = d.signum();
        if self.out == 0 || side != self.out_side {
            self.out = 0;
            self.out_sum = 0.0;
            self.out_side = side;
        }
        self.out += 1;
        self.out_sum += v;
        if self.out >= STEP_READINGS {
            // A new level: start the mean again from the readings after the step.
            self.value = self.out_sum / f64::from(self.out);
            self.n = f64::from(self.out);
            self.out = 0;
        }
        self.value
    }

    /// The current estimate (NaN before the first reading).
    pub fn value(&self) -> f64 {
        if self.n == 0.0 { f64::NAN } else { self.value }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic noise of standard deviation about `s`.
    fn noise(k: usize, s: f64) -> f64 {
        s * 1.4 * ((k as f64 * 1.7).sin() + (k as f64 * 2.9).cos()) / 2.0_f64.sqrt()
    }

    #[test]
    fn averages_noise_and_follows_a_step() {
        let mut h = HeldPressure::default();
        let mut worst: f64 = 0.0;
        for k in 0..300 {
            let e = h.update(1.5 + noise(k, 0.001));
            if k > 60 {
                worst = worst.max((e - 1.5).abs());
            }
        }
        assert!(worst < 0.0006, "averaged: {worst}");
        // The set point changes by 20 mbar: followed within the step's readings.
        let mut e = 0.0;
        for k in 300..300 + STEP_READINGS as usize {
            e = h.update(1.52 + noise(k, 0.001));
        }
        assert!((e - 1.52).abs() < 0.002, "stepped: {e}");
    }

    #[test]
    fn a_clean_sensor_is_followed_exactly() {
        let mut h = HeldPressure::default();
        for _ in 0..50 {
            assert_eq!(h.update(4.0), 4.0);
        }
        for _ in 0..STEP_READINGS {
            h.update(4.01);
        }
        assert_eq!(h.value(), 4.01);
    }
}
