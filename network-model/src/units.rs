//! Physical constants and unit conversions shared by the model and the solver.
//!
//! Internally pressures are bar (absolute unless a name says `_bar_g`), flows
//! kg/s, lengths metres. Conversions happen once, at load or ingest.

/// Normal pressure p_n, bar absolute (the reference of Nm³).
pub const NORMAL_PRESSURE_BAR: f64 = 1.01325;
/// Normal temperature T_n, K.
pub const NORMAL_TEMPERATURE_K: f64 = 273.15;
/// Gravitational acceleration, m/s².
pub const GRAVITY_M_S2: f64 = 9.81;
/// Pascal per bar.
pub const PA_PER_BAR: f64 = 1e5;
/// Seconds per hour.
pub const SECONDS_PER_HOUR: f64 = 3600.0;

/// Standard-atmosphere pressure at `elevation_m`, bar absolute:
/// p_amb(h) = 1.01325 · (1 − 0.0065 · h / 288.15)^5.255.
///
/// Gauge pressures in network files are relative to this.
#[inline]
pub fn ambient_pressure_bar(elevation_m: f64) -> f64 {
    NORMAL_PRESSURE_BAR * (1.0 - 0.0065 * elevation_m / 288.15).powf(5.255)
}

/// Converts a flow at normal conditions (Nm³/h) into kg/s for a gas of the
/// given normal density.
#[inline]
pub fn nm3_h_to_kg_s(nm3_h: f64, density_normal_kg_m3: f64) -> f64 {
    nm3_h * density_normal_kg_m3 / SECONDS_PER_HOUR
}

/// Converts kg/s into Nm³/h for a gas of the given normal density.
#[inline]
pub fn kg_s_to_nm3_h(kg_s: f64, density_normal_kg_m3: f64) -> f64 {
    kg_s * SECONDS_PER_HOUR / density_normal_kg_m3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ambient_pressure_at_sea_level_is_normal_pressure() {
        assert_eq!(ambient_pressure_bar(0.0), NORMAL_PRESSURE_BAR);
    }

    #[test]
    fn ambient_pressure_falls_with_elevation() {
        // About 12 mbar per 100 m near sea level.
        let drop = ambient_pressure_bar(0.0) - ambient_pressure_bar(100.0);
        assert!((drop - 0.01197).abs() < 1e-4, "drop {drop}");
    }

    #[test]
    fn nm3_round_trip() {
        let kg_s = nm3_h_to_kg_s(3600.0, 0.8);
        assert!((kg_s - 0.8).abs() < 1e-15);
        assert!((kg_s_to_nm3_h(kg_s, 0.8) - 3600.0).abs() < 1e-9);
    }
}
