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
//! (the recipe and the inputs' names and sizes), so a rerun of the same
//! command replaces its own part files and a run over other recordings adds
//! its own beside them.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::{Path as FsPath, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use object_store::path::Path;
use serde_json::value::RawValue;
use serde_json::Value;
use uuid::Uuid;

use tracepipe_ingest::Limits;
use tracepipe_processors::catalog::Catalog;
use tracepipe_processors::classify::RulesOptions;
use tracepipe_sinks::{
    open_destination, ActionRow, ExampleRow, HivePartition, JsonlFormat, JsonlWriter,
    ParquetFormat, PartitionedWriter, RecordWriter, WriterConfig, WrittenObject,
};

use crate::pipeline::{
    content_session_id, load_rules_model, ExampleOutput, IngestedSession, Pipeline,
    PipelineError, Recipe,
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
    /// The catalog directory.
    #[arg(long, value_name = "DIR", env = "TRACEPIPE_CATALOG", default_value = "catalog")]
    catalog: PathBuf,
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
    /// Recordings processed at once [default: the number of CPUs].
    #[arg(long, value_name = "N")]
    jobs: Option<NonZeroUsize>,
    /// Recordings: Chrome traces (JSON, optionally gzipped) or input_events.jsonl.
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

/// What became of one input.
enum Outcome {
    Done(Box<(IngestedSession, ExampleOutput)>),
    /// Same content as an earlier input of this run: same session, same Example.
    Duplicate { of: PathBuf },
}

/// The run's writers: analyst tables and training-line shards.
struct Writers {
    examples: PartitionedWriter<ExampleRow, ParquetFormat>,
    actions: PartitionedWriter<ActionRow, ParquetFormat>,
    dataset: JsonlWriter<Box<RawValue>>,
    browser: Option<JsonlWriter<Box<RawValue>>>,
}

/// Where the run's output went and what it held, for the summary.
#[derive(Default)]
struct Tally {
    sessions: usize,
    screenshots: usize,
    missing_screenshots: usize,
    objects: usize,
    classified: usize,
    actions: usize,
    low_confidence: usize,
    training_lines: usize,
    browser_calls: usize,
    browser_lines: usize,
    browser_left_out: usize,
    /// (input, reason) of every tool call left out of an Example.
    rejected_calls: Vec<(String, String)>,
    duplicates: Vec<(PathBuf, PathBuf)>,
    /// Inputs that are at fault.
    rejected: Vec<(PathBuf, String)>,
    /// Inputs that failed for another reason (storage, the machine).
    failed: Vec<(PathBuf, String)>,
}

async fn process(args: ProcessArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let model_configuration: Value = serde_json::from_str(&args.model_config)
        .context("--model-config is not valid JSON")?;
    let catalog = Catalog::load_dir(&args.catalog)
        .with_context(|| format!("loading the catalog {}", args.catalog.display()))?;
    let Some(suite) = catalog.suite(&args.suite) else {
        let known: Vec<&str> = catalog.suites().map(|s| s.name.as_str()).collect();
        bail!(
            "suite `{}` is not in the catalog {} (it has: {})",
            args.suite,
            args.catalog.display(),
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
    let model = load_rules_model(&args.catalog, suite, options)?;
    let browser_server = (!args.no_browser).then_some(args.browser_mcp_server.as_str());
    let recipe = Recipe::new(
        Arc::new(catalog),
        &args.suite,
        args.mcp_server.as_deref(),
        browser_server,
        Arc::new(model),
        model_configuration,
    )?;

    let (store, prefix) = open_destination(&args.out)
        .with_context(|| format!("opening the destination {}", args.out))?;
    let pipeline = Pipeline::new(Arc::clone(&store), prefix.clone(), Limits::default());
    let stream = format!("process-{}", run_id(&recipe, &args.inputs));
    let config = WriterConfig::default();
    let shard_dir = |server: &str| -> anyhow::Result<Path> {
        let partition = HivePartition::from_columns([("suite", recipe.suite()), ("mcp", server)])?;
        Ok(partition.path_under(&prefix.clone().join("dataset"))?)
    };
    let mut writers = Writers {
        examples: PartitionedWriter::for_table(
            Arc::clone(&store),
            &prefix,
            stream.as_str(),
            ParquetFormat::default(),
            config.clone(),
        )?,
        actions: PartitionedWriter::for_table(
            Arc::clone(&store),
            &prefix,
            stream.as_str(),
            ParquetFormat::default(),
            config.clone(),
        )?,
        dataset: JsonlWriter::new(
            Arc::clone(&store),
            shard_dir(recipe.mcp_server())?,
            stream.as_str(),
            JsonlFormat,
            config.clone(),
        )?,
        browser: match recipe.browser_server_name() {
            Some(server) => Some(JsonlWriter::new(
                Arc::clone(&store),
                shard_dir(server)?,
                stream.as_str(),
                JsonlFormat,
                config.clone(),
            )?),
            None => None,
        },
    };

    // One timestamp for the run: every row lands in the same date partition.
    let created_at = Utc::now();
    let jobs = args
        .jobs
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(2, NonZeroUsize::get);
    let progress = progress_bar(args.inputs.len());
    let seen: Arc<Mutex<HashMap<Uuid, PathBuf>>> = Arc::default();
    // `buffered` keeps the inputs' order, so rows reach the writers with
    // rising sequence numbers however the work interleaves.
    let mut results = futures::stream::iter(args.inputs.iter().enumerate())
        .map(|(seq, path)| {
            let (pipeline, recipe, seen) = (&pipeline, &recipe, Arc::clone(&seen));
            async move {
                let outcome = process_one(pipeline, recipe, path, created_at, &seen).await;
                (seq, path, outcome)
            }
        })
        .buffered(jobs);
    let mut tally = Tally::default();
    while let Some((seq, path, outcome)) = results.next().await {
        progress.inc(1);
        progress.set_message(display_name(path));
        match outcome {
            Ok(Outcome::Done(done)) => {
                let (ingested, example) = *done;
                record(&mut writers, &mut tally, seq as u64, path, ingested, example).await?;
            }
            Ok(Outcome::Duplicate { of }) => tally.duplicates.push((path.clone(), of)),
            Err(error) => {
                progress.suspend(|| eprintln!("{}: {error}", path.display()));
                let entry = (path.clone(), error.to_string());
                if error.is_input_error() {
                    tally.rejected.push(entry);
                } else {
                    tally.failed.push(entry);
                }
            }
        }
    }
    drop(results);
    progress.finish_and_clear();

    let examples = writers.examples.close().await.context("writing the examples table")?;
    let actions = writers.actions.close().await.context("writing the actions table")?;
    let dataset = writers.dataset.close().await.context("writing the dataset")?;
    let browser = match writers.browser {
        Some(writer) => writer.close().await.context("writing the browser dataset")?,
        None => Vec::new(),
    };
    let written = Written {
        examples,
        actions,
        dataset,
        browser,
    };
    print_summary(&args, &recipe, &tally, &written, started);
    Ok(if tally.rejected.is_empty() && tally.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn process_one(
    pipeline: &Pipeline,
    recipe: &Recipe,
    path: &FsPath,
    created_at: DateTime<Utc>,
    seen: &Mutex<HashMap<Uuid, PathBuf>>,
) -> Result<Outcome, PipelineError> {
    let hashed = path.to_owned();
    let session_id = tokio::task::spawn_blocking(move || content_session_id(&hashed)).await??;
    {
        // A poisoned lock only means another input's task panicked; the map
        // itself is still whole.
        let mut seen = seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(first) = seen.get(&session_id) {
            return Ok(Outcome::Duplicate { of: first.clone() });
        }
        seen.insert(session_id, path.to_owned());
    }
    let ingested = pipeline.ingest(path, session_id).await?;
    let session = Arc::clone(&ingested.session);
    let example = pipeline
        .synthesize(recipe, session_id, session, recipe.example_id(session_id), created_at)
        .await?;
    Ok(Outcome::Done(Box::new((ingested, example))))
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
    tally.objects += ingested.objects.len() + example.objects.len();
    tally.classified += example.classified;
    tally.actions += example.actions.len();
    tally.low_confidence += example.actions.iter().filter(|a| a.low_confidence).count();
    let name = display_name(path);
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
        writers.dataset.write(seq, line).await.context("writing the dataset")?;
        tally.training_lines += 1;
    }
    if let (Some(writer), Some(browser)) = (writers.browser.as_mut(), example.browser) {
        tally.browser_calls += browser.calls;
        tally.browser_left_out += browser.left_out;
        if browser.calls > 0 {
            let line = RawValue::from_string(browser.training_line)
                .context("a browser training line is not JSON")?;
            writer.write(seq, line).await.context("writing the browser dataset")?;
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
}

/// Names the run's part files: the recipe plus each input's name and size,
/// known before any input is read.
fn run_id(recipe: &Recipe, inputs: &[PathBuf]) -> String {
    let mut name = recipe.fingerprint();
    for input in inputs {
        let size = std::fs::metadata(input).map_or(-1, |m| i128::from(m.len()));
        name.push_str(&format!("\n{}\t{size}", display_name(input)));
    }
    let id = Uuid::new_v5(&Uuid::NAMESPACE_URL, name.as_bytes()).simple().to_string();
    id[..16].to_owned()
}

fn display_name(path: &FsPath) -> String {
    path.file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// A bar on stderr; indicatif draws nothing when stderr is not a terminal.
fn progress_bar(inputs: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(inputs as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
    ) {
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
    tally: &Tally,
    written: &Written,
    started: Instant,
) {
    let model = recipe.model_ref();
    let out = &args.out;
    let table_files = written.examples.len() + written.actions.len();
    let shard_files = written.dataset.len() + written.browser.len();
    println!(
        "processed {} of {} recordings in {:.1}s: suite {}, MCP server {}, model {} {}",
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
    println!(
        "  examples        {} in {}",
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
        println!(
            "  browser         {} {server} calls, {} steps left out",
            tally.browser_calls, tally.browser_left_out
        );
    }
    println!(
        "  training JSONL  {} lines ({} browser) in {}",
        tally.training_lines,
        tally.browser_lines,
        location(out, &format!("dataset/suite={}/", recipe.suite()))
    );
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
    print_list("rejected tool calls", &tally.rejected_calls);
    let inputs = |list: &[(PathBuf, String)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(p, reason)| (p.display().to_string(), reason.clone()))
            .collect()
    };
    print_list("rejected inputs", &inputs(&tally.rejected));
    print_list("failed inputs", &inputs(&tally.failed));
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
