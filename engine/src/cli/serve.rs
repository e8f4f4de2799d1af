//! `linepack serve --config FILE`: the production engine: broker
//! connection (or the embedded broker), the network file, detectors, the
//! journal, the HTTP API and control-room page (HTTPS when
//! `api.tls_cert_file` and `api.tls_key_file` are set). SIGINT or SIGTERM stops it
//! gracefully: ingest stops and hands off what it read, the hot loop
//! journals and announces all of it, then the API closes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use linepack_engine::api::tls::TlsListener;
use linepack_engine::api::{self, Tokens};
use linepack_engine::hotloop::Clock;
use linepack_engine::live::Live;
use linepack_network::file;

use super::BadInput;
use super::replay::load_config;

pub fn run(config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = load_config(Some(config_path))?;
    let bad = |what: &str| BadInput(format!("configuration {}: {what}", config_path.display()));
    let base = config_path.parent().unwrap_or(Path::new("."));
    let network_file = config
        .network
        .file
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("network.file is not set").context(bad("the network to watch")))?;
    let journal_file = config.journal.path.as_ref().ok_or_else(|| {
        anyhow::anyhow!("journal.path is not set; alarms must survive a restart").context(bad("the alarm journal"))
    })?;
    let network_path = base.join(network_file);
    let journal_path = base.join(journal_file);
    let mut config = config;
    config.notify.outbox = config.notify.outbox.as_ref().map(|o| base.join(o));
    config.archive.spill_dir = config.archive.spill_dir.as_ref().map(|d| base.join(d));
    let network = Arc::new(file::load(&network_path)?);
    let tokens = Tokens::new(&config.api.tokens).context(bad("api.tokens"))?;
    if config.api.tokens.is_empty() {
        eprintln!("warning: no api.tokens configured; every API call will be refused (401)");
    }
    let tls = match (&config.api.tls_cert_file, &config.api.tls_key_file) {
        (Some(cert), Some(key)) => Some((base.join(cert), base.join(key))),
        (None, None) => None,
        _ => {
            return Err(
                anyhow::anyhow!("api.tls_cert_file and api.tls_key_file go together: set both or neither")
                    .context(bad("api")),
            );
        }
    };
    let runtime = runtime()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&config.api.listen)
            .await
            .with_context(|| bad(&format!("api.listen = \"{}\": cannot listen", config.api.listen)))?;
        let addr = listener.local_addr()?;
        let listener = match &tls {
            Some((cert, key)) => Listener::Tls(TlsListener::new(listener, cert, key).context(bad("api TLS"))?),
            None => Listener::Plain(listener),
        };
        let live = Live::start(
            &tokio::runtime::Handle::current(),
            network.clone(),
            &config,
            &journal_path,
            Clock::Wall,
            tokens,
        )?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!(
            "linepack serve: network '{}' ({}), journal {} ({} alarms restored), broker {}, control room {scheme}://{addr}/",
            network.name,
            network_path.display(),
            journal_path.display(),
            live.restored,
            live.broker
                .map_or_else(|| config.mqtt.broker.clone(), |a| format!("embedded at {a}")),
        );
        run_until_stopped(live, listener, stop_signal()).await
    })
}

/// Where the API listens.
pub(super) enum Listener {
    Plain(tokio::net::TcpListener),
    Tls(TlsListener),
}

/// A runtime for ingest and the API: two workers (the hot loop has its own
/// thread).
pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("linepack-io")
        .enable_all()
        .build()?)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub(super) async fn stop_signal() {
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM can be watched");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Serves the API until `stop`, then stops ingest, drains the hot loop
/// into the journal, and closes the API last, so nothing accepted is lost.
pub(super) async fn run_until_stopped(
    live: Live,
    listener: Listener,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<ExitCode> {
    let (close_api, api_closed) = tokio::sync::oneshot::channel::<()>();
    let closed = async move {
        let _ = api_closed.await;
    };
    let state = live.api.clone();
    let server = match listener {
        Listener::Plain(l) => tokio::spawn(api::serve(l, state, closed)),
        Listener::Tls(l) => tokio::spawn(api::serve(l, state, closed)),
    };
    tokio::select! {
        () = stop => {}
        r = wait_for_failure(&live) => return r,
    }
    eprintln!("stopping: ingest hands off what it read, the engine journals it");
    let journal: PathBuf = live.journal_path();
    let stats = live.stop().await.context("the hot loop stopped on a journal error")?;
    let _ = close_api.send(());
    server.await.context("the API task")?.context("the API server")?;
    eprintln!(
        "stopped: {} readings, {} alarm transitions journaled in {}",
        stats.readings,
        stats.transitions,
        journal.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Resolves with an error if the hot loop stops on its own (a journal
/// failure): the engine must not look alive when it is not.
async fn wait_for_failure(live: &Live) -> anyhow::Result<ExitCode> {
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        if !live.view.running() {
            return Err(anyhow::anyhow!("the hot loop stopped (see the log above)"));
        }
    }
}
