//! A whole run: the simulation stepped to its end, its telemetry handed to a
//! sink (an NDJSON recording, or an MQTT broker), and the ground truth.

use std::io::Write;

use linepack_ingest::telemetry::Quality;
use linepack_ingest::telemetry::recording::record_line;
use linepack_network::Network;

use crate::simulation::{SimError, Simulation};
use crate::telemetry::{Record, Telemetry};
use crate::truth::{Totals, Truth};

/// Where the telemetry goes.
pub trait Sink {
    /// The messages published at simulated time `t_ms`, in order.
    ///
    /// # Errors
    /// When they cannot be delivered; the run stops.
    fn send(&mut self, t_ms: i64, records: &[Record], network: &Network) -> std::io::Result<()>;

    /// Everything sent is delivered (flushed, acknowledged).
    ///
    /// # Errors
    /// When it cannot be.
    fn finish(&mut self) -> std::io::Result<()>;
}

/// The run could not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error("telemetry output: {0}")]
    Sink(#[from] std::io::Error),
}

/// Steps `sim` to the scenario's end, sending its telemetry to `sink`, and
/// calls `progress` after every step. Returns the ground truth.
///
/// # Errors
/// [`RunError`] when the network cannot be solved at some step or the sink
/// fails.
pub fn run(
    sim: &mut Simulation,
    sink: &mut dyn Sink,
    mut progress: impl FnMut(&Simulation),
) -> Result<Truth, RunError> {
    let mut telemetry = Telemetry::new(sim);
    let mut totals = Totals::start(&sim.totals);
    let dt_s = sim.scenario.step_ms as f64 / 1000.0;
    let mut out = Vec::new();
    telemetry.collect(sim, &mut out);
    totals.messages += out.len() as u64;
    sink.send(sim.t_ms, &out, &sim.base)?;
    progress(sim);
    while !sim.finished() {
        let step = *sim.step()?;
        totals.add(&step, dt_s);
        out.clear();
        telemetry.collect(sim, &mut out);
        totals.messages += out.len() as u64;
        sink.send(sim.t_ms, &out, &sim.base)?;
        progress(sim);
    }
    out.clear();
    telemetry.flush(&mut out);
    totals.messages += out.len() as u64;
    if let Some(last) = out.last() {
        sink.send(last.publish_ms, &out, &sim.base)?;
    }
    sink.finish()?;
    Ok(Truth::of(sim, totals))
}

/// An NDJSON recording (`shared/specs/telemetry.md`): one message per line,
/// in publishing order.
pub struct RecordingSink<W: Write> {
    out: W,
}

impl<W: Write> RecordingSink<W> {
    pub fn new(out: W) -> Self {
        RecordingSink { out }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Sink for RecordingSink<W> {
    fn send(&mut self, _t_ms: i64, records: &[Record], network: &Network) -> std::io::Result<()> {
        for r in records {
            let id = &network.sensors[r.sensor.index()].id;
            writeln!(
                self.out,
                "{}",
                record_line(id, r.ts_ms, r.value, Quality::Good, r.event)
            )?;
        }
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Discards the telemetry (to time the simulation alone).
pub struct NullSink;

impl Sink for NullSink {
    fn send(&mut self, _t_ms: i64, _records: &[Record], _network: &Network) -> std::io::Result<()> {
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
