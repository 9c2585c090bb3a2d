//! Labelled recordings, as `tracepipe eval` and `tracepipe learn` find them:
//! a `<name>.expected.json` sidecar (the tool calls the session really
//! performed, and optionally its scenario and suite) beside a recording in
//! any format Tracepipe reads (`<name>.trace.json.gz`, `<name>.json`,
//! `<name>.jsonl`, …): any other file named `<name>.…`.

use anyhow::{bail, Context};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use tracepipe_ingest::{read_session, DiscardScreenshots, Limits};
use tracepipe_learn::ExpectedCall;
use tracepipe_schemas::Session;

const SIDECAR_SUFFIX: &str = ".expected.json";

/// `<name>.expected.json`.
#[derive(Deserialize)]
struct Sidecar {
    scenario: Option<String>,
    suite: Option<String>,
    tool_calls: Vec<ExpectedCall>,
}

/// One recording and its labels.
pub struct Labelled {
    /// The scenario: the sidecar's `scenario`, else the sidecar's name
    /// without `.expected.json`.
    pub scenario: String,
    /// The recording's file name, for messages and reports.
    pub file_name: String,
    pub recording: PathBuf,
    pub sidecar: PathBuf,
    /// The suite the sidecar names, if it does.
    pub suite: Option<String>,
    pub tool_calls: Vec<ExpectedCall>,
}

impl Labelled {
    /// The recording, read and normalised as production reads it.
    pub fn session(&self) -> anyhow::Result<Session> {
        let file = std::fs::File::open(&self.recording)
            .with_context(|| format!("opening {}", self.recording.display()))?;
        read_session(
            file,
            self.scenario.clone(),
            &Limits::default(),
            &mut DiscardScreenshots,
        )
        .with_context(|| format!("reading {}", self.recording.display()))
    }
}

/// The recording beside `<stem>.expected.json` among `files`.
fn recording_for(dir: &Path, stem: &str, files: &[PathBuf]) -> Option<PathBuf> {
    files
        .iter()
        .find(|f| {
            f.parent() == Some(dir)
                && f.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_prefix(stem))
                    .is_some_and(|rest| rest.starts_with('.') && rest != SIDECAR_SUFFIX)
        })
        .cloned()
}

fn files_of(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

fn read_sidecar(sidecar: &Path, recording: PathBuf, stem: &str) -> anyhow::Result<Labelled> {
    let bytes = std::fs::read(sidecar).with_context(|| format!("reading {}", sidecar.display()))?;
    let parsed: Sidecar =
        serde_json::from_slice(&bytes).with_context(|| format!("reading {}", sidecar.display()))?;
    Ok(Labelled {
        scenario: parsed.scenario.unwrap_or_else(|| stem.to_owned()),
        file_name: recording
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        recording,
        sidecar: sidecar.to_owned(),
        suite: parsed.suite,
        tool_calls: parsed.tool_calls,
    })
}

/// Every labelled recording in `inputs` (folders, or sidecars named one by
/// one), in name order, perhaps none; a sidecar without a recording beside
/// it is an error.
pub fn find(inputs: &[PathBuf]) -> anyhow::Result<Vec<Labelled>> {
    let mut found = Vec::new();
    for input in inputs {
        let (dir, sidecars) = if input.is_dir() {
            (input.clone(), files_of(input)?)
        } else {
            let dir = input
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            (dir, vec![input.clone()])
        };
        let dir_key = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let siblings = files_of(&dir_key)?;
        for sidecar in &sidecars {
            let Some(stem) = sidecar
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(SIDECAR_SUFFIX))
            else {
                continue;
            };
            let sidecar = dir_key.join(sidecar.file_name().unwrap_or_default());
            let Some(recording) = recording_for(&dir_key, stem, &siblings) else {
                bail!("{} has no recording beside it", sidecar.display());
            };
            found.push(read_sidecar(&sidecar, recording, stem)?);
        }
    }
    Ok(found)
}
