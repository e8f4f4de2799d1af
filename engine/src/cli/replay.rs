//! `linepack replay --network FILE [--config FILE] RECORDING.ndjson`: runs
//! the engine over a recording as fast as possible, on the recording's own
//! clock, and prints every alarm transition as one JSON line.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use super::BadInput;
use linepack_engine::alarm::AlarmEvent;
use linepack_engine::config::EngineConfig;
use linepack_engine::engine::Engine;
use linepack_engine::hotloop::{self, Clock, Commit};
use linepack_engine::journal::{Journal, JournalError};
use linepack_ingest::handoff::{Backpressure, handoff};
use linepack_ingest::metrics::IngestMetrics;
use linepack_ingest::replay::{ReplayOptions, replay_file};
use linepack_ingest::telemetry::{DecodeLimits, Decoder};
use linepack_network::file;

/// Reads an engine configuration file, or the defaults.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<EngineConfig> {
    match path {
        None => Ok(EngineConfig::default()),
        Some(p) => {
            let text =
                std::fs::read_to_string(p).context(BadInput(format!("cannot read configuration {}", p.display())))?;
            EngineConfig::from_toml(&text).context(BadInput(format!("configuration {}", p.display())))
        }
    }
}

pub fn run(network_path: &Path, config_path: Option<&Path>, recording: &Path) -> anyhow::Result<ExitCode> {
    let network = file::load(network_path)?;
    let config = load_config(config_path)?;
    let config_name = || {
        let name = config_path.map_or("(defaults)".into(), |p| p.display().to_string());
        BadInput(format!("configuration {name}"))
    };
    let table = config.units.sensor_table(&network).context(config_name())?;
    let mut engine = Engine::new(&network, &config, 1).context(config_name())?;
    std::fs::File::open(recording).context(BadInput(format!("cannot read recording {}", recording.display())))?;
    let mut journal = Journal::open(config.journal.path.as_deref())?;
    let mut after_restore = Vec::new();
    let restored = match journal.restore(&mut engine, &network, &mut after_restore) {
        Err(e @ JournalError::Restore { .. }) => {
            return Err(anyhow::Error::new(e).context(BadInput("the journal does not fit this network".into())));
        }
        other => other?,
    };
    if restored > 0 {
        eprintln!("restored {restored} standing alarms from the journal");
    }

    let metrics = Arc::new(IngestMetrics::default());
    let (tx, rx) = handoff(64, Backpressure::Block, metrics.clone());
    let recording = recording.to_path_buf();
    let reader_metrics = metrics.clone();
    let prefix = config.mqtt.topic_prefix.clone();
    let n_sensors = network.sensors.len();
    let reader = std::thread::Builder::new().name("replay".into()).spawn(move || {
        let mut decoder = Decoder::new(&prefix, table, n_sensors, DecodeLimits::default());
        replay_file(
            &recording,
            &mut decoder,
            &tx,
            &reader_metrics,
            &ReplayOptions::default(),
        )
    })?;

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut write_error = None;
    let mut print = |events: &[AlarmEvent]| {
        for e in events {
            let line = serde_json::to_string(e).expect("events serialize");
            if let Err(err) = writeln!(out, "{line}") {
                write_error.get_or_insert(err);
            }
        }
    };
    Commit::default().run(&after_restore, &network, &engine, &mut journal, &mut print)?;
    let stats = hotloop::run(
        &rx,
        &network,
        &mut engine,
        &mut journal,
        Clock::Recording,
        None,
        &mut print,
    )?;
    drop(rx);
    out.flush()?;
    if let Some(e) = write_error {
        return Err(anyhow::Error::new(e).context("writing to standard output"));
    }
    let replayed = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the replay thread panicked"))??;
    let m = metrics.snapshot();
    eprintln!(
        "replayed {} lines: {} readings, {} rejected; {} alarm transitions; {} alarms standing",
        replayed.lines,
        stats.readings,
        m.rejected.iter().map(|(_, n)| n).sum::<u64>(),
        stats.transitions,
        engine.standing().len()
    );
    Ok(ExitCode::SUCCESS)
}
