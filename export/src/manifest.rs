//! `manifest.json`: what an export holds and how it was made, enough to name
//! the exact dataset a model was trained on and to make it again.
//!
//! Deterministic by construction: no clock, no host, maps sorted by key and
//! struct fields declared in alphabetical order, so the same export gives the
//! same bytes.

use std::collections::BTreeMap;

use serde::Serialize;

use super::filter::Filters;

/// Bumped when a field changes meaning or goes away.
pub const MANIFEST_VERSION: u32 = 1;

/// The manifest's object name, beside the data files.
pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    pub examples: ExampleCounts,
    /// Every data file by name.
    pub files: BTreeMap<String, FileEntry>,
    pub filters: Filters,
    pub format: &'static str,
    pub manifest_version: u32,
    pub source: SourceInfo,
    /// In the order given: the order decides which ids fall in which split.
    pub splits: Vec<SplitEntry>,
    pub suites: BTreeMap<String, SuiteCounts>,
    pub tracepipe_version: &'static str,
}

/// What happened to the Example rows that passed the filters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExampleCounts {
    /// Left out because an earlier Example had the same conversation.
    pub duplicates: u64,
    /// Written to the data files.
    pub exported: u64,
    /// Rows that passed the filters, before the checks and de-duplication.
    pub matched: u64,
    /// Left out because the training line failed a check, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
    /// Left out by `grounded_only`: a tool result the recording did not show.
    pub ungrounded: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileEntry {
    pub bytes: u64,
    /// One Example per line.
    pub lines: u64,
    /// SHA-256 of the file's bytes, lower-case hex.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceInfo {
    /// Partition directories skipped without being listed.
    pub directories_skipped: u64,
    /// The `--from` argument, local paths made absolute.
    pub location: String,
    /// The Parquet objects read, relative to the source, in the order read.
    pub objects: Vec<SourceObject>,
    pub row_groups_read: u64,
    pub row_groups_skipped: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceObject {
    pub bytes: u64,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitEntry {
    pub examples: u64,
    pub file: String,
    /// The split's share, normalised.
    pub fraction: f64,
    pub name: String,
}

/// Per suite: the exported Examples, their tool calls by tool and the
/// classified actions behind them by action (from the actions table).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SuiteCounts {
    pub actions: BTreeMap<String, u64>,
    pub examples: u64,
    pub tool_calls: BTreeMap<String, u64>,
}

impl Manifest {
    /// Pretty JSON with a final newline.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}
