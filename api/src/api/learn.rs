//! `POST /suites/{id}/learn`: a new suite, its action-tool map and rules
//! learned (tracepipe-learn) from the caller's reviewed sessions of a suite,
//! the reviewed tool calls being the labels, and written through the catalog
//! store like any other catalog write.
//!
//! The same rules as the other catalog writes: administrators only, within
//! their key's suites; and like every read of sessions, a caller learns only
//! from their own.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use object_store::path::Path as ObjectPath;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use tracepipe_learn::{Demonstration, ExpectedCall, LearnError, Report};
use tracepipe_processors::catalog::{ActionToolMap, Suite, SuiteFile};

use super::catalog::{write_error, Op};
use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ServiceError};
use crate::api::extract::{Ids, Json};
use crate::api::openapi::{Always, BadRequest, BodyRefused, Conflict, NotFound};
use crate::api::ApiState;
use crate::control::reviews::ReviewState;
use crate::control::{ExampleFilter, ExampleRecord, Page, SessionRecord, Status};
use crate::corrections::{reviewed_calls, scenario_name};
use crate::pipeline::builtin_catalog::is_builtin_suite;
use crate::pipeline::SESSION_OBJECT;

/// Demonstrations one request learns from, at most: leave-one-out learns
/// once per demonstration, so the time grows with the square of their number.
pub const MAX_DEMONSTRATIONS: usize = 100;
/// Reviewed Examples read per page while looking for the suite's reviewed sessions.
const EXAMPLES_PER_PAGE: u32 = 100;

/// What to learn, and where to write it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LearnBody {
    /// The suite to write: lower-case letters, digits and `_`, starting with a letter.
    #[schema(pattern = "^[a-z][a-z0-9_]{0,63}$", min_length = 1, max_length = 64)]
    pub name: String,
    /// The MCP server whose tools the reviewed calls are (as in the catalog);
    /// by default the server of the suite's first action-tool map.
    #[schema(min_length = 1, max_length = 128)]
    pub mcp_server: Option<String>,
    /// The sessions to learn from, each with a completed review; by default
    /// every one of the caller's sessions of the suite with a completed review.
    #[schema(max_items = 100)]
    pub session_ids: Option<Vec<Uuid>>,
    /// Replace a learned suite of that name already in the catalog (never a
    /// built-in one).
    #[serde(default)]
    pub replace: bool,
}

/// The suite written and what was learned from what.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Learned {
    /// The suite as the catalog now holds it.
    pub suite: Suite,
    /// Its action-tool map onto the MCP server, as the catalog now holds it.
    pub map: ActionToolMap,
    /// The files written, as a catalog folder holds them, by path
    /// (`suites/<name>/suite.json`, `suites/<name>/maps/<server>.json`,
    /// `suites/<name>/rules.json`): what `tracepipe eval --catalog` reads.
    #[schema(value_type = Object)]
    pub files: BTreeMap<String, serde_json::Value>,
    /// Per action: the demonstrations, the evidence for each argument,
    /// leave-one-out accuracy, what could not be explained and what to record next.
    pub report: Report,
    /// The sessions learned from, in the order learned.
    pub session_ids: Vec<Uuid>,
}

fn name_is_valid(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The caller's newest Example with a completed review of each of their
/// sessions of `suite_id`, newest session first.
async fn reviewed_examples(
    state: &ApiState,
    caller: &Caller,
    suite_id: Uuid,
) -> ApiResult<Vec<ExampleRecord>> {
    let filter = ExampleFilter {
        suite_id: Some(suite_id),
        status: Some(Status::Completed),
        reviewed: Some(true),
        ..ExampleFilter::default()
    };
    let mut found: Vec<ExampleRecord> = Vec::new();
    for page in 1.. {
        let (examples, total) = state
            .control
            .list_examples(
                caller.0.id,
                &filter,
                Page {
                    page,
                    per_page: EXAMPLES_PER_PAGE,
                },
            )
            .await
            .map_err(ServiceError::from)?;
        let done = examples.is_empty() || i64::from(page) * i64::from(EXAMPLES_PER_PAGE) >= total;
        for example in examples {
            if !found.iter().any(|e| e.session_id == example.session_id) {
                found.push(example);
            }
        }
        if done {
            break;
        }
    }
    Ok(found)
}

/// A reviewed session as a demonstration: its stored timeline and the calls
/// its completed review stands for.
async fn demonstration(
    state: &ApiState,
    caller: &Caller,
    example: &ExampleRecord,
    session: &SessionRecord,
) -> ApiResult<Option<Demonstration>> {
    let Some(review) = state
        .control
        .get_review(caller.0.id, example.id)
        .await
        .map_err(ServiceError::from)?
    else {
        return Ok(None);
    };
    if review.state != ReviewState::Completed {
        return Ok(None);
    }
    let key = ObjectPath::from(format!("sessions/{}/{SESSION_OBJECT}", session.id));
    let timeline = crate::review::load_session_shared(state.objects.as_ref(), &key)
        .await
        .map_err(|e| ServiceError::Corrupt(e.to_string()))?;
    let tool_calls = reviewed_calls(&review.items)
        .into_iter()
        .map(|c| ExpectedCall {
            name: c.tool,
            arguments: c.arguments,
        })
        .collect();
    let scenario = scenario_name(session.source_name.as_deref(), &session.id.to_string());
    let name = if scenario == session.id.to_string() {
        format!("session {}", session.id)
    } else {
        format!("session {} ({scenario})", session.id)
    };
    Ok(Some(Demonstration {
        name,
        session: (*timeline).clone(),
        tool_calls,
    }))
}

/// The demonstrations asked for: the sessions named (each must be the
/// caller's, of this suite, with a completed review), or all reviewed ones.
async fn demonstrations(
    state: &ApiState,
    caller: &Caller,
    suite_id: Uuid,
    named: Option<&[Uuid]>,
) -> ApiResult<(Vec<Uuid>, Vec<Demonstration>)> {
    let reviewed = reviewed_examples(state, caller, suite_id).await?;
    let chosen: Vec<&ExampleRecord> = match named {
        Some(ids) => {
            let mut chosen = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                let example = reviewed.iter().find(|e| e.session_id == *id).ok_or_else(|| {
                    ApiError::unprocessable(
                        "not_reviewed",
                        format!("session {id} is not one of your sessions of this suite with a completed review; complete a review of one of its Examples first"),
                    )
                    .field(format!("session_ids/{i}"))
                })?;
                if !chosen.iter().any(|e: &&ExampleRecord| e.session_id == *id) {
                    chosen.push(example);
                }
            }
            chosen
        }
        None => reviewed.iter().collect(),
    };
    if chosen.len() > MAX_DEMONSTRATIONS {
        return Err(ApiError::unprocessable(
            "too_many_sessions",
            format!(
                "{} reviewed sessions; learn from at most {MAX_DEMONSTRATIONS}: name them in `session_ids`",
                chosen.len()
            ),
        )
        .field("session_ids"));
    }
    let mut ids = Vec::new();
    let mut demos = Vec::new();
    for example in chosen {
        let Some(session) = caller.session(state, example.session_id).await? else {
            continue;
        };
        if let Some(demo) = demonstration(state, caller, example, &session).await? {
            ids.push(session.id);
            demos.push(demo);
        }
    }
    // Oldest first, as the sessions were recorded: a contradiction names the
    // earlier labelling first.
    ids.reverse();
    demos.reverse();
    Ok((ids, demos))
}

fn learn_failure(e: LearnError) -> ApiError {
    match e {
        LearnError::NoDemonstrations => no_reviewed_sessions(),
        LearnError::UnknownTool { .. } => {
            ApiError::unprocessable("unknown_tool", e.to_string()).field("mcp_server")
        }
        LearnError::Contradiction(_) => ApiError::unprocessable(
            "contradictory_labels",
            format!(
                "{e}; correct one of the two reviews, or leave one session out with `session_ids`"
            ),
        ),
        other => ServiceError::Corrupt(other.to_string()).into(),
    }
}

fn no_reviewed_sessions() -> ApiError {
    ApiError::unprocessable(
        "no_reviewed_sessions",
        "none of your sessions of this suite has a completed review to learn from; review an Example of each demonstration (POST /v1/examples/{id}/review/complete) first",
    )
}

#[utoipa::path(
    post,
    path = "/suites/{suite_id}/learn",
    operation_id = "learn_suite",
    tag = "catalog",
    summary = "Learn a new suite from your reviewed sessions of this one (administrators)",
    description = "The reviewed tool calls of your sessions of the suite are the labels: a suite (an action per tool demonstrated), its action-tool map onto the MCP server and rules for the RULES model are learned and written as the suite `name`. 409 `suite_exists` for a suite of that name unless `replace` (never a built-in one); 422 `no_reviewed_sessions`, `unknown_mcp_server`, `unknown_tool`, `contradictory_labels` (naming both sessions and times).",
    params(("suite_id" = String, Path, min_length = 1, max_length = 64, description = "the suite whose reviewed sessions are learned from: its id, or its name (`gmail`)")),
    request_body = LearnBody,
    responses(
        (status = 201, description = "the suite written, its map and rules, and the report", body = Learned),
        Always, BadRequest, NotFound, Conflict, BodyRefused
    )
)]
pub async fn learn_suite(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([suite_id]): Ids<1>,
    Json(body): Json<LearnBody>,
) -> ApiResult<(StatusCode, axum::Json<Learned>)> {
    caller.require_admin()?;
    let snapshot = state.catalog.snapshot();
    let source = snapshot
        .catalog
        .suite_by_id(suite_id)
        .ok_or_else(|| ApiError::not_found("suite"))?;
    caller.1.check(source.id)?;
    if !name_is_valid(&body.name) {
        return Err(ApiError::unprocessable(
            "validation_error",
            "a suite name is lower-case letters, digits and `_`, starting with a letter, at most 64 characters",
        )
        .field("name"));
    }
    if is_builtin_suite(&body.name) {
        return Err(ApiError::conflict(
            "builtin_suite",
            format!(
                "`{}` is a built-in suite; a learned suite never replaces it: choose another name",
                body.name
            ),
        )
        .field("name"));
    }
    if let Some(existing) = snapshot.catalog.suite(&body.name) {
        if !body.replace {
            return Err(ApiError::conflict(
                "suite_exists",
                format!(
                    "a suite named `{}` already exists; pass `\"replace\": true` to overwrite it, or choose another name",
                    body.name
                ),
            )
            .field("name"));
        }
        caller.1.check(existing.id)?;
    }
    let server_name = match &body.mcp_server {
        Some(name) => name.clone(),
        None => snapshot
            .catalog
            .maps_for_suite(&source.name)
            .next()
            .and_then(|m| snapshot.catalog.mcp_server_by_id(m.mcp_server_id))
            .map(|s| s.name.clone())
            .ok_or_else(|| {
                ApiError::unprocessable(
                    "unknown_mcp_server",
                    "the suite has no action-tool map: name the MCP server in `mcp_server`",
                )
                .field("mcp_server")
            })?,
    };
    let server = snapshot
        .catalog
        .mcp_server(&server_name)
        .cloned()
        .ok_or_else(|| {
            ApiError::unprocessable(
                "unknown_mcp_server",
                format!("the catalog has no MCP server `{server_name}`"),
            )
            .field("mcp_server")
        })?;
    let source_id = source.id;
    drop(snapshot);

    let (session_ids, demos) =
        demonstrations(&state, &caller, source_id, body.session_ids.as_deref()).await?;
    if demos.is_empty() {
        return Err(no_reviewed_sessions());
    }
    let name = body.name.clone();
    let started = std::time::Instant::now();
    let learned = {
        let server = server.clone();
        tokio::task::spawn_blocking(move || tracepipe_learn::learn(&name, &server, &demos))
            .await
            .map_err(ServiceError::from)?
            .map_err(learn_failure)?
    };
    tracing::info!(
        suite = %body.name,
        demonstrations = session_ids.len(),
        took_ms = started.elapsed().as_millis() as u64,
        "suite learned from reviewed sessions"
    );
    let rules_json = learned.rules_json();
    let mut written = BTreeMap::new();
    for (path, text) in [
        ("suite.json".to_owned(), learned.suite_json()),
        (format!("maps/{}.json", server.name), learned.map_json()),
        ("rules.json".to_owned(), rules_json.clone()),
    ] {
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| ServiceError::Corrupt(format!("the learned {path}: {e}")))?;
        written.insert(format!("suites/{}/{path}", body.name), value);
    }
    let suite_file: SuiteFile = learned.suite.clone();
    let map_file = learned.map.clone();
    let name = body.name.clone();
    let replace = body.replace;
    let server_name = server.name.clone();
    let (suite, map) = state
        .catalog
        .update(
            state.control.as_ref(),
            |files| {
                if files.suites.contains_key(&name) && !replace {
                    return Err(ApiError::conflict(
                        "suite_exists",
                        format!("a suite named `{name}` already exists; pass `\"replace\": true` to overwrite it"),
                    )
                    .field("name"));
                }
                // The learned suite is whole: maps onto other servers were
                // made for the actions it replaces.
                files.maps.retain(|(suite, _), _| *suite != name);
                files.results.retain(|(suite, _), _| *suite != name);
                files.suites.insert(name.clone(), suite_file);
                files
                    .maps
                    .insert((name.clone(), server.name.clone()), map_file);
                files.rules.insert(name.clone(), rules_json);
                Ok(())
            },
            |c| Some((c.suite(&name)?.clone(), c.action_tool_map(&name, &server_name)?.clone())),
        )
        .await
        .map_err(|e| write_error(e, Op::Write))?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Learned {
            suite,
            map,
            files: written,
            report: learned.report,
            session_ids,
        }),
    ))
}

#[cfg(test)]
mod tests;
