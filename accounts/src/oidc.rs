//! An OpenID Connect relying party: sign-in with the authorization code flow,
//! PKCE (S256), `state` and `nonce`, against any provider that publishes
//! discovery metadata (Microsoft Entra ID, Keycloak, Google, the local test
//! provider of `scripts/services/oidc.sh`).
//!
//! The flow, as the web app drives it:
//!
//! 1. [`OidcClient::discover`] once at start-up: reads
//!    `<issuer>/.well-known/openid-configuration`.
//! 2. On "sign in with …": [`OidcClient::begin`] gives the provider URL to
//!    redirect the browser to and a [`PendingAuthorization`] to keep, bound
//!    to that browser, until it comes back (see [`PendingAuthorization`]).
//! 3. On the callback: [`OidcClient::complete`] with that pending
//!    authorization and the callback's query ([`AuthorizationResponse`]):
//!    checks `state`, exchanges the code at the token endpoint (with the
//!    client secret and the PKCE verifier) and verifies the ID token (its
//!    signature against the provider's JWKS, `iss`, `aud`, `azp`, `exp`,
//!    `iat`, `nonce`). The result is the [`VerifiedClaims`]; the account is
//!    identified by (`issuer`, `sub`), never by email alone.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::Url;
use zeroize::Zeroize;

use crate::session::random_token;

/// How far the provider's clock may be from ours, for `exp` and `iat`.
const CLOCK_LEEWAY: Duration = Duration::from_secs(60);
/// How long a browser may take at the provider (signing in, perhaps
/// registering) before the callback is refused.
pub const MAX_AUTHORIZATION_AGE: Duration = Duration::from_secs(15 * 60);
/// JWKS older than this are fetched again before use.
const JWKS_MAX_AGE: Duration = Duration::from_secs(60 * 60);
/// An ID token signed by a key we do not know makes us fetch the JWKS again
/// (the provider rotated its keys), but at most this often: forged tokens
/// with made-up key ids must not turn into a flood of requests.
const JWKS_MIN_REFETCH: Duration = Duration::from_secs(30);
/// The most bytes read from any provider response.
const MAX_RESPONSE_BYTES: usize = 512 * 1024;
/// Timeout of each request to the provider.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The ID token signature algorithms accepted. Never `none` or HMAC.
const ACCEPTED_ALGORITHMS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];

/// The client secret; never shown by `Debug`.
#[derive(Clone)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

impl Drop for ClientSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// How the application is registered at the provider.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The issuer exactly as the provider states it in its discovery
    /// document, e.g. `https://login.microsoftonline.com/<tenant>/v2.0`.
    /// `https`, or `http` on a loopback address (local tests).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: ClientSecret,
    /// The callback URL registered with the provider, e.g.
    /// `https://tracepipe.example/auth/oidc/callback`.
    pub redirect_url: Url,
    /// Scopes requested; `openid` is always among them.
    pub scopes: Vec<String>,
}

impl OidcConfig {
    /// A configuration asking for the `openid email profile` scopes.
    pub fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: ClientSecret,
        redirect_url: Url,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret,
            redirect_url,
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
        }
    }
}

/// What can go wrong. None of the messages contain a secret, a code or a
/// token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    #[error("OpenID configuration: {0}")]
    InvalidConfig(String),
    #[error("{what} must be https (or http on a loopback address): {url}")]
    InsecureUrl { what: &'static str, url: String },
    #[error("request to the OpenID provider's {what} failed: {source}")]
    Http {
        what: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("the OpenID provider's {what} answered HTTP {status}")]
    HttpStatus { what: &'static str, status: u16 },
    #[error("the OpenID provider's {what} response is larger than {MAX_RESPONSE_BYTES} bytes")]
    ResponseTooLarge { what: &'static str },
    #[error("the OpenID provider's {what} response is not what was expected: {source}")]
    InvalidResponse {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("the discovery document names issuer {found:?}, expected {expected:?}")]
    IssuerMismatch { expected: String, found: String },
    #[error("the provider supports none of the client authentication methods this client uses (client_secret_basic, client_secret_post)")]
    UnsupportedClientAuthentication,
    #[error("the provider does not support PKCE with S256")]
    PkceUnsupported,
    #[error("the callback's state does not match the sign-in that was started")]
    StateMismatch,
    #[error("the sign-in was started more than {} minutes ago", MAX_AUTHORIZATION_AGE.as_secs() / 60)]
    AuthorizationExpired,
    #[error("the provider refused the sign-in: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    AuthorizationDenied {
        error: String,
        description: Option<String>,
    },
    #[error("the callback names issuer {found:?}, expected {expected:?}")]
    CallbackIssuerMismatch { expected: String, found: String },
    #[error("the callback has no authorization code")]
    MissingCode,
    #[error("the token endpoint refused the code (HTTP {status}): {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    TokenEndpoint {
        status: u16,
        error: String,
        description: Option<String>,
    },
    #[error("the token response has no ID token")]
    MissingIdToken,
    #[error("the ID token is signed with {0}, which is not accepted (RS256, ES256 are)")]
    UnsupportedAlgorithm(String),
    #[error("no key in the provider's JWKS matches the ID token (kid {kid:?}, {alg})")]
    NoMatchingKey { kid: Option<String>, alg: String },
    #[error("the ID token is invalid: {0}")]
    InvalidIdToken(#[source] jsonwebtoken::errors::Error),
    #[error("the ID token was issued in the future (iat)")]
    IssuedInFuture,
    #[error("the ID token's nonce does not match the sign-in that was started")]
    NonceMismatch,
    #[error("the ID token's authorized party (azp) is not this client")]
    AuthorizedPartyMismatch,
}

/// The parts of the discovery document this client uses.
#[derive(Debug, Clone, Deserialize)]
struct ProviderMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientAuthentication {
    /// HTTP Basic with the form-urlencoded id and secret (RFC 6749 §2.3.1).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

/// A sign-in in progress: created by [`OidcClient::begin`], kept by the
/// caller until the callback, then given to [`OidcClient::complete`].
///
/// It must stay bound to the browser that started the sign-in: find it at
/// the callback through something only that browser sends (a short-lived
/// `HttpOnly; SameSite=Lax` cookie holding [`Self::state`], with the pending
/// authorization stored server-side under it), never through the callback
/// URL's `state` alone. Otherwise someone could start a sign-in, stop at
/// the callback and send that link to a victim, who would be signed in to the
/// sender's account. Serializable for that storage; it holds the PKCE
/// verifier, so it must not be readable by page scripts. `Debug` shows only
/// the state.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingAuthorization {
    state: String,
    nonce: String,
    pkce_verifier: String,
    /// Unix seconds when the sign-in started.
    started_at: u64,
}

impl PendingAuthorization {
    /// The `state` sent to the provider, which comes back on the callback: a
    /// key to find this pending authorization by.
    pub fn state(&self) -> &str {
        &self.state
    }
}

impl fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("state", &self.state)
            .field("started_at", &self.started_at)
            .finish_non_exhaustive()
    }
}

/// The query of the callback request (`?code=…&state=…`, or
/// `?error=…&state=…`); deserialize it with the web framework's query
/// extractor, or take it from a URL with [`Self::from_callback_url`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizationResponse {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// RFC 9207's issuer identification, when the provider sends it.
    pub iss: Option<String>,
}

impl AuthorizationResponse {
    pub fn from_callback_url(url: &Url) -> Self {
        let mut response = Self::default();
        for (name, value) in url.query_pairs() {
            let slot = match name.as_ref() {
                "code" => &mut response.code,
                "state" => &mut response.state,
                "error" => &mut response.error,
                "error_description" => &mut response.error_description,
                "iss" => &mut response.iss,
                _ => continue,
            };
            *slot = Some(value.into_owned());
        }
        response
    }
}

/// Who signed in, as the provider vouches in a verified ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClaims {
    /// The issuer; with `sub`, the account's identity at the provider.
    pub issuer: String,
    pub sub: String,
    pub email: Option<String>,
    /// `None` when the provider does not say (Microsoft Entra ID, for one,
    /// does not send the claim).
    pub email_verified: Option<bool>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct IdTokenClaims {
    sub: String,
    iat: f64,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    /// A string or an array; jsonwebtoken checks that it names this client,
    /// only the count matters here.
    aud: serde_json::Value,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<FlexibleBool>,
    #[serde(default)]
    name: Option<String>,
}

/// Some providers send `email_verified` as the string `"true"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FlexibleBool {
    Bool(bool),
    Text(String),
}

impl FlexibleBool {
    fn value(&self) -> Option<bool> {
        match self {
            FlexibleBool::Bool(b) => Some(*b),
            FlexibleBool::Text(t) if t.eq_ignore_ascii_case("true") => Some(true),
            FlexibleBool::Text(t) if t.eq_ignore_ascii_case("false") => Some(false),
            FlexibleBool::Text(_) => None,
        }
    }
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    #[serde(default)]
    id_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TokenErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// One usable signing key from the provider's JWKS.
struct SigningKey {
    kid: Option<String>,
    /// The `alg` the key is restricted to, if the JWKS says.
    alg: Option<String>,
    family: KeyFamily,
    key: DecodingKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyFamily {
    Rsa,
    EcP256,
}

impl KeyFamily {
    fn for_algorithm(alg: Algorithm) -> Option<Self> {
        match alg {
            Algorithm::RS256 => Some(KeyFamily::Rsa),
            Algorithm::ES256 => Some(KeyFamily::EcP256),
            _ => None,
        }
    }
}

#[derive(Default)]
struct JwksCache {
    keys: Vec<SigningKey>,
    fetched_at: Option<Instant>,
}

impl JwksCache {
    fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
        let family = KeyFamily::for_algorithm(alg)?;
        let alg_name = format!("{alg:?}");
        let mut candidates = self
            .keys
            .iter()
            .filter(|k| k.family == family && k.alg.as_deref().is_none_or(|a| a == alg_name));
        match kid {
            Some(kid) => candidates
                .find(|k| k.kid.as_deref() == Some(kid))
                .map(|k| k.key.clone()),
            // Without a kid the key must be unambiguous.
            None => {
                let first = candidates.next()?;
                candidates.next().is_none().then(|| first.key.clone())
            }
        }
    }
}

/// A relying party for one provider and one client registration. Cheap to
/// share behind an `Arc`; the JWKS cache inside is shared by all requests.
pub struct OidcClient {
    config: OidcConfig,
    metadata: ProviderMetadata,
    authorization_endpoint: Url,
    token_endpoint: Url,
    jwks_uri: Url,
    client_authentication: ClientAuthentication,
    http: reqwest::Client,
    jwks: Mutex<JwksCache>,
}

impl fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcClient")
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

/// Parses a URL the provider or the configuration gave and refuses plain
/// http except on loopback: codes, tokens and keys must not cross a network
/// in the clear.
fn secure_url(what: &'static str, raw: &str) -> Result<Url, OidcError> {
    let insecure = || OidcError::InsecureUrl {
        what,
        url: raw.to_owned(),
    };
    let url = Url::parse(raw).map_err(|_| insecure())?;
    match url.scheme() {
        "https" => Ok(url),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback {
                Ok(url)
            } else {
                Err(insecure())
            }
        }
        _ => Err(insecure()),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn equal_secrets(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl OidcClient {
    /// Reads the provider's discovery document and checks it against the
    /// configuration. The JWKS is fetched on first use.
    pub async fn discover(config: OidcConfig) -> Result<Self, OidcError> {
        if config.client_id.is_empty() {
            return Err(OidcError::InvalidConfig("the client id is empty".into()));
        }
        if config.client_secret.0.is_empty() {
            return Err(OidcError::InvalidConfig(
                "the client secret is empty".into(),
            ));
        }
        secure_url("the redirect URL", config.redirect_url.as_str())?;
        let issuer_url = secure_url("the issuer", &config.issuer)?;
        if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
            return Err(OidcError::InvalidConfig(
                "the issuer must not have a query or fragment".into(),
            ));
        }
        let http = reqwest::Client::builder()
            // Nothing this client asks for should redirect; following one
            // could carry the client secret elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("tracepipe/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| OidcError::Http {
                what: "client setup",
                source,
            })?;
        // OpenID Connect Discovery §4: the issuer, without a trailing slash,
        // followed by the well-known path.
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            config.issuer.trim_end_matches('/')
        );
        let metadata: ProviderMetadata =
            get_json(&http, "discovery document", &discovery_url).await?;
        // §4.3: the issuer in the document must be exactly the one asked for,
        // or a different provider could vouch for our users.
        if metadata.issuer != config.issuer {
            return Err(OidcError::IssuerMismatch {
                expected: config.issuer.clone(),
                found: metadata.issuer,
            });
        }
        let authorization_endpoint = secure_url(
            "the authorization endpoint",
            &metadata.authorization_endpoint,
        )?;
        let token_endpoint = secure_url("the token endpoint", &metadata.token_endpoint)?;
        let jwks_uri = secure_url("the JWKS URI", &metadata.jwks_uri)?;
        if let Some(methods) = &metadata.code_challenge_methods_supported {
            if !methods.iter().any(|m| m == "S256") {
                return Err(OidcError::PkceUnsupported);
            }
        }
        let client_authentication = match &metadata.token_endpoint_auth_methods_supported {
            // The default when the provider does not say (Discovery §3).
            None => ClientAuthentication::Basic,
            Some(methods) if methods.iter().any(|m| m == "client_secret_basic") => {
                ClientAuthentication::Basic
            }
            Some(methods) if methods.iter().any(|m| m == "client_secret_post") => {
                ClientAuthentication::Post
            }
            Some(_) => return Err(OidcError::UnsupportedClientAuthentication),
        };
        tracing::info!(
            issuer = %config.issuer,
            client_id = %config.client_id,
            "OpenID provider discovered"
        );
        Ok(Self {
            config,
            metadata,
            authorization_endpoint,
            token_endpoint,
            jwks_uri,
            client_authentication,
            http,
            jwks: Mutex::new(JwksCache::default()),
        })
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.metadata.issuer
    }

    /// Starts a sign-in: the URL to redirect the browser to, and what to keep
    /// until the callback.
    pub fn begin(&self) -> (Url, PendingAuthorization) {
        let pending = PendingAuthorization {
            state: random_token(),
            nonce: random_token(),
            pkce_verifier: random_token(),
            started_at: unix_now(),
        };
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(pending.pkce_verifier.as_bytes()));
        let mut scopes: Vec<&str> = vec!["openid"];
        scopes.extend(
            self.config
                .scopes
                .iter()
                .map(String::as_str)
                .filter(|s| *s != "openid"),
        );
        let mut url = self.authorization_endpoint.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", self.config.redirect_url.as_str())
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        (url, pending)
    }

    /// Finishes a sign-in from the callback: checks it belongs to `pending`,
    /// exchanges the code and verifies the ID token.
    pub async fn complete(
        &self,
        pending: &PendingAuthorization,
        callback: &AuthorizationResponse,
    ) -> Result<VerifiedClaims, OidcError> {
        // The state first: a response to some other sign-in (or a forged
        // one) is not ours to act on, whatever it says.
        let state_matches = callback
            .state
            .as_deref()
            .is_some_and(|s| equal_secrets(s, &pending.state));
        if !state_matches {
            return Err(OidcError::StateMismatch);
        }
        if unix_now().saturating_sub(pending.started_at) > MAX_AUTHORIZATION_AGE.as_secs() {
            return Err(OidcError::AuthorizationExpired);
        }
        if let Some(iss) = &callback.iss {
            // RFC 9207: guards against a response from another provider
            // (mix-up attacks) when several are configured.
            if *iss != self.metadata.issuer {
                return Err(OidcError::CallbackIssuerMismatch {
                    expected: self.metadata.issuer.clone(),
                    found: iss.clone(),
                });
            }
        }
        if let Some(error) = &callback.error {
            return Err(OidcError::AuthorizationDenied {
                error: error.clone(),
                description: callback.error_description.clone(),
            });
        }
        let code = callback.code.as_deref().ok_or(OidcError::MissingCode)?;
        let id_token = self.exchange_code(code, &pending.pkce_verifier).await?;
        self.verify_id_token(&id_token, &pending.nonce).await
    }

    /// The token request (RFC 6749 §4.1.3 with RFC 7636's `code_verifier`);
    /// returns the ID token.
    async fn exchange_code(&self, code: &str, pkce_verifier: &str) -> Result<String, OidcError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.config.redirect_url.as_str()),
            ("code_verifier", pkce_verifier),
        ];
        let mut request = self.http.post(self.token_endpoint.clone());
        match self.client_authentication {
            ClientAuthentication::Basic => {
                request = request.basic_auth(
                    form_encode(&self.config.client_id),
                    Some(form_encode(&self.config.client_secret.0)),
                );
            }
            ClientAuthentication::Post => {
                form.push(("client_id", &self.config.client_id));
                form.push(("client_secret", &self.config.client_secret.0));
            }
        }
        let response = request
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|source| OidcError::Http {
                what: "token endpoint",
                source,
            })?;
        let status = response.status();
        let body = read_capped(response, "token endpoint").await?;
        if !status.is_success() {
            let refusal: Option<TokenErrorResponse> = serde_json::from_slice(&body).ok();
            return Err(match refusal {
                Some(r) => OidcError::TokenEndpoint {
                    status: status.as_u16(),
                    error: r.error,
                    description: r.error_description,
                },
                None => OidcError::HttpStatus {
                    what: "token endpoint",
                    status: status.as_u16(),
                },
            });
        }
        let tokens: TokenResponse =
            serde_json::from_slice(&body).map_err(|source| OidcError::InvalidResponse {
                what: "token endpoint",
                source,
            })?;
        tokens.id_token.ok_or(OidcError::MissingIdToken)
    }

    /// Verifies an ID token issued to this client for the sign-in that sent
    /// `expected_nonce` (OpenID Connect Core §3.1.3.7) and returns its claims.
    pub async fn verify_id_token(
        &self,
        id_token: &str,
        expected_nonce: &str,
    ) -> Result<VerifiedClaims, OidcError> {
        let header = jsonwebtoken::decode_header(id_token).map_err(OidcError::InvalidIdToken)?;
        if !ACCEPTED_ALGORITHMS.contains(&header.alg) {
            return Err(OidcError::UnsupportedAlgorithm(format!("{:?}", header.alg)));
        }
        let key = self.signing_key(header.kid.as_deref(), header.alg).await?;

        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.metadata.issuer]);
        validation.set_audience(&[&self.config.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = CLOCK_LEEWAY.as_secs();
        let claims = jsonwebtoken::decode::<IdTokenClaims>(id_token, &key, &validation)
            .map_err(OidcError::InvalidIdToken)?
            .claims;

        // iat: not in the future beyond the leeway. (How old a token may be
        // is already bounded by exp and by the pending authorization's age.)
        if claims.iat > (unix_now() + CLOCK_LEEWAY.as_secs()) as f64 {
            return Err(OidcError::IssuedInFuture);
        }
        let nonce_matches = claims
            .nonce
            .as_deref()
            .is_some_and(|n| equal_secrets(n, expected_nonce));
        if !nonce_matches {
            return Err(OidcError::NonceMismatch);
        }
        // With several audiences the token must name us as the party it was
        // issued to; with one, azp (if present) must still be us.
        let several_audiences = claims.aud.as_array().is_some_and(|a| a.len() > 1);
        match claims.azp.as_deref() {
            Some(azp) if azp != self.config.client_id => {
                return Err(OidcError::AuthorizedPartyMismatch)
            }
            None if several_audiences => return Err(OidcError::AuthorizedPartyMismatch),
            _ => {}
        }
        Ok(VerifiedClaims {
            issuer: self.metadata.issuer.clone(),
            sub: claims.sub,
            email: claims.email,
            email_verified: claims.email_verified.as_ref().and_then(FlexibleBool::value),
            name: claims.name,
        })
    }

    /// The key for `kid` and `alg`, from the cached JWKS or, when it is stale
    /// or lacks the key, a fresh one.
    async fn signing_key(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, OidcError> {
        let refetch = {
            let cache = self.jwks.lock().unwrap_or_else(|e| e.into_inner());
            let age = cache.fetched_at.map(|t| t.elapsed());
            let fresh = age.is_some_and(|a| a < JWKS_MAX_AGE);
            if fresh {
                if let Some(key) = cache.find(kid, alg) {
                    return Ok(key);
                }
            }
            // Unknown key in a fresh set: perhaps a rotation, perhaps a
            // forgery; look again, but not too often.
            !fresh || age.is_some_and(|a| a >= JWKS_MIN_REFETCH)
        };
        if refetch {
            let keys = self.fetch_jwks().await?;
            let mut cache = self.jwks.lock().unwrap_or_else(|e| e.into_inner());
            cache.keys = keys;
            cache.fetched_at = Some(Instant::now());
            if let Some(key) = cache.find(kid, alg) {
                return Ok(key);
            }
        }
        Err(OidcError::NoMatchingKey {
            kid: kid.map(str::to_owned),
            alg: format!("{alg:?}"),
        })
    }

    async fn fetch_jwks(&self) -> Result<Vec<SigningKey>, OidcError> {
        #[derive(Deserialize)]
        struct RawJwks {
            keys: Vec<serde_json::Value>,
        }
        let raw: RawJwks = get_json(&self.http, "JWKS", self.jwks_uri.as_str()).await?;
        let mut keys = Vec::new();
        for value in raw.keys {
            // Keys of types this client does not use (or cannot parse) are
            // skipped rather than failing the whole set.
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            if matches!(
                jwk.common.public_key_use,
                Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
            ) {
                continue;
            }
            // Only public RSA and P-256 keys: a symmetric ("oct") key in a
            // JWKS must never become an HMAC verification key.
            let family = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => KeyFamily::Rsa,
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                    KeyFamily::EcP256
                }
                _ => continue,
            };
            let Ok(key) = DecodingKey::from_jwk(&jwk) else {
                continue;
            };
            keys.push(SigningKey {
                kid: jwk.common.key_id.clone(),
                alg: jwk.common.key_algorithm.map(|a| a.to_string()),
                family,
                key,
            });
        }
        tracing::debug!(issuer = %self.metadata.issuer, keys = keys.len(), "fetched the OpenID provider's JWKS");
        Ok(keys)
    }
}

async fn read_capped(
    mut response: reqwest::Response,
    what: &'static str,
) -> Result<Vec<u8>, OidcError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|source| OidcError::Http { what, source })?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(OidcError::ResponseTooLarge { what });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    what: &'static str,
    url: &str,
) -> Result<T, OidcError> {
    let response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|source| OidcError::Http { what, source })?;
    let status = response.status();
    if !status.is_success() {
        return Err(OidcError::HttpStatus {
            what,
            status: status.as_u16(),
        });
    }
    let body = read_capped(response, what).await?;
    serde_json::from_slice(&body).map_err(|source| OidcError::InvalidResponse { what, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_urls_are_accepted() {
        assert!(secure_url("x", "https://login.example/tenant/v2.0").is_ok());
        assert!(secure_url("x", "http://127.0.0.1:9710").is_ok());
        assert!(secure_url("x", "http://[::1]:9710/").is_ok());
        assert!(secure_url("x", "http://localhost:9710").is_ok());
        assert!(matches!(
            secure_url("x", "http://login.example"),
            Err(OidcError::InsecureUrl { .. })
        ));
        assert!(secure_url("x", "http://127.0.0.1.example").is_err());
        assert!(secure_url("x", "ftp://127.0.0.1").is_err());
        assert!(secure_url("x", "not a url").is_err());
    }

    #[test]
    fn callback_query_is_read_from_the_url() {
        let url = Url::parse(
            "http://127.0.0.1:1/auth/oidc/callback?code=abc&state=xyz&iss=http%3A%2F%2F127.0.0.1%3A9710&other=1",
        )
        .expect("url");
        let response = AuthorizationResponse::from_callback_url(&url);
        assert_eq!(response.code.as_deref(), Some("abc"));
        assert_eq!(response.state.as_deref(), Some("xyz"));
        assert_eq!(response.iss.as_deref(), Some("http://127.0.0.1:9710"));
        assert_eq!(response.error, None);
    }

    #[test]
    fn email_verified_accepts_booleans_and_their_spellings() {
        let parse = |json: &str| {
            serde_json::from_str::<FlexibleBool>(json)
                .expect("flexible bool")
                .value()
        };
        assert_eq!(parse("true"), Some(true));
        assert_eq!(parse("false"), Some(false));
        assert_eq!(parse("\"TRUE\""), Some(true));
        assert_eq!(parse("\"false\""), Some(false));
        assert_eq!(parse("\"maybe\""), None);
    }

    #[test]
    fn secrets_and_verifiers_stay_out_of_debug_output() {
        let secret = ClientSecret::new("s3cret-value");
        assert!(!format!("{secret:?}").contains("s3cret"));
        let pending = PendingAuthorization {
            state: "the-state".into(),
            nonce: "the-nonce".into(),
            pkce_verifier: "the-verifier".into(),
            started_at: 1,
        };
        let shown = format!("{pending:?}");
        assert!(shown.contains("the-state"));
        assert!(!shown.contains("the-nonce") && !shown.contains("the-verifier"));
    }
}
