//! `tracepipe processor`: session references in, Examples out (a consumer group).

use std::path::PathBuf;

use anyhow::Context;

use crate::distributed::config::{self, ProcessorConfig};

#[derive(Debug, clap::Args)]
pub struct ProcessorArgs {
    /// A TOML file overriding config/processor.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub fn run(args: ProcessorArgs) -> anyhow::Result<()> {
    let config: ProcessorConfig = config::load(
        config::PROCESSOR_DEFAULTS,
        args.config.as_deref(),
        std::env::vars(),
    )?;
    // Before the runtime, so it is dropped (flushing the spans) after it.
    let _tracing = crate::telemetry::tracing::init("processor", &config.otlp_endpoint)?;
    tokio::runtime::Runtime::new()
        .context("starting the async runtime")?
        .block_on(crate::distributed::processor::run(config))?;
    Ok(())
}
