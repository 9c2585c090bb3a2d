//! JSON views of the catalog that both deployments answer with, so that
//! `tracepipe serve` and `tracepipe gateway` give the same shapes for the same
//! routes (`/suites`, `/mcp-servers`, the period of `/usage`).

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::Serialize;
use uuid::Uuid;

use tracepipe_processors::catalog::{McpServer, ServerInfo, Suite};

/// A suite in a list: its actions are counted, not shown.
#[derive(Serialize)]
pub struct SuiteSummary {
    id: Uuid,
    name: String,
    display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    action_count: usize,
}

impl SuiteSummary {
    pub fn of(s: &Suite) -> SuiteSummary {
        SuiteSummary {
            id: s.id,
            name: s.name.clone(),
            display_name: s.display_name.clone(),
            description: s.description.clone(),
            action_count: s.actions.len(),
        }
    }
}

/// An MCP server in a list: its tools are counted, not shown.
#[derive(Serialize)]
pub struct ServerSummary {
    id: Uuid,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_info: Option<ServerInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol_version: Option<String>,
    tool_count: usize,
}

impl ServerSummary {
    pub fn of(s: &McpServer) -> ServerSummary {
        ServerSummary {
            id: s.id,
            name: s.name.clone(),
            server_info: s.server_info.clone(),
            protocol_version: s.protocol_version.clone(),
            tool_count: s.tools.len(),
        }
    }
}

/// The calendar month (UTC) holding `now`, as [start, end): the period
/// `GET /usage` reports on.
pub fn month(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    let (y, m) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    let end = Utc
        .with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    (start, end)
}
