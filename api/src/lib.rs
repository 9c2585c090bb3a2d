//! Tracepipe's HTTP side, written once for both deployments: the `/v1` API
//! ([`api`]), admission control in front of it ([`admission`]), its
//! documentation pages ([`api_docs`]), the pure core of reviews ([`corrections`]), the capture extension's page
//! ([`capture_page`]), the web pages ([`web`]) and invoicing ([`invoicing`]),
//! plus the embedded deployment that runs them with the processor and the
//! sink in one process ([`serve`], whose configuration holds the limits,
//! pricing and billing settings the API reads).
//!
//! The modules keep the names they had in the binary, so their `crate::`
//! paths did not change when they moved here; the other Tracepipe crates are
//! imported under those names below.

pub mod admission;
pub mod api;
pub mod api_docs;
pub mod api_shared;
pub mod callbacks;
pub mod capture_page;
pub mod clock;
pub mod corrections;
pub mod invoicing;
pub mod outbound;
pub mod serve;
#[cfg(test)]
mod test_client;
#[cfg(test)]
mod test_dispatch;
pub mod text;
pub mod web;

use tracepipe_control as control;
use tracepipe_pipeline::{self as pipeline, review};
use tracepipe_telemetry::{self as telemetry, config};
