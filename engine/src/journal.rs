//! The alarm journal (SQLite): every transition is written, in one
//! synchronous transaction per step, before it is announced, with who
//! acknowledged or shelved it and why; a snapshot table holds each alarm's
//! last state, from which a restarted engine restores its standing alarms.

use std::path::{Path, PathBuf};

use linepack_network::Network;
use linepack_network::ids::ElementRef;
use rusqlite::{Connection, params};

use crate::alarm::book::restored_alarm;
use crate::alarm::{Alarm, AlarmEvent, AlarmKey, AlarmKind, AlarmState, Priority, Source, Transition};
use crate::engine::Engine;

/// The journal could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("alarm journal {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("alarm journal {}: alarm '{alarm_id}' cannot be restored: {reason}", path.display())]
    Restore {
        path: PathBuf,
        alarm_id: String,
        reason: String,
    },
}

/// One row of the `alarms` snapshot table.
struct SnapshotRow {
    alarm_id: String,
    kind: String,
    source_kind: String,
    source: String,
    cycle: String,
    active: bool,
    priority: String,
    raised_ms: i64,
    last_ms: i64,
    value: Option<f64>,
    limit: Option<f64>,
    shelved_until_ms: Option<i64>,
    suppressed: bool,
    out_of_service: bool,
}

/// An open journal.
pub struct Journal {
    conn: Connection,
    path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS transitions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    zone TEXT,
    priority TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    active INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    value REAL,
    limit_value REAL,
    message TEXT NOT NULL,
    actor TEXT,
    comment TEXT,
    shelved_until_ms INTEGER
);
CREATE INDEX IF NOT EXISTS transitions_by_alarm ON transitions (alarm_id, seq);
CREATE TABLE IF NOT EXISTS alarms (
    alarm_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    source_kind TEXT NOT NULL,
    source TEXT NOT NULL,
    state TEXT NOT NULL,
    cycle TEXT NOT NULL,
    active INTEGER NOT NULL,
    priority TEXT NOT NULL,
    raised_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    value REAL,
    limit_value REAL,
    shelved_until_ms INTEGER,
    suppressed INTEGER NOT NULL,
    out_of_service INTEGER NOT NULL
);
";

fn source_parts(source: &Source, event: &AlarmEvent) -> (&'static str, String) {
    match source {
        Source::Sensor(_) => ("sensor", event.source.clone()),
        Source::Consumer(_) => ("consumer", event.source.clone()),
        Source::Zone(_) => ("zone", event.source.clone()),
        Source::Site(_) => ("site", event.source.trim_start_matches("site:").to_string()),
        Source::System => ("system", String::new()),
    }
}

impl Journal {
    /// Opens (creating) the journal at `path`, or an in-memory one.
    ///
    /// # Errors
    /// [`JournalError`] naming the file.
    pub fn open(path: Option<&Path>) -> Result<Journal, JournalError> {
        let shown = path.map_or_else(|| PathBuf::from(":memory:"), Path::to_path_buf);
        let err = |source| JournalError::Sqlite {
            path: shown.clone(),
            source,
        };
        let conn = match path {
            Some(p) => Connection::open(p),
            None => Connection::open_in_memory(),
        }
        .map_err(err)?;
        // WAL with full sync: a committed step survives a crash or power loss.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Journal { conn, path: shown })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
        |source| JournalError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Writes one step's transitions and the alarms' new snapshots in one
    /// transaction. Returns once the transaction is durable.
    ///
    /// # Errors
    /// [`JournalError`]; nothing of the step is written then.
    pub fn record(&mut self, entries: &[(Transition, AlarmEvent, Alarm)]) -> Result<(), JournalError> {
        if entries.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let err = |source| JournalError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO transitions (alarm_id, kind, source, zone, priority, from_state, to_state, active, ts_ms,
                     value, limit_value, message, actor, comment, shelved_until_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                )
                .map_err(err)?;
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO alarms (alarm_id, kind, source_kind, source, state, cycle, active, priority, raised_ms,
                     last_ms, value, limit_value, shelved_until_ms, suppressed, out_of_service)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                     ON CONFLICT(alarm_id) DO UPDATE SET state = ?5, cycle = ?6, active = ?7, priority = ?8,
                     raised_ms = ?9, last_ms = ?10, value = ?11, limit_value = ?12, shelved_until_ms = ?13,
                     suppressed = ?14, out_of_service = ?15",
                )
                .map_err(err)?;
            for (t, e, a) in entries {
                insert
                    .execute(params![
                        e.alarm_id,
                        e.kind,
                        e.source,
                        e.zone,
                        e.priority,
                        e.previous_state,
                        e.state,
                        e.active,
                        t.ts_ms,
                        e.value,
                        e.limit,
                        e.message,
                        e.by,
                        e.comment,
                        t.shelved_until_ms,
                    ])
                    .map_err(err)?;
                let (source_kind, source) = source_parts(&t.key.source, e);
                let finite = |v: f64| v.is_finite().then_some(v);
                upsert
                    .execute(params![
                        e.alarm_id,
                        e.kind,
                        source_kind,
                        source,
                        a.state().name(),
                        a.cycle_state().name(),
                        a.active,
                        a.priority.name(),
                        a.raised_ms,
                        a.last_ms,
                        finite(a.value),
                        finite(a.limit),
                        a.shelved_until_ms,
                        a.suppressed,
                        a.out_of_service,
                    ])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Puts every alarm that was not normal and quiet back into `engine`,
    /// then lets the engine re-derive what follows from them (stations
    /// failed, suppression), appending those transitions to `out`.
    /// Returns how many alarms were restored.
    ///
    /// # Errors
    /// [`JournalError`] when the journal cannot be read or names an alarm
    /// this network and engine do not have; the engine is then unchanged.
    pub fn restore(
        &self,
        engine: &mut Engine,
        network: &Network,
        out: &mut Vec<Transition>,
    ) -> Result<usize, JournalError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT alarm_id, kind, source_kind, source, cycle, active, priority, raised_ms, last_ms, value,
                 limit_value, shelved_until_ms, suppressed, out_of_service FROM alarms
                 WHERE state != 'normal' OR active = 1 ORDER BY alarm_id",
            )
            .map_err(self.err())?;
        let rows: Vec<SnapshotRow> = stmt
            .query_map([], |r| {
                Ok(SnapshotRow {
                    alarm_id: r.get(0)?,
                    kind: r.get(1)?,
                    source_kind: r.get(2)?,
                    source: r.get(3)?,
                    cycle: r.get(4)?,
                    active: r.get(5)?,
                    priority: r.get(6)?,
                    raised_ms: r.get(7)?,
                    last_ms: r.get(8)?,
                    value: r.get(9)?,
                    limit: r.get(10)?,
                    shelved_until_ms: r.get(11)?,
                    suppressed: r.get(12)?,
                    out_of_service: r.get(13)?,
                })
            })
            .map_err(self.err())?
            .collect::<Result<_, _>>()
            .map_err(self.err())?;
        // Check every row before changing the engine.
        let mut alarms = Vec::with_capacity(rows.len());
        for row in rows {
            alarms.push(self.alarm_of(row, engine, network)?);
        }
        let n = alarms.len();
        for alarm in alarms {
            engine.restore(alarm);
        }
        engine.restored(out);
        Ok(n)
    }

    fn alarm_of(&self, row: SnapshotRow, engine: &mut Engine, network: &Network) -> Result<Alarm, JournalError> {
        let bad = |reason: &str| JournalError::Restore {
            path: self.path.clone(),
            alarm_id: row.alarm_id.clone(),
            reason: reason.to_string(),
        };
        let kind = AlarmKind::parse(&row.kind).ok_or_else(|| bad("unknown alarm kind"))?;
        let source = match row.source_kind.as_str() {
            "sensor" => match network.find(&row.source) {
                Some(ElementRef::Sensor(s)) => Source::Sensor(s.index() as u32),
                _ => return Err(bad("the network has no such sensor")),
            },
            "consumer" => match network.find(&row.source) {
                Some(ElementRef::Consumer(c)) => Source::Consumer(c.index() as u32),
                _ => return Err(bad("the network has no such consumer")),
            },
            "zone" => match engine.table.zone_names.iter().position(|z| *z == row.source) {
                Some(z) => Source::Zone(z as u32),
                None => return Err(bad("the network has no such zone")),
            },
            "site" => Source::Site(engine.site_index(&row.source)),
            "system" => Source::System,
            _ => return Err(bad("unknown source kind")),
        };
        let cycle = AlarmState::parse(&row.cycle).ok_or_else(|| bad("unknown state"))?;
        let priority: Priority = row.priority.parse().map_err(|_| bad("unknown priority"))?;
        let mut alarm = restored_alarm(
            AlarmKey { kind, source },
            cycle,
            row.active,
            priority,
            row.raised_ms,
            row.last_ms,
            row.value.unwrap_or(f64::NAN),
            row.limit.unwrap_or(f64::NAN),
        )
        .map_err(|reason| bad(&reason))?;
        alarm.shelved_until_ms = row.shelved_until_ms;
        alarm.suppressed = row.suppressed;
        alarm.out_of_service = row.out_of_service;
        Ok(alarm)
    }

    /// The last `limit` transitions, newest first (history).
    ///
    /// # Errors
    /// [`JournalError`] when the journal cannot be read.
    pub fn history(&self, limit: usize) -> Result<Vec<JournalEntry>, JournalError> {
        query_history(
            &self.conn,
            &HistoryQuery {
                limit,
                ..HistoryQuery::default()
            },
        )
        .map_err(self.err())
    }

    /// Transitions matching `q`, newest first, read through a connection of
    /// its own (the journal is in WAL mode: readers never block the
    /// writer).
    ///
    /// # Errors
    /// [`JournalError`] when the file cannot be opened or read.
    pub fn read_history(path: &Path, q: &HistoryQuery) -> Result<Vec<JournalEntry>, JournalError> {
        let err = |source| JournalError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err)?;
        query_history(&conn, q).map_err(err)
    }
}

/// Which transitions history shows; `None` matches all.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistoryQuery {
    pub alarm_id: Option<String>,
    pub kind: Option<String>,
    pub zone: Option<String>,
    pub priority: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: usize,
}

fn query_history(conn: &Connection, q: &HistoryQuery) -> rusqlite::Result<Vec<JournalEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT alarm_id, kind, source, zone, priority, from_state, to_state, active, ts_ms, value, limit_value,
         message, actor, comment FROM transitions
         WHERE (?1 IS NULL OR alarm_id = ?1) AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR zone = ?3)
           AND (?4 IS NULL OR priority = ?4) AND (?5 IS NULL OR ts_ms >= ?5) AND (?6 IS NULL OR ts_ms < ?6)
         ORDER BY seq DESC LIMIT ?7",
    )?;
    stmt.query_map(
        rusqlite::params![
            q.alarm_id,
            q.kind,
            q.zone,
            q.priority,
            q.since_ms,
            q.until_ms,
            q.limit as i64
        ],
        |r| {
            Ok(JournalEntry {
                alarm_id: r.get(0)?,
                kind: r.get(1)?,
                source: r.get(2)?,
                zone: r.get(3)?,
                priority: r.get(4)?,
                previous_state: r.get(5)?,
                state: r.get(6)?,
                active: r.get(7)?,
                ts_ms: r.get(8)?,
                value: r.get(9)?,
                limit: r.get(10)?,
                message: r.get(11)?,
                by: r.get(12)?,
                comment: r.get(13)?,
            })
        },
    )?
    .collect()
}

/// One journaled transition, as history shows it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct JournalEntry {
    pub alarm_id: String,
    pub kind: String,
    pub source: String,
    pub zone: Option<String>,
    pub priority: String,
    pub previous_state: String,
    pub state: String,
    pub active: bool,
    pub ts_ms: i64,
    pub value: Option<f64>,
    pub limit: Option<f64>,
    pub message: String,
    /// Who acknowledged, shelved or took it out of service, and why.
    pub by: Option<String>,
    pub comment: Option<String>,
}
