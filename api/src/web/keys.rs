//! The API keys page: create (the key shown once, with a copy button), list
//! (masked), revoke after a confirmation. Through the same control-plane
//! methods as `/v1/api-keys`, scoped to the signed-in user.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use super::layout::{notice, NoticeKind, Page};
use super::{WebError, WebUser};
use crate::api::ApiState;
use crate::control::{ApiKey, Page as ListPage};

/// Live keys shown on the page; more than anyone keeps.
const KEYS_SHOWN: u32 = 200;
const MAX_KEY_NAME_CHARS: usize = 200;

async fn live_keys(state: &ApiState, user: &WebUser) -> Result<Vec<ApiKey>, WebError> {
    let (keys, _) = state
        .control
        .list_api_keys(
            user.user.id,
            ListPage {
                page: 1,
                per_page: KEYS_SHOWN,
            },
        )
        .await?;
    Ok(keys)
}

/// The names of a key's suites, or "every suite".
fn suites_of(state: &ApiState, key: &ApiKey) -> String {
    let snapshot = state.catalog.snapshot();
    match &key.suite_ids {
        None => "every suite".to_owned(),
        Some(ids) => ids
            .iter()
            .map(|id| {
                snapshot
                    .catalog
                    .suite_by_id(*id)
                    .map_or_else(|| id.to_string(), |s| s.name.clone())
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn keys_table(state: &ApiState, keys: &[ApiKey]) -> Markup {
    html! {
        @if keys.is_empty() {
            p { "You have no API keys yet." }
        } @else {
            table {
                caption class="hint" { "Your live keys. Only their first and last characters are kept on show." }
                thead {
                    tr {
                        th scope="col" { "Name" }
                        th scope="col" { "Key" }
                        th scope="col" { "Suites" }
                        th scope="col" { "Created" }
                        th scope="col" { "Last used" }
                        th scope="col" { span class="hint" { "Actions" } }
                    }
                }
                tbody {
                    @for key in keys {
                        tr {
                            td { (key.name.as_deref().unwrap_or("(unnamed)")) }
                            td { code { (key.masked) } }
                            td { (suites_of(state, key)) }
                            td { (key.created_at) }
                            td { (key.last_used_at.as_deref().unwrap_or("never")) }
                            td {
                                a href={ "/keys/" (key.id) "/revoke" }
                                    aria-label={ "Revoke " (key.name.as_deref().unwrap_or("unnamed key")) " (" (key.masked) ")" } { "Revoke…" }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn create_form(state: &ApiState, user: &WebUser) -> Markup {
    let snapshot = state.catalog.snapshot();
    html! {
        h2 { "Create a key" }
        form class="stack" method="post" action="/keys" {
            (user.csrf_field())
            label {
                "Name"
                span class="hint" id="key-name-hint" { "Optional: what the key is for, e.g. \"CI uploads\"." }
                input type="text" name="name" maxlength="200" aria-describedby="key-name-hint";
            }
            label {
                "Suite"
                span class="hint" id="key-suite-hint" { "A key for one suite cannot upload to or read the others." }
                select name="suite" aria-describedby="key-suite-hint" {
                    option value="" { "Every suite" }
                    @for suite in snapshot.catalog.suites() {
                        option value=(suite.id) { (suite.display_name) " (" (suite.name) ")" }
                    }
                }
            }
            div { button type="submit" { "Create key" } }
        }
    }
}

pub async fn list(State(state): State<Arc<ApiState>>, user: WebUser) -> Result<Response, WebError> {
    let keys = live_keys(&state, &user).await?;
    let page = Page {
        title: "API keys",
        path: "/keys",
        user: Some(&user),
    };
    Ok(page.render(html! {
        h1 { "API keys" }
        p { "Send a key in the " code { "X-API-Key" } " header of every API request. See the " a href="/quickstart" { "Quickstart" } "." }
        (create_form(&state, &user))
        h2 { "Your keys" }
        (keys_table(&state, &keys))
    }))
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    /// A suite's id; empty: every suite.
    #[serde(default)]
    suite: String,
    #[serde(default, rename = "csrf_token")]
    csrf: String,
}

pub async fn create(
    State(state): State<Arc<ApiState>>,
    user: WebUser,
    Form(form): Form<CreateForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    let name = form.name.trim();
    let page = Page {
        title: "API keys",
        path: "/keys",
        user: Some(&user),
    };
    if name.chars().count() > MAX_KEY_NAME_CHARS || name.chars().any(char::is_control) {
        let keys = live_keys(&state, &user).await?;
        return Ok(page.render_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            html! {
                h1 { "API keys" }
                (notice(NoticeKind::Error, "A key's name has at most 200 printable characters."))
                (create_form(&state, &user))
                h2 { "Your keys" }
                (keys_table(&state, &keys))
            },
        ));
    }
    let name = (!name.is_empty()).then(|| name.to_owned());
    let suite_ids = match form.suite.trim() {
        "" => None,
        named => Some(
            crate::api::account::key_suites(&state.catalog.snapshot(), &[named.to_owned()])
                .map_err(|_| WebError::NotFound)?,
        ),
    };
    let (mut record, key) = crate::api::account::key_record(name)?;
    record.suite_ids = suite_ids;
    state
        .control
        .insert_api_key(user.user.id, &record, &key.hash)
        .await?;
    tracing::info!(user = %user.user.id, key = %record.id, "API key created on the keys page");
    let keys = live_keys(&state, &user).await?;
    let created = Page {
        title: "New API key",
        path: "/keys",
        user: Some(&user),
    };
    Ok(created.render_with(
        StatusCode::CREATED,
        html! {
            h1 { "API keys" }
            section class="notice ok" aria-labelledby="new-key-title" {
                h2 id="new-key-title" { "Your new key" }
                p { strong { "Copy it now: it is shown only this once." } " Tracepipe keeps only its hash." }
                div class="secret" {
                    code id="new-key" data-testid="new-key" { (key.secret) }
                    button type="button" data-copy-target="new-key" data-copy-status="copy-status" hidden { "Copy key" }
                }
                p id="copy-status" role="status" aria-live="polite" {}
            }
            (create_form(&state, &user))
            h2 { "Your keys" }
            (keys_table(&state, &keys))
        },
    ))
}

async fn own_key(state: &ApiState, user: &WebUser, id: &str) -> Result<ApiKey, WebError> {
    let id = Uuid::parse_str(id).map_err(|_| WebError::NotFound)?;
    live_keys(state, user)
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or(WebError::NotFound)
}

pub async fn confirm_revoke(
    State(state): State<Arc<ApiState>>,
    user: WebUser,
    Path(key_id): Path<String>,
) -> Result<Response, WebError> {
    let key = own_key(&state, &user, &key_id).await?;
    let page = Page {
        title: "Revoke API key",
        path: "/keys",
        user: Some(&user),
    };
    Ok(page.render(html! {
        h1 { "Revoke this API key?" }
        p {
            "The key " code { (key.masked) }
            @if let Some(name) = &key.name { " (" (name) ")" }
            " stops working at once. Anything still using it gets " code { "401" } ". This cannot be undone."
        }
        form method="post" action={ "/keys/" (key.id) "/revoke" } class="actions" {
            (user.csrf_field())
            button type="submit" class="danger" { "Revoke key" }
            a class="button secondary" href="/keys" { "Cancel" }
        }
    }))
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default, rename = "csrf_token")]
    csrf: String,
}

pub async fn revoke(
    State(state): State<Arc<ApiState>>,
    user: WebUser,
    Path(key_id): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    let id = Uuid::parse_str(&key_id).map_err(|_| WebError::NotFound)?;
    if !state.control.revoke_api_key(user.user.id, id).await? {
        return Err(WebError::NotFound);
    }
    tracing::info!(user = %user.user.id, key = %id, "API key revoked on the keys page");
    Ok(Redirect::to("/keys").into_response())
}
