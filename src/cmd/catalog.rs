//! `tracepipe catalog …`: maintain the Capability Surface files.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracepipe_processors::catalog::{Catalog, McpServer, ServerInfo};

use crate::mcp;

#[derive(Debug, clap::Args)]
pub struct CatalogArgs {
    #[command(subcommand)]
    pub command: CatalogCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum CatalogCommand {
    /// Start an MCP server over stdio, list its tools and write
    /// `<out>/<name>.json`.
    ImportMcp(ImportMcpArgs),
    /// Load a catalog directory and check every cross reference.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImportMcpArgs {
    /// The McpServer's name in the catalog (also the file name).
    #[arg(long)]
    pub name: String,
    /// The folder of McpServer files.
    #[arg(long, default_value = "catalog/mcp-servers")]
    pub out: PathBuf,
    /// Seconds to wait for each answer of the server.
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,
    /// The server command and its arguments, after `--`.
    #[arg(last = true, required = true, num_args = 1..)]
    pub command: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The catalog folder.
    #[arg(long, default_value = "catalog")]
    pub dir: PathBuf,
}

pub fn run(args: CatalogArgs) -> Result<()> {
    match args.command {
        CatalogCommand::ImportMcp(a) => import_mcp(a),
        CatalogCommand::Check(a) => check(&a.dir),
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn import_mcp(args: ImportMcpArgs) -> Result<()> {
    if !valid_name(&args.name) {
        bail!(
            "--name {:?}: use lower-case letters, digits, `_` and `-`",
            args.name
        );
    }
    let (init, tools) = mcp::fetch_tools(&args.command, Duration::from_secs(args.timeout_secs))?;
    let server_info = match (init.server_name, init.server_version) {
        (Some(name), Some(version)) => Some(ServerInfo { name, version }),
        _ => None,
    };
    let path = args.out.join(format!("{}.json", args.name));
    let file = path.display().to_string();
    let server = McpServer::from_tools_list(
        &file,
        &args.name,
        server_info,
        Some(init.protocol_version),
        &tools,
    )?;
    write_atomically(&path, server.to_file_contents().as_bytes())?;
    println!(
        "wrote {file}: {} tools of {}",
        server.tools.len(),
        server
            .server_info
            .as_ref()
            .map(|i| format!("{} {}", i.name, i.version))
            .unwrap_or_else(|| "the server".into())
    );
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

fn check(dir: &Path) -> Result<()> {
    let catalog = Catalog::load_dir(dir)?;
    for suite in catalog.suites() {
        println!("suite {}: {} actions", suite.name, suite.actions.len());
    }
    for server in catalog.mcp_servers() {
        println!("mcp server {}: {} tools", server.name, server.tools.len());
    }
    for map in catalog.action_tool_maps() {
        let suite = catalog
            .suite_by_id(map.suite_id)
            .map(|s| s.name.as_str())
            .unwrap_or("?");
        let server = catalog
            .mcp_server_by_id(map.mcp_server_id)
            .map(|s| s.name.as_str())
            .unwrap_or("?");
        println!(
            "map {suite} → {server}: {} mappings",
            map.tool_mappings.len()
        );
    }
    Ok(())
}
