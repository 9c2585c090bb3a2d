//! Replays every committed fuzzing input through the targets' functions: the
//! corpora (`fuzz/corpus/<target>/`) and the inputs that once made a reader
//! panic or hang (`fuzz/regressions/<target>/`). Each must come back as a
//! Session or the reader's typed error; none may panic. No AFL is needed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use tracepipe_fuzz::{decode_stored_session, read_recording};

const RECORDING_TARGETS: &[&str] = &["chrome_json", "perfetto", "input_events"];

fn inputs(dir: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `target` over every input, naming those that panicked; the count of
/// inputs that were read (not refused).
fn replay<T, E>(files: &[PathBuf], target: fn(&[u8]) -> Result<T, E>) -> usize {
    let mut panicked = Vec::new();
    let mut read = 0;
    for file in files {
        let bytes = std::fs::read(file).expect("a readable corpus file");
        match catch_unwind(AssertUnwindSafe(|| target(&bytes))) {
            Ok(Ok(_)) => read += 1,
            Ok(Err(_)) => {}
            Err(_) => panicked.push(file.display().to_string()),
        }
    }
    assert!(panicked.is_empty(), "inputs that panicked: {panicked:?}");
    read
}

#[test]
fn every_recording_corpus_input_is_read_or_refused_without_panic() {
    for target in RECORDING_TARGETS {
        let corpus = inputs("corpus", target);
        assert!(!corpus.is_empty(), "fuzz/corpus/{target} is empty");
        let read = replay(&corpus, read_recording);
        // The corpus starts from real recordings: some of it must still read,
        // or it no longer reaches past the readers' first checks.
        assert!(
            read > 0,
            "no input of fuzz/corpus/{target} reads into a Session"
        );
    }
}

#[test]
fn every_session_avro_corpus_input_is_decoded_or_refused_without_panic() {
    let corpus = inputs("corpus", "session_avro");
    assert!(!corpus.is_empty(), "fuzz/corpus/session_avro is empty");
    let decoded = replay(&corpus, decode_stored_session);
    assert!(decoded > 0, "no input of fuzz/corpus/session_avro decodes");
}

#[test]
fn inputs_that_once_crashed_or_hung_a_reader_are_refused_without_panic() {
    for target in RECORDING_TARGETS {
        replay(&inputs("regressions", target), read_recording);
    }
    replay(
        &inputs("regressions", "session_avro"),
        decode_stored_session,
    );
}

/// Writes the Session Avro seeds: every Session the recording seeds in
/// `$FUZZ_SEEDS/<target>/` read into, as stored (make_seeds.py cuts those).
#[test]
#[ignore = "writes seeds for docs/fuzzing.md's procedure; not a check"]
fn write_avro_seeds() {
    let seeds =
        PathBuf::from(std::env::var("FUZZ_SEEDS").expect("FUZZ_SEEDS, the seeds directory"));
    let out = seeds.join("session_avro");
    std::fs::create_dir_all(&out).expect("the session_avro seeds directory");
    for target in RECORDING_TARGETS {
        let Ok(entries) = std::fs::read_dir(seeds.join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a readable directory entry").path();
            let bytes = std::fs::read(&path).expect("a readable seed");
            if let Ok(session) = read_recording(&bytes) {
                let name = path.file_name().expect("a file name").to_string_lossy();
                let encoded =
                    tracepipe_schemas::encode_session(&session).expect("an encodable Session");
                std::fs::write(out.join(format!("{name}.avro")), encoded).expect("a written seed");
            }
        }
    }
}
