//! The route tree and the receivers, checked and compiled from `[notify]`:
//! which routes an alarm event takes (Alertmanager's rules: depth first,
//! the deepest matching route wins, `continue` lets siblings match too).

use std::collections::BTreeMap;
use std::time::Duration;

use super::config::{NotifyConfig, QuietHoursConfig, ReceiverConfig, RouteConfig};
use crate::alarm::{AlarmEvent, AlarmKind, Priority};

/// An event field routes match and group on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Priority,
    Kind,
    Zone,
    Source,
    AlarmId,
}

impl Field {
    fn parse(s: &str) -> Option<Field> {
        Some(match s {
            "priority" => Field::Priority,
            "kind" => Field::Kind,
            "zone" => Field::Zone,
            "source" => Field::Source,
            "alarm_id" => Field::AlarmId,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Field::Priority => "priority",
            Field::Kind => "kind",
            Field::Zone => "zone",
            Field::Source => "source",
            Field::AlarmId => "alarm_id",
        }
    }

    pub fn of(self, e: &AlarmEvent) -> &str {
        match self {
            Field::Priority => &e.priority,
            Field::Kind => &e.kind,
            Field::Zone => e.zone.as_deref().unwrap_or(""),
            Field::Source => &e.source,
            Field::AlarmId => &e.alarm_id,
        }
    }
}

/// What a receiver is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiverKind {
    Webhook {
        secret: Option<String>,
    },
    Alertmanager,
    PagerDuty {
        routing_key: String,
    },
    Sms {
        to: Vec<String>,
        from: String,
        body: String,
        max_chars: usize,
    },
}

/// A checked receiver.
#[derive(Clone, Debug, PartialEq)]
pub struct Receiver {
    pub name: String,
    pub kind: ReceiverKind,
    pub url: String,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub basic_auth: Option<(String, String)>,
    pub rate_per_minute: f64,
}

/// Quiet hours: minutes of the local day, `from` inclusive, `to` exclusive.
#[derive(Clone, Debug, PartialEq)]
pub struct Quiet {
    pub from_min: u32,
    pub to_min: u32,
    pub priorities: Vec<String>,
}

impl Quiet {
    /// Whether `minute` of the day lies in the window.
    pub fn contains(&self, minute: u32) -> bool {
        if self.from_min <= self.to_min {
            (self.from_min..self.to_min).contains(&minute)
        } else {
            minute >= self.from_min || minute < self.to_min
        }
    }

    /// Minutes from `minute` to the end of the window.
    pub fn minutes_left(&self, minute: u32) -> u32 {
        (self.to_min + 24 * 60 - minute) % (24 * 60)
    }
}

/// A compiled route.
#[derive(Clone, Debug)]
pub struct Route {
    /// "root", "root.0", "root.0.1": stable while the tree is.
    pub path: String,
    matches: Vec<(Field, Vec<String>)>,
    pub receivers: Vec<usize>,
    pub group_by: Vec<Field>,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub escalate: Vec<(Duration, Vec<usize>)>,
    pub quiet: Option<Quiet>,
    continue_matching: bool,
    children: Vec<usize>,
}

/// The tree and the receivers.
#[derive(Clone, Debug)]
pub struct Routes {
    pub routes: Vec<Route>,
    pub receivers: Vec<Receiver>,
}

/// Inherited settings.
#[derive(Clone)]
struct Inherited {
    group_by: Vec<Field>,
    group_wait: Duration,
    group_interval: Duration,
    repeat_interval: Duration,
}

fn secs(v: Option<f64>, key: &str, default: Duration, problems: &mut Vec<String>) -> Duration {
    match v {
        None => default,
        Some(s) if s.is_finite() && s >= 0.0 => Duration::from_secs_f64(s),
        Some(s) => {
            problems.push(format!("{key} = {s}: must be a number of seconds, 0 or more"));
            default
        }
    }
}

fn hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

impl Routes {
    /// # Errors
    /// Every problem, each naming its key.
    pub fn build(config: &NotifyConfig) -> Result<Routes, Vec<String>> {
        let mut problems = Vec::new();
        let names: Vec<&String> = config.receivers.keys().collect();
        let receivers = config
            .receivers
            .iter()
            .filter_map(|(name, r)| receiver(name, r, &mut problems))
            .collect();
        let inherited = Inherited {
            group_by: vec![Field::Zone],
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
        };
        let mut routes = Vec::new();
        compile(
            &config.route,
            "root",
            "notify.route",
            &inherited,
            &names,
            &mut routes,
            &mut problems,
        );
        if problems.is_empty() {
            Ok(Routes { routes, receivers })
        } else {
            Err(problems)
        }
    }

    /// The routes `e` takes (indices); empty when none has receivers.
    pub fn matching(&self, e: &AlarmEvent) -> Vec<usize> {
        let mut out = Vec::new();
        self.walk(0, e, &mut out);
        out
    }

    fn matches(&self, r: usize, e: &AlarmEvent) -> bool {
        self.routes[r]
            .matches
            .iter()
            .all(|(f, allowed)| allowed.iter().any(|a| a == f.of(e)))
    }

    /// Appends the deepest matches under `r` (which matches), or `r`.
    fn walk(&self, r: usize, e: &AlarmEvent, out: &mut Vec<usize>) {
        let mut taken = false;
        for &c in &self.routes[r].children {
            if self.matches(c, e) {
                self.walk(c, e, out);
                taken = true;
                if !self.routes[c].continue_matching {
                    break;
                }
            }
        }
        if !taken {
            out.push(r);
        }
    }
}

fn receiver(name: &str, r: &ReceiverConfig, problems: &mut Vec<String>) -> Option<Receiver> {
    let key = |k: &str| format!("notify.receivers.{name}.{k}");
    let before = problems.len();
    let url = |default: Option<&str>, problems: &mut Vec<String>| match (r.url.as_deref(), default) {
        (Some(u), _) if u.starts_with("http://") || u.starts_with("https://") => u.to_string(),
        (Some(u), _) => {
            problems.push(format!("{} = \"{u}\": must be an http:// or https:// URL", key("url")));
            String::new()
        }
        (None, Some(d)) => d.to_string(),
        (None, None) => {
            problems.push(format!("{}: required for kind \"{}\"", key("url"), r.kind));
            String::new()
        }
    };
    let (kind, url, content_type) = match r.kind.as_str() {
        "webhook" => (
            ReceiverKind::Webhook {
                secret: r.secret.clone(),
            },
            url(None, problems),
            "application/json".to_string(),
        ),
        "alertmanager" => (
            ReceiverKind::Alertmanager,
            url(None, problems),
            "application/json".into(),
        ),
        "pagerduty" => {
            let Some(routing_key) = r.routing_key.clone().filter(|k| !k.trim().is_empty()) else {
                problems.push(format!("{}: required for kind \"pagerduty\"", key("routing_key")));
                return None;
            };
            (
                ReceiverKind::PagerDuty { routing_key },
                url(Some("https://events.pagerduty.com/v2/enqueue"), problems),
                "application/json".into(),
            )
        }
        "sms" => {
            if r.to.is_empty() {
                problems.push(format!("{}: list at least one recipient", key("to")));
            }
            let max_chars = r.max_chars.unwrap_or(160);
            if max_chars < 20 {
                problems.push(format!("{} = {max_chars}: at least 20", key("max_chars")));
            }
            let body = r
                .body
                .clone()
                .unwrap_or_else(|| "To={to}&From={from}&Body={text}".into());
            if !body.contains("{text}") {
                problems.push(format!("{}: the template must contain {{text}}", key("body")));
            }
            (
                ReceiverKind::Sms {
                    to: r.to.clone(),
                    from: r.from.clone().unwrap_or_default(),
                    body,
                    max_chars,
                },
                url(None, problems),
                r.content_type
                    .clone()
                    .unwrap_or_else(|| "application/x-www-form-urlencoded".into()),
            )
        }
        other => {
            problems.push(format!(
                "{} = \"{other}\": use webhook, alertmanager, pagerduty or sms",
                key("kind")
            ));
            return None;
        }
    };
    let rate_per_minute = r.rate_per_minute.unwrap_or(60.0);
    if !(rate_per_minute.is_finite() && rate_per_minute > 0.0) {
        problems.push(format!(
            "{} = {rate_per_minute}: must be more than 0",
            key("rate_per_minute")
        ));
    }
    let basic_auth = match (&r.username, &r.password) {
        (Some(u), Some(p)) => Some((u.clone(), p.clone())),
        (None, None) => None,
        _ => {
            problems.push(format!("{}/password: set both or neither", key("username")));
            None
        }
    };
    (problems.len() == before).then(|| Receiver {
        name: name.to_string(),
        kind,
        url,
        content_type,
        headers: r.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        basic_auth,
        rate_per_minute,
    })
}

fn compile(
    c: &RouteConfig,
    path: &str,
    key: &str,
    parent: &Inherited,
    receivers: &[&String],
    routes: &mut Vec<Route>,
    problems: &mut Vec<String>,
) -> usize {
    let receiver_index = |names: &[String], k: &str, problems: &mut Vec<String>| -> Vec<usize> {
        names
            .iter()
            .filter_map(|n| {
                let i = receivers.iter().position(|r| *r == n);
                if i.is_none() {
                    problems.push(format!("{key}.{k}: no receiver \"{n}\" in notify.receivers"));
                }
                i
            })
            .collect()
    };
    let mut matches = Vec::new();
    for (field, allowed) in &c.matches {
        let Some(f) = Field::parse(field) else {
            problems.push(format!(
                "{key}.match.{field}: unknown field; use priority, kind, zone, source or alarm_id"
            ));
            continue;
        };
        for v in allowed {
            let ok = match f {
                Field::Priority => v.parse::<Priority>().is_ok(),
                Field::Kind => AlarmKind::parse(v).is_some(),
                _ => true,
            };
            if !ok {
                problems.push(format!("{key}.match.{field}: unknown {field} \"{v}\""));
            }
        }
        matches.push((f, allowed.clone()));
    }
    let group_by = match &c.group_by {
        None => parent.group_by.clone(),
        Some(fields) => fields
            .iter()
            .filter_map(|f| {
                let parsed = Field::parse(f);
                if parsed.is_none() {
                    problems.push(format!("{key}.group_by: unknown field \"{f}\""));
                }
                parsed
            })
            .collect(),
    };
    let here = Inherited {
        group_by,
        group_wait: secs(
            c.group_wait_s,
            &format!("{key}.group_wait_s"),
            parent.group_wait,
            problems,
        ),
        group_interval: secs(
            c.group_interval_s,
            &format!("{key}.group_interval_s"),
            parent.group_interval,
            problems,
        ),
        repeat_interval: secs(
            c.repeat_interval_s,
            &format!("{key}.repeat_interval_s"),
            parent.repeat_interval,
            problems,
        ),
    };
    let escalate = c
        .escalate
        .iter()
        .enumerate()
        .map(|(i, e)| {
            if !(e.after_min.is_finite() && e.after_min > 0.0) {
                problems.push(format!(
                    "{key}.escalate[{i}].after_min = {}: must be more than 0",
                    e.after_min
                ));
            }
            (
                Duration::from_secs_f64(e.after_min.max(0.0) * 60.0),
                receiver_index(&e.receivers, &format!("escalate[{i}].receivers"), problems),
            )
        })
        .collect();
    let quiet = c.quiet_hours.as_ref().and_then(|q: &QuietHoursConfig| {
        let (from, to) = (hhmm(&q.from), hhmm(&q.to));
        if from.is_none() || to.is_none() {
            problems.push(format!("{key}.quiet_hours: from and to must be \"HH:MM\""));
        }
        for p in &q.priorities {
            if p.parse::<Priority>().is_err() {
                problems.push(format!("{key}.quiet_hours.priorities: unknown priority \"{p}\""));
            }
        }
        Some(Quiet {
            from_min: from?,
            to_min: to?,
            priorities: q.priorities.clone(),
        })
    });
    let index = routes.len();
    routes.push(Route {
        path: path.to_string(),
        matches,
        receivers: receiver_index(&c.receivers, "receivers", problems),
        group_by: here.group_by.clone(),
        group_wait: here.group_wait,
        group_interval: here.group_interval,
        repeat_interval: here.repeat_interval,
        escalate,
        quiet,
        continue_matching: c.continue_matching,
        children: Vec::new(),
    });
    let children: Vec<usize> = c
        .routes
        .iter()
        .enumerate()
        .map(|(i, child)| {
            compile(
                child,
                &format!("{path}.{i}"),
                &format!("{key}.routes[{i}]"),
                &here,
                receivers,
                routes,
                problems,
            )
        })
        .collect();
    routes[index].children = children;
    index
}

/// The labels a group is keyed by, in field order.
pub fn group_labels(route: &Route, e: &AlarmEvent) -> BTreeMap<String, String> {
    route
        .group_by
        .iter()
        .map(|f| (f.name().to_string(), f.of(e).to_string()))
        .collect()
}
