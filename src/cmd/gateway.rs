//! `tracepipe gateway`: the HTTP API of the distributed deployment.

use std::path::PathBuf;

use anyhow::Context;

use crate::distributed::config::{self, GatewayConfig};

#[derive(Debug, clap::Args)]
pub struct GatewayArgs {
    /// A TOML file overriding config/gateway.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub fn run(args: GatewayArgs) -> anyhow::Result<()> {
    let config: GatewayConfig = config::load(
        config::GATEWAY_DEFAULTS,
        args.config.as_deref(),
        std::env::vars(),
    )?;
    // Before the runtime, so it is dropped (flushing the spans) after it.
    let _tracing = crate::telemetry::tracing::init("gateway", &config.otlp_endpoint)?;
    tokio::runtime::Runtime::new()
        .context("starting the async runtime")?
        .block_on(crate::distributed::gateway::run(config))?;
    Ok(())
}
