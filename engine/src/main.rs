//! The `linepack` command. Each subcommand lives in `cli/`.
//!
//! Exit codes: 0 success; 1 the work failed (e.g. the solver did not
//! converge); 2 bad input (an invalid network file, bad arguments).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, which turns `linepack ... | head` into a panic
    // on the next print; the default action ends the process quietly.
    // SAFETY: called first, before any other thread exists.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Logs go to stderr (stdout carries reports); RUST_LOG sets the level.
    // The embedded broker (rumqttd) logs every client's going, even a clean
    // DISCONNECT and the start-up probe's, as an error: an operator would
    // read a fault into each. Off unless RUST_LOG asks (rumqttd=info).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,rumqttd=off".into()),
        )
        .init();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<linepack_network::file::LoadError>().is_some()
                || e.downcast_ref::<cli::BadInput>().is_some()
            {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
