//! `tracepipe serve`: the HTTP API, processor and sink in one process.

use anyhow::Context;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::serve::config::{Overrides, ServeConfig};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (default from config/serve.toml: 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Data directory: the database and the object store. Also TRACEPIPE_DATA_DIR.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Catalog folder copied into a new data directory. Also TRACEPIPE_CATALOG.
    #[arg(long, value_name = "DIR")]
    catalog: Option<PathBuf>,
    /// A TOML file overriding config/serve.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        listen: args.listen,
        data_dir: args.data_dir,
        catalog: args.catalog,
    };
    let config = ServeConfig::load(args.config.as_deref(), std::env::vars(), &overrides)?;
    let data_dir = config.resolved_data_dir(|k| std::env::var(k).ok())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let shown = data_dir.display().to_string();
    runtime.block_on(crate::serve::run(config, data_dir, |started| {
        let mut out = std::io::stdout().lock();
        // Printed on stdout, once: scripts read the URL and the first key here.
        let _ = writeln!(out, "tracepipe serve: data directory {shown}");
        if let Some(key) = &started.admin_key {
            let _ = writeln!(
                out,
                "tracepipe serve: created the administrator; API key (shown only now): {key}"
            );
        }
        let _ = writeln!(out, "tracepipe serve: listening on {}/v1", started.url);
        let _ = out.flush();
    }))?;
    Ok(())
}
