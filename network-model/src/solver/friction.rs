//! Friction laws, written as the friction term f(m) = λ(m) · m|m| and its
//! derivative df/dm, which is what the branch equation needs.
//!
//! Writing f rather than λ keeps both laws smooth through zero flow: the
//! laminar part of Nikuradse, 64/Re · m|m|, is linear in m.

use std::f64::consts::LN_10;
use std::fmt;
use std::str::FromStr;

/// Which friction factor law the solver uses (`specs/hydraulics.md`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FrictionLaw {
    /// λ = 64/Re + 1 / (2 log10(D/k) + 1.14)², summed over the whole Re range.
    #[default]
    Nikuradse,
    /// Prandtl–Colebrook: 1/√λ = −2 log10(2.51 / (Re √λ) + k / (3.71 D)),
    /// solved to convergence.
    Colebrook,
}

impl FrictionLaw {
    pub fn name(self) -> &'static str {
        match self {
            FrictionLaw::Nikuradse => "nikuradse",
            FrictionLaw::Colebrook => "colebrook",
        }
    }
}

impl fmt::Display for FrictionLaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FrictionLaw {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "nikuradse" => Ok(FrictionLaw::Nikuradse),
            "colebrook" => Ok(FrictionLaw::Colebrook),
            other => Err(format!("unknown friction law '{other}'; use nikuradse or colebrook")),
        }
    }
}

/// Below this Reynolds number the Colebrook term is continued linearly to
/// zero. Colebrook has no laminar branch: as Re → 0 its λ grows like
/// (2.51/Re)², so λ·m|m| tends to a non-zero constant and the pressure drop
/// would jump at zero flow, which Newton cannot converge on. The continuation
/// changes pressure drops only at Re < 1 (below 1e-9 bar in practice).
pub const COLEBROOK_RE_MIN: f64 = 1.0;

/// The per-pipe constants a friction law needs, computed once per layout.
#[derive(Clone, Copy, Debug)]
pub struct PipeFriction {
    /// Re per kg/s of flow: D / (η A).
    pub re_per_kg_s: f64,
    /// Nikuradse's turbulent λ: 1 / (2 log10(D/k) + 1.14)².
    pub lambda_rough: f64,
    /// Colebrook's relative roughness term k / (3.71 D).
    pub roughness_term: f64,
}

impl PipeFriction {
    /// Constants for a pipe of inner diameter `d_m`, roughness `k_m`, area
    /// `area_m2`, for a gas of viscosity `eta_pa_s`.
    pub fn new(d_m: f64, k_m: f64, area_m2: f64, eta_pa_s: f64) -> Self {
        let lambda_rough = 1.0 / (2.0 * (d_m / k_m).log10() + 1.14).powi(2);
        PipeFriction {
            re_per_kg_s: d_m / (eta_pa_s * area_m2),
            lambda_rough,
            roughness_term: k_m / (3.71 * d_m),
        }
    }

    /// The friction factor λ at flow `m` (for reports; NaN at zero flow).
    pub fn lambda(&self, law: FrictionLaw, m: f64) -> f64 {
        let re = self.re_per_kg_s * m.abs();
        match law {
            FrictionLaw::Nikuradse => 64.0 / re + self.lambda_rough,
            FrictionLaw::Colebrook => colebrook(re, self.roughness_term).0,
        }
    }

    /// f(m) = λ(m)·m|m| and df/dm, in (kg/s)².
    #[inline]
    pub fn term(&self, law: FrictionLaw, m: f64) -> (f64, f64) {
        match law {
            FrictionLaw::Nikuradse => {
                // 64/Re · m|m| = 64 m / re_per_kg_s.
                let laminar = 64.0 / self.re_per_kg_s;
                let abs = m.abs();
                (
                    laminar * m + self.lambda_rough * m * abs,
                    laminar + 2.0 * self.lambda_rough * abs,
                )
            }
            FrictionLaw::Colebrook => {
                let m_min = COLEBROOK_RE_MIN / self.re_per_kg_s;
                let abs = m.abs();
                if abs < m_min {
                    let (lambda, _) = colebrook(COLEBROOK_RE_MIN, self.roughness_term);
                    let slope = lambda * m_min;
                    (slope * m, slope)
                } else {
                    let re = self.re_per_kg_s * abs;
                    let (lambda, dlambda_dre) = colebrook(re, self.roughness_term);
                    (
                        lambda * m * abs,
                        dlambda_dre * self.re_per_kg_s * m * m + 2.0 * lambda * abs,
                    )
                }
            }
        }
    }
}

/// Solves Colebrook for λ at Reynolds number `re` (> 0) and relative
/// roughness term `r = k / (3.71 D)`; returns (λ, dλ/dRe).
///
/// With x = 1/√λ the equation is G(x) = x + 2 log10(2.51 x / Re + r) = 0,
/// increasing and concave in x, with G(0) = 2 log10(r) < 0. Newton is
/// safeguarded by bisection on a bracket, so it always converges.
pub fn colebrook(re: f64, r: f64) -> (f64, f64) {
    let a = 2.51 / re;
    let g = |x: f64| x + 2.0 * (a * x + r).log10();
    let (mut lo, mut hi) = (0.0_f64, 20.0_f64);
    while g(hi) <= 0.0 {
        hi *= 2.0;
    }
    // Turbulent-rough start; the bracket keeps the iteration in range.
    let mut x = (-2.0 * r.log10()).clamp(lo + f64::EPSILON, hi);
    for _ in 0..200 {
        let gx = g(x);
        if gx < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        let dg = 1.0 + 2.0 / LN_10 * a / (a * x + r);
        let mut next = x - gx / dg;
        if !(next > lo && next < hi) {
            next = 0.5 * (lo + hi);
        }
        let done = (next - x).abs() <= 1e-15 * x.max(1e-300);
        x = next;
        if done || hi - lo <= 1e-15 * hi {
            break;
        }
    }
    let lambda = 1.0 / (x * x);
    // Implicit derivative: dx/dRe = −G_Re / G_x.
    let denom = a * x + r;
    let g_x = 1.0 + 2.0 / LN_10 * a / denom;
    let g_re = 2.0 / LN_10 * (-a * x / re) / denom;
    let dx_dre = -g_re / g_x;
    (lambda, -2.0 / (x * x * x) * dx_dre)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe() -> PipeFriction {
        let d = 0.1;
        let area = std::f64::consts::PI * d * d / 4.0;
        PipeFriction::new(d, 1e-4, area, 1.193e-5)
    }

    #[test]
    fn colebrook_satisfies_its_equation() {
        for re in [2.0, 50.0, 2300.0, 1e4, 1e5, 1e7, 1e9] {
            for r in [1e-6, 2.7e-4, 1e-2] {
                let (lambda, _) = colebrook(re, r);
                let lhs = 1.0 / lambda.sqrt();
                let rhs = -2.0 * (2.51 / (re * lambda.sqrt()) + r).log10();
                assert!(
                    (lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0),
                    "Re {re} r {r}: {lhs} vs {rhs}"
                );
            }
        }
    }

    #[test]
    fn colebrook_turbulent_value_is_textbook() {
        // Moody chart: Re = 1e5, k/D = 1e-3 gives λ ≈ 0.0222.
        let (lambda, _) = colebrook(1e5, 1e-3 / 3.71);
        assert!((lambda - 0.0222).abs() < 3e-4, "{lambda}");
    }

    #[test]
    fn colebrook_derivative_matches_finite_difference() {
        for re in [10.0, 3000.0, 1e6] {
            let h = re * 1e-6;
            let (_, d) = colebrook(re, 2.7e-4);
            let fd = (colebrook(re + h, 2.7e-4).0 - colebrook(re - h, 2.7e-4).0) / (2.0 * h);
            assert!((d - fd).abs() <= 1e-5 * fd.abs(), "Re {re}: {d} vs {fd}");
        }
    }

    #[test]
    fn friction_term_derivatives_match_finite_differences() {
        let p = pipe();
        for law in [FrictionLaw::Nikuradse, FrictionLaw::Colebrook] {
            for m in [-0.5_f64, -1e-3, 1e-5, 2e-3, 0.7] {
                let h = m.abs() * 1e-6;
                let (_, d) = p.term(law, m);
                let fd = (p.term(law, m + h).0 - p.term(law, m - h).0) / (2.0 * h);
                assert!((d - fd).abs() <= 1e-5 * fd.abs(), "{law} m {m}: {d} vs {fd}");
            }
        }
    }

    #[test]
    fn friction_term_is_odd_and_continuous_at_zero() {
        let p = pipe();
        for law in [FrictionLaw::Nikuradse, FrictionLaw::Colebrook] {
            assert_eq!(p.term(law, 0.0).0, 0.0);
            let m_min = COLEBROOK_RE_MIN / p.re_per_kg_s;
            let below = p.term(law, m_min * (1.0 - 1e-9)).0;
            let above = p.term(law, m_min * (1.0 + 1e-9)).0;
            assert!((below - above).abs() <= 1e-6 * above.abs(), "{law}");
            assert_eq!(p.term(law, -0.3).0, -p.term(law, 0.3).0);
        }
    }

    #[test]
    fn friction_law_parses() {
        assert_eq!("colebrook".parse::<FrictionLaw>(), Ok(FrictionLaw::Colebrook));
        assert!("darcy".parse::<FrictionLaw>().unwrap_err().contains("nikuradse"));
    }
}
