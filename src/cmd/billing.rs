//! `tracepipe billing close --period 2026-11`: closes a month for every user
//! of either deployment — serve's data directory, or the gateway's
//! PostgreSQL database from its configuration. Safe to run again: a month
//! closed before bills nothing twice, and an interrupted close resumes.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tracepipe_billing::Period;

use crate::api::catalog_store::CatalogStore;
use crate::control::billing::BillingStore;
use crate::control::billing_postgres::PostgresBillingStore;
use crate::control::billing_sqlite::SqliteBillingStore;
use crate::control::postgres::PostgresControlPlane;
use crate::control::sqlite::{Db, SqliteControlPlane};
use crate::control::ControlPlane;
use crate::distributed::config::{self as distributed_config, GatewayConfig};
use crate::invoicing::{describe, money, stripe_client, Invoicing, UserOutcome};
use crate::serve::config::{Overrides, ServeConfig};

#[derive(Debug, clap::Args)]
pub struct BillingArgs {
    #[command(subcommand)]
    command: BillingCommand,
}

#[derive(Debug, clap::Subcommand)]
enum BillingCommand {
    /// Invoice a month for every user: record each invoice and, with Stripe
    /// configured, bill it. Running it again bills nothing twice.
    Close(CloseArgs),
}

#[derive(Debug, clap::Args)]
struct CloseArgs {
    /// The month, YYYY-MM (UTC).
    #[arg(long, value_name = "YYYY-MM")]
    period: Period,
    /// Close the gateway's deployment (its PostgreSQL database) rather than
    /// serve's data directory.
    #[arg(long)]
    gateway: bool,
    /// A TOML file overriding config/serve.toml (or config/gateway.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// serve's data directory. Also TRACEPIPE_DATA_DIR.
    #[arg(long, value_name = "DIR", conflicts_with = "gateway")]
    data_dir: Option<PathBuf>,
    /// Close a month that has not ended yet (a final invoice); usage after
    /// the close is not billed for it.
    #[arg(long)]
    early: bool,
}

pub fn run(args: BillingArgs) -> anyhow::Result<std::process::ExitCode> {
    match args.command {
        BillingCommand::Close(close) => run_close(close),
    }
}

fn run_close(args: CloseArgs) -> anyhow::Result<std::process::ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let (invoicing, deployment) = if args.gateway {
            open_gateway(&args).await?
        } else {
            open_serve(&args).await?
        };
        let billing = if invoicing.stripe.is_some() {
            "billing through Stripe"
        } else {
            "Stripe is off: invoices are recorded as not billed"
        };
        eprintln!("closing {} of {deployment}; {billing}", args.period);
        let summary = invoicing
            .close(args.period, "command", args.early, |p| {
                let line = match p.outcome {
                    UserOutcome::NoUsage => "no usage".to_owned(),
                    UserOutcome::AlreadyClosed(status) => format!("closed before ({status})"),
                    UserOutcome::NotBilled { total_cents } => {
                        format!("{} recorded, not billed", money(*total_cents))
                    }
                    UserOutcome::Billed {
                        total_cents,
                        status,
                        declined,
                    } => format!(
                        "{} billed ({status}{})",
                        money(*total_cents),
                        if *declined { ", card declined" } else { "" }
                    ),
                    UserOutcome::Failed(e) => format!("FAILED: {e}"),
                };
                eprintln!(
                    "[{}/{}] {} ({}): {line}",
                    p.done, p.of, p.user.display_name, p.user.id
                );
            })
            .await?;
        println!("{}", describe(args.period, &summary));
        Ok(if summary.failed == 0 {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::FAILURE
        })
    })
}

async fn open_serve(args: &CloseArgs) -> anyhow::Result<(Invoicing, String)> {
    let overrides = Overrides {
        data_dir: args.data_dir.clone(),
        ..Overrides::default()
    };
    let config = ServeConfig::load(args.config.as_deref(), std::env::vars(), &overrides)?;
    let data_dir = config.resolved_data_dir(|k| std::env::var(k).ok())?;
    let path = data_dir.join("tracepipe.db");
    anyhow::ensure!(
        path.exists(),
        "no database at {}: pass the --data-dir serve uses",
        path.display()
    );
    let db = Db::open(&path)?;
    let control: Arc<dyn ControlPlane> = Arc::new(SqliteControlPlane::new(db.clone()));
    let store: Arc<dyn BillingStore> = Arc::new(SqliteBillingStore::new(db));
    let catalog = Arc::new(CatalogStore::open(control.as_ref(), &config.catalog).await?);
    let invoicing = Invoicing {
        control,
        store,
        stripe: stripe_client(&config.billing)?,
        pricing: config.pricing,
        catalog,
    };
    Ok((
        invoicing,
        format!("serve's data directory {}", data_dir.display()),
    ))
}

async fn open_gateway(args: &CloseArgs) -> anyhow::Result<(Invoicing, String)> {
    let config: GatewayConfig = distributed_config::load(
        distributed_config::GATEWAY_DEFAULTS,
        args.config.as_deref(),
        std::env::vars(),
    )?;
    let postgres = PostgresControlPlane::connect(&config.database, None).await?;
    let control: Arc<dyn ControlPlane> = Arc::new(postgres);
    let store: Arc<dyn BillingStore> =
        Arc::new(PostgresBillingStore::connect(&config.database).await?);
    let catalog = Arc::new(CatalogStore::open(control.as_ref(), &config.catalog).await?);
    let invoicing = Invoicing {
        control,
        store,
        stripe: stripe_client(&config.billing)?,
        pricing: config.pricing,
        catalog,
    };
    Ok((
        invoicing,
        format!("the gateway's database (schema {})", config.database.schema),
    ))
}
