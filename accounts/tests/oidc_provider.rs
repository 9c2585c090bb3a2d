//! The OpenID Connect relying party against a real provider: the certified
//! `oidc-provider` package that `scripts/services/oidc.sh start` runs on
//! loopback. Each test walks the flow as a browser would: the authorization
//! URL, the provider's login form, the redirects up to the callback (where no
//! server is needed: the test reads `code` and `state` from the redirect),
//! then the code exchange and ID token verification.
//!
//! Skipped, with a printed reason, when `TRACEPIPE_TEST_OIDC_ISSUER` is not
//! set and `CI` is not set; under CI a missing provider is a failure. Run:
//!
//! ```sh
//! scripts/services/oidc.sh start && eval "$(scripts/services/env.sh)"
//! cargo test -p tracepipe-accounts --test oidc_provider
//! ```

use reqwest::redirect;
use reqwest::StatusCode;
use tracepipe_accounts::oidc::{
    AuthorizationResponse, ClientSecret, OidcClient, OidcConfig, OidcError, PendingAuthorization,
};
use url::Url;

/// The callback path the clients are registered with; the port is free
/// (loopback redirect URIs of native clients match on any port).
const CALLBACK_PATH: &str = "/auth/oidc/callback";

struct Provider {
    issuer: String,
    client_id: String,
    client_secret: String,
    email: String,
    password: String,
}

fn provider() -> Option<Provider> {
    let Ok(issuer) = std::env::var("TRACEPIPE_TEST_OIDC_ISSUER") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but TRACEPIPE_TEST_OIDC_ISSUER is not: scripts/services/oidc.sh start, then eval \"$(scripts/services/env.sh)\""
        );
        eprintln!(
            "skipped: TRACEPIPE_TEST_OIDC_ISSUER is not set (scripts/services/oidc.sh start; eval \"$(scripts/services/env.sh)\")"
        );
        return None;
    };
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    Some(Provider {
        issuer,
        client_id: var("TRACEPIPE_TEST_OIDC_CLIENT_ID"),
        client_secret: var("TRACEPIPE_TEST_OIDC_CLIENT_SECRET"),
        email: var("TRACEPIPE_TEST_OIDC_USER_EMAIL"),
        password: var("TRACEPIPE_TEST_OIDC_USER_PASSWORD"),
    })
}

fn redirect_url() -> Url {
    Url::parse(&format!("http://127.0.0.1:47811{CALLBACK_PATH}")).expect("redirect url")
}

fn config(p: &Provider, client_id: &str, secret: &str) -> OidcConfig {
    OidcConfig::new(
        p.issuer.clone(),
        client_id,
        ClientSecret::new(secret),
        redirect_url(),
    )
}

async fn client(p: &Provider) -> OidcClient {
    OidcClient::discover(config(p, &p.client_id, &p.client_secret))
        .await
        .expect("discovery")
}

/// A browser: keeps the provider's cookies and follows its redirects, but
/// stops at the redirect to our callback.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::custom(|attempt| {
            if attempt.url().path() == CALLBACK_PATH {
                attempt.stop()
            } else if attempt.previous().len() > 10 {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        }))
        .build()
        .expect("browser")
}

/// The value of `name="…"`'s attribute `attr` in the first tag that has it.
fn attribute_of<'h>(html: &'h str, marker: &str, attr: &str) -> Option<&'h str> {
    let tag_start = html.find(marker)?;
    let tag = &html[tag_start..tag_start + html[tag_start..].find('>')?];
    let value_start = tag.find(&format!("{attr}=\""))? + attr.len() + 2;
    let value_len = tag[value_start..].find('"')?;
    Some(&tag[value_start..value_start + value_len])
}

/// What the provider answered to the login form.
enum LoginOutcome {
    /// Redirected to our callback with this URL.
    Callback(Url),
    /// Anything else: the status and page.
    Page(StatusCode, String),
}

/// Opens the authorization URL, fills in the provider's login form and
/// submits it.
async fn sign_in_at_provider(auth_url: Url, email: &str, password: &str) -> LoginOutcome {
    let browser = browser();
    let page = browser
        .get(auth_url)
        .send()
        .await
        .expect("authorization request");
    assert_eq!(page.status(), StatusCode::OK, "the login form");
    let form_url = page.url().clone();
    let html = page.text().await.expect("login page");
    let action = attribute_of(&html, "<form", "action").expect("the form's action");
    assert!(html.contains("name=\"email\"") && html.contains("name=\"password\""));
    let action = form_url.join(action).expect("action url");
    let response = browser
        .post(action)
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .expect("login form post");
    if response.status().is_redirection() {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .expect("a Location");
        let callback = response.url().join(location).expect("callback url");
        assert_eq!(callback.path(), CALLBACK_PATH, "redirected to the callback");
        return LoginOutcome::Callback(callback);
    }
    let status = response.status();
    LoginOutcome::Page(status, response.text().await.unwrap_or_default())
}

/// Begins a sign-in and completes the provider's side: the pending
/// authorization and the callback's query.
async fn authorize(
    p: &Provider,
    client: &OidcClient,
) -> (PendingAuthorization, AuthorizationResponse) {
    let (auth_url, pending) = client.begin();
    match sign_in_at_provider(auth_url, &p.email, &p.password).await {
        LoginOutcome::Callback(url) => (pending, AuthorizationResponse::from_callback_url(&url)),
        LoginOutcome::Page(status, body) => panic!("no redirect after signing in: {status} {body}"),
    }
}

#[tokio::test]
async fn signs_in_with_an_rs256_client_and_returns_the_accounts_claims() {
    let Some(p) = provider() else { return };
    let client = client(&p).await;
    let (auth_url, pending) = client.begin();
    let query: std::collections::HashMap<_, _> = auth_url.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["state"], pending.state());
    assert!(query["scope"].split(' ').any(|s| s == "openid"));

    let LoginOutcome::Callback(callback) =
        sign_in_at_provider(auth_url, &p.email, &p.password).await
    else {
        panic!("no redirect to the callback");
    };
    let response = AuthorizationResponse::from_callback_url(&callback);
    assert_eq!(response.state.as_deref(), Some(pending.state()));
    assert_eq!(response.iss.as_deref(), Some(p.issuer.as_str()));

    let claims = client
        .complete(&pending, &response)
        .await
        .expect("verified claims");
    assert_eq!(claims.issuer, p.issuer);
    assert_eq!(claims.email.as_deref(), Some(p.email.as_str()));
    assert_eq!(claims.email_verified, Some(true));
    assert_eq!(claims.name.as_deref(), Some("Ada Lovelace"));
    assert!(!claims.sub.is_empty());
    assert_ne!(
        claims.sub, p.email,
        "the subject is the provider's id, not the email"
    );

    // The same account signs in again: the same subject.
    let (pending, response) = authorize(&p, &client).await;
    let again = client
        .complete(&pending, &response)
        .await
        .expect("second sign-in");
    assert_eq!(again.sub, claims.sub);
}

#[tokio::test]
async fn signs_in_with_an_es256_client() {
    let Some(p) = provider() else { return };
    let client = OidcClient::discover(config(
        &p,
        &format!("{}-es256", p.client_id),
        &p.client_secret,
    ))
    .await
    .expect("discovery");
    let (pending, response) = authorize(&p, &client).await;
    let claims = client
        .complete(&pending, &response)
        .await
        .expect("verified claims");
    assert_eq!(claims.email.as_deref(), Some(p.email.as_str()));
}

#[tokio::test]
async fn a_tampered_state_is_refused_before_the_code_is_used() {
    let Some(p) = provider() else { return };
    let client = client(&p).await;
    let (pending, mut response) = authorize(&p, &client).await;
    let genuine_state = response.state.clone();
    response.state = Some(format!("{}x", pending.state()));
    assert!(matches!(
        client.complete(&pending, &response).await,
        Err(OidcError::StateMismatch)
    ));
    response.state = None;
    assert!(matches!(
        client.complete(&pending, &response).await,
        Err(OidcError::StateMismatch)
    ));
    // The code was not spent on the refused attempts.
    response.state = genuine_state;
    client
        .complete(&pending, &response)
        .await
        .expect("the genuine callback");
}

/// One field of the pending authorization as it is stored.
fn stored_field(pending: &PendingAuthorization, field: &str) -> String {
    let stored = serde_json::to_value(pending).expect("serialize");
    stored[field].as_str().expect("a string field").to_owned()
}

/// Rewrites one field of the stored pending authorization, as someone able
/// to change where it is kept could.
fn tampered(pending: &PendingAuthorization, field: &str) -> PendingAuthorization {
    let mut stored = serde_json::to_value(pending).expect("serialize");
    stored[field] = format!("{}x", stored_field(pending, field)).into();
    serde_json::from_value(stored).expect("deserialize")
}

#[tokio::test]
async fn an_id_token_for_another_nonce_is_refused() {
    let Some(p) = provider() else { return };
    let client = client(&p).await;
    let (pending, response) = authorize(&p, &client).await;
    let result = client
        .complete(&tampered(&pending, "nonce"), &response)
        .await;
    assert!(
        matches!(result, Err(OidcError::NonceMismatch)),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_wrong_pkce_verifier_is_refused_by_the_provider() {
    let Some(p) = provider() else { return };
    let client = client(&p).await;
    let (pending, response) = authorize(&p, &client).await;
    let result = client
        .complete(&tampered(&pending, "pkce_verifier"), &response)
        .await;
    assert!(
        matches!(&result, Err(OidcError::TokenEndpoint { error, .. }) if error == "invalid_grant"),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused_by_the_provider() {
    let Some(p) = provider() else { return };
    let wrong = OidcClient::discover(config(&p, &p.client_id, "not-the-client-secret"))
        .await
        .expect("discovery needs no secret");
    let (pending, response) = authorize(&p, &wrong).await;
    let result = wrong.complete(&pending, &response).await;
    assert!(
        matches!(&result, Err(OidcError::TokenEndpoint { status: 401, error, .. }) if error == "invalid_client"),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_wrong_password_at_the_provider_gets_no_code() {
    let Some(p) = provider() else { return };
    let client = client(&p).await;
    let (auth_url, _pending) = client.begin();
    match sign_in_at_provider(auth_url, &p.email, "not the password at all").await {
        LoginOutcome::Page(status, body) => {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert!(body.contains("Wrong email or password"));
        }
        LoginOutcome::Callback(url) => panic!("signed in with a wrong password: {url}"),
    }
}

/// Exchanges the code directly (as the test's own client) to get at the raw
/// ID token, for the checks below.
async fn raw_id_token(
    p: &Provider,
    client_id: &str,
    pending: &PendingAuthorization,
    code: &str,
) -> String {
    let verifier = stored_field(pending, "pkce_verifier");
    let redirect = redirect_url();
    let response: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/token", p.issuer))
        .basic_auth(client_id, Some(&p.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .expect("token request")
        .error_for_status()
        .expect("token response")
        .json()
        .await
        .expect("token json");
    response["id_token"].as_str().expect("id_token").to_owned()
}

#[tokio::test]
async fn id_tokens_with_altered_claims_or_for_another_client_are_refused() {
    let Some(p) = provider() else { return };
    let client = client(&p).await;
    let (pending, response) = authorize(&p, &client).await;
    let nonce = stored_field(&pending, "nonce");
    let code = response.code.as_deref().expect("code");
    let id_token = raw_id_token(&p, &p.client_id, &pending, code).await;
    client
        .verify_id_token(&id_token, &nonce)
        .await
        .expect("the genuine token verifies");

    // The payload re-encoded with another email: the signature no longer fits.
    let parts: Vec<&str> = id_token.split('.').collect();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut payload: serde_json::Value =
        serde_json::from_slice(&b64.decode(parts[1]).expect("payload")).expect("claims");
    payload["email"] = "mallory@example.test".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(serde_json::to_vec(&payload).expect("json")),
        parts[2]
    );
    let result = client.verify_id_token(&forged, &nonce).await;
    assert!(
        matches!(result, Err(OidcError::InvalidIdToken(_))),
        "{result:?}"
    );

    // Unsigned ("alg": "none") is never accepted.
    let none_header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{}.", parts[1]);
    let result = client.verify_id_token(&unsigned, &nonce).await;
    assert!(result.is_err(), "{result:?}");

    // The same genuine token presented to the ES256 client: not its audience.
    let other = OidcClient::discover(config(
        &p,
        &format!("{}-es256", p.client_id),
        &p.client_secret,
    ))
    .await
    .expect("discovery");
    let result = other.verify_id_token(&id_token, &nonce).await;
    assert!(
        matches!(result, Err(OidcError::InvalidIdToken(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn discovery_refuses_a_document_naming_another_issuer() {
    let Some(p) = provider() else { return };
    // The same server reached by another name: its document names the
    // configured issuer, not this one.
    let other_name = p.issuer.replace("127.0.0.1", "localhost");
    let result = OidcClient::discover(OidcConfig::new(
        other_name,
        &p.client_id,
        ClientSecret::new(&p.client_secret),
        redirect_url(),
    ))
    .await;
    assert!(
        matches!(result, Err(OidcError::IssuerMismatch { .. })),
        "{result:?}"
    );
}
