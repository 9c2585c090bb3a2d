//! One scenario recorded by real Chromium four ways (capture/recorder's
//! `--format`): CDP's JSON object, the DevTools Performance panel's category
//! set saved as the panel saves it, chrome://tracing's bare array left
//! unterminated, and Perfetto protobuf over CDP. Each is read by its content
//! alone, and all four give the same actions and navigations.
//!
//! Refresh with `node capture/recorder/record.js --format F --screenshot-every 5
//! --out tests/fixtures/recordings-wild label_add_remove` for each format F.

use std::path::PathBuf;
use tracepipe_ingest::{read_session, DiscardScreenshots, IngestError, Limits};
use tracepipe_schemas::{EventKind, Session, SourceFormat};

const FORMATS: &[&str] = &[
    "trace.json.gz",
    "devtools.json.gz",
    "array.json.gz",
    "pftrace.gz",
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/recordings-wild")
        .join(name)
}

fn read_bytes(bytes: &[u8]) -> Result<Session, IngestError> {
    read_session(
        bytes,
        "s".into(),
        &Limits::default(),
        &mut DiscardScreenshots,
    )
}

fn read(format: &str) -> Session {
    let path = fixture(&format!("label_add_remove.{format}"));
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    read_session(
        file,
        "s".into(),
        &Limits::default(),
        &mut DiscardScreenshots,
    )
    .unwrap_or_else(|e| panic!("{format}: {e}"))
}

/// What the person did, as the capture script's marks say.
fn actions(s: &Session) -> Vec<String> {
    s.events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::Click | EventKind::Change | EventKind::Submit | EventKind::Key
            )
        })
        .map(|e| format!("{:?} {:?} {:?} {:?}", e.kind, e.label(), e.value, e.key))
        .collect()
}

fn navigations(s: &Session) -> Vec<String> {
    s.events
        .iter()
        .filter(|e| e.kind == EventKind::Navigation)
        .map(|e| e.url.clone().unwrap_or_default())
        .collect()
}

fn count(s: &Session, kind: EventKind) -> usize {
    s.events.iter().filter(|e| e.kind == kind).count()
}

#[test]
fn every_way_chromium_saves_a_trace_gives_the_same_actions_and_navigations() {
    let reference = read(FORMATS[0]);
    let reference_actions = actions(&reference);
    let reference_navigations = navigations(&reference);
    assert!(
        reference_actions.len() >= 6,
        "the scenario's clicks: {reference_actions:#?}"
    );
    assert!(
        reference_navigations
            .first()
            .is_some_and(|u| u.ends_with("#inbox")),
        "{reference_navigations:?}"
    );
    assert!(
        reference_navigations.len() >= 2,
        "{reference_navigations:?}"
    );
    for format in FORMATS {
        let s = read(format);
        assert_eq!(s.source, SourceFormat::ChromeTrace, "{format}");
        assert_eq!(actions(&s), reference_actions, "{format}: actions");
        assert_eq!(
            navigations(&s),
            reference_navigations,
            "{format}: navigations"
        );
        assert!(
            count(&s, EventKind::Input) > 0,
            "{format}: input dispatches"
        );
        assert!(
            count(&s, EventKind::NetworkRequest) > 3,
            "{format}: requests"
        );
        assert!(
            s.pages
                .iter()
                .all(|p| p.starts_with("http://127.0.0.1:8765/")),
            "{format}: {:?}",
            s.pages
        );
    }
}

#[test]
fn perfetto_protobuf_reads_plain_or_gzipped_and_names_where_it_is_cut() {
    let gz = std::fs::read(fixture("label_add_remove.pftrace.gz")).unwrap();
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain).unwrap();
    let from_plain = read_bytes(&plain).unwrap();
    assert_eq!(actions(&from_plain), actions(&read("pftrace.gz")));

    // Cut inside a packet: a truncation error at that packet.
    let cut = &plain[..plain.len() / 2];
    match read_bytes(cut) {
        Err(IngestError::Truncated { at, message }) => {
            assert!(message.contains("Perfetto packet"), "{message}");
            let tracepipe_ingest::Location::Byte(b) = at else {
                panic!("{at:?}")
            };
            assert_eq!(b, cut.len() as u64);
        }
        other => panic!("{:?}", other.map(|s| s.events.len())),
    }

    // A packet whose bytes are not protobuf: a located error, not a panic.
    let mut corrupt = plain.clone();
    let at = corrupt.len() / 3;
    for b in &mut corrupt[at..at + 64] {
        *b = 0xff;
    }
    let err = read_bytes(&corrupt).unwrap_err();
    assert!(
        matches!(
            err,
            IngestError::Shape { .. }
                | IngestError::Syntax { .. }
                | IngestError::Truncated { .. }
                | IngestError::EventTooLarge { .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("byte "), "{err}");
}
