//! The account page: display name, password change, signed-in sessions.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use tracepipe_accounts::{check_password_policy, hash_password, verify_password, Password};

use super::auth::{start_session, with_cookies};
use super::layout::{notice, NoticeKind, Page};
use super::{WebError, WebUser};
use crate::api::ApiState;
use crate::control::accounts::Account;
use crate::control::now;

fn account_page(
    user: &WebUser,
    account: &Account,
    sessions: &[crate::control::accounts::WebSession],
    message: Option<(NoticeKind, &str)>,
) -> Markup {
    html! {
        h1 { "Account" }
        @if let Some((kind, text)) = message { (notice(kind, text)) }
        dl {
            dt { "Email" }
            dd { (account.email.as_deref().unwrap_or("none (signs in through OpenID Connect)")) }
            @if let Some(identity) = &account.oidc {
                dt { "Signs in through" }
                dd { (identity.issuer) }
            }
            dt { "Member since" }
            dd { (account.created_at.get(..10).unwrap_or(&account.created_at)) }
        }
        h2 { "Display name" }
        form class="stack" method="post" action="/account/name" {
            (user.csrf_field())
            label {
                "Name"
                input type="text" name="display_name" value=(user.user.display_name) required maxlength="200" autocomplete="name";
            }
            div { button type="submit" { "Save name" } }
        }
        h2 { "Password" }
        @if account.password_hash.is_some() {
            p { "Changing the password signs out every other browser." }
            form class="stack" method="post" action="/account/password" {
                (user.csrf_field())
                label {
                    "Current password"
                    input type="password" name="current_password" required autocomplete="current-password";
                }
                label {
                    "New password"
                    span class="hint" id="new-password-hint" { "At least 12 characters." }
                    input type="password" name="new_password" required minlength="12" autocomplete="new-password" aria-describedby="new-password-hint";
                }
                div { button type="submit" { "Change password" } }
            }
        } @else {
            p { "This account signs in through its OpenID provider and has no password here." }
        }
        h2 { "Signed-in browsers" }
        table {
            caption class="hint" { "Sessions of this account that have not ended." }
            thead { tr { th scope="col" { "Signed in" } th scope="col" { "Last seen" } th scope="col" { "Expires" } th scope="col" { "This browser" } } }
            tbody {
                @for s in sessions {
                    tr {
                        td { (s.created_at) }
                        td { (s.last_seen_at) }
                        td { (s.expires_at) }
                        td { @if s.token_hash == user.session_hash() { "yes" } @else { "" } }
                    }
                }
            }
        }
    }
}

async fn render(
    state: &ApiState,
    user: &WebUser,
    status: StatusCode,
    message: Option<(NoticeKind, &str)>,
) -> Result<Response, WebError> {
    let account = state
        .accounts
        .account(user.user.id)
        .await?
        .ok_or(WebError::NotFound)?;
    let sessions = state.accounts.sessions(user.user.id, &now()).await?;
    let page = Page {
        title: "Account",
        path: "/account",
        user: Some(user),
    };
    Ok(page.render_with(status, account_page(user, &account, &sessions, message)))
}

#[derive(Deserialize)]
pub struct Saved {
    saved: Option<String>,
}

pub async fn show(
    State(state): State<Arc<ApiState>>,
    user: WebUser,
    Query(saved): Query<Saved>,
) -> Result<Response, WebError> {
    let message = match saved.saved.as_deref() {
        Some("name") => Some((NoticeKind::Ok, "Your name is saved.")),
        Some("password") => Some((
            NoticeKind::Ok,
            "Your password is changed; other browsers are signed out.",
        )),
        _ => None,
    };
    render(&state, &user, StatusCode::OK, message).await
}

#[derive(Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    display_name: String,
    #[serde(default, rename = "csrf_token")]
    csrf: String,
}

pub async fn rename(
    State(state): State<Arc<ApiState>>,
    user: WebUser,
    Form(form): Form<RenameForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    let name = form.display_name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return render(
            &state,
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some((NoticeKind::Error, "Enter a name of 1 to 200 characters.")),
        )
        .await;
    }
    state.accounts.set_display_name(user.user.id, name).await?;
    Ok(Redirect::to("/account?saved=name").into_response())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default, rename = "csrf_token")]
    csrf: String,
}

pub async fn change_password(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    user: WebUser,
    Form(form): Form<PasswordForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    let current = Password::new(form.current_password);
    let new = Password::new(form.new_password);
    let account = state
        .accounts
        .account(user.user.id)
        .await?
        .ok_or(WebError::NotFound)?;
    let Some(stored) = account.password_hash else {
        return Err(WebError::NotFound);
    };
    if let Err(e) = check_password_policy(&new) {
        let text = format!("Choose another new password: {e}.");
        return render(
            &state,
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some((NoticeKind::Error, &text)),
        )
        .await;
    }
    let cost = state.web.hash_cost;
    let new_hash = tokio::task::spawn_blocking(move || {
        if verify_password(&current, &stored)? {
            hash_password(&new, cost).map(Some)
        } else {
            Ok(None)
        }
    })
    .await
    .map_err(|e| WebError::Internal(format!("hashing task: {e}")))?
    .map_err(|e| WebError::Internal(e.to_string()))?;
    let Some(new_hash) = new_hash else {
        return render(
            &state,
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some((NoticeKind::Error, "The current password is wrong.")),
        )
        .await;
    };
    // Every session ends with the old password, this one too; this browser
    // gets a new one.
    state.accounts.set_password(user.user.id, &new_hash).await?;
    let cookies = start_session(&state, &headers, user.user.id).await?;
    tracing::info!(user = %user.user.id, "password changed; sessions ended");
    Ok(with_cookies(
        Redirect::to("/account?saved=password").into_response(),
        cookies,
    ))
}
