use proptest::prelude::*;

use super::book::*;
use super::kind::{AlarmKind, Priority};

const KEY: AlarmKey = AlarmKey {
    kind: AlarmKind::Low,
    source: Source::Sensor(7),
};

fn op() -> Actor {
    Actor {
        user: "op1".into(),
        comment: "checked".into(),
    }
}

fn set(book: &mut AlarmBook, active: bool, ts: i64) -> Vec<Transition> {
    let mut out = Vec::new();
    book.condition(KEY, active, ts, 1.0, 2.0, Priority::Medium, &mut out);
    out
}

fn state(book: &AlarmBook) -> AlarmState {
    book.get(&KEY).map_or(AlarmState::Normal, |a| a.state())
}

#[test]
fn full_cycle_with_acknowledgement_while_active() {
    let mut b = AlarmBook::new();
    assert!(
        set(&mut b, false, 0).is_empty(),
        "an inactive condition creates nothing"
    );
    let t = set(&mut b, true, 10);
    assert_eq!((t[0].from, t[0].to), (AlarmState::Normal, AlarmState::Unacknowledged));
    assert!(set(&mut b, true, 11).is_empty(), "one alarm per condition");
    let t = b.acknowledge(&KEY, 12, op()).unwrap();
    assert_eq!(t.to, AlarmState::Acknowledged);
    assert_eq!(t.actor.as_ref().unwrap().user, "op1");
    let t = set(&mut b, false, 13);
    assert_eq!(t[0].to, AlarmState::Normal);
}

#[test]
fn return_to_normal_unacknowledged_then_ack_or_reactivation() {
    let mut b = AlarmBook::new();
    set(&mut b, true, 1);
    assert_eq!(set(&mut b, false, 2)[0].to, AlarmState::ReturnedUnacknowledged);
    assert_eq!(set(&mut b, true, 3)[0].to, AlarmState::Unacknowledged);
    set(&mut b, false, 4);
    assert_eq!(b.acknowledge(&KEY, 5, op()).unwrap().to, AlarmState::Normal);
    assert!(matches!(
        b.acknowledge(&KEY, 6, op()),
        Err(CommandError::NotAwaitingAcknowledgement("normal"))
    ));
}

#[test]
fn shelving_hides_changes_until_expiry() {
    let mut b = AlarmBook::new();
    set(&mut b, true, 1);
    assert_eq!(b.shelve(&KEY, 2, 100, op()).unwrap().to, AlarmState::Shelved);
    assert!(set(&mut b, false, 3).is_empty(), "not announced while shelved");
    assert!(set(&mut b, true, 4).is_empty());
    let mut out = Vec::new();
    b.expire_shelves(99, &mut out);
    assert!(out.is_empty());
    b.expire_shelves(100, &mut out);
    assert_eq!(
        out[0].to,
        AlarmState::Unacknowledged,
        "active at expiry: back unacknowledged"
    );
    assert!(matches!(
        b.shelve(&KEY, 200, 150, op()),
        Err(CommandError::ExpiryInThePast)
    ));
}

#[test]
fn unshelve_of_a_cleared_alarm_returns_to_normal() {
    let mut b = AlarmBook::new();
    set(&mut b, true, 1);
    b.shelve(&KEY, 2, 100, op()).unwrap();
    set(&mut b, false, 3);
    assert_eq!(b.unshelve(&KEY, 4, op()).unwrap().to, AlarmState::Normal);
    assert_eq!(b.unshelve(&KEY, 5, op()), Err(CommandError::NotShelved));
}

#[test]
fn suppression_by_design_is_counted_and_only_for_consequential_kinds() {
    let mut b = AlarmBook::new();
    let mut out = Vec::new();
    b.suppress(&[Source::Sensor(7)], true, 0, &mut out);
    // An alarm raised while its source is suppressed starts suppressed.
    set(&mut b, true, 1);
    assert_eq!(state(&b), AlarmState::SuppressedByDesign);
    // A non-consequential kind on the same source is not suppressed.
    let stale = AlarmKey {
        kind: AlarmKind::Stale,
        source: Source::Sensor(7),
    };
    b.condition(stale, true, 1, 0.0, 0.0, Priority::Medium, &mut out);
    assert_eq!(b.get(&stale).unwrap().state(), AlarmState::Unacknowledged);
    // Two reasons: lifting one keeps it suppressed.
    b.suppress(&[Source::Sensor(7)], true, 2, &mut out);
    b.suppress(&[Source::Sensor(7)], false, 3, &mut out);
    assert_eq!(state(&b), AlarmState::SuppressedByDesign);
    out.clear();
    b.suppress(&[Source::Sensor(7)], false, 4, &mut out);
    assert_eq!(out[0].to, AlarmState::Unacknowledged);
}

#[test]
fn out_of_service_overrides_and_returns() {
    let mut b = AlarmBook::new();
    set(&mut b, true, 1);
    assert_eq!(
        b.set_out_of_service(&KEY, true, 2, op()).unwrap().to,
        AlarmState::OutOfService
    );
    assert!(matches!(
        b.shelve(&KEY, 3, 10, op()),
        Err(CommandError::CannotShelve(_))
    ));
    set(&mut b, false, 4);
    assert_eq!(
        b.set_out_of_service(&KEY, false, 5, op()).unwrap().to,
        AlarmState::Normal
    );
}

#[test]
fn escalation_raises_priority_while_active() {
    let mut b = AlarmBook::new();
    let mut out = Vec::new();
    b.condition(KEY, true, 1, 0.0, 0.0, Priority::High, &mut out);
    out.clear();
    b.condition(KEY, true, 2, 0.0, 0.0, Priority::Critical, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].from, out[0].to, out[0].priority),
        (
            AlarmState::Unacknowledged,
            AlarmState::Unacknowledged,
            Priority::Critical
        )
    );
    out.clear();
    b.condition(KEY, true, 3, 0.0, 0.0, Priority::High, &mut out);
    assert!(out.is_empty(), "no de-escalation while active");
}

/// The reference model: the ISA-18.2 flags, not a cycle enum.
#[derive(Clone, Debug, Default)]
struct Model {
    exists: bool,
    active: bool,
    unacked: bool,
    shelved_until: Option<i64>,
    oos: bool,
    suppressed: u32,
}

impl Model {
    fn modified(&self) -> bool {
        self.oos || self.suppressed > 0 || self.shelved_until.is_some()
    }

    fn state(&self) -> AlarmState {
        if self.oos {
            AlarmState::OutOfService
        } else if self.suppressed > 0 {
            AlarmState::SuppressedByDesign
        } else if self.shelved_until.is_some() {
            AlarmState::Shelved
        } else {
            match (self.active, self.unacked) {
                (false, false) => AlarmState::Normal,
                (true, true) => AlarmState::Unacknowledged,
                (true, false) => AlarmState::Acknowledged,
                (false, true) => AlarmState::ReturnedUnacknowledged,
            }
        }
    }

    /// While a modifier applies the alarm waits in "unacknowledged if active".
    fn settle(&mut self) {
        if self.modified() {
            self.unacked = self.active;
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Condition(bool),
    Ack,
    Shelve(i64),
    Unshelve,
    OutOfService(bool),
    Suppress(bool),
    Tick(i64),
}

fn ops() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<bool>().prop_map(Op::Condition),
        2 => Just(Op::Ack),
        1 => (1i64..50).prop_map(Op::Shelve),
        1 => Just(Op::Unshelve),
        1 => any::<bool>().prop_map(Op::OutOfService),
        1 => any::<bool>().prop_map(Op::Suppress),
        1 => (1i64..30).prop_map(Op::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn state_machine_matches_the_reference_model(seq in proptest::collection::vec(ops(), 1..60)) {
        let mut b = AlarmBook::new();
        let mut m = Model::default();
        let mut now = 0i64;
        let mut out = Vec::new();
        for op in seq {
            now += 1;
            out.clear();
            let before = if m.exists { m.state() } else { AlarmState::Normal };
            match op {
                Op::Condition(active) => {
                    b.condition(KEY, active, now, 0.0, 0.0, Priority::Medium, &mut out);
                    if active || m.exists {
                        if active && !m.exists {
                            m.exists = true;
                        }
                        if active && !m.active {
                            m.unacked = true;
                        }
                        m.active = active;
                        m.settle();
                    }
                }
                Op::Ack => {
                    let ok = b.acknowledge(&KEY, now, Actor::default()).is_ok();
                    let expect = m.exists && m.unacked && !m.modified();
                    prop_assert_eq!(ok, expect);
                    if expect {
                        m.unacked = false;
                    }
                }
                Op::Shelve(d) => {
                    let ok = b.shelve(&KEY, now, now + d, Actor::default()).is_ok();
                    let expect = m.exists && !m.oos && m.suppressed == 0;
                    prop_assert_eq!(ok, expect);
                    if expect {
                        m.shelved_until = Some(now + d);
                        m.settle();
                    }
                }
                Op::Unshelve => {
                    let ok = b.unshelve(&KEY, now, Actor::default()).is_ok();
                    prop_assert_eq!(ok, m.exists && m.shelved_until.is_some());
                    m.shelved_until = None;
                }
                Op::OutOfService(on) => {
                    let ok = b.set_out_of_service(&KEY, on, now, Actor::default()).is_ok();
                    prop_assert_eq!(ok, m.exists);
                    if m.exists {
                        m.oos = on;
                        m.unacked = m.active;
                    }
                }
                Op::Suppress(on) => {
                    // Only lift a reason that was given, as callers do.
                    if on || m.suppressed > 0 {
                        b.suppress(&[Source::Sensor(7)], on, now, &mut out);
                        m.suppressed = if on { m.suppressed + 1 } else { m.suppressed - 1 };
                        if m.exists {
                            m.unacked = m.active;
                        }
                    }
                }
                Op::Tick(d) => {
                    now += d;
                    b.expire_shelves(now, &mut out);
                    if m.shelved_until.is_some_and(|t| t <= now) {
                        m.shelved_until = None;
                    }
                }
            }
            let got = state(&b);
            let want = if m.exists { m.state() } else { AlarmState::Normal };
            prop_assert_eq!(got, want);
            // Process-driven changes are announced exactly when the state changed.
            if matches!(op, Op::Condition(_) | Op::Tick(_) | Op::Suppress(_)) {
                prop_assert_eq!(out.len(), usize::from(before != want), "{:?} -> {:?}", before, want);
            }
        }
    }
}
