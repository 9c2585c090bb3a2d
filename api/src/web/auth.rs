//! Registration, sign-in (email + password, or OpenID Connect), sign-out.
//!
//! A visitor's forms carry a CSRF token bound to a short-lived pre-session
//! cookie (so nobody can sign a visitor in to another account by a forged
//! post); a signed-in person's to their session. Every sign-in starts a new
//! session with a fresh token, and ends the one the browser had. A wrong
//! email and a wrong password get the same answer in the same time.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use tracepipe_accounts::{
    check_password_policy, hash_password, hash_token, verify_password,
    verify_password_for_missing_account, AuthorizationResponse, Password, PendingAuthorization,
    SessionToken, CSRF_FORM_FIELD,
};
use uuid::Uuid;

use super::layout::{notice, NoticeKind, Page};
use super::{client_address, session_hash, WebError, WebUser};
use crate::api::ApiState;
use crate::control::accounts::{NewAccount, OidcIdentity, Registration, WebSession};
use crate::control::{now, timestamp, User};

/// The visitor's pre-session cookie, which their forms' CSRF token is bound to.
const PRESESSION_COOKIE: &str = "tp_presession";
const PRESESSION_SECS: u64 = 3600;
/// The cookie that binds an OpenID sign-in in progress to this browser.
const OIDC_COOKIE: &str = "tp_oidc";
const OIDC_PENDING_SECS: u64 = 600;
const MAX_EMAIL_CHARS: usize = 254;
const MAX_NAME_CHARS: usize = 200;
const WRONG_CREDENTIALS: &str = "The email or password is wrong.";

/// A visitor's CSRF token and, when the browser has no pre-session yet, the
/// cookie that starts one.
struct VisitorCsrf {
    token: String,
    set_cookie: Option<String>,
}

async fn visitor_csrf(state: &ApiState, headers: &HeaderMap) -> Result<VisitorCsrf, WebError> {
    let key = state.web.csrf_key(state.accounts.as_ref()).await?;
    if let Some(existing) = state.web.side_cookie_value(headers, PRESESSION_COOKIE) {
        return Ok(VisitorCsrf {
            token: key.token_for(&hash_token(existing)),
            set_cookie: None,
        });
    }
    let (value, hash) = SessionToken::new();
    Ok(VisitorCsrf {
        token: key.token_for(&hash),
        set_cookie: Some(
            state
                .web
                .side_cookie(PRESESSION_COOKIE, &value, PRESESSION_SECS),
        ),
    })
}

async fn check_visitor_csrf(
    state: &ApiState,
    headers: &HeaderMap,
    presented: &str,
) -> Result<(), WebError> {
    let key = state.web.csrf_key(state.accounts.as_ref()).await?;
    let presession = state
        .web
        .side_cookie_value(headers, PRESESSION_COOKIE)
        .ok_or(WebError::Csrf)?;
    if key.verify(&hash_token(presession), presented) {
        Ok(())
    } else {
        Err(WebError::Csrf)
    }
}

pub(super) fn with_cookies(
    mut response: Response,
    cookies: impl IntoIterator<Item = String>,
) -> Response {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Starts a session for `user_id`: stores it, ends the one the browser had,
/// and answers the `Set-Cookie` values (the session, the pre-session gone).
pub(super) async fn start_session(
    state: &ApiState,
    headers: &HeaderMap,
    user_id: Uuid,
) -> Result<Vec<String>, WebError> {
    if let Some(old) = session_hash(&state.web, headers) {
        state.accounts.end_session(&old).await?;
    }
    let (cookie_value, token_hash) = SessionToken::new();
    let created = chrono::Utc::now();
    let lifetime = chrono::Duration::from_std(state.web.session_lifetime)
        .map_err(|e| WebError::Internal(format!("session lifetime: {e}")))?;
    let at = timestamp(created);
    state
        .accounts
        .create_session(&WebSession {
            token_hash,
            user_id,
            created_at: at.clone(),
            expires_at: timestamp(created + lifetime),
            last_seen_at: at,
        })
        .await?;
    Ok(vec![
        state.web.session_cookie().set(&cookie_value),
        state.web.side_cookie(PRESESSION_COOKIE, "", 0),
    ])
}

fn signed_in_redirect(cookies: Vec<String>) -> Response {
    with_cookies(Redirect::to("/keys").into_response(), cookies)
}

// ---------------------------------------------------------------- register

#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default, rename = "csrf_token")]
    csrf: String,
}

fn register_page(csrf: &str, display_name: &str, email: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { "Create your Tracepipe account" }
        p { "Already have one? " a href="/sign-in" { "Sign in" } "." }
        @if let Some(error) = error { (notice(NoticeKind::Error, error)) }
        form class="stack" method="post" action="/register" {
            input type="hidden" name=(CSRF_FORM_FIELD) value=(csrf);
            label {
                "Your name"
                input type="text" name="display_name" value=(display_name) required maxlength="200" autocomplete="name";
            }
            label {
                "Email"
                input type="email" name="email" value=(email) required maxlength="254" autocomplete="email";
            }
            label {
                "Password"
                span class="hint" id="password-hint" { "At least 12 characters." }
                input type="password" name="password" required minlength="12" autocomplete="new-password" aria-describedby="password-hint";
            }
            div { button type="submit" { "Create account" } }
        }
    }
}

pub async fn register_form(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let csrf = visitor_csrf(&state, &headers).await?;
    let page = Page {
        title: "Register",
        path: "/register",
        user: None,
    };
    Ok(with_cookies(
        page.render(register_page(&csrf.token, "", "", None)),
        csrf.set_cookie,
    ))
}

fn valid_email(email: &str) -> bool {
    let email = email.trim();
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.chars().count() <= MAX_EMAIL_CHARS
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn valid_name(name: &str) -> bool {
    !name.trim().is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && !name.chars().any(char::is_control)
}

pub async fn register(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Form(form): Form<RegisterForm>,
) -> Result<Response, WebError> {
    check_visitor_csrf(&state, &headers, &form.csrf).await?;
    let password = Password::new(form.password);
    let csrf = visitor_csrf(&state, &headers).await?;
    let page = Page {
        title: "Register",
        path: "/register",
        user: None,
    };
    let refuse = |message: &str| {
        page.render_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            register_page(&csrf.token, &form.display_name, &form.email, Some(message)),
        )
    };
    if !valid_name(&form.display_name) {
        return Ok(refuse("Enter your name (1 to 200 characters)."));
    }
    if !valid_email(&form.email) {
        return Ok(refuse("Enter a valid email address."));
    }
    if let Err(e) = check_password_policy(&password) {
        return Ok(refuse(&format!("Choose another password: {e}.")));
    }
    let cost = state.web.hash_cost;
    let hash = tokio::task::spawn_blocking(move || hash_password(&password, cost))
        .await
        .map_err(|e| WebError::Internal(format!("hashing task: {e}")))?
        .map_err(|e| WebError::Internal(e.to_string()))?;
    let user = User {
        id: Uuid::new_v4(),
        display_name: form.display_name.trim().to_owned(),
        is_admin: false,
        created_at: now(),
    };
    let outcome = state
        .accounts
        .register(&NewAccount {
            user: user.clone(),
            email: Some(form.email.clone()),
            password_hash: Some(hash),
            oidc: None,
        })
        .await?;
    match outcome {
        Registration::Created => {
            tracing::info!(user = %user.id, "account registered");
            let cookies = start_session(&state, &headers, user.id).await?;
            Ok(signed_in_redirect(cookies))
        }
        // Saying so tells a visitor the email is registered; a registration
        // form cannot avoid that without email confirmation, and sign-in
        // stays silent about it.
        Registration::EmailTaken | Registration::IdentityTaken => Ok(refuse(
            "An account with this email already exists. Sign in instead.",
        )),
    }
}

// ----------------------------------------------------------------- sign in

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default, rename = "csrf_token")]
    csrf: String,
}

fn sign_in_page(
    csrf: &str,
    email: &str,
    provider: Option<&str>,
    message: Option<(NoticeKind, &str)>,
) -> Markup {
    html! {
        h1 { "Sign in" }
        p { "New to Tracepipe? " a href="/register" { "Create an account" } "." }
        @if let Some((kind, text)) = message { (notice(kind, text)) }
        form class="stack" method="post" action="/sign-in" {
            input type="hidden" name=(CSRF_FORM_FIELD) value=(csrf);
            label {
                "Email"
                input type="email" name="email" value=(email) required autocomplete="username";
            }
            label {
                "Password"
                input type="password" name="password" required autocomplete="current-password";
            }
            div { button type="submit" { "Sign in" } }
        }
        @if let Some(provider) = provider {
            p class="or" { "or" }
            p { a class="button secondary" href="/auth/oidc/start" { "Sign in with " (provider) } }
        }
    }
}

pub async fn sign_in_form(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let csrf = visitor_csrf(&state, &headers).await?;
    let page = Page {
        title: "Sign in",
        path: "/sign-in",
        user: None,
    };
    Ok(with_cookies(
        page.render(sign_in_page(
            &csrf.token,
            "",
            state.web.oidc_provider_name(),
            None,
        )),
        csrf.set_cookie,
    ))
}

pub async fn sign_in(
    State(state): State<Arc<ApiState>>,
    parts: Parts,
    Form(form): Form<SignInForm>,
) -> Result<Response, WebError> {
    let headers = &parts.headers;
    check_visitor_csrf(&state, headers, &form.csrf).await?;
    let password = Password::new(form.password);
    let client = client_address(&parts.extensions);
    let csrf = visitor_csrf(&state, headers).await?;
    let page = Page {
        title: "Sign in",
        path: "/sign-in",
        user: None,
    };
    let provider = state.web.oidc_provider_name();
    if let Err(throttled) = state.web.throttle.check(&form.email, client) {
        let seconds = throttled.retry_after_secs();
        let text = format!("Too many failed sign-ins. Try again in {seconds} seconds.");
        let mut response = page.render_with(
            StatusCode::TOO_MANY_REQUESTS,
            sign_in_page(
                &csrf.token,
                &form.email,
                provider,
                Some((NoticeKind::Error, &text)),
            ),
        );
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Ok(response);
    }
    let account = state.accounts.account_by_email(&form.email).await?;
    let stored = account
        .as_ref()
        .and_then(|a| a.password_hash.clone().map(|h| (a.user.id, h)));
    let verified = tokio::task::spawn_blocking(move || match stored {
        Some((user_id, hash)) => verify_password(&password, &hash).map(|ok| ok.then_some(user_id)),
        None => Ok(verify_password_for_missing_account(&password).then_some(Uuid::nil())),
    })
    .await
    .map_err(|e| WebError::Internal(format!("verification task: {e}")))?
    .map_err(|e| WebError::Internal(e.to_string()))?;
    match verified {
        Some(user_id) if !user_id.is_nil() => {
            state.web.throttle.record_success(&form.email);
            let cookies = start_session(&state, headers, user_id).await?;
            tracing::info!(user = %user_id, "signed in with a password");
            Ok(signed_in_redirect(cookies))
        }
        _ => {
            state.web.throttle.record_failure(&form.email, client);
            Ok(page.render_with(
                StatusCode::UNAUTHORIZED,
                sign_in_page(
                    &csrf.token,
                    &form.email,
                    provider,
                    Some((NoticeKind::Error, WRONG_CREDENTIALS)),
                ),
            ))
        }
    }
}

// ---------------------------------------------------------------- sign out

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default, rename = "csrf_token")]
    csrf: String,
}

pub async fn sign_out(
    State(state): State<Arc<ApiState>>,
    user: WebUser,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    state.accounts.end_session(user.session_hash()).await?;
    tracing::info!(user = %user.user.id, "signed out");
    Ok(with_cookies(
        Redirect::to("/").into_response(),
        [state.web.session_cookie().clear()],
    ))
}

// ----------------------------------------------------------- OpenID Connect

pub async fn oidc_start(State(state): State<Arc<ApiState>>) -> Result<Response, WebError> {
    let client = match state.web.oidc_client().await {
        Ok(Some(client)) => client,
        Ok(None) => return Err(WebError::NotFound),
        Err(e) => {
            tracing::warn!(error = %e, "OpenID provider unavailable");
            return Ok(sign_in_problem(
                StatusCode::BAD_GATEWAY,
                "The sign-in provider cannot be reached right now. Try again in a moment, or sign in with your password.",
            ));
        }
    };
    let (url, pending) = client.begin();
    let payload = serde_json::to_string(&pending)
        .map_err(|e| WebError::Internal(format!("pending sign-in: {e}")))?;
    let expires = chrono::Utc::now() + chrono::Duration::seconds(OIDC_PENDING_SECS as i64);
    state
        .accounts
        .put_pending_sign_in(&hash_token(pending.state()), &payload, &timestamp(expires))
        .await?;
    Ok(with_cookies(
        Redirect::to(url.as_str()).into_response(),
        [state
            .web
            .side_cookie(OIDC_COOKIE, pending.state(), OIDC_PENDING_SECS)],
    ))
}

fn sign_in_problem(status: StatusCode, text: &str) -> Response {
    let page = Page {
        title: "Sign-in failed",
        path: "",
        user: None,
    };
    page.render_with(
        status,
        html! {
            h1 { "Sign-in failed" }
            (notice(NoticeKind::Error, text))
            p { a href="/sign-in" { "Back to sign in" } }
        },
    )
}

pub async fn oidc_callback(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Query(callback): Query<AuthorizationResponse>,
) -> Result<Response, WebError> {
    let Some(client) = state
        .web
        .oidc_client()
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?
    else {
        return Err(WebError::NotFound);
    };
    let clear = state.web.side_cookie(OIDC_COOKIE, "", 0);
    // Found through the cookie only this browser has, never through the
    // callback's `state` alone.
    let pending = match state.web.side_cookie_value(&headers, OIDC_COOKIE) {
        Some(state_value) => {
            state
                .accounts
                .take_pending_sign_in(&hash_token(state_value), &now())
                .await?
        }
        None => None,
    };
    let Some(pending) = pending else {
        return Ok(with_cookies(
            sign_in_problem(
                StatusCode::BAD_REQUEST,
                "This sign-in was not started in this browser, or it took too long. Start it again.",
            ),
            [clear],
        ));
    };
    let pending: PendingAuthorization = serde_json::from_str(&pending)
        .map_err(|e| WebError::Internal(format!("stored sign-in: {e}")))?;
    let claims = match client.complete(&pending, &callback).await {
        Ok(claims) => claims,
        Err(e) => {
            tracing::warn!(error = %e, "OpenID sign-in refused");
            return Ok(with_cookies(
                sign_in_problem(
                    StatusCode::BAD_REQUEST,
                    "The sign-in provider's answer could not be accepted. Start the sign-in again.",
                ),
                [clear],
            ));
        }
    };
    let identity = OidcIdentity {
        issuer: claims.issuer.clone(),
        subject: claims.sub.clone(),
    };
    let user_id = match state.accounts.account_by_oidc(&identity).await? {
        Some(account) => account.user.id,
        None => {
            let display_name = claims
                .name
                .clone()
                .filter(|n| valid_name(n))
                .or_else(|| {
                    claims
                        .email
                        .as_deref()
                        .and_then(|e| e.split('@').next())
                        .map(str::to_owned)
                })
                .filter(|n| valid_name(n))
                .unwrap_or_else(|| "Tracepipe user".to_owned());
            let user = User {
                id: Uuid::new_v4(),
                display_name,
                is_admin: false,
                created_at: now(),
            };
            // An email the provider says it has not verified is not kept:
            // it would hold that address against its real owner's
            // registration.
            let email = claims
                .email
                .clone()
                .filter(|e| valid_email(e) && claims.email_verified != Some(false));
            let outcome = state
                .accounts
                .register(&NewAccount {
                    user: user.clone(),
                    email,
                    password_hash: None,
                    oidc: Some(identity),
                })
                .await?;
            match outcome {
                Registration::Created => {
                    tracing::info!(user = %user.id, "account registered through OpenID Connect");
                    user.id
                }
                // An existing account is not taken over by whoever shows
                // the same email at a provider.
                Registration::EmailTaken | Registration::IdentityTaken => {
                    return Ok(with_cookies(
                        sign_in_problem(
                            StatusCode::CONFLICT,
                            "An account with this email already exists. Sign in with its password.",
                        ),
                        [clear],
                    ));
                }
            }
        }
    };
    let mut cookies = start_session(&state, &headers, user_id).await?;
    cookies.push(clear);
    tracing::info!(user = %user_id, "signed in through OpenID Connect");
    Ok(signed_in_redirect(cookies))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(valid_email("ada@example.test"));
        assert!(!valid_email("ada"));
        assert!(!valid_email("@example.test"));
        assert!(!valid_email("ada@localhost"));
        assert!(!valid_email("a da@example.test"));
    }
}
