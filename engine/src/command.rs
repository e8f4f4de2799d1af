//! Operator commands (acknowledge, shelve, unshelve, out of service) as
//! they travel from the API to the hot loop, which owns the engine: a
//! command is carried out between steps, journaled, announced like any
//! transition, and answered with the event it caused.

use crossbeam_channel::Sender;
use linepack_network::Network;
use linepack_network::ids::ElementRef;
use tokio::sync::oneshot;

use crate::alarm::{Actor, AlarmEvent, AlarmKey, AlarmKind, CommandError, Source};
use crate::engine::Engine;
use crate::hotloop::{Clock, Commit, Observer, now_ms};
use crate::journal::{Journal, JournalError};

/// What an operator asks of one alarm.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Acknowledge,
    /// Shelve for this long from now, on the engine's clock.
    Shelve {
        for_ms: i64,
    },
    Unshelve,
    OutOfService(bool),
}

/// Why a command was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("no alarm '{0}'")]
    UnknownAlarm(String),
    #[error("{0}")]
    Refused(#[from] CommandError),
    #[error("the engine is not running")]
    Stopped,
}

/// A command and where its answer goes.
#[derive(Debug)]
pub struct Command {
    pub alarm_id: String,
    pub action: Action,
    pub actor: Actor,
    pub reply: oneshot::Sender<Result<AlarmEvent, Refusal>>,
}

impl Command {
    /// Sends a command to the hot loop and waits for its answer.
    ///
    /// # Errors
    /// The [`Refusal`]; [`Refusal::Stopped`] when the loop has ended.
    pub async fn send(
        to: &Sender<Command>,
        alarm_id: String,
        action: Action,
        actor: Actor,
    ) -> Result<AlarmEvent, Refusal> {
        let (reply, answer) = oneshot::channel();
        to.send(Command {
            alarm_id,
            action,
            actor,
            reply,
        })
        .map_err(|_| Refusal::Stopped)?;
        answer.await.map_err(|_| Refusal::Stopped)?
    }
}

/// The key of an alarm id (`<kind>:<source>`, as [`crate::alarm::Namer`]
/// writes it) among the alarms the engine has.
pub fn alarm_key(alarm_id: &str, network: &Network, engine: &Engine) -> Option<AlarmKey> {
    let (kind, source) = alarm_id.split_once(':')?;
    let kind = AlarmKind::parse(kind)?;
    let sources: Vec<Source> = if source == "system" {
        vec![Source::System]
    } else if let Some(site) = source.strip_prefix("site:") {
        (0..engine.site_count() as u32)
            .filter(|&s| engine.site_name(s) == site)
            .map(Source::Site)
            .collect()
    } else {
        let mut v = Vec::new();
        match network.find(source) {
            Some(ElementRef::Sensor(s)) => v.push(Source::Sensor(s.index() as u32)),
            Some(ElementRef::Consumer(c)) => v.push(Source::Consumer(c.index() as u32)),
            _ => {}
        }
        if let Some(z) = engine.table.zone_names.iter().position(|z| z == source) {
            v.push(Source::Zone(z as u32));
        }
        v
    };
    sources
        .into_iter()
        .map(|source| AlarmKey { kind, source })
        .find(|key| engine.alarm(key).is_some())
}

/// Carries out one command between steps and answers it. Only a journal
/// failure is an error of the loop; a refused command is an answer.
pub(crate) fn carry_out(
    command: Command,
    network: &Network,
    engine: &mut Engine,
    journal: &mut Journal,
    commit: &mut Commit,
    clock: Clock,
    observer: &mut impl Observer,
) -> Result<(), JournalError> {
    let Command {
        alarm_id,
        action,
        actor,
        reply,
    } = command;
    let Some(key) = alarm_key(&alarm_id, network, engine) else {
        let _ = reply.send(Err(Refusal::UnknownAlarm(alarm_id)));
        return Ok(());
    };
    let ts = now_ms(engine, clock);
    let done = match action {
        Action::Acknowledge => engine.acknowledge(&key, ts, actor),
        Action::Shelve { for_ms } => engine.shelve(&key, ts, ts + for_ms, actor),
        Action::Unshelve => engine.unshelve(&key, ts, actor),
        Action::OutOfService(on) => engine.set_out_of_service(&key, on, ts, actor),
    };
    let transition = match done {
        Ok(t) => t,
        Err(e) => {
            let _ = reply.send(Err(Refusal::Refused(e)));
            return Ok(());
        }
    };
    let mut event = None;
    commit.run(
        std::slice::from_ref(&transition),
        network,
        engine,
        journal,
        &mut Announced {
            inner: observer,
            event: &mut event,
        },
    )?;
    let _ = reply.send(event.ok_or(Refusal::Stopped));
    Ok(())
}

/// Passes events on and keeps the command's own.
struct Announced<'a, O> {
    inner: &'a mut O,
    event: &'a mut Option<AlarmEvent>,
}

impl<O: Observer> Observer for Announced<'_, O> {
    fn announce(&mut self, events: &[AlarmEvent]) {
        *self.event = events.first().cloned();
        self.inner.announce(events);
    }
}
