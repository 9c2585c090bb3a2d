//! The web pages, served by both deployments beside the `/v1` API: landing,
//! register, sign in (email + password, or OpenID Connect when configured),
//! account, API keys, usage and the Quickstart. Server-rendered with maud
//! (templates compiled into the binary); the one script and the stylesheet
//! are embedded too.
//!
//! Pages and API share their rules: a page reads and writes through the same
//! [`crate::control::ControlPlane`] methods the API handlers use, scoped to
//! the signed-in user, and the API accepts a signed-in browser's session
//! cookie too (with the CSRF header on unsafe methods, src/api/auth.rs).
//!
//! - [`WebUser`]: the signed-in person of a page request (redirects to the
//!   sign-in page otherwise); [`MaybeWebUser`] for pages anyone may see.
//! - [`layout::Page`]: the shell every page uses.
//! - [`WebAuth`]: the deployment's cookie, CSRF key, throttle and OpenID
//!   client, in [`crate::api::ApiState::web`].

mod account;
mod auth;
mod billing;
mod console;
mod keys;
pub mod layout;
mod pages;
mod review_page;
#[cfg(test)]
mod tests;
mod usage;
mod usage_chart;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};

use layout::Page;
use serde::Deserialize;
use tokio::sync::{Mutex, OnceCell};
use tracepipe_accounts::{
    ClientSecret, CsrfKey, HashCost, OidcClient, OidcConfig, OidcError, SessionCookie,
    SignInThrottle, ThrottleConfig, CSRF_FORM_FIELD,
};
use url::Url;

use crate::api::ApiState;
use crate::control::accounts::AccountStore;
use crate::control::{ControlError, User};

pub const CSS_ROUTE: &str = "/static/web.css";
pub const JS_ROUTE: &str = "/static/web.js";
const CSS: &str = concat!(
    include_str!("assets/web.css"),
    include_str!("assets/console.css")
);
const JS: &str = include_str!("assets/web.js");

/// The name the CSRF key is stored under in the account store.
const CSRF_SECRET_NAME: &str = "csrf-key-v1";

/// `[web]` of serve.toml and gateway.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// The URL people reach the deployment at; empty: the address it
    /// listens on. `https` makes the cookies `Secure`.
    pub public_base_url: String,
    /// Hours a sign-in lasts.
    pub session_hours: u64,
    /// The provider's name on the sign-in button.
    pub oidc_provider_name: String,
    /// Empty: no OpenID Connect sign-in.
    pub oidc_issuer: String,
    pub oidc_client_id: String,
    /// The environment variable holding the client secret (never the
    /// secret itself, which stays out of files).
    pub oidc_client_secret_env: String,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebConfigError {
    #[error("web.public_base_url `{url}` is not a URL: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("web.oidc_issuer is set, so {0}")]
    Oidc(String),
}

/// The deployment's web sign-in machinery.
pub struct WebAuth {
    base_url: Url,
    /// Whether `base_url` was configured rather than taken from the
    /// listening address.
    base_url_configured: bool,
    cookie: SessionCookie,
    session_lifetime: Duration,
    csrf: OnceCell<CsrfKey>,
    throttle: SignInThrottle,
    hash_cost: HashCost,
    oidc: Option<OidcSetup>,
}

struct OidcSetup {
    provider_name: String,
    config: OidcConfig,
    /// Discovered at the first sign-in through it, so that a provider that is
    /// down at start delays only its own sign-ins.
    client: Mutex<Option<Arc<OidcClient>>>,
}

impl WebAuth {
    /// `listening` is the base URL used when `public_base_url` is empty.
    pub fn new(config: &WebConfig, listening: &str) -> Result<WebAuth, WebConfigError> {
        let configured = config.public_base_url.trim();
        let base = if configured.is_empty() {
            listening
        } else {
            configured
        };
        let base_url = Url::parse(base).map_err(|e| WebConfigError::BaseUrl {
            url: base.to_owned(),
            reason: e.to_string(),
        })?;
        let session_lifetime = Duration::from_secs(config.session_hours.max(1) * 3600);
        let oidc = if config.oidc_issuer.trim().is_empty() {
            None
        } else {
            if config.oidc_client_id.trim().is_empty() {
                return Err(WebConfigError::Oidc(
                    "web.oidc_client_id must be set too".into(),
                ));
            }
            let secret = std::env::var(&config.oidc_client_secret_env).map_err(|_| {
                WebConfigError::Oidc(format!(
                    "the environment variable {} (web.oidc_client_secret_env) must hold the client secret",
                    config.oidc_client_secret_env
                ))
            })?;
            let redirect =
                base_url
                    .join("/auth/oidc/callback")
                    .map_err(|e| WebConfigError::BaseUrl {
                        url: base.to_owned(),
                        reason: e.to_string(),
                    })?;
            Some(OidcSetup {
                provider_name: config.oidc_provider_name.clone(),
                config: OidcConfig::new(
                    config.oidc_issuer.trim(),
                    config.oidc_client_id.trim(),
                    ClientSecret::new(secret),
                    redirect,
                ),
                client: Mutex::new(None),
            })
        };
        Ok(WebAuth {
            base_url_configured: !configured.is_empty(),
            cookie: SessionCookie::new(&base_url, session_lifetime),
            base_url,
            session_lifetime,
            csrf: OnceCell::new(),
            throttle: SignInThrottle::new(ThrottleConfig::default()),
            hash_cost: HashCost::Standard,
            oidc,
        })
    }

    /// Cheap password hashes, for tests that register many accounts.
    #[cfg(test)]
    pub fn with_test_hash_cost(mut self) -> WebAuth {
        self.hash_cost = HashCost::TestOnly;
        self
    }

    /// The sign-in throttle's limits.
    #[cfg(test)]
    pub fn with_throttle(mut self, config: ThrottleConfig) -> WebAuth {
        self.throttle = SignInThrottle::new(config);
        self
    }

    /// The base URL people reach this deployment at.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    pub fn base_url_configured(&self) -> bool {
        self.base_url_configured
    }

    pub fn session_cookie(&self) -> &SessionCookie {
        &self.cookie
    }

    fn secure(&self) -> bool {
        self.base_url.scheme() == "https"
    }

    /// The CSRF key, loaded from (or first stored in) the account store, so
    /// it survives restarts and is shared by every instance.
    pub async fn csrf_key(&self, accounts: &dyn AccountStore) -> Result<&CsrfKey, ControlError> {
        self.csrf
            .get_or_try_init(|| async {
                let stored = accounts
                    .server_secret(CSRF_SECRET_NAME, CsrfKey::generate().as_bytes())
                    .await?;
                CsrfKey::from_bytes(&stored)
                    .map_err(|e| ControlError::Corrupt(format!("the stored CSRF key: {e}")))
            })
            .await
    }

    fn oidc_provider_name(&self) -> Option<&str> {
        self.oidc.as_ref().map(|o| o.provider_name.as_str())
    }

    async fn oidc_client(&self) -> Result<Option<Arc<OidcClient>>, OidcError> {
        let Some(setup) = &self.oidc else {
            return Ok(None);
        };
        let mut slot = setup.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(Some(client.clone()));
        }
        let client = Arc::new(OidcClient::discover(setup.config.clone()).await?);
        *slot = Some(client.clone());
        Ok(Some(client))
    }

    /// A `Set-Cookie` value for a cookie other than the session's, with the
    /// same attributes (`__Host-` and `Secure` behind https).
    fn side_cookie(&self, name: &str, value: &str, max_age_secs: u64) -> String {
        let (prefix, secure) = if self.secure() {
            ("__Host-", "; Secure")
        } else {
            ("", "")
        };
        format!("{prefix}{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}")
    }

    fn side_cookie_value<'h>(&self, headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
        let full = if self.secure() {
            format!("__Host-{name}")
        } else {
            name.to_owned()
        };
        cookie_header(headers)?
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == full)
            .map(|(_, v)| v)
            .filter(|v| !v.is_empty() && v.len() <= 64)
    }
}

fn cookie_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::COOKIE).and_then(|v| v.to_str().ok())
}

/// The session token hash of the request's session cookie, if it has one.
pub fn session_hash(auth: &WebAuth, headers: &HeaderMap) -> Option<String> {
    let value = auth.cookie.value_in(cookie_header(headers)?)?;
    Some(tracepipe_accounts::hash_token(value))
}

/// Looks the request's session cookie up: the user and the session's hash.
pub async fn session_of(
    state: &ApiState,
    headers: &HeaderMap,
) -> Result<Option<(User, String)>, ControlError> {
    let Some(hash) = session_hash(&state.web, headers) else {
        return Ok(None);
    };
    let user = state
        .accounts
        .session_user(&hash, &crate::control::now())
        .await?;
    Ok(user.map(|u| (u, hash)))
}

/// What a page request can fail with; each answers with a page.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// Not signed in: to the sign-in page.
    #[error("sign-in required")]
    SignInRequired,
    /// The form's CSRF token is missing or wrong.
    #[error("the form's security token is missing or out of date")]
    Csrf,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Internal(String),
}

impl From<ControlError> for WebError {
    fn from(e: ControlError) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<crate::api::error::ServiceError> for WebError {
    fn from(e: crate::api::error::ServiceError) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, text) = match &self {
            WebError::SignInRequired => return Redirect::to("/sign-in").into_response(),
            WebError::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form's security token is missing or out of date. Go back, reload the page and try again.",
            ),
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such page, or it is not yours.",
            ),
            WebError::Internal(reason) => {
                tracing::error!(%reason, "a page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The server could not complete this request. Try again in a moment.",
                )
            }
        };
        let page = Page {
            title,
            path: "",
            user: None,
        };
        page.render_with(
            status,
            html! { h1 { (title) } p { (text) } p { a href="/" { "Home" } } },
        )
    }
}

/// The signed-in person of a page request. Extracting it from a request
/// without a live session redirects to the sign-in page.
#[derive(Clone)]
pub struct WebUser {
    pub user: User,
    session_hash: String,
    csrf_token: String,
    csrf_key: CsrfKey,
}

impl std::fmt::Debug for WebUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebUser")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl WebUser {
    /// The CSRF token of this session, for forms and for scripts calling the
    /// API (`X-CSRF-Token`).
    pub fn csrf_token(&self) -> &str {
        &self.csrf_token
    }

    /// The hidden form field every form of a signed-in page carries.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name=(CSRF_FORM_FIELD) value=(self.csrf_token); }
    }

    /// Checks a submitted form's token; every state-changing handler calls
    /// this before anything else.
    pub fn check_csrf(&self, presented: &str) -> Result<(), WebError> {
        if self.csrf_key.verify(&self.session_hash, presented) {
            Ok(())
        } else {
            Err(WebError::Csrf)
        }
    }

    pub(crate) fn session_hash(&self) -> &str {
        &self.session_hash
    }
}

impl FromRequestParts<Arc<ApiState>> for WebUser {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ApiState>,
    ) -> Result<Self, WebError> {
        let Some((user, session_hash)) = session_of(state, &parts.headers).await? else {
            return Err(WebError::SignInRequired);
        };
        let key = state.web.csrf_key(state.accounts.as_ref()).await?;
        Ok(WebUser {
            user,
            csrf_token: key.token_for(&session_hash),
            csrf_key: key.clone(),
            session_hash,
        })
    }
}

/// The signed-in person if there is one, for pages anyone may see.
pub struct MaybeWebUser(pub Option<WebUser>);

impl FromRequestParts<Arc<ApiState>> for MaybeWebUser {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ApiState>,
    ) -> Result<Self, WebError> {
        match WebUser::from_request_parts(parts, state).await {
            Ok(user) => Ok(MaybeWebUser(Some(user))),
            Err(WebError::SignInRequired) => Ok(MaybeWebUser(None)),
            Err(e) => Err(e),
        }
    }
}

/// The client's address, for throttling; unspecified when the server was
/// not given connection info (in-process tests).
fn client_address(parts_extensions: &axum::http::Extensions) -> IpAddr {
    parts_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The pages' routes, for `.merge(...)` next to the API's in both
/// deployments.
pub fn routes(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/", get(pages::landing))
        .route("/quickstart", get(pages::quickstart))
        .route("/register", get(auth::register_form).post(auth::register))
        .route("/sign-in", get(auth::sign_in_form).post(auth::sign_in))
        .route("/sign-out", post(auth::sign_out))
        .route("/auth/oidc/start", get(auth::oidc_start))
        .route("/auth/oidc/callback", get(auth::oidc_callback))
        .route("/account", get(account::show))
        .route("/account/name", post(account::rename))
        .route("/account/password", post(account::change_password))
        .route("/keys", get(keys::list).post(keys::create))
        .route(
            "/keys/{key_id}/revoke",
            get(keys::confirm_revoke).post(keys::revoke),
        )
        .route("/usage", get(usage::show))
        .route("/billing", get(billing::show))
        .route("/billing/setup", post(billing::setup))
        .route("/billing/portal", post(billing::portal))
        .route("/invoices", get(billing::invoices))
        .route(CSS_ROUTE, get(stylesheet))
        .route(JS_ROUTE, get(script))
        .merge(console::routes())
        .with_state(state)
}
