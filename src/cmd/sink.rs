//! `tracepipe sink`: Examples from Kafka into Parquet tables, exactly once.

use std::path::PathBuf;

use anyhow::Context;

use crate::distributed::config::{self, SinkConfig};

#[derive(Debug, clap::Args)]
pub struct SinkArgs {
    /// A TOML file overriding config/sink.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub fn run(args: SinkArgs) -> anyhow::Result<()> {
    let config: SinkConfig = config::load(
        config::SINK_DEFAULTS,
        args.config.as_deref(),
        std::env::vars(),
    )?;
    // Before the runtime, so it is dropped (flushing the spans) after it.
    let _tracing = crate::telemetry::tracing::init("sink", &config.otlp_endpoint)?;
    tokio::runtime::Runtime::new()
        .context("starting the async runtime")?
        .block_on(crate::distributed::sink::run(config))?;
    Ok(())
}
