//! Units of incoming readings and their conversion to the engine's internal
//! units, done once at ingest: pressure bar gauge, flow kg/s, temperature K,
//! gas detector %LEL, shut-off valve 1 (open) / 0 (closed).

use std::fmt;
use std::str::FromStr;

use linepack_network::network::SensorKind;

/// A unit a sensor may report in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    BarG,
    MbarG,
    KpaG,
    MpaG,
    PsiG,
    /// Absolute bar; converted to gauge with the ambient pressure at the
    /// sensor's elevation.
    BarA,
    KgS,
    KgH,
    /// Normal cubic metres per hour (0 °C, 1.01325 bar), converted with the
    /// gas's normal density.
    Nm3H,
    Kelvin,
    DegC,
    PctLel,
    OpenClosed,
}

/// The unit names accepted in configuration.
pub const UNIT_NAMES: &[&str] = &[
    "bar_g",
    "mbar_g",
    "kPa_g",
    "MPa_g",
    "psi_g",
    "bar_a",
    "kg_s",
    "kg_h",
    "nm3_h",
    "K",
    "degC",
    "pct_lel",
    "open_closed",
];

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::BarG => "bar_g",
            Unit::MbarG => "mbar_g",
            Unit::KpaG => "kPa_g",
            Unit::MpaG => "MPa_g",
            Unit::PsiG => "psi_g",
            Unit::BarA => "bar_a",
            Unit::KgS => "kg_s",
            Unit::KgH => "kg_h",
            Unit::Nm3H => "nm3_h",
            Unit::Kelvin => "K",
            Unit::DegC => "degC",
            Unit::PctLel => "pct_lel",
            Unit::OpenClosed => "open_closed",
        }
    }

    /// Whether this unit measures what a sensor of `kind` measures.
    pub fn fits(self, kind: SensorKind) -> bool {
        use Unit::*;
        match kind {
            SensorKind::Pressure => matches!(self, BarG | MbarG | KpaG | MpaG | PsiG | BarA),
            SensorKind::Flow => matches!(self, KgS | KgH | Nm3H),
            SensorKind::Temperature => matches!(self, Kelvin | DegC),
            SensorKind::GasDetector => self == PctLel,
            SensorKind::ShutoffValve => self == OpenClosed,
        }
    }

    /// The default unit of a sensor kind.
    pub fn default_for(kind: SensorKind) -> Unit {
        match kind {
            SensorKind::Pressure => Unit::BarG,
            SensorKind::Flow => Unit::KgS,
            SensorKind::Temperature => Unit::DegC,
            SensorKind::GasDetector => Unit::PctLel,
            SensorKind::ShutoffValve => Unit::OpenClosed,
        }
    }

    /// The affine conversion `internal = scale · value + offset` for a sensor
    /// at ambient pressure `ambient_bar` in a gas of normal density
    /// `density_normal_kg_m3`.
    pub fn conversion(self, ambient_bar: f64, density_normal_kg_m3: f64) -> (f64, f64) {
        match self {
            Unit::BarG | Unit::KgS | Unit::Kelvin | Unit::PctLel | Unit::OpenClosed => (1.0, 0.0),
            Unit::MbarG => (1e-3, 0.0),
            Unit::KpaG => (1e-2, 0.0),
            Unit::MpaG => (10.0, 0.0),
            Unit::PsiG => (0.068_947_572_931_683_6, 0.0),
            Unit::BarA => (1.0, -ambient_bar),
            Unit::KgH => (1.0 / 3600.0, 0.0),
            Unit::Nm3H => (density_normal_kg_m3 / 3600.0, 0.0),
            Unit::DegC => (1.0, 273.15),
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Unit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use Unit::*;
        Ok(match s {
            "bar_g" => BarG,
            "mbar_g" => MbarG,
            "kPa_g" => KpaG,
            "MPa_g" => MpaG,
            "psi_g" => PsiG,
            "bar_a" => BarA,
            "kg_s" => KgS,
            "kg_h" => KgH,
            "nm3_h" => Nm3H,
            "K" => Kelvin,
            "degC" => DegC,
            "pct_lel" => PctLel,
            "open_closed" => OpenClosed,
            other => return Err(format!("unknown unit '{other}'; use one of {}", UNIT_NAMES.join(", "))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back() {
        for name in UNIT_NAMES {
            assert_eq!(name.parse::<Unit>().unwrap().name(), *name);
        }
        assert!("bar".parse::<Unit>().unwrap_err().contains("bar_g"));
    }

    #[test]
    fn conversions() {
        let conv = |u: Unit, v: f64| {
            let (a, b) = u.conversion(1.0, 0.8);
            a * v + b
        };
        assert!((conv(Unit::KpaG, 400.0) - 4.0).abs() < 1e-12);
        assert!((conv(Unit::MpaG, 0.4) - 4.0).abs() < 1e-12);
        assert!((conv(Unit::BarA, 5.0) - 4.0).abs() < 1e-12);
        assert!((conv(Unit::Nm3H, 3600.0) - 0.8).abs() < 1e-12);
        assert!((conv(Unit::DegC, 10.0) - 283.15).abs() < 1e-12);
        assert!((conv(Unit::PsiG, 14.5038) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn units_fit_their_kinds() {
        assert!(Unit::KpaG.fits(SensorKind::Pressure));
        assert!(!Unit::KpaG.fits(SensorKind::Flow));
        assert!(Unit::default_for(SensorKind::GasDetector).fits(SensorKind::GasDetector));
    }
}
