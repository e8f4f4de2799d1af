//! Grouping and timing, as Alertmanager does it: alarm events join a group
//! per route and group labels; a new group waits `group_wait` for company,
//! changes go out at most every `group_interval`, a firing group is sent
//! again after `repeat_interval`. Operator actions (acknowledge, clear) go
//! out at once. A standing critical alarm inhibits lesser alarms of its
//! source; an alarm not acknowledged within a route's escalation time also
//! goes to the escalation's receivers; quiet hours hold back the priorities
//! they name until they end.
//!
//! Time is passed in, never read: the dispatcher is driven by its thread
//! (`super::Notifier`) and by tests with time they control.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use super::payload::{Notice, Outgoing, requests};
use super::route::{Routes, group_labels};
use crate::alarm::AlarmEvent;

/// Where notifications go (the outbox; tests collect them).
pub trait Enqueue {
    fn enqueue(&mut self, o: Outgoing);
}

impl Enqueue for Vec<Outgoing> {
    fn enqueue(&mut self, o: Outgoing) {
        self.push(o);
    }
}

struct Group {
    route: usize,
    labels: BTreeMap<String, String>,
    members: BTreeSet<String>,
    next: Option<Instant>,
    last_sent: Option<Instant>,
    /// What was last sent: the digest of (alarm, state, active) pairs.
    sent: u64,
}

struct Escalation {
    due: Instant,
    alarm_id: String,
    route: usize,
    step: usize,
}

/// The dispatcher's state.
pub struct Dispatcher {
    routes: Routes,
    external_url: String,
    inhibit: bool,
    utc_offset_min: i64,
    alarms: HashMap<String, AlarmEvent>,
    groups: BTreeMap<(usize, String), Group>,
    escalations: Vec<Escalation>,
}

/// Muted alarms are neither sent nor resolved.
fn muted_state(state: &str) -> bool {
    matches!(state, "shelved" | "suppressed" | "out_of_service")
}

fn firing(e: &AlarmEvent) -> bool {
    e.active && e.state != "normal" && !muted_state(&e.state)
}

impl Dispatcher {
    pub fn new(routes: Routes, external_url: &str, inhibit: bool, utc_offset_hours: f64) -> Dispatcher {
        Dispatcher {
            routes,
            external_url: external_url.to_string(),
            inhibit,
            utc_offset_min: (utc_offset_hours * 60.0).round() as i64,
            alarms: HashMap::new(),
            groups: BTreeMap::new(),
            escalations: Vec::new(),
        }
    }

    /// An alarm transition, at `now`.
    pub fn event(&mut self, e: AlarmEvent, now: Instant) {
        let operator = e.by.is_some();
        let raised = e.state == "unacknowledged" && e.previous_state != "unacknowledged" && e.active;
        for r in self.routes.matching(&e) {
            let route = &self.routes.routes[r];
            if raised {
                for (step, (after, _)) in route.escalate.iter().enumerate() {
                    self.escalations.push(Escalation {
                        due: now + *after,
                        alarm_id: e.alarm_id.clone(),
                        route: r,
                        step,
                    });
                }
            }
            if route.receivers.is_empty() {
                continue;
            }
            let labels = group_labels(route, &e);
            let key = (r, format!("{labels:?}"));
            let g = self.groups.entry(key).or_insert_with(|| Group {
                route: r,
                labels,
                members: BTreeSet::new(),
                next: None,
                last_sent: None,
                sent: 0,
            });
            g.members.insert(e.alarm_id.clone());
            let at = if operator {
                now
            } else {
                match g.last_sent {
                    None => now + route.group_wait,
                    Some(sent) => (sent + route.group_interval).max(now),
                }
            };
            g.next = Some(g.next.map_or(at, |n| n.min(at)));
        }
        self.alarms.insert(e.alarm_id.clone(), e);
    }

    /// When something falls due next.
    pub fn next_due(&self) -> Option<Instant> {
        let groups = self.groups.values().filter_map(|g| g.next);
        let escalations = self.escalations.iter().map(|e| e.due);
        groups.chain(escalations).min()
    }

    /// Whether a firing critical alarm of the same source (of another kind)
    /// mutes `e`.
    fn inhibited(&self, e: &AlarmEvent) -> bool {
        self.inhibit
            && e.priority != "critical"
            && self
                .alarms
                .values()
                .any(|o| o.source == e.source && o.alarm_id != e.alarm_id && o.priority == "critical" && firing(o))
    }

    /// Minute of the local day at wall-clock time `wall_ms`.
    fn local_minute(&self, wall_ms: i64) -> u32 {
        ((wall_ms / 60_000 + self.utc_offset_min).rem_euclid(24 * 60)) as u32
    }

    /// Sends what is due at `now` (`wall_ms`: the wall clock then, for quiet
    /// hours).
    pub fn flush(&mut self, now: Instant, wall_ms: i64, out: &mut impl Enqueue) {
        let minute = self.local_minute(wall_ms);
        let due: Vec<(usize, String)> = self
            .groups
            .iter()
            .filter(|(_, g)| g.next.is_some_and(|n| n <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.flush_group(&key, now, minute, out);
        }
        let (ready, waiting): (Vec<Escalation>, Vec<Escalation>) = std::mem::take(&mut self.escalations)
            .into_iter()
            .partition(|e| e.due <= now);
        self.escalations = waiting;
        for esc in ready {
            self.escalate(&esc, out);
        }
        // Resolved alarms no group holds any more are forgotten.
        let held: BTreeSet<&String> = self.groups.values().flat_map(|g| &g.members).collect();
        let keep: Vec<String> = self
            .alarms
            .iter()
            .filter(|(id, e)| held.contains(id) || e.active || e.state != "normal")
            .map(|(id, _)| id.clone())
            .collect();
        self.alarms.retain(|id, _| keep.contains(id));
    }

    /// Sends every group now (when stopping): nothing waits for company.
    pub fn flush_all(&mut self, now: Instant, wall_ms: i64, out: &mut impl Enqueue) {
        for g in self.groups.values_mut() {
            if g.next.is_some() {
                g.next = Some(now);
            }
        }
        self.flush(now, wall_ms, out);
    }

    fn flush_group(&mut self, key: &(usize, String), now: Instant, minute: u32, out: &mut impl Enqueue) {
        let g = self.groups.get(key).expect("due groups exist");
        let route = &self.routes.routes[g.route];
        let quiet = route.quiet.as_ref().filter(|q| q.contains(minute));
        let mut fire = Vec::new();
        let mut resolved = Vec::new();
        let mut held_back = false;
        for id in &g.members {
            let Some(e) = self.alarms.get(id) else { continue };
            if quiet.is_some_and(|q| q.priorities.contains(&e.priority)) {
                held_back = true;
            } else if firing(e) && !self.inhibited(e) {
                fire.push(e);
            } else if !e.active || e.state == "normal" {
                resolved.push(e);
            }
        }
        let mut h = DefaultHasher::new();
        for e in fire.iter().chain(&resolved) {
            (&e.alarm_id, &e.state, e.active).hash(&mut h);
        }
        let digest = h.finish();
        let repeat_due = g.last_sent.is_some_and(|s| now >= s + route.repeat_interval);
        let changed = digest != g.sent && !(fire.is_empty() && resolved.is_empty());
        let send = changed || (!fire.is_empty() && repeat_due);
        let group_key = group_key(&route.path, &g.labels);
        if send {
            let notice = Notice {
                group_key: group_key.clone(),
                group_labels: &g.labels,
                firing: fire.clone(),
                resolved: resolved.clone(),
                external_url: &self.external_url,
                escalated: false,
            };
            for &r in &route.receivers {
                for o in requests(&self.routes.receivers[r], &notice) {
                    out.enqueue(o);
                }
            }
        }
        let resolved_ids: Vec<String> = resolved.iter().map(|e| e.alarm_id.clone()).collect();
        let fire_empty = fire.is_empty();
        let repeat = route.repeat_interval;
        let quiet_left = quiet.map(|q| Duration::from_secs(u64::from(q.minutes_left(minute)) * 60));
        let g = self.groups.get_mut(key).expect("due groups exist");
        if send {
            g.last_sent = Some(now);
            g.sent = digest;
        }
        for id in &resolved_ids {
            g.members.remove(id);
        }
        g.next = if !fire_empty {
            Some(now + repeat)
        } else if held_back {
            quiet_left.map(|left| now + left)
        } else {
            None
        };
        if g.members.is_empty() {
            self.groups.remove(key);
        }
    }

    fn escalate(&self, esc: &Escalation, out: &mut impl Enqueue) {
        let Some(e) = self.alarms.get(&esc.alarm_id) else {
            return;
        };
        if !(firing(e) && e.state.ends_with("unacknowledged")) {
            return;
        }
        let route = &self.routes.routes[esc.route];
        let labels: BTreeMap<String, String> = [("alarm_id".to_string(), e.alarm_id.clone())].into();
        let notice = Notice {
            group_key: format!("{}:escalation{}", group_key(&route.path, &labels), esc.step),
            group_labels: &labels,
            firing: vec![e],
            resolved: Vec::new(),
            external_url: &self.external_url,
            escalated: true,
        };
        for &r in &route.escalate[esc.step].1 {
            for o in requests(&self.routes.receivers[r], &notice) {
                out.enqueue(o);
            }
        }
    }
}

/// A stable key per route and group labels (PagerDuty's dedup key).
fn group_key(path: &str, labels: &BTreeMap<String, String>) -> String {
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("linepack/{path}/{{{}}}", labels.join(","))
}
