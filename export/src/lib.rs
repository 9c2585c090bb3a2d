//! `tracepipe export`: the analyst tables → one reproducible training dataset.
//!
//! Reads `tables/examples` (and `tables/actions`, for the counts) under a
//! source written by `process`, `serve` or the sinks, through any
//! [`ObjectStore`], so a local directory and an S3 bucket go down the same
//! path:
//!
//! 1. list the tables, descending only into `suite=` directories the filters
//!    admit ([`read::list_table`]);
//! 2. per Parquet object, skip row groups on their statistics and filter rows
//!    on the small columns before decoding the training lines
//!    ([`read::open_file`]);
//! 3. check each line ([`format::Conversation`]) and its arguments against the
//!    line's own tool schemas, drop conversations already exported, pick the
//!    split from the Example id ([`split::SplitSpec`]) and stream the line in
//!    the chosen format to that split's file;
//! 4. write `manifest.json` last ([`manifest::Manifest`]).
//!
//! Objects are read in key order and rows in file order, so the output does
//! not depend on how a store lists. Memory holds one batch of rows, one part
//! per split file in flight, and some 100 bytes per exported Example (the
//! hashes that drop duplicates and match actions to Examples).

pub mod filter;
pub mod format;
pub mod manifest;
mod output;
pub mod read;
pub mod split;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use futures::TryStreamExt;
use indicatif::ProgressBar;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};
use tracepipe_processors::validate::ToolValidator;
use tracepipe_sinks::table_root;

use filter::Filters;
use format::{Conversation, Format, LineError};
use manifest::{
    ExampleCounts, Manifest, SourceInfo, SourceObject, SplitEntry, SuiteCounts, MANIFEST_FILE,
    MANIFEST_VERSION,
};
use output::SplitFile;
use read::{Table, TableFile};
use split::SplitSpec;

/// Why an export stopped. Lines that fail their checks do not stop it: they
/// are counted in the manifest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("{location}: {source}")]
    Parquet {
        location: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("{location}: column {column} {reason}")]
    Column {
        location: String,
        column: String,
        reason: &'static str,
    },
    #[error("writing {file}: {source}")]
    Write {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Filter(#[from] filter::FilterError),
    #[error("manifest: {0}")]
    Manifest(#[from] serde_json::Error),
}

/// A store and the prefix everything is under.
#[derive(Debug, Clone)]
pub struct Location {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: Path,
}

/// What to export and how.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub filters: Filters,
    pub format: Format,
    pub splits: SplitSpec,
    /// How the source is named in the manifest.
    pub source_name: String,
}

/// A finished export: its manifest, and a few reasons lines were left out,
/// for the operator.
#[derive(Debug)]
pub struct ExportReport {
    pub manifest: Manifest,
    /// At most [`MAX_NOTES`] `example id: reason` lines.
    pub notes: Vec<String>,
}

/// Rejections told one by one; the manifest counts them all.
pub const MAX_NOTES: usize = 20;

/// Compiled tool surfaces seen so far. Lines of one suite share their tools,
/// so a handful of entries serve a whole export; the bound only guards
/// against a source where every line has its own.
#[derive(Default)]
struct Validators {
    compiled: HashMap<[u8; 32], Option<Arc<ToolValidator>>>,
}

const MAX_VALIDATORS: usize = 64;

impl Validators {
    fn check(&mut self, conversation: &Conversation) -> Result<(), LineError> {
        let key = conversation.tools_key();
        if !self.compiled.contains_key(&key) && self.compiled.len() >= MAX_VALIDATORS {
            self.compiled.clear();
        }
        let validator = match self.compiled.get(&key) {
            Some(Some(validator)) => Arc::clone(validator),
            Some(None) => {
                // Known not to compile: compile again for the error text.
                return conversation.validator().map(|_| ());
            }
            None => match conversation.validator() {
                Ok(validator) => {
                    let validator = Arc::new(validator);
                    self.compiled.insert(key, Some(Arc::clone(&validator)));
                    validator
                }
                Err(error) => {
                    self.compiled.insert(key, None);
                    return Err(error);
                }
            },
        };
        conversation.check_arguments(&validator)
    }
}

/// A fixed-size key for an Example id: the set of exported ids is the one
/// structure that grows with the export.
fn id_key(example_id: &str) -> [u8; 16] {
    let digest = Sha256::digest(example_id.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// The running state of one export.
struct Run<'a> {
    options: &'a ExportOptions,
    files: Vec<SplitFile>,
    split_counts: Vec<u64>,
    counts: ExampleCounts,
    suites: BTreeMap<String, SuiteCounts>,
    seen_conversations: HashSet<[u8; 32]>,
    /// Exported Example ids, with the index of the suite (in `suite_names`)
    /// they were counted under.
    exported: HashMap<[u8; 16], usize>,
    suite_names: Vec<String>,
    /// (Example, action index) pairs already counted: an Example written
    /// twice (a rerun over more recordings) has its action rows twice too.
    counted_actions: HashSet<([u8; 16], i32)>,
    validators: Validators,
    notes: Vec<String>,
}

impl Run<'_> {
    async fn example(&mut self, suite: &str, id: &str, line: &str) -> Result<(), ExportError> {
        self.counts.matched += 1;
        let checked = Conversation::parse(line).and_then(|conversation| {
            self.validators.check(&conversation)?;
            Ok(conversation)
        });
        let conversation = match checked {
            Ok(conversation) => conversation,
            Err(error) => {
                *self.counts.rejected.entry(error.reason()).or_default() += 1;
                if self.notes.len() < MAX_NOTES {
                    self.notes.push(format!("{id}: {error}"));
                }
                return Ok(());
            }
        };
        if self.options.filters.grounded_only && !conversation.results_grounded() {
            self.counts.ungrounded += 1;
            return Ok(());
        }
        if !self.seen_conversations.insert(conversation.content_hash()) {
            self.counts.duplicates += 1;
            return Ok(());
        }
        let split = self.options.splits.assign(id);
        self.files[split]
            .write_line(&conversation.render(self.options.format))
            .await?;
        self.split_counts[split] += 1;
        self.counts.exported += 1;
        let counts = self.suites.entry(suite.to_owned()).or_default();
        counts.examples += 1;
        for call in conversation.calls() {
            *counts.tool_calls.entry(call.name.clone()).or_default() += 1;
        }
        let suite_index = match self.suite_names.iter().position(|s| s == suite) {
            Some(index) => index,
            None => {
                self.suite_names.push(suite.to_owned());
                self.suite_names.len() - 1
            }
        };
        self.exported.insert(id_key(id), suite_index);
        Ok(())
    }
}

/// Exports from `source` to `destination` as `options` say. The progress bar
/// counts bytes of the source objects read.
pub async fn export(
    source: &Location,
    destination: &Location,
    options: &ExportOptions,
    progress: &ProgressBar,
) -> Result<ExportReport, ExportError> {
    options.filters.check()?;
    // A destination without a manifest holds no finished export: remove an
    // old one first, so a failed run cannot leave it describing new files.
    let manifest_location = destination.prefix.clone().join(MANIFEST_FILE);
    match destination.store.delete(&manifest_location).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
        Err(error) => return Err(error.into()),
    }

    let filters = &options.filters;
    let examples_root = table_root(&source.prefix, "examples");
    let actions_root = table_root(&source.prefix, "actions");
    let examples = read::list_table(source.store.as_ref(), &examples_root, filters).await?;
    let actions = read::list_table(source.store.as_ref(), &actions_root, filters).await?;
    let total: u64 = examples
        .files
        .iter()
        .chain(&actions.files)
        .map(|f| f.size)
        .sum();
    progress.set_length(total);

    let names = options.splits.names();
    let mut run = Run {
        options,
        files: names
            .iter()
            .map(|name| {
                SplitFile::create(
                    &destination.store,
                    &destination.prefix,
                    format!("{name}.jsonl"),
                )
            })
            .collect(),
        split_counts: vec![0; names.len()],
        counts: ExampleCounts::default(),
        suites: BTreeMap::new(),
        seen_conversations: HashSet::new(),
        exported: HashMap::new(),
        suite_names: Vec::new(),
        counted_actions: HashSet::new(),
        validators: Validators::default(),
        notes: Vec::new(),
    };
    let mut source_info = SourceInfo {
        directories_skipped: examples.directories_skipped + actions.directories_skipped,
        location: options.source_name.clone(),
        objects: Vec::new(),
        row_groups_read: 0,
        row_groups_skipped: 0,
    };

    if let Err(error) = read_tables(
        source,
        &examples,
        &actions,
        &mut run,
        &mut source_info,
        progress,
    )
    .await
    {
        for file in run.files {
            file.abort().await;
        }
        return Err(error);
    }

    let mut files = BTreeMap::new();
    let mut splits = Vec::with_capacity(names.len());
    let mut open = run.files.into_iter();
    for (index, name) in names.iter().enumerate() {
        let Some(file) = open.next() else { break };
        let (file_name, entry) = match file.finish().await {
            Ok(done) => done,
            Err(error) => {
                for rest in open {
                    rest.abort().await;
                }
                return Err(error);
            }
        };
        splits.push(SplitEntry {
            examples: run.split_counts[index],
            file: file_name.clone(),
            fraction: options.splits.fractions()[index],
            name: name.clone(),
        });
        files.insert(file_name, entry);
    }
    let manifest = Manifest {
        examples: run.counts,
        files,
        filters: filters.clone(),
        format: options.format.name(),
        manifest_version: MANIFEST_VERSION,
        source: source_info,
        splits,
        suites: run.suites,
        tracepipe_version: env!("CARGO_PKG_VERSION"),
    };
    destination
        .store
        .put(&manifest_location, manifest.to_bytes()?.into())
        .await?;
    Ok(ExportReport {
        manifest,
        notes: run.notes,
    })
}

/// Reads the Examples, then the actions of those exported, in key order.
async fn read_tables(
    source: &Location,
    examples: &read::Listing,
    actions: &read::Listing,
    run: &mut Run<'_>,
    info: &mut SourceInfo,
    progress: &ProgressBar,
) -> Result<(), ExportError> {
    for file in &examples.files {
        read_examples(source, file, run, info).await?;
        progress.inc(file.size);
        progress.set_message(format!("{} exported", run.counts.exported));
    }
    for file in &actions.files {
        read_actions(source, file, run, info).await?;
        progress.inc(file.size);
    }
    Ok(())
}

/// The object's key below the source prefix, for the manifest.
fn relative(prefix: &Path, location: &Path) -> String {
    match location.prefix_match(prefix) {
        Some(parts) => parts
            .map(|p| p.as_ref().to_owned())
            .collect::<Vec<_>>()
            .join("/"),
        None => location.to_string(),
    }
}

async fn read_examples(
    source: &Location,
    file: &TableFile,
    run: &mut Run<'_>,
    info: &mut SourceInfo,
) -> Result<(), ExportError> {
    let opened = read::open_file(
        &source.store,
        file,
        Table::Examples,
        &run.options.filters,
        &["example_id", "training_line"],
    )
    .await?;
    info.row_groups_read += opened.row_groups_read;
    info.row_groups_skipped += opened.row_groups_skipped;
    let Some(mut stream) = opened.stream else {
        return Ok(());
    };
    info.objects.push(SourceObject {
        bytes: file.size,
        path: relative(&source.prefix, &file.location),
    });
    let suite = file.partition_value("suite").unwrap_or_default().to_owned();
    let column_error = |reason: String| ExportError::Column {
        location: file.location.to_string(),
        column: reason,
        reason: "cannot be read",
    };
    while let Some(batch) = stream
        .try_next()
        .await
        .map_err(|source| ExportError::Parquet {
            location: file.location.to_string(),
            source,
        })?
    {
        let ids = read::strings(&batch, "example_id").map_err(column_error)?;
        let lines = read::strings(&batch, "training_line").map_err(column_error)?;
        for row in 0..batch.num_rows() {
            let id = ids.value(row);
            if run.options.filters.reviewed_only {
                // Reviewed: the conversation its review re-synthesised.
                if let Some(line) = reviewed_line(source, id).await? {
                    run.example(&suite, id, &line).await?;
                }
            } else {
                run.example(&suite, id, lines.value(row)).await?;
            }
        }
    }
    Ok(())
}

/// The training line a completed review stored for Example `id`, if any.
async fn reviewed_line(source: &Location, id: &str) -> Result<Option<String>, ExportError> {
    let key = source
        .prefix
        .clone()
        .join("examples")
        .join(id)
        .join(tracepipe_sinks::REVIEWED_LINE_OBJECT);
    let bytes = match source.store.get(&key).await {
        Ok(got) => got.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    // A line that is not text is one the checks reject, as any bad line.
    Ok(Some(String::from_utf8_lossy(&bytes).trim_end().to_owned()))
}

async fn read_actions(
    source: &Location,
    file: &TableFile,
    run: &mut Run<'_>,
    info: &mut SourceInfo,
) -> Result<(), ExportError> {
    if run.exported.is_empty() {
        return Ok(());
    }
    let opened = read::open_file(
        &source.store,
        file,
        Table::Actions,
        &run.options.filters,
        &["example_id", "action_index", "action"],
    )
    .await?;
    info.row_groups_read += opened.row_groups_read;
    info.row_groups_skipped += opened.row_groups_skipped;
    let Some(mut stream) = opened.stream else {
        return Ok(());
    };
    info.objects.push(SourceObject {
        bytes: file.size,
        path: relative(&source.prefix, &file.location),
    });
    let column_error = |reason: String| ExportError::Column {
        location: file.location.to_string(),
        column: reason,
        reason: "cannot be read",
    };
    while let Some(batch) = stream
        .try_next()
        .await
        .map_err(|source| ExportError::Parquet {
            location: file.location.to_string(),
            source,
        })?
    {
        let ids = read::strings(&batch, "example_id").map_err(column_error)?;
        let indices = read::int32s(&batch, "action_index").map_err(column_error)?;
        let names = read::strings(&batch, "action").map_err(column_error)?;
        for row in 0..batch.num_rows() {
            let key = id_key(ids.value(row));
            let Some(&suite) = run.exported.get(&key) else {
                continue;
            };
            if !run.counted_actions.insert((key, indices.value(row))) {
                continue;
            }
            let counts = run
                .suites
                .entry(run.suite_names[suite].clone())
                .or_default();
            *counts
                .actions
                .entry(names.value(row).to_owned())
                .or_default() += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
