use std::path::Path;

use linepack_network::file::{Format, parse, to_string};

use super::*;
use crate::generate::{CityConfig, city};

fn network() -> Network {
    let f = city(&CityConfig {
        nodes: 100,
        seed: 1,
        ..CityConfig::default()
    });
    parse(&to_string(&f, Format::Json), Format::Json, Path::new("city.json")).unwrap()
}

fn resolve(text: &str) -> Result<Scenario, Vec<String>> {
    let file: ScenarioFile = toml::from_str(text).unwrap();
    Scenario::resolve(&file, &network(), 1_795_392_123_456)
}

const HEAD: &str = "[simulation]\nstart = \"2026-11-23T00:00:00Z\"\nduration = \"1d\"\n";

#[test]
fn durations_and_moments() {
    assert_eq!(parse_duration_ms("90s"), Some(90_000));
    assert_eq!(parse_duration_ms("1d12h30m"), Some((36 * 3600 + 1800) * 1000));
    assert_eq!(parse_duration_ms("1.5h"), Some(5_400_000));
    assert_eq!(parse_duration_ms("600"), Some(600_000));
    assert_eq!(parse_duration_ms("2x"), None);
    assert_eq!(parse_duration_ms("3h5"), None);
    assert_eq!(parse_moment_ms("2h", 1000), Some(7_201_000));
    assert_eq!(parse_moment_ms("1970-01-01T00:00:01Z", 0), Some(1000));
}

#[test]
fn a_valid_scenario_resolves_to_indices_and_times() {
    let s = resolve(&format!(
        "{HEAD}step_s = 30\nseed = 9\n[telemetry]\nperiod_s = 60\n\
         [[leak]]\npipe = \"P3\"\nposition = 0.25\nstart = \"6h\"\nend = \"8h\"\npercent_of_inflow = 1.5\n\
         [[outage]]\nelement = \"ST0\"\nstart = \"2h\"\nend = \"3h\"\n\
         [[fault]]\nsensor = \"PT-ST0\"\nkind = \"bias\"\nvalue = 0.05\nstart = \"1h\"\n"
    ))
    .unwrap();
    assert_eq!((s.step_ms, s.seed, s.period_steps, s.steps()), (30_000, 9, 2, 2880));
    assert_eq!(s.start_ms, 1_795_392_000_000);
    assert_eq!(s.leaks[0].start_ms, s.start_ms + 6 * 3_600_000);
    assert!(matches!(s.leaks[0].site, LeakSite::Pipe { position, .. } if position == 0.25));
    assert_eq!(s.leaks[0].size, LeakSize::PercentOfInflow(1.5));
    assert_eq!(s.faults[0].kind, FaultKind::Bias(0.05));
    // Profiles are normalized to a mean of 1.
    let p = s.demand.profile(ConsumerKind::Commercial);
    assert!((p.daily.iter().sum::<f64>() / 24.0 - 1.0).abs() < 1e-12);
}

#[test]
fn now_starts_at_the_wall_clock_to_the_step() {
    let s = resolve("[simulation]\nstart = \"now\"\nduration = \"1h\"\n").unwrap();
    assert_eq!(s.start_ms, 1_795_392_120_000);
}

#[test]
fn every_problem_is_reported_with_its_key() {
    let problems = resolve(&format!(
        "{HEAD}step_s = 0.5\n\
         [[leak]]\nnode = \"N9999\"\nstart = \"1h\"\nrate_kg_s = 0.1\n\
         [[leak]]\npipe = \"P1\"\nposition = 1.5\nstart = \"1h\"\nrate_kg_s = 0.1\n\
         [[leak]]\nnode = \"N1\"\nstart = \"3d\"\nrate_kg_s = 0.1\n\
         [[leak]]\nnode = \"N1\"\nstart = \"1h\"\n\
         [[device]]\nsensor = \"PT-ST0\"\nat = \"1h\"\nevent = \"gas_rise\"\n\
         [[fault]]\nsensor = \"PT-ST0\"\nkind = \"wobble\"\nstart = \"1h\"\n\
         [[valve]]\nvalve = \"P1\"\nat = \"1h\"\nopen = false\n"
    ))
    .unwrap_err();
    let all = problems.join("\n");
    for expected in [
        "simulation.step_s = 0.5",
        "leak[0].node: no node 'N9999'",
        "leak[1].position = 1.5",
        "leak[2].start = '3d': outside the simulated period",
        "leak[3]: give either rate_kg_s",
        "device[0].event = 'gas_rise': not for a Pressure sensor",
        "fault[0].kind = 'wobble'",
        "valve[0].valve: no valve 'P1'",
    ] {
        assert!(all.contains(expected), "missing '{expected}' in:\n{all}");
    }
}

#[test]
fn unknown_keys_are_refused() {
    let e = toml::from_str::<ScenarioFile>(&format!("{HEAD}[[leak]]\nnode = \"N1\"\nstart = \"1h\"\nrate = 1\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("rate"), "{e}");
}

#[test]
fn a_set_with_other_instruments_differs_only_in_the_noisy_variants_noise() {
    use super::file::NoiseSpec;
    use super::sets::{SetConfig, scenario_set};
    let net = network();
    let cfg = SetConfig {
        leaks: 6,
        normal: 1,
        ..SetConfig::default()
    };
    let noise = NoiseSpec {
        flow_relative: 0.001,
        ..NoiseSpec::default()
    };
    let default = scenario_set(&net, &cfg);
    let studied = scenario_set(
        &net,
        &SetConfig {
            noise: noise.clone(),
            ..cfg
        },
    );
    for (a, mut b) in default.into_iter().zip(studied) {
        let expected = if a.variant == "clean" {
            &a.scenario.telemetry.noise
        } else {
            &noise
        };
        assert_eq!(&b.scenario.telemetry.noise, expected, "{}", a.file);
        // Everything else (leaks, starts, faults, seeds) is the same set.
        b.scenario.telemetry = a.scenario.telemetry.clone();
        assert_eq!(a.scenario, b.scenario, "{}", a.file);
    }
}

#[test]
fn scenario_sets_are_valid_deterministic_and_learn_a_day_first() {
    use super::sets::{SetConfig, scenario_set};
    let net = network();
    let cfg = SetConfig {
        leaks: 9,
        normal: 2,
        seed: 4,
        ..SetConfig::default()
    };
    let a = scenario_set(&net, &cfg);
    let b = scenario_set(&net, &cfg);
    assert_eq!(a.len(), 11);
    let text = |v: &Vec<super::sets::SetEntry>| {
        v.iter()
            .map(|e| toml::to_string(&e.scenario).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(text(&a), text(&b));
    let variants: Vec<&str> = a.iter().take(3).map(|e| e.variant).collect();
    assert_eq!(variants, ["clean", "noise", "noise_and_faults"]);
    for e in &a {
        // Written and read back, it resolves.
        let back: ScenarioFile = toml::from_str(&toml::to_string(&e.scenario).unwrap()).unwrap();
        assert_eq!(back, e.scenario);
        let s = Scenario::resolve(&back, &net, 0).unwrap_or_else(|p| panic!("{}: {p:?}", e.file));
        for leak in &s.leaks {
            assert!(
                leak.start_ms - s.start_ms >= 86_400_000,
                "{}: a day of learning first",
                e.file
            );
            let LeakSize::PercentOfInflow(p) = leak.size else {
                panic!()
            };
            assert!((0.5..=5.0).contains(&p), "{p}");
        }
        if e.kind == "normal" {
            assert!(s.leaks.is_empty());
            assert_eq!(s.end_ms - s.start_ms, 7 * 86_400_000);
        }
    }
    assert!(
        a.iter()
            .filter(|e| e.variant == "clean")
            .all(|e| e.scenario.telemetry.noise.pressure_bar == 0.0)
    );
    assert!(
        a.iter()
            .filter(|e| e.variant == "noise_and_faults")
            .all(|e| !e.scenario.faults.is_empty())
    );
}
