//! Reader behaviour on hand-made recordings: shapes the format allows, noise
//! that must be dropped, secrets that must not survive, and broken inputs that
//! must fail with a located error instead of a panic.

use flate2::{write::GzEncoder, Compression};
use std::io::Write;
use tracepipe_ingest::{
    read_session, DiscardScreenshots, IngestError, Limits, Location, NotRecording, ScreenshotSink,
};
use tracepipe_schemas::{EventKind, Session, SourceFormat};

fn mark(kind: &str, ts: i64, detail: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "args": {"data": {"detail": detail.to_string(), "startTime": 1}},
        "cat": "blink.user_timing", "name": format!("tracepipe:{kind}"), "ph": "I", "pid": 20, "tid": 20, "ts": ts
    })
}

fn page_trace() -> Vec<serde_json::Value> {
    let url = "http://localhost:8765/#inbox";
    vec![
        serde_json::json!({"args": {"name": "Browser"}, "cat": "__metadata", "name": "process_name", "ph": "M", "pid": 10, "tid": 0, "ts": 0}),
        serde_json::json!({"args": {"name": "Renderer"}, "cat": "__metadata", "name": "process_name", "ph": "M", "pid": 20, "tid": 0, "ts": 0}),
        serde_json::json!({"args": {"name": "Renderer"}, "cat": "__metadata", "name": "process_name", "ph": "M", "pid": 30, "tid": 0, "ts": 0}),
        serde_json::json!({"args": {"data": {"frames": [
            {"frame": "F1", "processId": 20, "url": url},
            {"frame": "F9", "processId": 30, "url": "chrome://newtab/"}
        ]}}, "cat": "disabled-by-default-devtools.timeline", "name": "TracingStartedInBrowser", "ph": "I", "pid": 10, "ts": 1_000_000}),
        // Noise of every size: skipped without being parsed.
        serde_json::json!({"args": {"data": {"x": [1, 2, {"name": "EventDispatch"}]}}, "cat": "v8", "name": "V8.Execute", "ph": "X", "pid": 20, "ts": 1_000_010, "dur": 5}),
        mark(
            "click",
            1_000_100,
            serde_json::json!({"target": {"tag": "button", "role": "button", "label": "Compose", "data": {"data-x": "1"}}, "url": url}),
        ),
        serde_json::json!({"args": {"data": {"type": "click"}}, "cat": "devtools.timeline", "name": "EventDispatch", "ph": "X", "pid": 20, "ts": 1_000_101, "dur": 3}),
        // The browser's own page dispatches input too; it must not show up.
        serde_json::json!({"args": {"data": {"type": "click"}}, "cat": "devtools.timeline", "name": "EventDispatch", "ph": "X", "pid": 30, "ts": 1_000_102, "dur": 3}),
        mark(
            "change",
            1_000_200,
            serde_json::json!({"target": {"tag": "input", "label": "To recipients"}, "value": "alice@example.com", "url": url}),
        ),
        // No capture script masking, yet a password field: must be masked here.
        mark(
            "change",
            1_000_300,
            serde_json::json!({"target": {"tag": "input", "type": "password", "label": "App password"}, "value": "hunter2-secret", "url": url}),
        ),
        mark(
            "change",
            1_000_310,
            serde_json::json!({"target": {"tag": "input", "label": "Notes"}, "value": "card 4111 1111 1111 1111 thanks", "url": url}),
        ),
        mark(
            "keydown",
            1_000_400,
            serde_json::json!({"target": {"tag": "div", "label": "Message Body"}, "key": "Enter", "modifiers": ["ctrl"], "url": url}),
        ),
        serde_json::json!({"args": {"data": {"requestId": "20.5", "url": "http://localhost:8765/api/send?access_token=abc", "requestMethod": "POST", "frame": "F1"}}, "cat": "devtools.timeline", "name": "ResourceSendRequest", "ph": "I", "pid": 20, "ts": 1_000_410}),
        serde_json::json!({"args": {"data": {"requestId": "20.5", "statusCode": 200, "mimeType": "application/json", "frame": "F1",
            "headers": [{"name": "Set-Cookie", "value": "sid=topsecret"}, {"name": "Authorization", "value": "Bearer topsecret"}]}},
            "cat": "devtools.timeline", "name": "ResourceReceiveResponse", "ph": "I", "pid": 20, "ts": 1_000_420}),
        serde_json::json!({"args": {"data": {"requestId": "20.5", "finishTime": 1.000_450, "didFail": false, "encodedDataLength": 99}}, "cat": "devtools.timeline", "name": "ResourceFinish", "ph": "I", "pid": 20, "ts": 1_000_451}),
        serde_json::json!({"args": {"data": {"requestId": "30.1", "url": "chrome://newtab/data", "requestMethod": "GET", "frame": "F9"}}, "cat": "devtools.timeline", "name": "ResourceSendRequest", "ph": "I", "pid": 30, "ts": 1_000_460}),
        serde_json::json!({"args": {"snapshot": {"documentLoaderURL": "http://localhost:8765/#sent", "frame": {"id_ref": "F1"}, "isLoadingMainFrame": true}}, "cat": "loading", "name": "FrameLoader:state_snapshot", "ph": "I", "pid": 20, "ts": 1_000_500}),
        serde_json::json!({"args": {"snapshot": "/9j/4AAQSkZJRgABAQAAAQABAAD/2w=="}, "cat": "disabled-by-default-devtools.screenshot", "name": "Screenshot", "ph": "O", "id": "0x1", "pid": 10, "ts": 1_000_600}),
        serde_json::json!({"args": {"snapshot": "/9j/4AAQSkZJRgABAQAAAQABAAD/2w==", "frame_sequence": 3, "source_id": 1}, "cat": "disabled-by-default-devtools.screenshot", "name": "Screenshot", "ph": "I", "pid": 10, "ts": 1_000_700}),
    ]
}

fn read(bytes: &[u8]) -> Result<Session, IngestError> {
    read_session(
        bytes,
        "s".into(),
        &Limits::default(),
        &mut DiscardScreenshots,
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn object_form() -> Vec<u8> {
    // Members in an unusual order, with extra members before the events.
    serde_json::to_vec(&serde_json::json!({
        "metadata": {"user-agent": "HeadlessChrome/156", "trace-capture-datetime": "2026-11-25 16:43:47"},
        "stackFrames": {"1": {"name": "x"}},
        "traceEvents": page_trace(),
        "displayTimeUnit": "ms"
    }))
    .unwrap()
}

#[test]
fn object_form_keeps_exactly_what_matters() {
    let s = read(&object_form()).unwrap();
    assert_eq!(s.source, SourceFormat::ChromeTrace);
    assert_eq!(s.user_agent.as_deref(), Some("HeadlessChrome/156"));
    // Chrome's `trace-capture-datetime` is UTC, written as tracing starts.
    assert_eq!(s.started_at.as_deref(), Some("2026-11-25T16:43:47Z"));
    let kinds: Vec<EventKind> = s.events.iter().map(|e| e.kind).collect();
    use EventKind::*;
    assert_eq!(
        kinds,
        vec![
            Click,
            Input,
            Change,
            Change,
            Change,
            Key,
            NetworkRequest,
            Navigation,
            Screenshot,
            Screenshot
        ]
    );
    // One clock starting at the tracing start.
    assert_eq!(s.events[0].t_us, 100);
    let click = &s.events[0];
    assert_eq!(click.label(), Some("Compose"));
    assert_eq!(
        click
            .target
            .as_ref()
            .unwrap()
            .data
            .get("data-x")
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(s.events[2].value.as_deref(), Some("alice@example.com"));
    let key = &s.events[5];
    assert_eq!(
        (key.key.as_deref(), key.modifiers.clone()),
        (Some("Enter"), vec!["ctrl".to_string()])
    );
    let req = s.events[6].network.as_ref().unwrap();
    assert_eq!(
        (req.method.as_str(), req.status, req.mime_type.as_deref()),
        ("POST", Some(200), Some("application/json"))
    );
    assert_eq!(req.end_us, Some(450));
    let nav = &s.events[7];
    assert_eq!(nav.url.as_deref(), Some("http://localhost:8765/#sent"));
    assert!(nav.navigation.as_ref().unwrap().same_document);
    assert_eq!(
        s.pages,
        vec![
            "http://localhost:8765/#inbox",
            "http://localhost:8765/#sent"
        ]
    );
}

#[test]
fn secrets_never_survive() {
    let (s, scrubbed) = tracepipe_ingest::read_session_scrubbed(
        &object_form()[..],
        "s".into(),
        &Limits::default(),
        &tracepipe_ingest::redact::ScreenshotGuard::keep_all(),
        &mut DiscardScreenshots,
    )
    .unwrap();
    assert_eq!(
        (scrubbed.secret_values, scrubbed.card_numbers, scrubbed.urls),
        (1, 1, 1)
    );
    assert!(scrubbed.any());
    let password = &s.events[3];
    assert!(password.masked);
    assert_eq!(password.value, None);
    assert_eq!(s.events[4].value.as_deref(), Some("card [card] thanks"));
    let all = serde_json::to_string(&s).unwrap();
    for secret in [
        "hunter2",
        "4111 1111",
        "topsecret",
        "abc",
        "Cookie",
        "Authorization",
    ] {
        assert!(!all.contains(secret), "{secret} leaked: {all}");
    }
}

#[test]
fn bare_array_gzip_and_missing_closing_bracket_all_read_alike() {
    let expected = read(&object_form()).unwrap().events;
    let array = serde_json::to_vec(&page_trace()).unwrap();
    assert_eq!(read(&array).unwrap().events, expected);
    assert_eq!(read(&gzip(&array)).unwrap().events, expected);
    assert_eq!(read(&gzip(&object_form())).unwrap().events, expected);
    // The format lets a dying writer leave out the `]`, with or without a comma.
    let open = &array[..array.len() - 1];
    assert_eq!(read(open).unwrap().events, expected);
    let mut open_comma = open.to_vec();
    open_comma.extend_from_slice(b",\n");
    assert_eq!(read(&open_comma).unwrap().events, expected);
}

#[test]
fn events_larger_than_the_read_buffer_stream_through() {
    let mut events = page_trace();
    let big = "A".repeat(3 << 20);
    events.insert(4, serde_json::json!({"args": {"blob": big}, "cat": "x", "name": "Big", "ph": "X", "pid": 20, "ts": 1_000_005}));
    let s = read(&serde_json::to_vec(&events).unwrap()).unwrap();
    assert_eq!(s.events.len(), 10);
}

struct Collect(Vec<Vec<u8>>);
impl ScreenshotSink for Collect {
    fn store(&mut self, index: usize, jpeg: &[u8]) -> Result<String, String> {
        self.0.push(jpeg.to_vec());
        Ok(format!("shot-{index}"))
    }
    fn reference(&mut self, _: usize, f: &str) -> Result<(String, i64), String> {
        Ok((f.into(), 1))
    }
}

#[test]
fn screenshots_of_both_formats_go_to_the_sink_as_jpeg() {
    let mut sink = Collect(Vec::new());
    let s = read_session(
        &object_form()[..],
        "s".into(),
        &Limits::default(),
        &mut sink,
    )
    .unwrap();
    assert_eq!(sink.0.len(), 2);
    assert!(sink.0.iter().all(|j| j.starts_with(&[0xFF, 0xD8])));
    let refs: Vec<&str> = s
        .events
        .iter()
        .filter_map(|e| e.screenshot.as_ref())
        .map(|r| r.blob.as_str())
        .collect();
    assert_eq!(refs, vec!["shot-0", "shot-1"]);
}

#[test]
fn input_events_jsonl_is_read_with_its_screenshots() {
    let jsonl = concat!(
        r#"{"suite": "gmail", "tab": 1, "url": "https://mail.example.com/mail/u/0/#inbox", "timestamp": "2026-01-06T20:30:01.337745+00:00", "action": "scroll", "selector": {"tag": "div", "id": "main", "class": "a b"}, "additional_info": {"scroll_x": 0, "scroll_y": 100}}"#,
        "\n",
        r#"{"suite": "gmail", "tab": 1, "url": "https://mail.example.com/mail/u/0/#inbox", "timestamp": "2026-01-06T20:30:02.000000+00:00", "action": "click", "selector": {"tag": "div", "role": "button", "label": "Compose"}, "additional_info": {}}"#,
        "\n",
        "\n",
        r#"{"suite": "gmail", "tab": 1, "url": "https://mail.example.com/mail/u/0/#inbox", "timestamp": "2026-01-06T20:30:03.5+00:00", "action": "input", "selector": {"tag": "input", "name": "cardnumber"}, "additional_info": {"value": "4111111111111111"}}"#,
        "\n",
        r#"{"suite": "gmail", "tab": 1, "url": "https://mail.example.com/mail/u/0/#inbox", "timestamp": "2026-01-06T20:30:04+00:00", "action": "screenshot", "image_format": "jpeg", "viewport": {"width": 1280, "height": 800}, "filename": "shot_0001.jpg"}"#
    );
    let mut sink = Collect(Vec::new());
    let s = read_session(jsonl.as_bytes(), "s".into(), &Limits::default(), &mut sink).unwrap();
    assert_eq!(s.source, SourceFormat::InputEventsJsonl);
    assert_eq!(s.suite.as_deref(), Some("gmail"));
    let kinds: Vec<EventKind> = s.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::Scroll,
            EventKind::Click,
            EventKind::Change,
            EventKind::Screenshot
        ]
    );
    assert_eq!(s.events[1].t_us, 662_255);
    assert_eq!(
        s.events[0].target.as_ref().unwrap().selector.as_deref(),
        Some("div#main")
    );
    assert!(s.events[2].masked && s.events[2].value.is_none());
    let shot = s.events[3].screenshot.as_ref().unwrap();
    assert_eq!(
        (shot.blob.as_str(), shot.width, shot.height),
        ("shot_0001.jpg", Some(1280), Some(800))
    );
}

fn err(bytes: &[u8], limits: Limits) -> IngestError {
    match read_session(bytes, "s".into(), &limits, &mut DiscardScreenshots) {
        Ok(s) => panic!("expected an error, read {} events", s.events.len()),
        Err(e) => e,
    }
}

#[test]
fn broken_inputs_fail_with_located_errors() {
    let good = object_form();
    let d = Limits::default();
    // Truncated inside an event.
    let e = err(&good[..good.len() / 2], d);
    assert!(matches!(e, IngestError::Truncated { .. }), "{e}");
    // Not JSON at all.
    assert!(matches!(
        err(b"hello world", d),
        IngestError::UnknownFormat { .. }
    ));
    assert!(matches!(err(b"", d), IngestError::Empty));
    assert!(matches!(err(b"  \n ", d), IngestError::Empty));
    // Wrong types.
    let e = err(br#"{"traceEvents": 5}"#, d);
    assert!(
        matches!(
            e,
            IngestError::Shape {
                at: Location::Byte(16),
                ..
            }
        ),
        "{e}"
    );
    let e = err(
        br#"[{"name": "tracepipe:click", "cat": "blink.user_timing", "ph": "I", "ts": "soon"}]"#,
        d,
    );
    assert!(
        matches!(
            e,
            IngestError::Shape {
                at: Location::Byte(1),
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("byte 1"), "{e}");
    let e = err(br#"[1, 2]"#, d);
    assert!(matches!(e, IngestError::Shape { .. }), "{e}");
    let e = err(br#"[{"name": "tracepipe:click", "cat": "blink.user_timing", "ph": "I", "ts": 1, "args": {"data": {"detail": "{not json"}}}]"#, d);
    assert!(matches!(e, IngestError::Shape { .. }), "{e}");
    // Syntax errors between events.
    let e = err(br#"[{"name": "a"} {"name": "b"}]"#, d);
    assert!(
        matches!(
            e,
            IngestError::Syntax {
                at: Location::Byte(15),
                ..
            }
        ),
        "{e}"
    );
    let e = err(br#"{"traceEvents": []} trailing"#, d);
    assert!(matches!(e, IngestError::Syntax { .. }), "{e}");
    // Bad gzip: right magic, garbage after it.
    let mut bad_gzip = gzip(&good);
    let mid = bad_gzip.len() / 2;
    for b in &mut bad_gzip[mid..mid + 16] {
        *b ^= 0x5A;
    }
    let e = err(&bad_gzip, d);
    assert!(
        matches!(
            e,
            IngestError::Gzip { .. } | IngestError::Syntax { .. } | IngestError::Shape { .. }
        ),
        "{e}"
    );
    let e = err(&[0x1f, 0x8b, 0x08, 0x00, 0x01], d);
    assert!(matches!(e, IngestError::Gzip { .. }), "{e}");
    // Deep nesting.
    let deep = format!(
        "[{{\"name\":\"x\",\"args\":{}{}}}]",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(matches!(
        err(deep.as_bytes(), d),
        IngestError::TooDeep { .. }
    ));
    // Invalid UTF-8 inside an event.
    let mut utf8 = br#"[{"name": "tracepipe:click", "cat": "blink.user_timing", "ph": "I", "ts": 1, "args": {"data": {"detail": "{\"value\": \"a"#.to_vec();
    utf8.extend_from_slice(&[0xC3, 0x28]);
    utf8.extend_from_slice(br#"\"}"}}}]"#);
    assert!(matches!(
        err(&utf8, d),
        IngestError::Utf8 {
            at: Location::Byte(_)
        }
    ));
    // JSON Lines: the bad line is named.
    let e = err(
        b"{\"action\": \"click\", \"timestamp\": \"2026-01-06T20:30:01Z\"}\n{\"action\": oops}\n",
        d,
    );
    assert!(
        matches!(
            e,
            IngestError::Syntax {
                at: Location::Line(2),
                ..
            }
        ),
        "{e}"
    );
    let e = err(
        b"{\"action\": \"click\", \"timestamp\": \"yesterday\"}\n",
        d,
    );
    assert!(
        matches!(
            e,
            IngestError::Shape {
                at: Location::Line(1),
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn size_limits_stop_bombs_and_oversized_events() {
    // A gzip bomb: a tiny stream that expands without end.
    let bomb = gzip(&vec![b' '; 80 << 20]);
    assert!(bomb.len() < 1 << 20);
    let e = err(&bomb, Limits::default());
    assert!(matches!(e, IngestError::CompressionBomb { .. }), "{e}");
    let small = Limits {
        max_decompressed_bytes: 1 << 20,
        ..Limits::default()
    };
    let e = err(&gzip(&vec![b' '; 2 << 20]), small);
    assert!(matches!(e, IngestError::DecompressedTooLarge { .. }), "{e}");
    let tight = Limits {
        max_event_bytes: 2 << 20,
        ..Limits::default()
    };
    let huge_event = format!("[{{\"name\":\"x\",\"args\":\"{}\"}}]", "A".repeat(5 << 20));
    assert!(matches!(
        err(huge_event.as_bytes(), tight),
        IngestError::EventTooLarge { .. }
    ));
}

/// A protobuf field: tag, length, bytes.
fn proto_field(number: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![number << 3 | 2];
    let mut len = bytes.len();
    while len >= 0x80 {
        out.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(bytes);
    out
}

/// Perfetto packets whose repeated fields would decode into far more
/// memory than they take: two bytes of an empty debug annotation become a
/// struct of a few hundred, so a packet within the size limit could take
/// gigabytes. Refused by count, as is a sequence interning empty names
/// without end.
#[test]
fn perfetto_packets_that_decode_into_much_more_than_their_size_are_refused() {
    // A wanted event with 100,000 empty arguments (200 KB).
    let mut event = proto_field(23, b"tracepipe:click");
    for _ in 0..100_000 {
        event.extend_from_slice(&[0x22, 0x00]);
    }
    let trace = proto_field(1, &proto_field(11, &event));
    let e = err(&trace, Limits::default());
    assert!(
        matches!(&e, IngestError::Shape { message, .. } if message.contains("arguments")),
        "{e}"
    );
    // Interned event names with empty text, 40,000 per packet: each packet
    // passes the count, and the sequence's table is bounded by the entries
    // as well as by their text.
    let mut trace = Vec::new();
    for packet in 0..20u32 {
        let mut interned = Vec::new();
        for i in 0..40_000u32 {
            let iid = packet * 40_000 + i + 1;
            let mut name = vec![0x08];
            let mut v = iid;
            while v >= 0x80 {
                name.push((v as u8 & 0x7f) | 0x80);
                v >>= 7;
            }
            name.push(v as u8);
            interned.extend(proto_field(2, &name));
        }
        // On sequence 1 (field 10).
        let mut body = vec![0x50, 0x01];
        body.extend(proto_field(12, &interned));
        trace.extend(proto_field(1, &body));
    }
    let tight = Limits {
        max_event_bytes: 8 << 20,
        ..Limits::default()
    };
    let e = err(&trace, tight);
    assert!(
        matches!(&e, IngestError::Shape { message, .. } if message.contains("interns more")),
        "{e}"
    );
}

#[test]
fn json_that_is_not_a_recording_is_named_and_refused() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/not-recordings");
    for (file, kind) in [
        ("empty-object.json", NotRecording::EmptyObject),
        ("empty-array.json", NotRecording::EmptyArray),
        ("devtools-protocol.json", NotRecording::DevToolsProtocolLog),
        ("lighthouse.json", NotRecording::LighthouseReport),
        ("network.har", NotRecording::Har),
        ("empty-trace.json", NotRecording::EmptyTrace),
    ] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        for input in [bytes.clone(), gzip(&bytes)] {
            match read(&input) {
                Err(IngestError::NotARecording { kind: found }) => {
                    assert_eq!(found, kind, "{file}")
                }
                other => panic!("{file}: {other:?}"),
            }
        }
        let message = read(&bytes).unwrap_err().to_string();
        assert!(
            message.contains(&kind.to_string()) && message.contains("docs/recording.md"),
            "{message}"
        );
    }
    // `{"traceEvents": []}` read to its end holds nothing either.
    assert!(matches!(
        read(br#"{"traceEvents": [], "metadata": {}}"#),
        Err(IngestError::NotARecording {
            kind: NotRecording::EmptyTrace
        })
    ));
}

#[test]
fn the_events_limit_stops_both_formats_while_reading() {
    let limits = |max_events| Limits {
        max_events,
        ..Limits::default()
    };
    // The page trace keeps 10 events; 11 are held while reading (one of the
    // browser's own page is dropped at the end), and the limit counts those.
    let trace = object_form();
    assert_eq!(
        read_session(&trace[..], "s".into(), &limits(11), &mut DiscardScreenshots)
            .unwrap()
            .events
            .len(),
        10
    );
    for max in [1, 5, 9] {
        assert!(matches!(
            read_session(&trace[..], "s".into(), &limits(max), &mut DiscardScreenshots),
            Err(IngestError::TooManyEvents { limit }) if limit == max
        ));
    }
    let line = r#"{"suite": "gmail", "url": "https://mail.example.com/#inbox", "timestamp": "2026-01-06T20:30:02Z", "action": "click", "selector": {"tag": "div", "role": "button", "label": "Compose"}}"#;
    let jsonl = format!("{line}\n").repeat(1000);
    assert_eq!(
        read_session(
            jsonl.as_bytes(),
            "s".into(),
            &limits(1000),
            &mut DiscardScreenshots
        )
        .unwrap()
        .events
        .len(),
        1000
    );
    let error = read_session(
        jsonl.as_bytes(),
        "s".into(),
        &limits(999),
        &mut DiscardScreenshots,
    )
    .unwrap_err();
    assert_eq!(error.code(), "too_many_events");
    assert!(
        error.to_string().contains("more than 999 events"),
        "{error}"
    );
}

/// `tracepipe:view` marks become View events with their snapshot, scrubbed
/// like every other text; one that cannot be read is left out and the rest of
/// the recording is read as before.
#[test]
fn view_marks_are_read_and_a_malformed_one_is_left_out() {
    let url = "http://localhost:8765/#inbox/18c2";
    let mut events = page_trace();
    events.push(mark(
        "view",
        1_000_150,
        serde_json::json!({
            "items": [{"role": "row", "name": "Alice — card 4111 1111 1111 1111", "data": {"data-message-id": "18c1"}}],
            "open": {"role": "article", "data": {"data-message-id": "18c2"}, "fields": {"heading": "Lunch?"}},
            "truncated": false,
            "url": url
        }),
    ));
    // Not a snapshot: `items` is a number.
    events.push(mark(
        "view",
        1_000_160,
        serde_json::json!({"items": 3, "url": url}),
    ));
    let with_views = read(&serde_json::to_vec(&events).unwrap()).unwrap();
    let without_views = read(&serde_json::to_vec(&page_trace()).unwrap()).unwrap();
    let views: Vec<_> = with_views
        .events
        .iter()
        .filter(|e| e.kind == EventKind::View)
        .collect();
    assert_eq!(views.len(), 1);
    let view = views[0].view.as_ref().unwrap();
    assert_eq!(view.items[0].data["data-message-id"], "18c1");
    let name = view.items[0].name.as_deref().unwrap();
    assert!(!name.contains("4111 1111"), "{name}");
    let open = view.open.as_ref().unwrap();
    assert_eq!(open.fields["heading"], "Lunch?");
    // Everything else is as without the views: no page or navigation added.
    let others: Vec<_> = with_views
        .events
        .iter()
        .filter(|e| e.kind != EventKind::View)
        .collect();
    assert_eq!(others, without_views.events.iter().collect::<Vec<_>>());
    assert_eq!(with_views.pages, without_views.pages);
}
