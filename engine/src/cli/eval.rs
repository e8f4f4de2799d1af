//! `linepack eval --set DIR [--network FILE] [--config FILE] [--json]
//! [--jobs N]`: runs a scenario set made by `linepack sim scenarios`
//! through the engine and reports detection, time to detect, localization,
//! estimated rates and false alarms (`linepack_engine::eval`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use linepack_engine::eval::{Outcome, Summary, run_scenario, score, summarize};
use linepack_network::file;
use linepack_sim::scenario::Scenario;
use serde::{Deserialize, Serialize};

use super::BadInput;
use super::replay::load_config;

/// What `sim scenarios` wrote into `manifest.json` (the parts read here).
#[derive(Debug, Deserialize)]
struct Manifest {
    network: PathBuf,
    scenarios: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    file: String,
    kind: String,
    variant: String,
    leak: Option<LeakEntry>,
}

#[derive(Debug, Deserialize)]
struct LeakEntry {
    percent_of_inflow: Option<f64>,
}

#[derive(Serialize)]
struct Report<'a> {
    set: String,
    network: String,
    summary: &'a Summary,
    scenarios: &'a [Outcome],
}

pub fn run(
    set: &Path,
    network_path: Option<&Path>,
    config_path: Option<&Path>,
    json: bool,
    jobs: Option<usize>,
) -> anyhow::Result<ExitCode> {
    let manifest_path = set.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path)
        .context(BadInput(format!("cannot read {}", manifest_path.display())))?;
    let manifest: Manifest = serde_json::from_str(&text).context(BadInput(format!(
        "{} is not a scenario manifest",
        manifest_path.display()
    )))?;
    let network_path = network_path.map_or_else(|| manifest.network.clone(), Path::to_path_buf);
    let network = file::load(&network_path)?;
    let config = load_config(config_path)?;
    let learning_days = config.leak.learning_hours / 24.0;
    let mut scenarios = Vec::new();
    for e in &manifest.scenarios {
        let path = set.join(&e.file);
        let scenario = Scenario::load(&path, &network, 0).context(BadInput(format!("scenario {}", path.display())))?;
        if e.kind == "leak" && e.leak.as_ref().and_then(|l| l.percent_of_inflow).is_none() {
            return Err(
                anyhow::anyhow!("{}: a leak scenario without percent_of_inflow in the manifest", e.file)
                    .context(BadInput(manifest_path.display().to_string())),
            );
        }
        scenarios.push((e, scenario));
    }

    let started = Instant::now();
    let jobs = jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, scenarios.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<anyhow::Result<Outcome>>>> = Mutex::new((0..scenarios.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some((entry, scenario)) = scenarios.get(k) else {
                        break;
                    };
                    let t0 = Instant::now();
                    let outcome = run_scenario(&network, &config, scenario.clone()).map(|run| {
                        score(
                            &network,
                            &entry.file,
                            &entry.variant,
                            entry.leak.as_ref().and_then(|l| l.percent_of_inflow),
                            learning_days,
                            &run,
                        )
                    });
                    if let Ok(o) = &outcome {
                        eprintln!(
                            "  {} ({}): {} in {:.1} s",
                            o.file,
                            o.variant,
                            describe(o),
                            t0.elapsed().as_secs_f64()
                        );
                    }
                    results.lock().expect("no panics while held")[k] =
                        Some(outcome.with_context(|| entry.file.clone()));
                }
            });
        }
    });
    let outcomes: Vec<Outcome> = results
        .into_inner()
        .expect("threads joined")
        .into_iter()
        .map(|r| r.expect("every scenario ran"))
        .collect::<anyhow::Result<_>>()?;
    let summary = summarize(&outcomes);
    if json {
        let report = Report {
            set: set.display().to_string(),
            network: network_path.display().to_string(),
            summary: &summary,
            scenarios: &outcomes,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("the report serializes")
        );
    } else {
        print_table(&summary, &outcomes);
    }
    eprintln!(
        "evaluated {} scenarios on {} in {:.1} s",
        outcomes.len(),
        network_path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn describe(o: &Outcome) -> String {
    let mut s = match (o.leak_percent, o.detected_after_s) {
        (Some(p), Some(after)) => format!(
            "{p:.2} % leak detected after {:.0} min, top candidate {} (after 1 h: {})",
            after / 60.0,
            o.localization_m.map_or("none".into(), |m| format!("{m:.0} m away")),
            o.localization_late_m
                .map_or("none".into(), |m| format!("{m:.0} m away"))
        ),
        (Some(p), None) => format!("{p:.2} % leak NOT detected"),
        (None, _) => format!("{:.1} days normal", o.days),
    };
    if !o.false_alarms.is_empty() {
        s.push_str(&format!(", {} false alarm(s)", o.false_alarms.len()));
    }
    for m in &o.meter_steps {
        let what = if m.true_fault {
            "a faulty meter"
        } else {
            "NOT a faulty meter"
        };
        s.push_str(&format!(", meter step {} ({what})", m.sensor));
    }
    s
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn pct(n: usize, of: usize) -> String {
    if of == 0 {
        "-".into()
    } else {
        format!("{n}/{of} ({:.0} %)", 100.0 * n as f64 / of as f64)
    }
}

fn print_table(s: &Summary, outcomes: &[Outcome]) {
    println!(
        "{:<12} {:>6} {:>14} {:>14} {:>14} {:>10} {:>12} {:>14} {:>10}",
        "leak size %",
        "leaks",
        "detected",
        "<= 15 min",
        "<= 2 h",
        "median min",
        "median loc m",
        "loc <= 300 m",
        "rate est/true"
    );
    for b in &s.bins {
        println!(
            "{:<12} {:>6} {:>14} {:>14} {:>14} {:>10} {:>12} {:>14} {:>10}",
            format!("{}-{}", b.from_percent, b.to_percent),
            b.leaks,
            pct(b.detected, b.leaks),
            pct(b.within_15_min, b.leaks),
            pct(b.within_2_h, b.leaks),
            opt(b.median_detect_min, 1),
            opt(b.median_localization_m, 0),
            pct(b.within_300_m, b.detected),
            opt(b.median_rate_ratio, 2),
        );
    }
    let f = |x: f64| {
        if x.is_nan() {
            "-".into()
        } else {
            format!("{:.0} %", 100.0 * x)
        }
    };
    println!();
    println!("leaks >= 2 % detected within 15 min:     {}", f(s.large_within_15_min));
    println!("leaks >= 0.5 % detected within 2 h:      {}", f(s.all_within_2_h));
    println!(
        "detected leaks in zones with >= 1 pressure sensor per 50 nodes ({}), top candidate <= 300 m: {} after 15 min, {} after 1 h",
        s.localization_scored,
        f(s.localized_within_300_m),
        f(s.localized_within_300_m_late)
    );
    println!(
        "  the localization's own probability of that, on average:  {} after 15 min, {} after 1 h",
        f(s.expected_within_300_m),
        f(s.expected_within_300_m_late)
    );
    let searched: Vec<String> = s
        .searched
        .iter()
        .map(|l| {
            format!(
                "{} after {} h (of {}, expected {})",
                f(l.within_300_m),
                l.after_min / 60,
                l.scored,
                f(l.expected)
            )
        })
        .collect();
    println!("  while the alarm stands: {}", searched.join(", "));
    println!(
        "  one of the first {} candidates <= 300 m: {} after 15 min, {} after 1 h (expected {}, {})",
        linepack_engine::eval::SEARCH_STOPS,
        f(s.plan_within_300_m),
        f(s.plan_within_300_m_late),
        f(s.plan_expected),
        f(s.plan_expected_late)
    );
    println!(
        "all detected leaks, top candidate <= 300 m after 15 min:  {}",
        f(s.all_localized_within_300_m)
    );
    println!(
        "false leak alarms: {} in {:.1} simulated days without a leak ({:.3} per day)",
        s.false_alarms, s.normal_days, s.false_alarms_per_day
    );
    println!(
        "users' meters taken as faulty instead of a leak: {} ({} without a fault on that meter)",
        s.meter_steps, s.meter_steps_without_fault
    );
    for o in outcomes {
        for a in &o.false_alarms {
            println!(
                "  false alarm in {} ({}): zone {} at {} ({:.4} kg/s; {})",
                o.file,
                o.variant,
                a.zone,
                linepack_ingest::telemetry::time::format_rfc3339_ms(a.ts_ms),
                a.rate_kg_s,
                a.test
            );
        }
    }
}
