//! `tracepipe learn`: a suite, its action-tool map and rules learned from
//! labelled demonstrations (see the `tracepipe-learn` crate).
//!
//! DIR holds recordings, each beside a `<name>.expected.json` sidecar naming
//! the tool calls it performed. The learned files go into the catalog
//! directory (`suites/<suite>/{suite.json,rules.json,maps/<server>.json}`),
//! the report beside the rules (`learn-report.{txt,json}`), and the report is
//! printed.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tracepipe_learn::Demonstration;
use tracepipe_processors::catalog::{parse_mcp_server, Catalog};

use super::labelled;

#[derive(clap::Args)]
pub struct LearnArgs {
    /// The MCP server (as imported into the catalog) whose tools the demonstrations call.
    #[arg(long)]
    mcp_server: String,
    /// The suite to write (snake_case).
    #[arg(long)]
    suite: String,
    /// Replace a suite of that name already in the catalog (a hand-written
    /// one included); without it, learn refuses to overwrite.
    #[arg(long)]
    replace: bool,
    /// The directory of demonstrations: recordings beside `<name>.expected.json` sidecars.
    #[arg(long)]
    from: PathBuf,
    /// The catalog directory.
    #[arg(long, env = "TRACEPIPE_CATALOG", default_value = "catalog")]
    catalog: PathBuf,
}

/// The demonstrations in `dir`: its labelled recordings, read.
pub fn read_demonstrations(dir: &Path) -> anyhow::Result<Vec<Demonstration>> {
    let found = labelled::find(&[dir.to_path_buf()])?;
    if found.is_empty() {
        bail!(
            "no demonstrations (recordings beside *.expected.json) in {}",
            dir.display()
        );
    }
    found
        .into_iter()
        .map(|l| {
            Ok(Demonstration {
                session: l.session()?,
                name: l.file_name,
                tool_calls: l.tool_calls,
            })
        })
        .collect()
}

pub fn run(args: LearnArgs) -> anyhow::Result<ExitCode> {
    let server_file = args
        .catalog
        .join("mcp-servers")
        .join(format!("{}.json", args.mcp_server));
    let contents = std::fs::read_to_string(&server_file)
        .with_context(|| format!("reading {}", server_file.display()))?;
    let server = parse_mcp_server(&server_file.display().to_string(), &contents)?;
    let suite_dir = args.catalog.join("suites").join(&args.suite);
    if suite_dir.exists() && !args.replace {
        bail!(
            "the catalog already has a suite {:?} ({}): pass --replace to overwrite it, or choose another --suite",
            args.suite,
            suite_dir.display()
        );
    }
    let demonstrations = read_demonstrations(&args.from)?;
    let started = std::time::Instant::now();
    let learned = tracepipe_learn::learn(&args.suite, &server, &demonstrations)?;
    let took = started.elapsed();
    std::fs::create_dir_all(suite_dir.join("maps"))
        .with_context(|| format!("creating {}", suite_dir.display()))?;
    let write = |path: PathBuf, contents: String| {
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))
    };
    write(suite_dir.join("suite.json"), learned.suite_json())?;
    write(suite_dir.join("rules.json"), learned.rules_json())?;
    write(
        suite_dir
            .join("maps")
            .join(format!("{}.json", args.mcp_server)),
        learned.map_json(),
    )?;
    let text = learned.report.to_text();
    write(suite_dir.join("learn-report.txt"), text.clone())?;
    write(
        suite_dir.join("learn-report.json"),
        learned.report.to_json(),
    )?;
    Catalog::load_dir(&args.catalog).with_context(|| {
        format!(
            "the catalog {} with the learned suite",
            args.catalog.display()
        )
    })?;
    print!("{text}");
    println!(
        "\nlearned from {} demonstrations in {:.1} ms (leave-one-out included); wrote {}",
        demonstrations.len(),
        took.as_secs_f64() * 1000.0,
        suite_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
