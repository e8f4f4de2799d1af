//! `linepack demo`: everything on one machine with no external service:
//! the embedded broker, the shipped demo city, the simulator publishing
//! live telemetry with a gas alarm at a user and a leak a few minutes in,
//! the engine detecting them, and the control-room page at a printed URL.
//! Simulated time runs `--speed` times faster than real time, and the
//! engine follows the data's clock (config/demo/engine.toml).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use linepack_engine::api::{Role, Tokens, auth};
use linepack_engine::config::EngineConfig;
use linepack_engine::hotloop::Clock;
use linepack_engine::live::Live;
use linepack_engine::view::{Update, View};
use linepack_ingest::mqtt::client::now_ms;
use linepack_ingest::telemetry::time::format_rfc3339_ms;
use linepack_network::file::{self, Format};
use linepack_sim::publish::{MqttSink, Pacing, Target};
use linepack_sim::run::run as run_sim;
use linepack_sim::scenario::{Scenario, ScenarioFile};
use linepack_sim::simulation::Simulation;

use super::BadInput;
use super::serve::{Listener, run_until_stopped, runtime, stop_signal};

const NETWORK: &str = include_str!("../../../config/networks/demo-city.json");
const SCENARIO: &str = include_str!("../../../config/demo/scenario.toml");
const ENGINE: &str = include_str!("../../../config/demo/engine.toml");

pub fn run(listen: &str, speed: f64) -> anyhow::Result<ExitCode> {
    if !(speed.is_finite() && speed > 0.0) {
        return Err(anyhow::anyhow!("--speed {speed}: must be a positive number").context(BadInput("arguments".into())));
    }
    let network = Arc::new(file::parse(
        NETWORK,
        Format::Json,
        Path::new("config/networks/demo-city.json"),
    )?);
    let scenario_file: ScenarioFile = toml::from_str(SCENARIO).context("config/demo/scenario.toml")?;
    let scenario = Scenario::resolve(&scenario_file, &network, now_ms())
        .map_err(|p| anyhow::anyhow!("config/demo/scenario.toml: {}", p.join("; ")))?;
    let dir = std::env::temp_dir().join(format!("linepack-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut config = EngineConfig::from_toml(ENGINE).context("config/demo/engine.toml")?;
    let (token, entry) = auth::new_token("operator", Role::Operator);
    config.api.tokens = vec![entry];
    let tokens = Tokens::new(&config.api.tokens)?;
    let journal = dir.join("journal.sqlite");

    let runtime = runtime()?;
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| {
            BadInput(format!("--listen {listen}: cannot listen (in use? try --listen 127.0.0.1:0)"))
        })?;
        let addr = listener.local_addr()?;
        let live = Live::start(
            &tokio::runtime::Handle::current(),
            network.clone(),
            &config,
            &journal,
            Clock::Recording,
            tokens,
        )?;
        let broker = live.broker.expect("the demo runs the embedded broker");
        println!("linepack demo: network '{}' ({} nodes), simulated time x{speed}", network.name, network.nodes.len());
        println!("  control room: http://{addr}/#token={token}");
        println!("  API token (operator): {token}");
        println!("  broker: mqtt://{broker} (topics gas/...), journal {}", journal.display());
        println!(
            "  scheduled: gas alarm at user C10 after 2 h 20 min, leak in zone Z0 after 2 h 40 min of simulated time (about {:.0} and {:.0} s from now)",
            8400.0 / speed,
            9600.0 / speed
        );
        println!("  Ctrl-C stops.");
        let _ = std::io::stdout().flush();

        let target = Target::parse(&format!("mqtt://{broker}"), "gas", "linepack-demo-sim")
            .map_err(|e| anyhow::anyhow!(e))?;
        let sim_network = network.clone();
        std::thread::Builder::new().name("simulator".into()).spawn(move || {
            let result = Simulation::new(&sim_network, scenario).map_err(anyhow::Error::from).and_then(|mut sim| {
                let mut sink = MqttSink::connect(&target, Pacing::Speed(speed))?;
                run_sim(&mut sim, &mut sink, |_| {})?;
                Ok(())
            });
            match result {
                Ok(()) => println!("\nthe demo scenario has ended; the page stays up until Ctrl-C"),
                Err(e) => eprintln!("\nthe simulator stopped: {e:#}"),
            }
        })?;
        tokio::spawn(report(live.view.clone()));
        run_until_stopped(live, Listener::Plain(listener), stop_signal()).await
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Prints alarms as they are raised, and a status line: on a terminal
/// rewritten every second, otherwise every ten seconds.
async fn report(view: Arc<View>) {
    let tty = std::io::stdout().is_terminal();
    let mut updates = view.subscribe();
    let mut tick = tokio::time::interval(Duration::from_secs(if tty { 1 } else { 10 }));
    loop {
        tokio::select! {
            u = updates.recv() => match u {
                Ok(Update::Alarm(a)) if a.state == "unacknowledged" => {
                    let clear = if tty { "\r\x1b[K" } else { "" };
                    println!("{clear}ALARM {} [{}] {}", a.alarm_id, a.priority, a.message);
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                let c = &view.counters;
                let clock = c.clock_ms.load(std::sync::atomic::Ordering::Relaxed);
                let alarms = view.alarms();
                let unack = alarms.iter().filter(|a| a.state.ends_with("unacknowledged")).count();
                let line = format!(
                    "data time {} | {} readings | {} alarms standing, {} unacknowledged",
                    if clock > 0 { format_rfc3339_ms(clock) } else { "(waiting)".into() },
                    c.readings.load(std::sync::atomic::Ordering::Relaxed),
                    alarms.len(),
                    unack
                );
                if tty {
                    print!("\r\x1b[K{line}");
                } else {
                    println!("{line}");
                }
                let _ = std::io::stdout().flush();
            }
        }
    }
}
