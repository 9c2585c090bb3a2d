use std::collections::BTreeMap;
use tracepipe_schemas::*;

fn sample() -> Session {
    let mut click = Event::new(EventKind::Click, 1_250);
    click.url = Some("http://localhost/#inbox".into());
    click.target = Some(Target {
        tag: Some("button".into()),
        role: Some("button".into()),
        label: Some("Compose".into()),
        selector: Some("div.toolbar > button:nth-of-type(1)".into()),
        data: BTreeMap::from([("data-message-id".to_string(), "18c2f0".to_string())]),
        ..Target::default()
    });
    click.state = BTreeMap::from([("aria-checked".to_string(), "false".to_string())]);
    let mut change = Event::new(EventKind::Change, 2_000);
    change.value = Some("Zoë — 東京 ✉".into());
    let mut secret = Event::new(EventKind::Change, 2_100);
    secret.masked = true;
    let mut key = Event::new(EventKind::Key, 3_000);
    key.key = Some("Enter".into());
    key.modifiers = vec!["ctrl".into()];
    let mut nav = Event::new(EventKind::Navigation, 3_500);
    nav.url = Some("http://localhost/#sent".into());
    nav.navigation = Some(Navigation {
        same_document: true,
        from_url: Some("http://localhost/#inbox".into()),
    });
    let mut req = Event::new(EventKind::NetworkRequest, 3_100);
    req.network = Some(NetworkRequest {
        request_id: "12.3".into(),
        method: "POST".into(),
        status: Some(200),
        mime_type: Some("application/json".into()),
        end_us: Some(3_300),
        failed: false,
        encoded_bytes: Some(512),
    });
    let mut shot = Event::new(EventKind::Screenshot, 4_000);
    shot.screenshot = Some(ScreenshotRef {
        blob: "screenshots/000000.jpg".into(),
        bytes: 2048,
        width: Some(800),
        height: None,
    });
    let mut input = Event::new(EventKind::Input, 1_200);
    input.input = Some(InputDispatch {
        input_type: "mousedown".into(),
        interaction_id: Some(7),
        duration_us: Some(16_000),
    });
    let mut view = Event::new(EventKind::View, 3_900);
    view.url = Some("http://localhost/#sent".into());
    view.view = Some(ViewSnapshot {
        items: vec![
            ViewItem {
                role: Some("row".into()),
                name: Some("Bob — Lunch on Friday?".into()),
                data: BTreeMap::from([("data-message-id".to_string(), "18c2f1".to_string())]),
                fields: BTreeMap::new(),
            },
            ViewItem::default(),
        ],
        open: Some(ViewItem {
            role: Some("article".into()),
            name: None,
            data: BTreeMap::from([("data-message-id".to_string(), "18c2f0".to_string())]),
            // One entry: Avro's whole-value encoder writes a map in hash
            // order, which event_at_a_time_encoding_is_avros_own compares.
            fields: BTreeMap::from([("subject".to_string(), "東京".to_string())]),
        }),
        truncated: true,
    });
    Session {
        session_id: "0b6f5d3e-8a3c-4b7e-9d1a-2f3c4d5e6f70".into(),
        source: SourceFormat::ChromeTrace,
        suite: Some("gmail".into()),
        started_at: None,
        duration_us: 4_000,
        user_agent: Some("Chromium/156".into()),
        pages: vec!["http://localhost/#inbox".into()],
        events: vec![input, click, change, secret, key, req, nav, view, shot],
        source_name: Some("send_simple.trace.json.gz".into()),
        source_sha256: Some(
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        ),
    }
}

#[test]
fn avro_round_trip_preserves_every_field() {
    let session = sample();
    let bytes = encode_session(&session).unwrap();
    assert_eq!(&bytes[..2], &[0xC3, 0x01]);
    assert_eq!(decode_session(&bytes).unwrap(), session);
}

#[test]
fn a_view_with_many_items_and_fields_round_trips() {
    let mut session = sample();
    let item = |i: usize| ViewItem {
        role: Some("option".into()),
        name: Some(format!("Label {i}")),
        data: BTreeMap::from([
            ("data-label-id".to_string(), format!("Label_{i}")),
            ("data-count".to_string(), i.to_string()),
        ]),
        fields: BTreeMap::from([
            ("from".to_string(), "Zoë <zoe@example.com>".to_string()),
            ("date".to_string(), "5 Dec".to_string()),
            ("body".to_string(), "line one\nline two".to_string()),
        ]),
    };
    let mut view = Event::new(EventKind::View, 5_000);
    view.view = Some(ViewSnapshot {
        items: (0..50).map(item).collect(),
        open: Some(item(99)),
        truncated: false,
    });
    session.events.push(view);
    let bytes = encode_session(&session).unwrap();
    assert_eq!(decode_session(&bytes).unwrap(), session);
}

#[test]
fn json_round_trip_preserves_every_field() {
    let session = sample();
    let json = serde_json::to_string(&session).unwrap();
    let back: Session = serde_json::from_str(&json).unwrap();
    assert_eq!(back, session);
}

#[test]
fn rejects_unframed_and_unknown_fingerprints() {
    assert!(matches!(
        decode_session(b"{}"),
        Err(AvroError::NotSingleObject)
    ));
    let mut bytes = encode_session(&sample()).unwrap();
    bytes[2] ^= 0xFF;
    assert!(matches!(
        decode_session(&bytes),
        Err(AvroError::UnknownSchema { .. })
    ));
}

#[test]
fn truncated_datum_is_an_error_not_a_panic() {
    let bytes = encode_session(&sample()).unwrap();
    for cut in [10, 20, bytes.len() / 2, bytes.len() - 1] {
        assert!(decode_session(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}

/// A sample in `tests/data` written with an earlier schema, decoded.
fn earlier_sample(name: &str) -> Session {
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap();
    assert_ne!(
        bytes[..10],
        encode_session(&sample()).unwrap()[..10],
        "{name} is written with another schema than the current one"
    );
    decode_session(&bytes).unwrap()
}

/// `tests/data/session-v1.avro` was written with `avro/session.v1.avsc`, before
/// Session gained the optional `user_agent`. It must keep decoding.
#[test]
fn sample_written_with_the_first_schema_still_decodes() {
    let session = earlier_sample("session-v1.avro");
    assert_eq!(session.user_agent, None);
    assert_eq!(session.suite.as_deref(), Some("gmail"));
    assert_eq!(session.events.len(), 3);
    assert_eq!(
        session.events[1].value.as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(
        session.events[1].target.as_ref().unwrap().label.as_deref(),
        Some("To recipients")
    );
}

/// `tests/data/session-v2.avro` was written with `avro/session.v2.avsc`, before
/// Session gained its provenance (`source_name`, `source_sha256`). It must keep
/// decoding, with no provenance.
#[test]
fn sample_written_with_the_second_schema_still_decodes() {
    let session = earlier_sample("session-v2.avro");
    assert_eq!(session.user_agent.as_deref(), Some("HeadlessChrome/156"));
    assert_eq!(session.started_at.as_deref(), Some("2026-11-25T16:59:23Z"));
    assert_eq!(session.events.len(), 2);
    assert_eq!(session.events[1].value.as_deref(), Some("bob@example.com"));
    assert_eq!(session.source_name, None);
    assert_eq!(session.source_sha256, None);
}

/// `tests/data/session-v3.avro` was written with `avro/session.v3.avsc`, before
/// events carried a click's after-state. It must keep decoding, every event
/// with an empty state.
#[test]
fn sample_written_with_the_third_schema_still_decodes() {
    let session = earlier_sample("session-v3.avro");
    assert_eq!(
        session.source_name.as_deref(),
        Some("label_add_remove.trace.json.gz")
    );
    assert_eq!(session.events.len(), 2);
    assert_eq!(session.events[1].label(), Some("Projects"));
    assert!(session.events.iter().all(|e| e.state.is_empty()));
}

/// `tests/data/session-v4.avro` was written with `avro/session.v4.avsc`, before
/// events carried what the page showed (`view`) and before the `VIEW` kind.
/// It must keep decoding, its click's state intact and no event with a view.
#[test]
fn sample_written_with_the_fourth_schema_still_decodes() {
    let session = earlier_sample("session-v4.avro");
    assert_eq!(
        session.source_name.as_deref(),
        Some("label_menu_toggle.trace.json.gz")
    );
    assert_eq!(session.events.len(), 2);
    assert_eq!(session.events[1].kind, EventKind::Click);
    assert_eq!(
        session.events[1]
            .state
            .get("aria-checked")
            .map(String::as_str),
        Some("true")
    );
    assert!(session.events.iter().all(|e| e.view.is_none()));
}

#[test]
fn current_schema_differs_from_earlier_ones_only_by_added_optional_fields() {
    let now: serde_json::Value = serde_json::from_str(SESSION_SCHEMA_JSON).unwrap();
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect()
    };
    for earlier in [
        include_str!("../avro/session.v1.avsc"),
        include_str!("../avro/session.v2.avsc"),
        include_str!("../avro/session.v3.avsc"),
        include_str!("../avro/session.v4.avsc"),
    ] {
        let earlier: serde_json::Value = serde_json::from_str(earlier).unwrap();
        for name in names(&earlier) {
            assert!(names(&now).contains(&name), "field {name} was removed");
        }
        for f in now["fields"].as_array().unwrap() {
            let name = f["name"].as_str().unwrap().to_string();
            if !names(&earlier).contains(&name) {
                assert!(
                    f.get("default").is_some(),
                    "added field {name} has no default"
                );
            }
        }
    }
}

/// Sessions are encoded and decoded one event at a time; the bytes are those
/// of Avro's encoder of the whole value, and Avro's decoder reads them back.
#[test]
fn event_at_a_time_encoding_is_avros_own() {
    let with_events = sample();
    let without_events = Session {
        events: Vec::new(),
        ..sample()
    };
    for session in [with_events, without_events] {
        let bytes = encode_session(&session).unwrap();
        let value = apache_avro::to_value(&session)
            .unwrap()
            .resolve(session_schema())
            .unwrap();
        let whole = apache_avro::to_avro_datum(session_schema(), value).unwrap();
        assert_eq!(&bytes[10..], &whole[..]);
        let mut datum = &bytes[10..];
        let read = apache_avro::from_avro_datum(session_schema(), &mut datum, None).unwrap();
        assert_eq!(apache_avro::from_value::<Session>(&read).unwrap(), session);
        assert_eq!(decode_session(&bytes).unwrap(), session);
    }
}

/// A block count that promises more events than the bytes hold fails cleanly.
#[test]
fn an_events_count_beyond_the_bytes_is_an_error() {
    let session = Session {
        events: Vec::new(),
        ..sample()
    };
    let mut bytes = encode_session(&session).unwrap();
    // Replace the closing empty block with a count of 2^40 events.
    bytes.pop();
    bytes.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x40]);
    assert!(matches!(
        decode_session(&bytes),
        Err(AvroError::BadEvents(_))
    ));
}

/// Avro's lengths and counts come before what they describe, and apache_avro
/// allocates what they say before reading it: a 2^40-byte string or a
/// 2^40-item array in a value of a few bytes must be refused as malformed,
/// not attempted (the process would abort). Found by fuzzing
/// (docs/fuzzing.md; the inputs are in fuzz/regressions/session_avro).
#[test]
fn lengths_and_counts_beyond_the_bytes_are_refused_before_allocating() {
    let bytes = encode_session(&sample()).unwrap();
    let huge = [0x80, 0x80, 0x80, 0x80, 0x80, 0x40];
    // The session id (the header's first field): a string of 2^39 bytes.
    let mut string = bytes[..10].to_vec();
    string.extend_from_slice(&huge);
    string.extend_from_slice(b"s-1");
    assert!(matches!(
        decode_session(&string),
        Err(AvroError::Malformed(_))
    ));
    // A value of the first schema: no event-at-a-time decoding, the whole
    // datum is apache_avro's; its `pages` array said to hold 2^39 items.
    let v1 = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/session-v1.avro"
    ))
    .unwrap();
    let session = decode_session(&v1).unwrap();
    let pages = session.pages.first().expect("the v1 sample has a page");
    let at = v1
        .windows(pages.len())
        .position(|w| w == pages.as_bytes())
        .expect("the page is in the value");
    // Before the first page's string: its length, and before that the
    // block's count (zig-zag: twice the pages), one byte each here.
    assert_eq!(usize::from(v1[at - 2]), 2 * session.pages.len());
    let mut array = v1[..at - 2].to_vec();
    array.extend_from_slice(&huge);
    array.extend_from_slice(&v1[at - 1..]);
    assert!(matches!(
        decode_session(&array),
        Err(AvroError::Malformed(_))
    ));
}

#[test]
fn the_head_of_a_session_is_its_header_and_first_events() {
    let mut session = sample();
    session.events = (0..5)
        .map(|i| Event::new(EventKind::Click, i * 1000))
        .collect();
    let bytes = encode_session(&session).unwrap();
    for max in [0, 2, 5, 9] {
        let head = decode_session_head(&bytes, max).unwrap();
        assert_eq!(head.events, session.events[..max.min(5)], "{max}");
        assert_eq!(head.duration_us, session.duration_us);
        assert_eq!(head.session_id, session.session_id);
    }
}
