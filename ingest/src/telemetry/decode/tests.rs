use linepack_network::ids::SensorIdx;

use super::*;

const NOW: i64 = 1_795_420_800_000; // 2026-11-23T08:00:00Z

fn decoder() -> Decoder {
    let table = SensorTable::new([
        (
            "PT-1".to_string(),
            SensorEntry {
                idx: SensorIdx::new(0),
                scale: 1.0,
                offset: 0.0,
            },
        ),
        // kPa g → bar g
        (
            "PT-2".to_string(),
            SensorEntry {
                idx: SensorIdx::new(1),
                scale: 0.01,
                offset: 0.0,
            },
        ),
        (
            "GD-1".to_string(),
            SensorEntry {
                idx: SensorIdx::new(2),
                scale: 1.0,
                offset: 0.0,
            },
        ),
    ]);
    Decoder::new("gas", table, 3, DecodeLimits::default())
}

fn run(d: &mut Decoder, topic: &str, payload: &str) -> (Batch, Vec<Reject>) {
    let mut out = Batch::default();
    let mut rejects = Vec::new();
    d.decode(topic, payload.as_bytes(), NOW, &mut out, &mut rejects);
    (out, rejects)
}

fn reasons(rejects: &[Reject]) -> Vec<RejectReason> {
    rejects.iter().map(|r| r.reason).collect()
}

#[test]
fn single_reading_with_ms_timestamp_quality_and_unit_conversion() {
    let mut d = decoder();
    let (b, r) = run(
        &mut d,
        "gas/telemetry/PT-2",
        r#"{"ts": 1795420790000, "v": 398.5, "q": "uncertain"}"#,
    );
    assert!(r.is_empty(), "{r:?}");
    assert_eq!(
        b.readings,
        [Reading {
            sensor: SensorIdx::new(1),
            ts_ms: 1_795_420_790_000,
            value: 3.985,
            quality: Quality::Uncertain,
            event: None
        }]
    );
}

#[test]
fn rfc3339_timestamp_bare_number_and_missing_ts() {
    let mut d = decoder();
    let (b, _) = run(
        &mut d,
        "gas/telemetry/PT-1",
        r#"{"ts": "2026-11-23T07:59:00Z", "v": 4}"#,
    );
    assert_eq!(b.readings[0].ts_ms, NOW - 60_000);
    let (b, r) = run(&mut d, "gas/telemetry/GD-1", " 12.5 ");
    assert!(r.is_empty());
    assert_eq!(
        (b.readings[0].value, b.readings[0].ts_ms),
        (12.5, NOW),
        "a missing ts means arrival time"
    );
}

#[test]
fn device_event_without_value() {
    let mut d = decoder();
    let (b, r) = run(
        &mut d,
        "gas/telemetry/GD-1",
        r#"{"ts": 1795420700000, "event": "tamper"}"#,
    );
    assert!(r.is_empty());
    assert_eq!(b.readings[0].event, Some(DeviceEvent::Tamper));
    assert!(b.readings[0].value.is_nan());
}

#[test]
fn site_batch_fans_out_and_refuses_only_the_bad_readings() {
    let mut d = decoder();
    let (b, r) = run(
        &mut d,
        "gas/telemetry/site/station-7",
        r#"{"ts": 1795420790000, "seq": 1, "readings": {"PT-1": 4.1, "nope": 3, "PT-2": 410, "GD-1": "NaN"}}"#,
    );
    let got: Vec<(usize, f64)> = b.readings.iter().map(|r| (r.sensor.index(), r.value)).collect();
    assert_eq!(got, [(0, 4.1), (1, 4.1)]);
    assert_eq!(reasons(&r), [RejectReason::UnknownSensor, RejectReason::NonFinite]);
    assert_eq!(r[0].sensor.as_deref(), Some("nope"));
}

#[test]
fn site_sequence_duplicates_out_of_order_gaps_and_restarts() {
    let mut d = decoder();
    let site = "gas/telemetry/site/s";
    let msg = |seq: u64, ts: i64| format!(r#"{{"ts": {ts}, "seq": {seq}, "readings": {{"PT-1": 1}}}}"#);
    assert!(run(&mut d, site, &msg(5, NOW - 50)).1.is_empty());
    assert_eq!(
        reasons(&run(&mut d, site, &msg(5, NOW - 40)).1),
        [RejectReason::Duplicate]
    );
    assert_eq!(
        reasons(&run(&mut d, site, &msg(4, NOW - 30)).1),
        [RejectReason::OutOfOrder]
    );
    let (b, r) = run(&mut d, site, &msg(8, NOW - 20));
    assert!(r.is_empty());
    assert_eq!(
        b.gaps,
        [SequenceGap {
            site: "s".into(),
            expected: 6,
            received: 8,
            ts_ms: NOW - 20
        }]
    );
    let (b, r) = run(&mut d, site, &msg(0, NOW - 10));
    assert!(r.is_empty() && b.readings.len() == 1, "seq 0 is a restarted device");
}

#[test]
fn duplicate_and_out_of_order_readings_are_refused_per_sensor() {
    let mut d = decoder();
    let t = "gas/telemetry/PT-1";
    assert!(run(&mut d, t, r#"{"ts": 1795420790000, "v": 1}"#).1.is_empty());
    assert_eq!(
        reasons(&run(&mut d, t, r#"{"ts": 1795420790000, "v": 1}"#).1),
        [RejectReason::Duplicate]
    );
    assert_eq!(
        reasons(&run(&mut d, t, r#"{"ts": 1795420780000, "v": 1}"#).1),
        [RejectReason::OutOfOrder]
    );
    // Another sensor at the same time is fine.
    assert!(
        run(&mut d, "gas/telemetry/GD-1", r#"{"ts": 1795420790000, "v": 1}"#)
            .1
            .is_empty()
    );
}

#[test]
fn every_bad_input_class_is_refused_with_its_reason() {
    let cases: &[(&str, &str, RejectReason)] = &[
        ("gas/telemetry/PT-1", "{\"v\": 1", RejectReason::InvalidJson),
        ("gas/telemetry/PT-1", "[1, 2]", RejectReason::InvalidJson),
        ("gas/telemetry/PT-1", "\u{0}\u{ff}", RejectReason::InvalidJson),
        ("gas/telemetry/PT-1", r#"{"v": "abc"}"#, RejectReason::InvalidJson),
        ("gas/telemetry/PT-9", r#"{"v": 1}"#, RejectReason::UnknownSensor),
        ("gas/other/PT-1", r#"{"v": 1}"#, RejectReason::UnknownTopic),
        ("gas/telemetry/PT-1/x", r#"{"v": 1}"#, RejectReason::UnknownTopic),
        ("gas/telemetry/site/", r#"{"readings": {}}"#, RejectReason::UnknownTopic),
        ("gas/telemetry/PT-1", r#"{"v": 1e999}"#, RejectReason::NonFinite),
        ("gas/telemetry/PT-1", r#"{"v": "NaN"}"#, RejectReason::NonFinite),
        ("gas/telemetry/PT-1", "inf", RejectReason::NonFinite),
        (
            "gas/telemetry/PT-1",
            r#"{"v": 1, "ts": 4102444800000}"#,
            RejectReason::BadTimestamp,
        ),
        (
            "gas/telemetry/PT-1",
            r#"{"v": 1, "ts": 12}"#,
            RejectReason::BadTimestamp,
        ),
        (
            "gas/telemetry/PT-1",
            r#"{"v": 1, "ts": "last tuesday"}"#,
            RejectReason::BadTimestamp,
        ),
        (
            "gas/telemetry/PT-1",
            r#"{"v": 1, "q": "great"}"#,
            RejectReason::BadQuality,
        ),
        ("gas/telemetry/GD-1", r#"{"event": "smoke"}"#, RejectReason::BadEvent),
        ("gas/telemetry/PT-1", r#"{"ts": 1795420790000}"#, RejectReason::NoValue),
        ("gas/telemetry/site/s", r#"{"seq": 1}"#, RejectReason::InvalidJson),
    ];
    for (topic, payload, want) in cases {
        let mut d = decoder();
        let (b, r) = run(&mut d, topic, payload);
        assert!(b.readings.is_empty(), "{topic} {payload}: accepted");
        assert_eq!(reasons(&r), [*want], "{topic} {payload}");
    }
}

#[test]
fn oversized_payload_is_refused_before_parsing() {
    let mut d = decoder();
    let big = format!(r#"{{"v": 1, "pad": "{}"}}"#, "x".repeat(70_000));
    assert_eq!(
        reasons(&run(&mut d, "gas/telemetry/PT-1", &big).1),
        [RejectReason::TooLarge]
    );
}

#[test]
fn unknown_payload_keys_are_ignored() {
    let mut d = decoder();
    let (b, r) = run(
        &mut d,
        "gas/telemetry/PT-1",
        r#"{"v": 3.9, "unit": "bar_g", "rssi": -70}"#,
    );
    assert!(r.is_empty() && b.readings.len() == 1);
}

mod fuzz {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Decoding arbitrary bytes on any topic never panics, and every
        /// message ends as readings or rejects.
        #[test]
        fn arbitrary_bytes_never_panic(topic in "(gas/telemetry/(site/)?)?[A-Za-z0-9/#+-]{0,12}", payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut d = decoder();
            let mut out = Batch::default();
            let mut rejects = Vec::new();
            d.decode(&topic, &payload, NOW, &mut out, &mut rejects);
            prop_assert!(!out.readings.is_empty() || !rejects.is_empty());
        }

        /// Almost-valid JSON: random keys and values of every JSON type.
        #[test]
        fn structured_junk_never_panics(
            ts in prop_oneof![Just("null".to_string()), any::<i64>().prop_map(|v| v.to_string()), "\"[0-9T:.Z+-]{0,30}\"", any::<f64>().prop_map(|v| format!("{v:e}"))],
            v in prop_oneof![Just("null".to_string()), any::<f64>().prop_map(|v| format!("{v:e}")), "\"[a-zA-Z0-9.]{0,8}\"", Just("[]".to_string()), Just("{}".to_string())],
            q in "(good|bad|uncertain|[a-z]{0,6})",
            site in any::<bool>(),
        ) {
            let mut d = decoder();
            let (topic, payload) = if site {
                ("gas/telemetry/site/x", format!(r#"{{"ts": {ts}, "seq": 3, "q": "{q}", "readings": {{"PT-1": {v}, "GD-1": {v}}}}}"#))
            } else {
                ("gas/telemetry/PT-2", format!(r#"{{"ts": {ts}, "v": {v}, "q": "{q}"}}"#))
            };
            let mut out = Batch::default();
            let mut rejects = Vec::new();
            d.decode(topic, payload.as_bytes(), NOW, &mut out, &mut rejects);
            for r in &out.readings {
                prop_assert!(r.value.is_finite());
            }
        }
    }
}
