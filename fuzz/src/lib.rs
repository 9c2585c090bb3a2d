//! The fuzz targets of Tracepipe's readers, as plain functions.
//!
//! Each function takes the bytes of one input, runs it through the public entry
//! point a real upload goes through, and checks what must hold of any answer.
//! An input may be refused — that is an `Err` of the reader's own typed error —
//! but it must never panic, and a Session read from it must encode to Avro and
//! decode back to itself. The AFL binaries (`src/bin/`, built by `cargo afl
//! build --features afl`) and the corpus replay (`tests/corpora.rs`, part of
//! `cargo test --workspace`) call these same functions; docs/fuzzing.md says
//! how to run them.

use tracepipe_ingest::redact::{ScreenshotGuard, UnmarkedScreenshots};
use tracepipe_ingest::{
    read_session_scrubbed, scan_screen_privacy, screenshot_key, CaptureReport, IngestError, Limits,
    ScreenshotSink,
};
use tracepipe_schemas::Session;
use tracepipe_schemas::{decode_session, decode_session_head, encode_session, AvroError};

/// The limits the recording targets read with: the defaults, but small
/// enough that inputs of a few kilobytes reach each limit's error path (the
/// events limit, an event or a line too large) instead of only its happy side.
pub fn fuzz_limits() -> Limits {
    Limits {
        max_decompressed_bytes: 16 << 20,
        max_event_bytes: 64 << 10,
        max_line_bytes: 64 << 10,
        max_events: 200,
        ..Limits::default()
    }
}

/// A sink that wants the images, so that embedded screenshots are decoded and,
/// where `tracepipe:sensitive` marks say so, painted over, as when a
/// recording is processed; it keeps nothing.
struct CountScreenshots {
    stored: usize,
}

impl ScreenshotSink for CountScreenshots {
    fn store(&mut self, index: usize, jpeg: &[u8]) -> Result<String, String> {
        if jpeg.is_empty() {
            return Err("an empty screenshot".into());
        }
        self.stored += 1;
        Ok(screenshot_key(index))
    }

    fn reference(&mut self, index: usize, filename: &str) -> Result<(String, i64), String> {
        if filename.is_empty() {
            return Err("a screenshot without a file name".into());
        }
        Ok((screenshot_key(index), 0))
    }
}

/// Reads `data` as an uploaded recording is read: the privacy pass, then the
/// reading pass with the screenshot guard the first one built. The readers
/// are chosen by content (the Chrome trace JSON reader, the Perfetto protobuf
/// reader or the `input_events.jsonl` reader), so the chrome_json, perfetto
/// and input_events targets all call this; what sets them apart is their
/// corpus, which starts each fuzzer inside its own reader.
pub fn read_recording(data: &[u8]) -> Result<Session, IngestError> {
    let limits = fuzz_limits();
    let privacy = scan_screen_privacy(data, &limits)?;
    let guard = ScreenshotGuard::new(privacy, UnmarkedScreenshots::Keep);
    let mut sink = CountScreenshots { stored: 0 };
    let (session, _scrubbed) =
        read_session_scrubbed(data, "fuzz".into(), &limits, &guard, &mut sink)?;
    assert!(
        session.events.len() <= limits.max_events,
        "a Session of {} events passed the limit of {}",
        session.events.len(),
        limits.max_events
    );
    assert!(
        sink.stored <= session.events.len(),
        "more screenshots stored than events kept"
    );
    CaptureReport::of(&session).missing_script_line();
    assert_round_trips(&session);
    Ok(session)
}

/// Decodes `data` as a stored Session value (Avro single-object encoding, any
/// schema version), whole and as the head the timeline pages read.
pub fn decode_stored_session(data: &[u8]) -> Result<Session, AvroError> {
    let head = decode_session_head(data, 1);
    let whole = decode_session(data);
    if let (Ok(head), Ok(whole)) = (&head, &whole) {
        assert!(
            head.events.len() <= 1,
            "the head holds more than it was asked for"
        );
        assert_eq!(
            head.events[..],
            whole.events[..head.events.len()],
            "the head's events are not the first of the whole Session"
        );
        assert_eq!(head.session_id, whole.session_id);
    }
    let session = whole?;
    assert_round_trips(&session);
    Ok(session)
}

/// A Session, read or decoded, encodes with the current schema and decodes
/// back to itself. Compared by their Debug text: a float read from a trace
/// may be NaN, which equals itself there and not under `==`.
fn assert_round_trips(session: &Session) {
    let encoded = match encode_session(session) {
        Ok(encoded) => encoded,
        Err(e) => panic!("a Session the reader returned does not encode: {e}"),
    };
    match decode_session(&encoded) {
        Ok(decoded) => assert_eq!(
            format!("{decoded:?}"),
            format!("{session:?}"),
            "a Session does not decode to what was encoded"
        ),
        Err(e) => panic!("an encoded Session does not decode: {e}"),
    }
}
