//! Command-line interface: argument parsing and one module per command.

mod demo;
mod eval;
mod network_check;
mod network_import;
mod replay;
mod serve;
mod sim_generate;
mod sim_outage;
mod sim_run;
mod sim_scenarios;
mod sim_steady;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use linepack_network::solver::FrictionLaw;
use linepack_sim::scenario::file::NoiseSpec;

/// Linepack: real-time leak detection and simulation for gas networks.
#[derive(Debug, Parser)]
#[command(name = "linepack", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Network files: check.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// The simulator: steady state, network generation.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Run the engine over an NDJSON recording as fast as possible, on the
    /// recording's clock, printing every alarm transition as a JSON line.
    Replay {
        /// Network file (.json or .toml).
        #[arg(long)]
        network: PathBuf,
        /// Engine configuration (TOML); the defaults if omitted.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The recording (NDJSON, one reading per line).
        recording: PathBuf,
    },
    /// Evaluate leak detection on a scenario set (`linepack sim scenarios`):
    /// detection rate per leak size, time to detect, localization error,
    /// estimated against true rate, false alarms per simulated day.
    Eval {
        /// The set's directory (with manifest.json).
        #[arg(long)]
        set: PathBuf,
        /// Network file; the one named in the manifest if omitted.
        #[arg(long)]
        network: Option<PathBuf>,
        /// Engine configuration (TOML); the defaults if omitted.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Scenarios run at once; the number of cores if omitted.
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// The engine configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run the engine: broker connection, detectors, journal, HTTP API and
    /// control-room page; SIGINT/SIGTERM stop it without losing what it
    /// accepted.
    Serve {
        /// Engine configuration (TOML, config/default.toml documents it);
        /// network.file and journal.path are required.
        #[arg(long)]
        config: PathBuf,
    },
    /// Everything on this machine: embedded broker, the demo city, the
    /// simulator publishing live telemetry with a gas alarm and a leak a few
    /// minutes in, the engine, and the control-room page.
    Demo {
        /// Where the page and API listen (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Simulated time runs this many times faster than real time.
        #[arg(long, default_value_t = 60.0)]
        speed: f64,
    },
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Make a random token; prints it once, and the entry for [[api.tokens]]
    /// (which keeps only its SHA-256).
    New {
        /// Journaled with every change made with the token.
        #[arg(long)]
        name: String,
        /// viewer, operator or admin.
        #[arg(long)]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the documented default configuration.
    PrintDefault,
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// A GasLib instance (ZIB XML): topology, and a nomination if given.
    Gaslib {
        /// The instance's .net file.
        #[arg(long)]
        net: PathBuf,
        /// A nomination (.scn) for entry and exit flows.
        #[arg(long)]
        scn: Option<PathBuf>,
        /// Combined decisions (.cdf): valves open or closed, control valves
        /// and compressors closed, active or in bypass (the first decision
        /// of each group). Without it the import decides (docs/gaslib.md).
        #[arg(long)]
        cdf: Option<PathBuf>,
        /// Output network file (.json or .toml).
        #[arg(short, long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum NetworkCommand {
    /// Convert a network from another format (see docs/gaslib.md).
    #[command(subcommand)]
    Import(ImportCommand),
    /// Validate a network file and describe it: element counts, connected
    /// components, disconnected nodes, total demand.
    Check {
        /// Network file (.json or .toml).
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum SimCommand {
    /// Solve the steady state of a network and print pressures, flows and
    /// linepack.
    Steady {
        /// Network file (.json or .toml).
        file: PathBuf,
        /// Friction law.
        #[arg(long, default_value = "nikuradse", value_parser = parse_friction)]
        friction: FrictionLaw,
        /// Print the JSON report instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Run a scenario: time steps with demand profiles, leaks, outages,
    /// device events and sensor faults; telemetry to a recording and/or an
    /// MQTT broker, plus the ground truth.
    Run {
        /// Network file (.json or .toml).
        #[arg(long)]
        network: PathBuf,
        /// Scenario file (TOML; see docs/scenarios.md).
        #[arg(long)]
        scenario: PathBuf,
        /// Write the telemetry as an NDJSON recording.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write the ground truth here (default: beside --out, `.truth.json`).
        #[arg(long)]
        truth: Option<PathBuf>,
        /// Publish the telemetry to this broker (mqtt://host:port).
        #[arg(long)]
        mqtt: Option<String>,
        /// Topic prefix of the telemetry contract.
        #[arg(long, default_value = "gas")]
        topic_prefix: String,
        /// With --mqtt: simulated time runs this many times faster than real time.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// With --mqtt: publish as fast as the broker takes it.
        #[arg(long)]
        unpaced: bool,
    },
    /// Make a set of scenarios for evaluating leak detection: leaks at
    /// random positions and sizes after a day of normal operation (clean,
    /// noisy, noisy with sensor faults), and normal-operation runs.
    Scenarios {
        /// Network file (.json or .toml).
        #[arg(long)]
        network: PathBuf,
        /// Leak scenarios.
        #[arg(long)]
        count: usize,
        /// Seed: the same seed gives the same set.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Directory to write the scenarios and manifest.json into.
        #[arg(long, default_value = "scenarios")]
        out: PathBuf,
        /// Normal-operation runs (no leak).
        #[arg(long, default_value_t = 1)]
        normal: usize,
        /// Days of normal operation before a leak starts (at least 1).
        #[arg(long, default_value_t = 1.0)]
        learning_days: f64,
        /// Hours a leak scenario runs after its leak starts.
        #[arg(long, default_value_t = 6.0)]
        leak_hours: f64,
        /// Length of a normal-operation run, days.
        #[arg(long, default_value_t = 7.0)]
        normal_days: f64,
        /// Smallest leak, percent of the zone's inflow.
        #[arg(long, default_value_t = 0.5)]
        min_percent: f64,
        /// Largest leak, percent of the zone's inflow.
        #[arg(long, default_value_t = 5.0)]
        max_percent: f64,
        /// Noisy variants: pressure sensors' noise, bar (standard deviation
        /// of a reading).
        #[arg(long, default_value_t = NoiseSpec::default().pressure_bar)]
        pressure_noise_bar: f64,
        /// Noisy variants: flow meters' noise, relative to the reading ...
        #[arg(long, default_value_t = NoiseSpec::default().flow_relative)]
        flow_noise_relative: f64,
        /// ... plus this, kg/s.
        #[arg(long, default_value_t = NoiseSpec::default().flow_kg_s)]
        flow_noise_kg_s: f64,
    },
    /// What if a station, regulator, pipe or valve fails: the users cut off
    /// or left below their minimum pressure.
    Outage {
        /// Network file (.json or .toml).
        #[arg(long)]
        network: PathBuf,
        /// The supply, regulator, pipe or valve taken out of service (closed).
        #[arg(long)]
        element: String,
        /// Minimum pressure for users whose file gives none, bar g.
        #[arg(long, default_value_t = 0.5)]
        min_pressure_bar_g: f64,
        /// Friction law.
        #[arg(long, default_value = "nikuradse", value_parser = parse_friction)]
        friction: FrictionLaw,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Generate a meshed city network (stations, regulators, valves, users,
    /// sensors, zones).
    Generate {
        /// Grid junctions to lay out (stations and valves add a few nodes).
        #[arg(long, default_value_t = 2500)]
        nodes: usize,
        /// Seed: the same seed gives the same file.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Every user gets a flow meter (smart meters), not only plants and
        /// some shops.
        #[arg(long)]
        smart_meters: bool,
        /// Output file (.json or .toml); standard output (JSON) if omitted.
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
}

fn parse_friction(s: &str) -> Result<FrictionLaw, String> {
    s.parse()
}

/// Marks an error as the user's input being wrong (exit code 2): its text
/// says which input, the error it wraps says what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Network(NetworkCommand::Check { file }) => network_check::run(&file),
        Command::Network(NetworkCommand::Import(ImportCommand::Gaslib { net, scn, cdf, out })) => {
            network_import::gaslib(&net, scn.as_deref(), cdf.as_deref(), &out)
        }
        Command::Sim(SimCommand::Steady { file, friction, json }) => sim_steady::run(&file, friction, json),
        Command::Sim(SimCommand::Generate {
            nodes,
            seed,
            smart_meters,
            out,
        }) => sim_generate::run(nodes, seed, smart_meters, out.as_deref()),
        Command::Sim(SimCommand::Scenarios {
            network,
            count,
            seed,
            out,
            normal,
            learning_days,
            leak_hours,
            normal_days,
            min_percent,
            max_percent,
            pressure_noise_bar,
            flow_noise_relative,
            flow_noise_kg_s,
        }) => sim_scenarios::run(
            &network,
            &linepack_sim::scenario::sets::SetConfig {
                leaks: count,
                normal,
                seed,
                learning_days,
                leak_hours,
                normal_days,
                min_percent,
                max_percent,
                noise: NoiseSpec {
                    pressure_bar: pressure_noise_bar,
                    flow_relative: flow_noise_relative,
                    flow_kg_s: flow_noise_kg_s,
                    ..NoiseSpec::default()
                },
                ..Default::default()
            },
            &out,
        ),
        Command::Sim(SimCommand::Outage {
            network,
            element,
            min_pressure_bar_g,
            friction,
            json,
        }) => sim_outage::run(&network, &element, min_pressure_bar_g, friction, json),
        Command::Sim(SimCommand::Run {
            network,
            scenario,
            out,
            truth,
            mqtt,
            topic_prefix,
            speed,
            unpaced,
        }) => sim_run::run(
            &network,
            &scenario,
            &sim_run::Outputs {
                out,
                truth,
                mqtt,
                topic_prefix,
                speed,
                unpaced,
            },
        ),
        Command::Replay {
            network,
            config,
            recording,
        } => replay::run(&network, config.as_deref(), &recording),
        Command::Eval {
            set,
            network,
            config,
            json,
            jobs,
        } => eval::run(&set, network.as_deref(), config.as_deref(), json, jobs),
        Command::Serve { config } => serve::run(&config),
        Command::Demo { listen, speed } => demo::run(&listen, speed),
        Command::Token(TokenCommand::New { name, role }) => {
            use linepack_engine::api::{Role, auth};
            let role = Role::parse(&role).ok_or_else(|| {
                anyhow::anyhow!("--role {role}: use viewer, operator or admin").context(BadInput("arguments".into()))
            })?;
            let (token, entry) = auth::new_token(&name, role);
            println!("token (shown once; give it to the user): {token}\n");
            println!(
                "[[api.tokens]]\nname = {:?}\nrole = {:?}\nsha256 = {:?}",
                entry.name, entry.role, entry.sha256
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::PrintDefault) => {
            print!("{}", linepack_engine::DEFAULT_CONFIG);
            Ok(ExitCode::SUCCESS)
        }
    }
}
