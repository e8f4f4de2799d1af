//! The engine running live, as `linepack serve` and `linepack demo` run
//! it: MQTT ingest (and the embedded broker), the engine restored from its
//! journal, the hot loop on its own thread announcing to the [`View`], the
//! notifier and the MQTT alarm topic, and the command channel the API uses. Stopping hands off what ingest has read,
//! lets the hot loop journal all of it, flushes notifications into their
//! outbox, and only then returns.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use linepack_ingest::metrics::IngestMetrics;
use linepack_ingest::mqtt::MqttIngest;
use linepack_ingest::mqtt::publisher::Publisher;
use linepack_ingest::telemetry::Batch;
use linepack_network::Network;

use crate::alarm::{AlarmBook, AlarmEvent, Namer};
use crate::api::{ApiState, Tokens};
use crate::archive::{Archive, ArchiveSender, Item, line};
use crate::command::Command;
use crate::config::EngineConfig;
use crate::engine::Engine;
use crate::hotloop::{self, Clock, Commit, LoopStats, Observer, Step};
use crate::journal::{Journal, JournalError};
use crate::notify::{Notifier, NotifyError};
use crate::view::{View, ViewWriter};

/// Why the live engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("engine configuration: {0}")]
    Engine(#[from] crate::engine::EngineError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("ingest: {0}")]
    Ingest(#[from] linepack_ingest::mqtt::StartError),
    #[error("cannot start the hot loop thread: {0}")]
    Thread(std::io::Error),
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error("notify.outbox: required when notify.receivers are configured")]
    NoOutbox,
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
}

/// A running engine.
pub struct Live {
    pub network: Arc<Network>,
    pub view: Arc<View>,
    pub commands: Sender<Command>,
    pub ingest_metrics: Arc<IngestMetrics>,
    /// The embedded broker's address, when it runs.
    pub broker: Option<SocketAddr>,
    /// Alarms that came back from the journal.
    pub restored: usize,
    /// What the API needs, made before the engine moved to its thread.
    pub api: ApiState,
    ingest: MqttIngest,
    notifier: Option<Notifier>,
    archive: Option<Archive>,
    hotloop: JoinHandle<Result<LoopStats, JournalError>>,
}

/// What the hot loop tells: the view, and the notifier when there is one.
struct LiveObserver {
    view: ViewWriter,
    notify: Option<crossbeam_channel::Sender<AlarmEvent>>,
    mqtt: Publisher,
    archive: Option<ArchiveSender>,
}

impl Observer for LiveObserver {
    fn announce(&mut self, events: &[AlarmEvent]) {
        self.view.announce(events);
        for e in events {
            self.mqtt
                .alarm(&e.alarm_id, serde_json::to_vec(e).expect("events serialize"));
        }
        if let Some(n) = &self.notify {
            for e in events {
                // Unbounded: the hot loop never waits for notifications.
                let _ = n.send(e.clone());
            }
        }
        if let Some(a) = &self.archive {
            a.send(Item::Alarms(events.to_vec()));
        }
    }

    fn processed(&mut self, batch: Batch) {
        if let Some(a) = &self.archive {
            a.send(Item::Readings(batch));
        }
    }

    fn stepped(&mut self, engine: &Engine, step: &Step) {
        self.view.stepped(engine, step);
    }
}

impl Live {
    /// Starts ingest and the hot loop; the journal at `journal` is opened
    /// (created) and the engine restored from it.
    ///
    /// # Errors
    /// [`StartError`]: nothing keeps running then.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        network: Arc<Network>,
        config: &EngineConfig,
        journal_path: &Path,
        clock: Clock,
        tokens: Tokens,
    ) -> Result<Live, StartError> {
        let mut engine = Engine::new(&network, config, 1)?;
        let mut journal = Journal::open(Some(journal_path))?;
        let mut after_restore = Vec::new();
        let restored = journal.restore(&mut engine, &network, &mut after_restore)?;
        let view = View::new(&network);
        view.seed_alarms(standing_events(&network, &engine));

        let notifier = if config.notify.receivers.is_empty() {
            None
        } else {
            let outbox = config.notify.outbox.as_deref().ok_or(StartError::NoOutbox)?;
            Some(Notifier::start(&config.notify, outbox)?)
        };
        let archive = match &config.archive.url {
            None => None,
            Some(_) => Some(Archive::start(&config.archive, sensor_tags(&network, &engine))?),
        };
        let (ingest, rx) = MqttIngest::start(runtime, &config.mqtt, &config.units, &network)?;
        let ingest_metrics = ingest.metrics.clone();
        let broker = ingest.broker.as_ref().map(|b| b.addr);
        let (commands, command_rx) = crossbeam_channel::unbounded();
        let api = ApiState::new(
            &network,
            &engine,
            view.clone(),
            commands.clone(),
            tokens,
            ingest_metrics.clone(),
            journal_path.to_path_buf(),
        );

        let mut api = api;
        api.notify = notifier.as_ref().map(|n| n.metrics.clone());
        api.archive = archive.as_ref().map(|a| a.metrics.clone());
        let mut writer = LiveObserver {
            view: ViewWriter::new(view.clone(), network.clone()),
            notify: notifier.as_ref().map(Notifier::handle),
            mqtt: ingest.publisher(runtime),
            archive: archive.as_ref().map(Archive::sender),
        };
        let loop_network = network.clone();
        let loop_view = view.clone();
        view.set_running(true);
        let hotloop = std::thread::Builder::new()
            .name("hotloop".into())
            .spawn(move || {
                let result = Commit::default()
                    .run(&after_restore, &loop_network, &engine, &mut journal, &mut writer)
                    .and_then(|()| {
                        hotloop::run(
                            &rx,
                            &loop_network,
                            &mut engine,
                            &mut journal,
                            clock,
                            Some(&command_rx),
                            &mut writer,
                        )
                    });
                loop_view.set_running(false);
                if let Err(e) = &result {
                    tracing::error!("the hot loop stopped: {e}");
                }
                result
            })
            .map_err(StartError::Thread)?;
        Ok(Live {
            network,
            view,
            commands,
            ingest_metrics,
            broker,
            restored,
            api,
            ingest,
            notifier,
            archive,
            hotloop,
        })
    }

    /// Stops ingest (what it read is handed off and acknowledged), lets
    /// the hot loop journal and announce all of it, and waits for it.
    ///
    /// # Errors
    /// The hot loop's [`JournalError`], if it stopped on one.
    pub async fn stop(self) -> Result<LoopStats, JournalError> {
        self.ingest.stop().await;
        let hotloop = self.hotloop;
        let notifier = self.notifier;
        let archive = self.archive;
        tokio::task::spawn_blocking(move || {
            let stats = hotloop.join();
            if let Some(a) = archive {
                a.stop();
            }
            // After the hot loop: its last events are in the notifier's
            // channel, and go to the outbox before this returns.
            if let Some(n) = notifier {
                n.stop();
            }
            stats
        })
        .await
        .expect("joining does not panic")
        .unwrap_or_else(|_| panic!("the hot loop thread panicked"))
    }

    /// Where the journal is.
    pub fn journal_path(&self) -> PathBuf {
        self.api.journal.clone()
    }
}

/// The standing alarms as events (state as they stand, no change), for a
/// view started after a restore.
fn standing_events(network: &Network, engine: &Engine) -> Vec<AlarmEvent> {
    let namer = Namer { network, engine };
    engine
        .standing()
        .into_iter()
        .map(|a| namer.event(&AlarmBook::transition(a, a.state(), None)))
        .collect()
}

/// Each sensor's archive tags: id, kind, site (the station, regulator or
/// user it is at), zone.
fn sensor_tags(network: &Network, engine: &Engine) -> Vec<String> {
    use linepack_network::ids::ElementRef;
    network
        .sensors
        .iter()
        .zip(&engine.table.info)
        .map(|(s, info)| {
            let site = matches!(
                s.at,
                ElementRef::Supply(_) | ElementRef::Regulator(_) | ElementRef::Consumer(_)
            )
            .then(|| network.id_of(s.at));
            let zone = info.zone.map(|z| engine.table.zone_names[z as usize].as_str());
            line::sensor_tags(&s.id, crate::api::kind_and_unit(s.kind).0, site, zone)
        })
        .collect()
}
