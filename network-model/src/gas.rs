//! Gas properties: compressibility and density in the isothermal model.

use crate::units::{NORMAL_PRESSURE_BAR, NORMAL_TEMPERATURE_K};

/// Compressibility factor Z as a function of absolute pressure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Compressibility {
    /// Z is the same at every pressure.
    Constant { z: f64 },
    /// Z = z0 + per_bar · p_abs (p_abs in bar).
    Linear { z0: f64, per_bar: f64 },
}

impl Compressibility {
    /// Z at absolute pressure `p_abs_bar`.
    #[inline]
    pub fn z(&self, p_abs_bar: f64) -> f64 {
        match *self {
            Compressibility::Constant { z } => z,
            Compressibility::Linear { z0, per_bar } => z0 + per_bar * p_abs_bar,
        }
    }

    /// dZ/dp, per bar.
    #[inline]
    pub fn dz_dp(&self) -> f64 {
        match *self {
            Compressibility::Constant { .. } => 0.0,
            Compressibility::Linear { per_bar, .. } => per_bar,
        }
    }

    /// The highest absolute pressure (bar) at which Z stays positive, or
    /// infinity when it always does.
    pub fn max_valid_pressure_bar(&self) -> f64 {
        match *self {
            Compressibility::Linear { z0, per_bar } if per_bar < 0.0 => z0 / -per_bar,
            _ => f64::INFINITY,
        }
    }
}

/// The gas flowing in a network.
#[derive(Clone, Debug, PartialEq)]
pub struct Gas {
    pub name: String,
    /// Density at normal conditions (273.15 K, 1.01325 bar), kg/m³.
    pub density_normal_kg_m3: f64,
    /// Dynamic viscosity at the flowing temperature, Pa·s.
    pub viscosity_pa_s: f64,
    /// Flowing temperature (isothermal model), K.
    pub temperature_k: f64,
    pub compressibility: Compressibility,
}

impl Gas {
    /// Density (kg/m³) at absolute pressure `p_abs_bar` and temperature `t_k`:
    /// ρ = ρ_n · T_n · p / (T · p_n · Z(p)).
    #[inline]
    pub fn density_kg_m3(&self, p_abs_bar: f64, t_k: f64) -> f64 {
        self.density_normal_kg_m3 * NORMAL_TEMPERATURE_K * p_abs_bar
            / (t_k * NORMAL_PRESSURE_BAR * self.compressibility.z(p_abs_bar))
    }

    /// Density and its derivative with respect to pressure (kg/m³ per bar).
    #[inline]
    pub fn density_and_derivative(&self, p_abs_bar: f64, t_k: f64) -> (f64, f64) {
        let k = self.density_normal_kg_m3 * NORMAL_TEMPERATURE_K / (t_k * NORMAL_PRESSURE_BAR);
        let z = self.compressibility.z(p_abs_bar);
        let dz = self.compressibility.dz_dp();
        (k * p_abs_bar / z, k * (z - p_abs_bar * dz) / (z * z))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gas(compressibility: Compressibility) -> Gas {
        Gas {
            name: "test".into(),
            density_normal_kg_m3: 0.84,
            viscosity_pa_s: 1.193e-5,
            temperature_k: 283.15,
            compressibility,
        }
    }

    #[test]
    fn density_at_normal_conditions_is_normal_density() {
        let g = gas(Compressibility::Constant { z: 1.0 });
        let rho = g.density_kg_m3(NORMAL_PRESSURE_BAR, NORMAL_TEMPERATURE_K);
        assert!((rho - 0.84).abs() < 1e-15);
    }

    #[test]
    fn density_derivative_matches_finite_difference() {
        let g = gas(Compressibility::Linear {
            z0: 1.0,
            per_bar: -0.0022,
        });
        let p = 8.0;
        let h = 1e-6;
        let (_, d) = g.density_and_derivative(p, 283.15);
        let fd = (g.density_kg_m3(p + h, 283.15) - g.density_kg_m3(p - h, 283.15)) / (2.0 * h);
        assert!((d - fd).abs() < 1e-8, "{d} vs {fd}");
    }

    #[test]
    fn linear_z_has_a_pressure_limit() {
        let c = Compressibility::Linear {
            z0: 1.0,
            per_bar: -0.0022,
        };
        assert!((c.max_valid_pressure_bar() - 454.545).abs() < 1e-2);
        assert!(
            Compressibility::Constant { z: 1.0 }
                .max_valid_pressure_bar()
                .is_infinite()
        );
    }
}
