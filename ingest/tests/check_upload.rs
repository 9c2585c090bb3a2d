//! The cheap check an upload gets when it is read later (the distributed
//! gateway): what it refuses at once and what it leaves to the reader.

use std::io::Write;

use tracepipe_ingest::{check_upload, IngestError, Limits};
use tracepipe_schemas::SourceFormat;

fn fixture(relative: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../tests/fixtures/{relative}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn clicks(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| format!(r#"{{"suite": "gmail", "tab": 1, "url": "https://mail.example.com/", "timestamp": "2026-01-06T20:00:{:02}+00:00", "action": "click", "selector": {{}}, "additional_info": {{}}}}"#, i % 60) + "\n\n")
        .collect::<String>()
        .into_bytes()
}

#[test]
fn what_the_first_bytes_show_is_refused_at_once() {
    let limits = Limits::default();
    for file in [
        "not-recordings/empty-object.json",
        "not-recordings/devtools-protocol.json",
        "not-recordings/lighthouse.json",
        "not-recordings/network.har",
    ] {
        let bytes = fixture(file);
        for shape in [bytes.clone(), gzip(&bytes)] {
            let refused = check_upload(&shape[..], &limits).expect_err(file);
            assert_eq!(refused.code(), "not_a_recording", "{file}: {refused}");
        }
    }
    assert!(matches!(
        check_upload(&b""[..], &limits),
        Err(IngestError::Empty)
    ));
}

#[test]
fn a_trace_passes_on_its_first_bytes_and_jsonl_lines_are_counted() {
    let limits = Limits {
        max_events: 5,
        ..Limits::default()
    };
    let trace = fixture("recordings/create_label.trace.json.gz");
    assert_eq!(
        check_upload(&trace[..], &limits).expect("a trace"),
        SourceFormat::ChromeTrace
    );
    // Read later: an empty trace is only found out by reading it all.
    let empty = fixture("not-recordings/empty-trace.json");
    assert_eq!(
        check_upload(&empty[..], &limits).expect("passes"),
        SourceFormat::ChromeTrace
    );
    // Blank lines are not events.
    assert_eq!(
        check_upload(&clicks(5)[..], &limits).expect("five"),
        SourceFormat::InputEventsJsonl
    );
    for shape in [clicks(6), gzip(&clicks(6))] {
        let refused = check_upload(&shape[..], &limits).expect_err("six");
        assert_eq!(refused.code(), "too_many_events", "{refused}");
    }
}
