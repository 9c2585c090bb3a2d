//! `tracepipe process --suite SUITE --out DEST TRACE…`: recordings to training
//! data in one run.
//!
//! Every recording goes through [`crate::pipeline`] (stored session, Example,
//! conversations); this command adds what belongs to a batch: the training
//! lines as JSONL shards under `dataset/`, the analyst tables as Parquet under
//! `tables/`, a progress bar and a summary. A recording that cannot be read is
//! reported and skipped; the others are still processed and written, and the
//! exit code is 1.
//!
//! Reruns are stable: session ids come from the recordings' content and
//! Example ids from the session and the recipe, so the same recordings give
//! the same objects again. The tables' part files are named after the run
//! (the recipe and the sessions) and sit in the partition of the day each
//! session was recorded, so a rerun of the same command, on any day, replaces
//! its own part files and a run over other recordings adds its own beside
//! them.
//!
//! Without `--catalog` the catalog built into the binary is used, so the
//! command runs from any directory.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::{Path as FsPath, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use object_store::path::Path;
use object_store::ObjectStore;
use serde_json::value::RawValue;
use serde_json::Value;
use uuid::Uuid;

use tracepipe_ingest::redact::UnmarkedScreenshots;
use tracepipe_ingest::{CaptureReport, Limits, DEFAULT_MAX_EVENTS};
use tracepipe_processors::catalog::Catalog;
use tracepipe_processors::classify::{RulesModel, RulesOptions};
use tracepipe_sinks::{
    open_destination, ActionRow, ExampleRow, HivePartition, JsonlFormat, JsonlWriter,
    ParquetFormat, PartitionedWriter, RecordWriter, WriterConfig, WrittenObject,
};

use crate::builtin_catalog;
use crate::pipeline::{
    content_session_id, load_rules_model, ExampleOutput, IngestOptions, IngestedSession,
    OutputLimits, Pipeline, PipelineError, Recipe, DEFAULT_MAX_ACTIONS, DEFAULT_MAX_OUTPUT_BYTES,
};

#[derive(clap::Args)]
pub struct ProcessArgs {
    /// The Suite the recordings were made in (`gmail`).
    #[arg(long)]
    suite: String,
    /// Where everything is written: a local directory, or `s3://bucket/prefix`
    /// configured by the `AWS_*` environment.
    #[arg(long, value_name = "DEST")]
    out: String,
    /// A catalog directory to use instead of the one built into the binary.
    #[arg(long, value_name = "DIR", env = "TRACEPIPE_CATALOG")]
    catalog: Option<PathBuf>,
    /// The MCP server whose tools the Examples call; needed only when the suite
    /// has ActionToolMaps onto several.
    #[arg(long, value_name = "NAME")]
    mcp_server: Option<String>,
    /// The MCP server of the browser-level conversation (`browser.jsonl`).
    #[arg(long, value_name = "NAME", default_value = "playwright")]
    browser_mcp_server: String,
    /// Write no browser-level conversation.
    #[arg(long)]
    no_browser: bool,
    /// The Examples' model_configuration: a JSON object recorded with each
    /// Example. `{"min_confidence": 0.8}` leaves out less confident actions.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    model_config: String,
    /// Flag actions below this confidence (0 to 1) for review [default: 0.6].
    #[arg(long, value_name = "F")]
    low_confidence_below: Option<f64>,
    /// Keep the screenshots of recordings that have no `tracepipe:sensitive`
    /// marks (made without the capture script, or with an older one), which
    /// are otherwise left out: only for recordings made with test accounts,
    /// showing no real password or card.
    #[arg(long)]
    screenshots_safe: bool,
    /// Recordings processed at once [default: the number of CPUs].
    #[arg(long, value_name = "N")]
    jobs: Option<NonZeroUsize>,
    /// Most events one recording may have; a longer one is refused.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_EVENTS)]
    max_events: usize,
    /// Most tool calls one conversation may have; a session that makes more
    /// is refused.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_ACTIONS)]
    max_actions: usize,
    /// Largest conversation (`messages.jsonl`, `browser.jsonl`) in bytes; a
    /// session that makes a larger one is refused.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_OUTPUT_BYTES)]
    max_output_bytes: usize,
    /// The run's clock (`created_at` of every row), RFC 3339. For tests that
    /// rerun a job "on another day"; not for users, hence hidden.
    #[arg(long, hide = true, value_name = "RFC3339")]
    now: Option<String>,
    /// Recordings: Chrome traces (JSON or Perfetto protobuf, optionally
    /// gzipped) or input_events.jsonl.
    #[arg(required = true, value_name = "TRACE")]
    inputs: Vec<PathBuf>,
}

pub fn run(args: ProcessArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(process(args))
}

/// The run's writers: analyst tables and training-line shards.
struct Writers {
    examples: PartitionedWriter<ExampleRow, ParquetFormat>,
    actions: PartitionedWriter<ActionRow, ParquetFormat>,
    dataset: JsonlWriter<Box<RawValue>>,
    browser: Option<JsonlWriter<Box<RawValue>>>,
    /// The shards' directories relative to the destination, for the summary.
    shard_dirs: Vec<String>,
}

impl Writers {
    /// Part files are named `part-<stream>-<seq>`: `stream` names the run.
    fn open(
        store: &Arc<dyn ObjectStore>,
        prefix: &Path,
        recipe: &Recipe,
        stream: &str,
    ) -> anyhow::Result<Writers> {
        let config = WriterConfig::default();
        let mut shard_dirs = Vec::new();
        let mut shards = |server: &str| -> anyhow::Result<JsonlWriter<Box<RawValue>>> {
            let partition =
                HivePartition::from_columns([("suite", recipe.suite()), ("mcp", server)])?;
            shard_dirs.push(format!("dataset/{partition}/"));
            let directory = partition.path_under(&prefix.clone().join("dataset"))?;
            Ok(JsonlWriter::new(
                Arc::clone(store),
                directory,
                stream,
                JsonlFormat,
                config.clone(),
            )?)
        };
        let dataset = shards(recipe.mcp_server())?;
        let browser = recipe.browser_server_name().map(&mut shards).transpose()?;
        Ok(Writers {
            examples: PartitionedWriter::for_table(
                Arc::clone(store),
                prefix,
                stream,
                ParquetFormat::default(),
                config.clone(),
            )?,
            actions: PartitionedWriter::for_table(
                Arc::clone(store),
                prefix,
                stream,
                ParquetFormat::default(),
                config,
            )?,
            dataset,
            browser,
            shard_dirs,
        })
    }

    async fn close(self) -> anyhow::Result<Written> {
        Ok(Written {
            examples: self
                .examples
                .close()
                .await
                .context("writing the examples table")?,
            actions: self
                .actions
                .close()
                .await
                .context("writing the actions table")?,
            dataset: self.dataset.close().await.context("writing the dataset")?,
            browser: match self.browser {
                Some(writer) => writer
                    .close()
                    .await
                    .context("writing the browser dataset")?,
                None => Vec::new(),
            },
            shard_dirs: self.shard_dirs,
        })
    }
}

/// One recording's way through the run.
struct Provenance {
    input: String,
    sha256: String,
    session_id: String,
    example_id: String,
    tool_calls: usize,
}

/// What the run wrote and what went wrong, for the summary.
#[derive(Default)]
struct Tally {
    sessions: usize,
    screenshots: usize,
    missing_screenshots: usize,
    screenshots_redacted: usize,
    screenshots_dropped: usize,
    /// Recordings whose raw upload is not kept (secrets removed, or
    /// screenshots altered).
    raw_withheld: usize,
    objects: usize,
    classified: usize,
    actions: usize,
    low_confidence: usize,
    training_lines: usize,
    browser_calls: usize,
    browser_lines: usize,
    /// (input, step and why) of every browser step left out of a conversation.
    browser_left_out: Vec<(String, String)>,
    /// (input, reason) of every tool call left out of an Example.
    rejected_calls: Vec<(String, String)>,
    /// Which recording became which session and Example, in input order.
    provenance: Vec<Provenance>,
    /// Inputs whose Example has no tool call (a lone system message).
    no_action: Vec<String>,
    /// (input, what was found) of recordings made without the capture script.
    without_script: Vec<(String, String)>,
    /// (input, earlier input of the same content): same session, same Example.
    duplicates: Vec<(PathBuf, PathBuf)>,
    /// Inputs that are at fault.
    rejected: Vec<(PathBuf, String)>,
    /// Inputs that failed for another reason (storage, the machine).
    failed: Vec<(PathBuf, String)>,
}

async fn process(args: ProcessArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (recipe, catalog_description) = recipe(&args)?;
    let (store, prefix) = open_destination(&args.out)
        .with_context(|| format!("opening the destination {}", args.out))?;
    let limits = Limits {
        max_events: args.max_events,
        ..Limits::default()
    };
    let pipeline = Pipeline::new(Arc::clone(&store), prefix.clone(), limits).with_output_limits(
        OutputLimits {
            max_actions: args.max_actions,
            max_output_bytes: args.max_output_bytes,
        },
    );
    let options = IngestOptions {
        unmarked_screenshots: if args.screenshots_safe {
            UnmarkedScreenshots::Keep
        } else {
            UnmarkedScreenshots::Drop
        },
        raw_already_stored: false,
    };
    // One timestamp for the run. It is not what partitions the tables (the
    // sessions' own days are), so a rerun on another day replaces its files.
    let created_at = match &args.now {
        Some(now) => DateTime::parse_from_rfc3339(now)
            .with_context(|| format!("--now {now}: not an RFC 3339 time"))?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let jobs = args
        .jobs
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(2, NonZeroUsize::get);
    let progress = progress_bar(args.inputs.len());
    let mut tally = Tally::default();

    // Content ids first: they decide, in input order and so the same way on
    // every run, which inputs are duplicates, and they name the run.
    let mut hashed = futures::stream::iter(args.inputs.iter())
        .map(|path| async move {
            let owned = path.clone();
            let id = tokio::task::spawn_blocking(move || content_session_id(&owned))
                .await
                .map_err(PipelineError::from)
                .and_then(|id| id);
            (path, id)
        })
        .buffered(jobs);
    let mut first_of: HashMap<Uuid, &PathBuf> = HashMap::new();
    let mut work: Vec<(u64, &PathBuf, Uuid)> = Vec::new();
    while let Some((path, id)) = hashed.next().await {
        match id {
            Ok(id) => match first_of.get(&id) {
                Some(first) => {
                    progress.inc(1);
                    tally.duplicates.push((path.clone(), (*first).clone()));
                }
                None => {
                    first_of.insert(id, path);
                    work.push((work.len() as u64, path, id));
                }
            },
            Err(error) => {
                progress.inc(1);
                reject(&progress, &mut tally, path, &error);
            }
        }
    }
    drop(hashed);

    let stream = format!("process-{}", run_id(&recipe, &work));
    let mut writers = Writers::open(&store, &prefix, &recipe, &stream)?;
    // `buffered` yields in input order, so rows reach the writers with rising
    // sequence numbers however the work interleaves.
    let mut results = futures::stream::iter(work)
        .map(|(seq, path, session_id)| {
            let (pipeline, recipe) = (&pipeline, &recipe);
            async move {
                let outcome =
                    process_one(pipeline, recipe, options, path, session_id, created_at).await;
                (seq, path, session_id, outcome)
            }
        })
        .buffered(jobs);
    while let Some((seq, path, session_id, outcome)) = results.next().await {
        progress.inc(1);
        progress.set_message(display_name(path));
        match outcome {
            Ok((ingested, example)) => {
                record(&mut writers, &mut tally, seq, path, ingested, example).await?;
            }
            Err(error) => {
                prune_local_session_dirs(&args.out, session_id);
                reject(&progress, &mut tally, path, &error);
            }
        }
    }
    drop(results);
    progress.finish_and_clear();

    let written = writers.close().await?;
    print_summary(
        &args,
        &recipe,
        &catalog_description,
        &tally,
        &written,
        started,
    );
    Ok(if tally.rejected.is_empty() && tally.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The catalog, the suite's rules model and the options, checked together;
/// and how to name the catalog in the summary.
fn recipe(args: &ProcessArgs) -> anyhow::Result<(Recipe, String)> {
    let model_configuration: Value =
        serde_json::from_str(&args.model_config).context("--model-config is not valid JSON")?;
    let (catalog, description) = match &args.catalog {
        Some(dir) => {
            if !dir.is_dir() {
                bail!(
                    "no catalog directory at {}: pass --catalog DIR or set TRACEPIPE_CATALOG, \
                     or leave both out for the built-in catalog",
                    dir.display()
                );
            }
            let catalog = Catalog::load_dir(dir)
                .with_context(|| format!("loading the catalog {}", dir.display()))?;
            (catalog, format!("the catalog folder {}", dir.display()))
        }
        None => (
            Catalog::from_sources(&builtin_catalog::sources())
                .context("loading the built-in catalog")?,
            builtin_catalog::DESCRIPTION.to_owned(),
        ),
    };
    let Some(suite) = catalog.suite(&args.suite) else {
        let known: Vec<&str> = catalog.suites().map(|s| s.name.as_str()).collect();
        bail!(
            "suite `{}` is not in {description} (it has: {})",
            args.suite,
            known.join(", ")
        );
    };
    let mut options = RulesOptions::default();
    if let Some(threshold) = args.low_confidence_below {
        if !(0.0..=1.0).contains(&threshold) {
            bail!("--low-confidence-below {threshold}: must be between 0 and 1");
        }
        options.low_confidence_below = threshold;
    }
    let model = match &args.catalog {
        Some(dir) => load_rules_model(dir, suite, options)?,
        None => {
            let Some((name, contents)) = builtin_catalog::rules(&args.suite) else {
                bail!("the built-in suite `{}` has no rules", args.suite);
            };
            RulesModel::from_json(&name, contents, suite, options)?
        }
    };
    let browser_server = (!args.no_browser).then_some(args.browser_mcp_server.as_str());
    let recipe = Recipe::new(
        Arc::new(catalog),
        &args.suite,
        args.mcp_server.as_deref(),
        browser_server,
        Arc::new(model),
        model_configuration,
    )?;
    Ok((recipe, description))
}

async fn process_one(
    pipeline: &Pipeline,
    recipe: &Recipe,
    options: IngestOptions,
    path: &FsPath,
    session_id: Uuid,
    created_at: DateTime<Utc>,
) -> Result<(IngestedSession, ExampleOutput), PipelineError> {
    let ingested = pipeline
        .ingest_named(path, Some(&display_name(path)), session_id, options)
        .await?;
    let session = Arc::clone(&ingested.session);
    let example_id = recipe.example_id(session_id);
    let example = pipeline
        .synthesize(recipe, session_id, session, example_id, created_at)
        .await?;
    Ok((ingested, example))
}

/// The pipeline deletes a rejected input's objects, but a local destination
/// keeps the directories they were in (object stores have none): remove them
/// while empty. A session stored by an earlier run is not empty and stays.
fn prune_local_session_dirs(out: &str, session_id: Uuid) {
    if out.contains("://") {
        return;
    }
    let dir = FsPath::new(out)
        .join("sessions")
        .join(session_id.to_string());
    for empty in [dir.join("screenshots"), dir] {
        // Fails, as it should, on a directory that is not empty.
        let _ = std::fs::remove_dir(empty);
    }
}

/// Reports an input that could not be processed, now and in the summary.
fn reject(progress: &ProgressBar, tally: &mut Tally, path: &FsPath, error: &PipelineError) {
    progress.suspend(|| eprintln!("{}: {error}", path.display()));
    let entry = (path.to_owned(), error.to_string());
    if error.is_input_error() {
        tally.rejected.push(entry);
    } else {
        tally.failed.push(entry);
    }
}

/// Hands one input's rows to the writers and counts them.
async fn record(
    writers: &mut Writers,
    tally: &mut Tally,
    seq: u64,
    path: &FsPath,
    ingested: IngestedSession,
    example: ExampleOutput,
) -> anyhow::Result<()> {
    tally.sessions += 1;
    tally.screenshots += ingested.screenshots;
    tally.missing_screenshots += ingested.missing_screenshots.len();
    tally.screenshots_redacted += ingested.screenshots_redacted;
    tally.screenshots_dropped += ingested.screenshots_dropped;
    tally.raw_withheld += usize::from(!ingested.raw_kept);
    tally.objects += ingested.objects.len() + example.objects.len();
    tally.classified += example.classified;
    tally.actions += example.actions.len();
    tally.low_confidence += example.actions.iter().filter(|a| a.low_confidence).count();
    let name = display_name(path);
    tally.provenance.push(Provenance {
        input: name.clone(),
        sha256: ingested.session.source_sha256.clone().unwrap_or_default(),
        session_id: example.example.session_id.clone(),
        example_id: example.example.example_id.clone(),
        tool_calls: example.actions.len(),
    });
    if example.actions.is_empty() {
        tally.no_action.push(name.clone());
    }
    if let Some(line) = CaptureReport::of(&ingested.session).missing_script_line() {
        tally.without_script.push((name.clone(), line));
    }
    tally.rejected_calls.extend(
        example
            .rejections
            .iter()
            .map(|r| (name.clone(), r.to_string())),
    );
    // A conversation without a single tool call teaches nothing: it stays in
    // its Example, but not in the training shards.
    if !example.actions.is_empty() {
        let line = RawValue::from_string(example.example.training_line.clone())
            .context("a training line is not JSON")?;
        writers
            .dataset
            .write(seq, line)
            .await
            .context("writing the dataset")?;
        tally.training_lines += 1;
    }
    if let (Some(writer), Some(browser)) = (writers.browser.as_mut(), example.browser) {
        tally.browser_calls += browser.calls;
        tally.browser_left_out.extend(
            browser
                .left_out
                .iter()
                .map(|r| (name.clone(), r.to_string())),
        );
        if browser.calls > 0 {
            let line = RawValue::from_string(browser.training_line)
                .context("a browser training line is not JSON")?;
            writer
                .write(seq, line)
                .await
                .context("writing the browser dataset")?;
            tally.browser_lines += 1;
        }
    }
    writers
        .examples
        .write(seq, example.example)
        .await
        .context("writing the examples table")?;
    for action in example.actions {
        writers
            .actions
            .write(seq, action)
            .await
            .context("writing the actions table")?;
    }
    Ok(())
}

/// The objects the run's writers completed.
struct Written {
    examples: Vec<WrittenObject>,
    actions: Vec<WrittenObject>,
    dataset: Vec<WrittenObject>,
    browser: Vec<WrittenObject>,
    shard_dirs: Vec<String>,
}

/// Names the run's part files after the recipe and the sessions, in order:
/// the same recordings give the same names, so a rerun replaces its own files.
fn run_id(recipe: &Recipe, work: &[(u64, &PathBuf, Uuid)]) -> String {
    let mut name = recipe.fingerprint();
    for (_, _, session_id) in work {
        name.push_str(&format!("\n{session_id}"));
    }
    let id = Uuid::new_v5(&Uuid::NAMESPACE_URL, name.as_bytes())
        .simple()
        .to_string();
    id[..16].to_owned()
}

fn display_name(path: &FsPath) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// A bar on stderr; indicatif draws nothing when stderr is not a terminal.
fn progress_bar(inputs: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(inputs as u64), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}")
    {
        bar.set_style(style);
    }
    bar
}

/// `<destination>/<relative>`, as the user named the destination.
fn location(out: &str, relative: &str) -> String {
    format!("{}/{relative}", out.trim_end_matches('/'))
}

fn rows(objects: &[WrittenObject]) -> u64 {
    objects.iter().map(|o| o.rows).sum()
}

/// How many of `items` are listed before "… and N more".
const LISTED: usize = 20;

fn print_summary(
    args: &ProcessArgs,
    recipe: &Recipe,
    catalog: &str,
    tally: &Tally,
    written: &Written,
    started: Instant,
) {
    let model = recipe.model_ref();
    let out = &args.out;
    let table_files = written.examples.len() + written.actions.len();
    let shard_files = written.dataset.len() + written.browser.len();
    println!(
        "processed {} of {} recordings in {:.1}s: suite {}, MCP server {}, model {} {}, {catalog}",
        tally.sessions,
        args.inputs.len(),
        started.elapsed().as_secs_f64(),
        recipe.suite(),
        recipe.mcp_server(),
        model.name,
        model.version,
    );
    println!(
        "  sessions        {} ({} screenshots) in {}",
        tally.sessions,
        tally.screenshots,
        location(out, "sessions/")
    );
    let no_action = match tally.no_action.len() {
        0 => String::new(),
        n => format!(", {n} without a tool call (listed below)"),
    };
    println!(
        "  examples        {} in {}{no_action}",
        tally.sessions,
        location(out, "examples/")
    );
    println!(
        "  actions         {} tool calls of {} classified actions, {} low-confidence, {} rejected tool calls",
        tally.actions,
        tally.classified,
        tally.low_confidence,
        tally.rejected_calls.len()
    );
    if let Some(server) = recipe.browser_server_name() {
        let left_out = match tally.browser_left_out.len() {
            0 => String::new(),
            n => format!(", {n} steps left out (listed below)"),
        };
        println!(
            "  browser         {} {server} calls{left_out}",
            tally.browser_calls
        );
    }
    let lines = [tally.training_lines, tally.browser_lines];
    for (i, (dir, n)) in written.shard_dirs.iter().zip(lines).enumerate() {
        let title = if i == 0 { "training JSONL" } else { "" };
        println!("  {title:<14}  {n} lines in {}", location(out, dir));
    }
    println!(
        "  Parquet tables  {} example rows, {} action rows in {} and {}",
        rows(&written.examples),
        rows(&written.actions),
        location(out, "tables/examples/"),
        location(out, "tables/actions/")
    );
    println!(
        "  files written   {} ({} session and example objects, {} Parquet, {} JSONL shards)",
        tally.objects + table_files + shard_files,
        tally.objects,
        table_files,
        shard_files
    );
    if tally.screenshots_redacted + tally.screenshots_dropped + tally.raw_withheld > 0 {
        println!(
            "  privacy         {} screenshots with secret fields painted over; {} left out, \
             taken where no tracepipe:sensitive mark said where secrets were (record with \
             capture/capture.js, or pass --screenshots-safe for test-account recordings); \
             {} raw uploads not kept as they held secrets or such screenshots",
            tally.screenshots_redacted, tally.screenshots_dropped, tally.raw_withheld
        );
    }
    if tally.missing_screenshots > 0 {
        println!(
            "  warning: {} screenshot files named by recordings were not beside them",
            tally.missing_screenshots
        );
    }
    for (path, of) in &tally.duplicates {
        println!(
            "  skipped {}: same content as {}",
            path.display(),
            of.display()
        );
    }
    print_provenance(&tally.provenance);
    if !tally.no_action.is_empty() {
        // A conversation without a tool call teaches nothing: say which
        // recordings gave one, so they can be looked at or recorded again.
        let found: Vec<(String, String)> = tally
            .no_action
            .iter()
            .map(|input| {
                (
                    input.clone(),
                    "no action of the suite was recognised; the Example is the system message \
                     alone and is left out of the training JSONL"
                        .to_owned(),
                )
            })
            .collect();
        print_list("examples without a tool call", &found);
    }
    print_list("recorded without the capture script", &tally.without_script);
    print_list("rejected tool calls", &tally.rejected_calls);
    print_list(
        "browser steps left out (event number, step: why)",
        &tally.browser_left_out,
    );
    let inputs = |list: &[(PathBuf, String)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(p, reason)| (p.display().to_string(), reason.clone()))
            .collect()
    };
    print_list("rejected inputs", &inputs(&tally.rejected));
    print_list("failed inputs", &inputs(&tally.failed));
}

/// Which recording became which session and Example. The tables carry the
/// same (`source_name`, `source_sha256`, `session_id`, `example_id`).
fn print_provenance(provenance: &[Provenance]) {
    if provenance.is_empty() {
        return;
    }
    println!(
        "recordings ({}): input, SHA-256, session id, Example id, tool calls",
        provenance.len()
    );
    for p in provenance.iter().take(LISTED) {
        let calls = if p.tool_calls == 1 { "call" } else { "calls" };
        println!(
            "  {}  {}  session {}  example {}  {} tool {calls}",
            p.input,
            &p.sha256[..p.sha256.len().min(12)],
            p.session_id,
            p.example_id,
            p.tool_calls
        );
    }
    if provenance.len() > LISTED {
        println!(
            "  … and {} more (every one is in the examples table)",
            provenance.len() - LISTED
        );
    }
}

fn print_list(title: &str, items: &[(String, String)]) {
    if items.is_empty() {
        return;
    }
    println!("{title} ({}):", items.len());
    for (what, reason) in items.iter().take(LISTED) {
        println!("  {what}: {reason}");
    }
    if items.len() > LISTED {
        println!("  … and {} more", items.len() - LISTED);
    }
}
