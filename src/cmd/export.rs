//! `tracepipe export --from SOURCE --out DEST`: the analyst tables of a
//! `process` / `serve` output, filtered, de-duplicated and split, as one
//! training dataset with a manifest. The work is in [`crate::export`]; this is
//! the shell: arguments, stores, progress bar and summary.

use std::process::ExitCode;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use tracepipe_sinks::open_destination;

use crate::export::filter::{parse_time, Filters};
use crate::export::format::Format;
use crate::export::manifest::MANIFEST_FILE;
use crate::export::split::SplitSpec;
use crate::export::{export, ExportOptions, Location};

#[derive(clap::Args)]
pub struct ExportArgs {
    /// What `process`, `serve` or the sinks wrote: a local directory or
    /// `s3://bucket/prefix` (configured by the `AWS_*` environment).
    #[arg(long, value_name = "SOURCE")]
    from: String,
    /// Where the dataset goes: a local directory or `s3://bucket/prefix`.
    #[arg(long, value_name = "DEST")]
    out: String,
    /// The training format.
    #[arg(long, value_enum, default_value = "openai")]
    format: Format,
    /// Only this Suite (repeatable).
    #[arg(long = "suite", value_name = "SUITE")]
    suites: Vec<String>,
    /// Only Examples of this model name (repeatable).
    #[arg(long = "model", value_name = "NAME")]
    models: Vec<String>,
    /// Only Examples created at or after this time (RFC 3339, or a date for
    /// its UTC midnight).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only Examples created before this time (RFC 3339, or a date).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only Examples whose least confident action is at least this (0 to 1).
    #[arg(long, value_name = "F")]
    min_confidence: Option<f64>,
    /// Leave out Examples with any action flagged low-confidence.
    #[arg(long)]
    drop_low_confidence: bool,
    /// Only Examples a person reviewed, as their review re-synthesised them.
    #[arg(long)]
    reviewed_only: bool,
    /// Only Examples whose every tool result is grounded in what the
    /// recording's pages showed.
    #[arg(long)]
    grounded_only: bool,
    /// Splits and their shares, assigned by a hash of the Example id.
    #[arg(long, value_name = "NAME=SHARE,…", default_value = "train=1")]
    split: String,
}

pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run_export(args))
}

async fn run_export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let filters = Filters {
        drop_low_confidence: args.drop_low_confidence,
        grounded_only: args.grounded_only,
        min_confidence: args.min_confidence,
        models: args.models.into_iter().collect(),
        reviewed_only: args.reviewed_only,
        since: args.since.as_deref().map(parse_time).transpose()?,
        suites: args.suites.into_iter().collect(),
        until: args.until.as_deref().map(parse_time).transpose()?,
    };
    filters.check()?;
    let splits = SplitSpec::parse(&args.split)?;

    let source_name = if args.from.contains("://") {
        args.from.clone()
    } else {
        // Opening a destination creates it; a source that is not there is a
        // typo, not an empty dataset.
        let path = std::path::Path::new(&args.from);
        if !path.is_dir() {
            bail!("--from {}: no such directory", args.from);
        }
        path.canonicalize()
            .with_context(|| format!("resolving {}", args.from))?
            .display()
            .to_string()
    };
    let (store, prefix) = open_destination(&args.from)
        .with_context(|| format!("opening the source {}", args.from))?;
    let source = Location { store, prefix };
    let (store, prefix) = open_destination(&args.out)
        .with_context(|| format!("opening the destination {}", args.out))?;
    let destination = Location { store, prefix };
    let options = ExportOptions {
        filters,
        format: args.format,
        splits,
        source_name,
    };

    let progress = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
    ) {
        progress.set_style(style);
    }
    let report = export(&source, &destination, &options, &progress)
        .await
        .with_context(|| format!("exporting {} to {}", args.from, args.out));
    progress.finish_and_clear();
    let report = report?;

    for note in &report.notes {
        eprintln!("left out {note}");
    }
    let manifest = &report.manifest;
    let counts = &manifest.examples;
    println!(
        "{} Examples exported as {} ({} matched the filters, {} duplicates, {} rejected)",
        counts.exported,
        manifest.format,
        counts.matched,
        counts.duplicates,
        counts.rejected.values().sum::<u64>()
    );
    for (reason, n) in &counts.rejected {
        println!("  rejected        {n} {reason}");
    }
    for split in &manifest.splits {
        let sha = manifest
            .files
            .get(&split.file)
            .map_or("", |f| f.sha256.as_str());
        println!(
            "  {:<15} {} in {}/{} (sha256 {sha})",
            split.name,
            split.examples,
            args.out.trim_end_matches('/'),
            split.file
        );
    }
    println!(
        "  read            {} objects, {} row groups ({} skipped on statistics, {} directories pruned)",
        manifest.source.objects.len(),
        manifest.source.row_groups_read,
        manifest.source.row_groups_skipped,
        manifest.source.directories_skipped
    );
    println!(
        "  manifest        {}/{MANIFEST_FILE}",
        args.out.trim_end_matches('/')
    );
    Ok(ExitCode::SUCCESS)
}
