//! The engine on hand-made recordings: each detector, topology suppression,
//! floods, and a restart restoring alarms from the journal.

use std::path::Path;

use linepack_engine::alarm::{Actor, AlarmEvent, AlarmKey, AlarmKind, Namer, Source, Transition};
use linepack_engine::config::{EngineConfig, LimitsConfig};
use linepack_engine::engine::Engine;
use linepack_engine::journal::Journal;
use linepack_ingest::telemetry::{Batch, DeviceEvent, Quality, Reading, SequenceGap};
use linepack_network::Network;
use linepack_network::file::{Format, parse};
use linepack_network::ids::SensorIdx;

mod common;

use common::{NETWORK_JSON, T0};

fn network() -> Network {
    parse(NETWORK_JSON, Format::Json, Path::new("engine-test.json")).unwrap()
}

/// Pressure limits for the tests; everything else at its defaults.
fn config() -> EngineConfig {
    let mut c = EngineConfig::default();
    c.sensors.pressure = LimitsConfig {
        low_low: Some(2.0),
        low: Some(3.0),
        high: Some(5.0),
        deadband: Some(0.05),
        off_delay_s: Some(0.0),
        ..c.sensors.pressure.clone()
    };
    c
}

/// [`config`] with staleness off, for tests about something else.
fn config_without_stale() -> EngineConfig {
    let mut c = config();
    let s = &mut c.sensors;
    for l in [
        &mut s.pressure,
        &mut s.flow,
        &mut s.temperature,
        &mut s.gas_detector,
        &mut s.shutoff_valve,
    ] {
        l.stale_after_s = Some(0.0);
    }
    c
}

struct Rig {
    net: Network,
    engine: Engine,
    events: Vec<AlarmEvent>,
}

impl Rig {
    fn new(config: &EngineConfig) -> Rig {
        let net = network();
        let engine = Engine::new(&net, config, 1).unwrap();
        Rig {
            net,
            engine,
            events: Vec::new(),
        }
    }

    fn sensor(&self, id: &str) -> SensorIdx {
        match self.net.find(id) {
            Some(linepack_network::ElementRef::Sensor(s)) => s,
            _ => panic!("no sensor {id}"),
        }
    }

    fn key(&self, kind: AlarmKind, id: &str) -> AlarmKey {
        AlarmKey {
            kind,
            source: Source::Sensor(self.sensor(id).index() as u32),
        }
    }

    fn record(&mut self, out: Vec<Transition>) -> Vec<AlarmEvent> {
        let namer = Namer {
            network: &self.net,
            engine: &self.engine,
        };
        let new: Vec<AlarmEvent> = out.iter().map(|t| namer.event(t)).collect();
        self.events.extend(new.clone());
        new
    }

    /// Feeds readings `(sensor, seconds after T0, value)`, one batch each,
    /// ticking the recording clock after each, as a replay does.
    fn feed(&mut self, readings: &[(&str, i64, f64)]) -> Vec<AlarmEvent> {
        let mut all = Vec::new();
        for &(id, s, v) in readings {
            let r = Reading {
                sensor: self.sensor(id),
                ts_ms: T0 + s * 1000,
                value: v,
                quality: Quality::Good,
                event: None,
            };
            all.extend(self.batch(Batch {
                readings: vec![r],
                gaps: vec![],
            }));
        }
        all
    }

    fn batch(&mut self, b: Batch) -> Vec<AlarmEvent> {
        let mut out = Vec::new();
        self.engine.process(&b, &mut out);
        let now = self.engine.clock_ms();
        self.engine.tick(now, &mut out);
        self.record(out)
    }

    fn tick(&mut self, s: i64) -> Vec<AlarmEvent> {
        let mut out = Vec::new();
        self.engine.tick(T0 + s * 1000, &mut out);
        self.record(out)
    }

    fn state(&self, kind: AlarmKind, id: &str) -> &'static str {
        self.engine
            .alarm(&self.key(kind, id))
            .map_or("none", |a| a.state().name())
    }
}

fn ids(events: &[AlarmEvent]) -> Vec<(String, String)> {
    events.iter().map(|e| (e.alarm_id.clone(), e.state.clone())).collect()
}

#[test]
fn stale_versus_good_and_a_sensor_that_never_reports() {
    let mut rig = Rig::new(&config());
    // PT-A reports every minute for 10 minutes: never stale. The others never report.
    let mut events = Vec::new();
    for m in 0..=10 {
        events.extend(rig.feed(&[("PT-A", m * 60, 4.0)]));
    }
    let stale: Vec<&AlarmEvent> = events.iter().filter(|e| e.kind == "stale").collect();
    assert!(stale.iter().all(|e| e.source != "PT-A"), "{:?}", ids(&events));
    assert!(
        stale.iter().any(|e| e.source == "PT-B" && e.state == "unacknowledged"),
        "silent sensors go stale: {:?}",
        ids(&events)
    );
    let offline: Vec<&AlarmEvent> = events.iter().filter(|e| e.kind == "device_offline").collect();
    assert!(offline.is_empty(), "devices have 900 s before they are offline");
    // PT-A falls silent: stale after 300 s; a reading brings it back.
    let e: Vec<AlarmEvent> = rig
        .tick(10 * 60 + 301)
        .into_iter()
        .filter(|e| e.source == "PT-A")
        .collect();
    assert_eq!(ids(&e), [("stale:PT-A".into(), "unacknowledged".into())]);
    assert!(e[0].message.contains("no reading for 300 s"), "{}", e[0].message);
    assert_eq!(e[0].ts_ms, T0 + 900_001, "stamped when it went stale, not when noticed");
    let e = rig.feed(&[("PT-A", 10 * 60 + 400, 4.0)]);
    assert_eq!(ids(&e), [("stale:PT-A".into(), "returned_unacknowledged".into())]);
}

#[test]
fn flapping_around_a_limit_raises_one_alarm_thanks_to_the_deadband() {
    let mut rig = Rig::new(&config());
    let values = [3.01, 2.99, 3.01, 2.98, 3.02, 2.99, 3.04, 3.01, 3.06];
    let readings: Vec<(&str, i64, f64)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| ("PT-A", i as i64 * 10, *v))
        .collect();
    let e = rig.feed(&readings);
    let low: Vec<(String, String)> = ids(&e).into_iter().filter(|(id, _)| id == "low:PT-A").collect();
    assert_eq!(
        low,
        [
            ("low:PT-A".into(), "unacknowledged".into()),
            ("low:PT-A".into(), "returned_unacknowledged".into())
        ],
        "one alarm at 2.99, cleared only at 3.06 (limit 3.0 + deadband 0.05)"
    );
    assert_eq!(
        e.iter().find(|x| x.state == "returned_unacknowledged").unwrap().ts_ms,
        T0 + 80_000
    );
}

#[test]
fn on_and_off_delays() {
    let mut c = config();
    c.sensors.pressure.on_delay_s = Some(30.0);
    c.sensors.pressure.off_delay_s = Some(60.0);
    let mut rig = Rig::new(&c);
    // Below 3.0 for 20 s only: nothing.
    assert!(
        rig.feed(&[("PT-A", 0, 2.9), ("PT-A", 20, 3.2)])
            .iter()
            .all(|e| e.kind != "low")
    );
    // Below for 30 s: alarm at the reading that completes the delay.
    let e = rig.feed(&[("PT-A", 100, 2.9), ("PT-A", 130, 2.9)]);
    assert_eq!(e.iter().filter(|x| x.kind == "low").count(), 1);
    // Back up: clears after 60 s, at the tick that completes the delay.
    assert!(rig.feed(&[("PT-A", 140, 3.5)]).iter().all(|x| x.kind != "low"));
    let e = rig.tick(200);
    assert_eq!(ids(&e), [("low:PT-A".into(), "returned_unacknowledged".into())]);
}

#[test]
fn out_of_range_readings_alarm_and_are_not_used() {
    let mut rig = Rig::new(&config());
    let e = rig.feed(&[("PT-A", 0, 250.0)]);
    assert_eq!(ids(&e), [("out_of_range:PT-A".into(), "unacknowledged".into())]);
    assert_eq!(
        rig.state(AlarmKind::High, "PT-A"),
        "none",
        "an impossible value is not a high pressure"
    );
    let e = rig.feed(&[("PT-A", 10, 4.0)]);
    assert_eq!(
        ids(&e),
        [("out_of_range:PT-A".into(), "returned_unacknowledged".into())]
    );
}

#[test]
fn gas_detector_needs_its_confirmation_delay() {
    let mut rig = Rig::new(&config());
    // 25 %LEL for 5 s: a puff, not an alarm (confirmation 10 s).
    let e = rig.feed(&[("GD-C", 0, 25.0), ("GD-C", 5, 0.0)]);
    assert!(e.iter().all(|x| !x.kind.starts_with("gas")), "{:?}", ids(&e));
    // 25 %LEL held for 12 s: gas_detected (first level only).
    let e = rig.feed(&[("GD-C", 100, 25.0), ("GD-C", 106, 26.0), ("GD-C", 112, 27.0)]);
    assert_eq!(ids(&e), [("gas_detected:GD-C".into(), "unacknowledged".into())]);
    assert_eq!(e[0].priority, "high");
    assert!(e[0].message.contains("at user C"), "{}", e[0].message);
    // 55 %LEL held: gas_detected_high, critical.
    let e = rig.feed(&[("GD-C", 120, 55.0), ("GD-C", 131, 56.0)]);
    assert_eq!(ids(&e), [("gas_detected_high:GD-C".into(), "unacknowledged".into())]);
    assert_eq!(e[0].priority, "critical");
}

#[test]
fn gas_alarm_with_a_pressure_drop_at_the_user_is_escalated_to_critical() {
    let mut rig = Rig::new(&config());
    rig.feed(&[("PT-N", 0, 3.9), ("PT-N", 60, 3.9)]);
    rig.feed(&[("GD-C", 100, 30.0), ("GD-C", 111, 30.0)]);
    assert_eq!(
        rig.engine
            .alarm(&rig.key(AlarmKind::GasDetected, "GD-C"))
            .unwrap()
            .priority
            .name(),
        "high"
    );
    // The pressure at the user's node drops by 0.5 bar.
    let e = rig.feed(&[("PT-N", 120, 3.4)]);
    let esc: Vec<&AlarmEvent> = e.iter().filter(|x| x.alarm_id == "gas_detected:GD-C").collect();
    assert_eq!(esc.len(), 1, "{:?}", ids(&e));
    assert_eq!(
        (esc[0].priority.as_str(), esc[0].state.as_str()),
        ("critical", "unacknowledged")
    );
    assert!(esc[0].message.contains("escalated"), "{}", esc[0].message);
}

#[test]
fn shutoff_valve_closing_without_a_command_alarms_but_not_with_one() {
    let mut rig = Rig::new(&config());
    let e = rig.feed(&[("SV-C", 0, 1.0), ("SV-C", 10, 0.0)]);
    assert_eq!(ids(&e), [("shutoff_closed:SV-C".into(), "unacknowledged".into())]);
    rig.feed(&[("SV-C", 20, 1.0)]);
    let sv = rig.sensor("SV-C").index() as u32;
    rig.engine.command_shutoff(sv, true);
    let e = rig.feed(&[("SV-C", 30, 0.0)]);
    assert!(e.is_empty(), "a commanded closing is expected: {:?}", ids(&e));
}

#[test]
fn device_events_tamper_fault_and_battery() {
    let mut rig = Rig::new(&config());
    let gd = rig.sensor("GD-C");
    let ev = |ts: i64, event: DeviceEvent| Reading {
        sensor: gd,
        ts_ms: T0 + ts * 1000,
        value: f64::NAN,
        quality: Quality::Good,
        event: Some(event),
    };
    let e = rig.batch(Batch {
        readings: vec![ev(0, DeviceEvent::Tamper)],
        gaps: vec![],
    });
    assert_eq!(
        ids(&e),
        [
            ("tamper:GD-C".into(), "unacknowledged".into()),
            ("tamper:GD-C".into(), "returned_unacknowledged".into())
        ]
    );
    let e = rig.batch(Batch {
        readings: vec![ev(10, DeviceEvent::Fault), ev(11, DeviceEvent::BatteryLow)],
        gaps: vec![],
    });
    assert_eq!(e.len(), 2);
    // A normal reading: the device works again.
    let e = rig.feed(&[("GD-C", 20, 0.0)]);
    assert_eq!(
        e.iter().filter(|x| x.state == "returned_unacknowledged").count(),
        2,
        "{:?}",
        ids(&e)
    );
}

#[test]
fn usage_when_the_profile_says_closed() {
    let mut c = config_without_stale();
    c.usage.on_delay_s = 600.0;
    let mut rig = Rig::new(&c);
    // Two weeks of learning: open 08:00–18:00 at 0.02 kg/s, closed otherwise.
    let mut readings = Vec::new();
    for day in 0..14 {
        for minute in (0..24 * 60).step_by(15) {
            let hour = minute / 60;
            let v = if (8..18).contains(&hour) { 0.02 } else { 0.0 };
            readings.push(("FT-C", (day * 24 * 60 + minute) * 60, v));
        }
    }
    let e = rig.feed(&readings);
    assert!(e.iter().all(|x| !x.kind.starts_with("usage")), "{:?}", ids(&e));
    // Week 3, Monday 02:00: 0.01 kg/s for 30 minutes.
    let base = 14 * 24 * 3600 + 2 * 3600;
    let night: Vec<(&str, i64, f64)> = (0..=6).map(|k| ("FT-C", base + k * 300, 0.01)).collect();
    let e = rig.feed(&night);
    assert_eq!(ids(&e), [("usage_when_closed:FT-C".into(), "unacknowledged".into())]);
    assert!(e[0].message.contains("profile says closed"), "{}", e[0].message);
    // Far above the usual during opening hours: 0.2 kg/s at 10:00.
    let day = 14 * 24 * 3600 + 10 * 3600;
    let high: Vec<(&str, i64, f64)> = (0..=3).map(|k| ("FT-C", day + k * 300, 0.2)).collect();
    let e = rig.feed(&high);
    assert!(
        e.iter()
            .any(|x| x.alarm_id == "usage_above_profile:FT-C" && x.state == "unacknowledged"),
        "{:?}",
        ids(&e)
    );
}

#[test]
fn sequence_gaps_raise_and_clear() {
    let mut rig = Rig::new(&config_without_stale());
    let gap = SequenceGap {
        site: "station-7".into(),
        expected: 4,
        received: 7,
        ts_ms: T0,
    };
    let e = rig.batch(Batch {
        readings: vec![],
        gaps: vec![gap],
    });
    assert_eq!(
        ids(&e),
        [("sequence_gap:site:station-7".into(), "unacknowledged".into())]
    );
    assert!(e[0].message.contains("3 message(s) lost"), "{}", e[0].message);
    let e = rig.tick(601);
    assert_eq!(
        ids(&e),
        [("sequence_gap:site:station-7".into(), "returned_unacknowledged".into())]
    );
}

#[test]
fn alarms_behind_a_closed_valve_are_suppressed_by_design() {
    let mut rig = Rig::new(&config());
    // PT-X sits behind the closed valve: no gas there, its low pressure is expected.
    let e = rig.feed(&[("PT-X", 0, 0.0), ("PT-B", 0, 2.5)]);
    assert!(
        e.iter().any(|x| x.alarm_id == "low:PT-X" && x.state == "suppressed"),
        "{:?}",
        ids(&e)
    );
    assert!(
        e.iter()
            .any(|x| x.alarm_id == "low:PT-B" && x.state == "unacknowledged"),
        "{:?}",
        ids(&e)
    );
    // Not announced as unacknowledged, but recorded and listed.
    assert_eq!(rig.state(AlarmKind::Low, "PT-X"), "suppressed");
    assert_eq!(rig.state(AlarmKind::LowLow, "PT-X"), "suppressed");
}

#[test]
fn a_failed_station_suppresses_the_low_pressure_alarms_downstream() {
    let mut rig = Rig::new(&config());
    rig.feed(&[("PT-B", 0, 2.5)]);
    assert_eq!(rig.state(AlarmKind::Low, "PT-B"), "unacknowledged");
    // The station's own pressure collapses: low-low at the station.
    let e = rig.feed(&[("PT-A", 10, 1.0)]);
    assert!(
        e.iter()
            .any(|x| x.alarm_id == "low_low:PT-A" && x.state == "unacknowledged")
    );
    assert_eq!(rig.state(AlarmKind::Low, "PT-B"), "suppressed", "{:?}", ids(&e));
    assert_eq!(
        rig.state(AlarmKind::Low, "PT-A"),
        "unacknowledged",
        "the station's own alarms stand"
    );
    // The station recovers: suppression lifts, and PT-B's low alarm, still active, returns.
    rig.feed(&[("PT-A", 20, 4.0)]);
    assert_eq!(rig.state(AlarmKind::Low, "PT-B"), "unacknowledged");
}

#[test]
fn more_than_ten_new_alarms_in_ten_minutes_is_a_flood() {
    let mut c = config_without_stale();
    c.alarms.flood_limit = 3;
    let mut rig = Rig::new(&c);
    let e = rig.feed(&[("PT-A", 0, 2.5), ("PT-B", 10, 2.5), ("PT-N", 20, 2.5)]);
    assert!(e.iter().all(|x| x.kind != "alarm_flood"));
    let e = rig.feed(&[("GD-C", 30, 30.0), ("GD-C", 45, 30.0)]);
    assert_eq!(
        ids(&e).last().unwrap(),
        &("alarm_flood:system".to_string(), "unacknowledged".to_string()),
        "{:?}",
        ids(&e)
    );
    let e = rig.tick(1000);
    assert!(
        e.iter()
            .any(|x| x.alarm_id == "alarm_flood:system" && x.state == "returned_unacknowledged"),
        "{:?}",
        ids(&e)
    );
}

#[test]
fn a_restart_restores_alarm_state_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let c = config();
    {
        let mut rig = Rig::new(&c);
        let mut journal = Journal::open(Some(&path)).unwrap();
        let mut out = Vec::new();
        rig.engine.process(
            &Batch {
                readings: vec![
                    Reading {
                        sensor: rig.sensor("PT-A"),
                        ts_ms: T0,
                        value: 2.5,
                        quality: Quality::Good,
                        event: None,
                    },
                    Reading {
                        sensor: rig.sensor("PT-B"),
                        ts_ms: T0,
                        value: 2.5,
                        quality: Quality::Good,
                        event: None,
                    },
                    Reading {
                        sensor: rig.sensor("PT-N"),
                        ts_ms: T0,
                        value: 5.5,
                        quality: Quality::Good,
                        event: None,
                    },
                ],
                gaps: vec![],
            },
            &mut out,
        );
        let ack = rig
            .engine
            .acknowledge(
                &rig.key(AlarmKind::Low, "PT-A"),
                T0 + 1000,
                Actor {
                    user: "anna".into(),
                    comment: "crew sent".into(),
                },
            )
            .unwrap();
        let shelve = rig
            .engine
            .shelve(
                &rig.key(AlarmKind::High, "PT-N"),
                T0 + 2000,
                T0 + 3_600_000,
                Actor {
                    user: "ben".into(),
                    comment: "calibration".into(),
                },
            )
            .unwrap();
        out.push(ack);
        out.push(shelve);
        let namer = Namer {
            network: &rig.net,
            engine: &rig.engine,
        };
        let entries: Vec<_> = out
            .iter()
            .map(|t| (t.clone(), namer.event(t), rig.engine.alarm(&t.key).unwrap().clone()))
            .collect();
        journal.record(&entries).unwrap();
        let history = journal.history(10).unwrap();
        assert!(
            history.iter().any(|h| h.alarm_id == "low:PT-A"
                && h.state == "acknowledged"
                && h.by.as_deref() == Some("anna")
                && h.comment.as_deref() == Some("crew sent")),
            "{history:?}"
        );
    }
    // A new process: restore.
    let mut rig = Rig::new(&c);
    let journal = Journal::open(Some(&path)).unwrap();
    let mut after = Vec::new();
    assert_eq!(journal.restore(&mut rig.engine, &rig.net, &mut after).unwrap(), 3);
    assert!(after.is_empty(), "no station failed: nothing follows");
    assert_eq!(rig.state(AlarmKind::Low, "PT-A"), "acknowledged");
    assert_eq!(rig.state(AlarmKind::Low, "PT-B"), "unacknowledged");
    assert_eq!(rig.state(AlarmKind::High, "PT-N"), "shelved");
    // The restored alarms go on as if nothing happened: PT-A recovers and,
    // being acknowledged, goes straight to normal; no duplicate is raised.
    let e = rig.feed(&[("PT-A", 60, 4.0), ("PT-B", 60, 2.4)]);
    assert_eq!(ids(&e), [("low:PT-A".into(), "normal".into())], "{:?}", ids(&e));
}

#[test]
fn shards_own_whole_zones_and_give_the_same_alarms() {
    let c = config();
    let net = network();
    let mut one = Engine::new(&net, &c, 1).unwrap();
    let mut two = Engine::new(&net, &c, 2).unwrap();
    assert_eq!(two.shard_count(), 2);
    let sensors = ["PT-A", "PT-B", "PT-N", "PT-X"];
    let mut outs = (Vec::new(), Vec::new());
    for k in 0..20 {
        let readings: Vec<Reading> = sensors
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let Some(linepack_network::ElementRef::Sensor(s)) = net.find(id) else {
                    panic!()
                };
                Reading {
                    sensor: s,
                    ts_ms: T0 + k * 10_000,
                    value: 2.0 + ((k as usize + i) % 5) as f64 * 0.5,
                    quality: Quality::Good,
                    event: None,
                }
            })
            .collect();
        let b = Batch { readings, gaps: vec![] };
        one.process(&b, &mut outs.0);
        two.process(&b, &mut outs.1);
    }
    let norm = |v: &Vec<Transition>| {
        let mut s: Vec<String> = v.iter().map(|t| format!("{:?}{:?}{}", t.key, t.to, t.ts_ms)).collect();
        s.sort();
        s
    };
    assert!(!outs.0.is_empty());
    assert_eq!(norm(&outs.0), norm(&outs.1));
}

#[test]
fn alarms_do_not_depend_on_how_readings_are_batched() {
    // A gap longer than the stale limit, the limit crossed with delays,
    // gas confirmed: all inside one batch, or one reading per batch.
    let mut c = config();
    c.sensors.pressure.on_delay_s = Some(20.0);
    let readings = [
        ("PT-A", 0, 4.0),
        ("GD-C", 5, 30.0),
        ("PT-A", 10, 2.5),
        ("GD-C", 20, 30.0),
        ("PT-A", 40, 2.5),
        ("PT-A", 400, 4.0),
        ("GD-C", 410, 0.0),
    ];
    let mut one = Rig::new(&c);
    let batch: Vec<Reading> = readings
        .iter()
        .map(|&(id, s, v)| Reading {
            sensor: one.sensor(id),
            ts_ms: T0 + s * 1000,
            value: v,
            quality: Quality::Good,
            event: None,
        })
        .collect();
    let together = one.batch(Batch {
        readings: batch,
        gaps: vec![],
    });
    let mut many = Rig::new(&c);
    let apart = many.feed(&readings);
    let norm = |v: &[AlarmEvent]| {
        let mut s: Vec<(String, String, i64)> = v
            .iter()
            .map(|e| (e.alarm_id.clone(), e.state.clone(), e.ts_ms))
            .collect();
        s.sort();
        s
    };
    assert_eq!(norm(&together), norm(&apart));
    let t = norm(&together);
    assert!(
        t.contains(&("stale:PT-A".into(), "unacknowledged".into(), T0 + 340_001)),
        "{t:?}"
    );
    assert!(
        t.contains(&("low:PT-A".into(), "unacknowledged".into(), T0 + 30_000)),
        "{t:?}"
    );
    assert!(
        t.contains(&("gas_detected:GD-C".into(), "unacknowledged".into(), T0 + 15_000)),
        "{t:?}"
    );
}

#[test]
fn rate_of_change_is_measured_over_a_minute_so_noise_does_not_count() {
    let mut c = config();
    c.sensors.pressure.rate_of_change_per_min = Some(0.5);
    let mut rig = Rig::new(&c);
    // Every 5 s, ±0.02 bar of noise around 4.0: 0.48 bar/min between
    // neighbours, but nothing over a minute.
    let noisy: Vec<(&str, i64, f64)> = (0..60)
        .map(|k| ("PT-A", k * 5, if k % 2 == 0 { 4.02 } else { 3.98 }))
        .collect();
    let e = rig.feed(&noisy);
    assert!(e.iter().all(|x| x.kind != "rate_of_change"), "{:?}", ids(&e));
    // A real fall: 1 bar in a minute.
    let falling: Vec<(&str, i64, f64)> = (0..=12).map(|k| ("PT-A", 300 + k * 5, 4.0 - k as f64 / 12.0)).collect();
    let e = rig.feed(&falling);
    let rate: Vec<&AlarmEvent> = e.iter().filter(|x| x.kind == "rate_of_change").collect();
    assert_eq!(rate.len(), 1, "{:?}", ids(&e));
    assert!(rate[0].value.unwrap() > 0.5, "{:?}", rate[0]);
}

#[test]
fn a_restart_during_a_station_failure_keeps_the_downstream_suppressed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let c = config();
    {
        let mut rig = Rig::new(&c);
        let mut journal = Journal::open(Some(&path)).unwrap();
        let mut out = Vec::new();
        let at = |id: &str, v: f64| Reading {
            sensor: rig.sensor(id),
            ts_ms: T0,
            value: v,
            quality: Quality::Good,
            event: None,
        };
        let batch = Batch {
            readings: vec![at("PT-B", 2.5), at("PT-A", 1.0)],
            gaps: vec![],
        };
        rig.engine.process(&batch, &mut out);
        assert_eq!(rig.state(AlarmKind::Low, "PT-B"), "suppressed");
        let namer = Namer {
            network: &rig.net,
            engine: &rig.engine,
        };
        let entries: Vec<_> = out
            .iter()
            .map(|t| (t.clone(), namer.event(t), rig.engine.alarm(&t.key).unwrap().clone()))
            .collect();
        journal.record(&entries).unwrap();
    }
    let mut rig = Rig::new(&c);
    let journal = Journal::open(Some(&path)).unwrap();
    let mut after = Vec::new();
    journal.restore(&mut rig.engine, &rig.net, &mut after).unwrap();
    assert_eq!(rig.state(AlarmKind::LowLow, "PT-A"), "unacknowledged");
    assert_eq!(
        rig.state(AlarmKind::Low, "PT-B"),
        "suppressed",
        "the station is failed again after the restore"
    );
    // The station recovers: PT-B's low alarm, still active, comes back.
    let e = rig.feed(&[("PT-A", 30, 4.0)]);
    assert!(
        e.iter()
            .any(|x| x.alarm_id == "low:PT-B" && x.state == "unacknowledged"),
        "{:?}",
        ids(&e)
    );
}

#[test]
fn without_zones_in_the_file_the_flow_meters_bound_them() {
    // The test network without its zones, and a flow meter on P2: A–B | N–X.
    let mut file: linepack_network::file::NetworkFile = serde_json::from_str(NETWORK_JSON).unwrap();
    file.zones.clear();
    file.sensors.push(linepack_network::file::schema::SensorSpec {
        id: "FT-P2".into(),
        kind: linepack_network::network::SensorKind::Flow,
        at: "P2".into(),
    });
    let text = linepack_network::file::to_string(&file, Format::Json);
    let net = parse(&text, Format::Json, Path::new("no-zones.json")).unwrap();
    let engine = Engine::new(&net, &config(), 2).unwrap();
    let zone_of = |id: &str| {
        let Some(linepack_network::ElementRef::Sensor(s)) = net.find(id) else {
            panic!("{id}")
        };
        engine.table.info[s.index()]
            .zone
            .map(|z| engine.table.zone_names[z as usize].clone())
    };
    assert_eq!(zone_of("PT-A"), Some("zone-1".into()));
    assert_eq!(zone_of("PT-B"), Some("zone-1".into()));
    assert_eq!(
        zone_of("FT-P2"),
        Some("zone-1".into()),
        "a pipe's meter sits at its inlet"
    );
    assert_eq!(zone_of("PT-N"), Some("zone-2".into()));
    assert_eq!(zone_of("GD-C"), Some("zone-2".into()));
    assert_eq!(
        zone_of("PT-X"),
        Some("zone-2".into()),
        "the closed valve does not bound a zone"
    );
}

#[test]
fn a_value_that_does_not_move_is_a_flatline() {
    let mut c = config();
    c.sensors.pressure.flatline_after_s = Some(60.0);
    let mut rig = Rig::new(&c);
    // Within the tolerance (1e-4 bar) for a minute: stuck.
    let stuck: Vec<(&str, i64, f64)> = (0..=7).map(|k| ("PT-A", k * 10, 4.0 + (k % 2) as f64 * 5e-5)).collect();
    let e = rig.feed(&stuck);
    let flat: Vec<(String, String)> = ids(&e).into_iter().filter(|(id, _)| id == "flatline:PT-A").collect();
    assert_eq!(flat, [("flatline:PT-A".into(), "unacknowledged".into())]);
    assert_eq!(e.iter().find(|x| x.kind == "flatline").unwrap().ts_ms, T0 + 60_000);
    // It moves: the alarm returns.
    let e = rig.feed(&[("PT-A", 80, 3.99)]);
    assert_eq!(ids(&e), [("flatline:PT-A".into(), "returned_unacknowledged".into())]);
}
