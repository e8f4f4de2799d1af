//! Command-line interface: argument parsing and one module per command.

mod network_check;
mod sim_generate;
mod sim_steady;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use linepack_network::solver::FrictionLaw;

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
}

#[derive(Debug, Subcommand)]
enum NetworkCommand {
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
    /// Generate a meshed city network (stations, regulators, valves, users,
    /// sensors, zones).
    Generate {
        /// Grid junctions to lay out (stations and valves add a few nodes).
        #[arg(long, default_value_t = 2500)]
        nodes: usize,
        /// Seed: the same seed gives the same file.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file (.json or .toml); standard output (JSON) if omitted.
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
}

fn parse_friction(s: &str) -> Result<FrictionLaw, String> {
    s.parse()
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Network(NetworkCommand::Check { file }) => network_check::run(&file),
        Command::Sim(SimCommand::Steady { file, friction, json }) => sim_steady::run(&file, friction, json),
        Command::Sim(SimCommand::Generate { nodes, seed, out }) => sim_generate::run(nodes, seed, out.as_deref()),
    }
}
