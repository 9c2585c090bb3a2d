//! `tracepipe`: one binary, a subcommand per job.

mod admission;
mod api;
mod api_docs;
mod api_shared;
mod builtin_catalog;
mod capture_page;
mod cmd;
mod config;
mod control;
mod corrections;
mod distributed;
mod export;
mod invoicing;
mod mcp;
mod pipeline;
mod review;
mod serve;
mod telemetry;
mod text;
mod web;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tracepipe",
    version,
    about = "Turns browser recordings into MCP tool-call training data"
)]
struct Cli {
    /// How the services write their logs to standard error.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "TRACEPIPE_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: telemetry::logs::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the normalised timeline of recordings as JSON lines, and a summary.
    Inspect(cmd::inspect::InspectArgs),
    /// Turn recordings into stored sessions, Examples, training JSONL and Parquet tables.
    Process(cmd::process::ProcessArgs),
    /// Measure classification accuracy on recorded scenarios with expected tool calls.
    Eval(cmd::eval::EvalArgs),
    /// Manage the Capability Surface: import MCP servers, check the catalog.
    Catalog(cmd::catalog::CatalogArgs),
    /// Run the HTTP API with its processor and sink in one process (embedded deployment).
    Serve(cmd::serve::ServeArgs),
    /// Export the Examples of a Tracepipe output as one training dataset (OpenAI, TRL, ShareGPT) with a manifest.
    Export(cmd::export::ExportArgs),
    /// Distributed mode: the HTTP API over PostgreSQL, Kafka and S3.
    Gateway(cmd::gateway::GatewayArgs),
    /// Distributed mode: sessions from Kafka into Examples (a consumer group).
    Processor(cmd::processor::ProcessorArgs),
    /// Distributed mode: Examples from Kafka into Parquet tables in S3, exactly once.
    Sink(cmd::sink::SinkArgs),
    /// Drive recordings through a running serve or gateway; report throughput and latencies.
    Loadgen(cmd::loadgen::LoadgenArgs),
    /// Billing: close a month (invoice every user, bill through Stripe when configured).
    Billing(cmd::billing::BillingArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::logs::init(cli.log_format);
    let result = match cli.command {
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Process(args) => cmd::process::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Catalog(args) => cmd::catalog::run(args).map(|()| ExitCode::SUCCESS),
        Command::Serve(args) => cmd::serve::run(args).map(|()| ExitCode::SUCCESS),
        Command::Export(args) => cmd::export::run(args),
        Command::Gateway(args) => cmd::gateway::run(args).map(|()| ExitCode::SUCCESS),
        Command::Processor(args) => cmd::processor::run(args).map(|()| ExitCode::SUCCESS),
        Command::Sink(args) => cmd::sink::run(args).map(|()| ExitCode::SUCCESS),
        Command::Loadgen(args) => cmd::loadgen::run(args),
        Command::Billing(args) => cmd::billing::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
