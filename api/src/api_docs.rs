//! The API's documentation for people: `GET /v1/docs` (Swagger UI, with
//! "Try it out") and `GET /v1/redoc` (ReDoc, a reference to read), both
//! rendering `GET /v1/openapi.json`. The pages, their start-up scripts and the
//! vendored bundles (assets/vendor/, see its README) are compiled into the
//! binary and served under `/v1/docs/assets/`; nothing is loaded from another
//! host, and the pages' Content-Security-Policy forbids it. Served by
//! `tracepipe serve` and `tracepipe gateway` without an API key, like the
//! document they show.
//!
//! Every URL in the pages is relative (`openapi.json`, `docs/assets/…`), so
//! they work behind a proxy that serves the API under another prefix.

use std::io::Write;
use std::sync::OnceLock;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use flate2::write::GzEncoder;
use flate2::Compression;

pub const SWAGGER_ROUTE: &str = "/v1/docs";
pub const REDOC_ROUTE: &str = "/v1/redoc";
const ASSETS_ROUTE: &str = "/v1/docs/assets";

/// Same origin only. Both UIs set inline styles and inject `<style>`
/// elements; ReDoc runs its search index in a worker made from a `blob:` URL;
/// the Swagger UI stylesheet draws its icons from `data:` URLs.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; \
    connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// The vendored bundles' URLs carry their version (assets/vendor/README.md),
/// so what one URL answers never changes and browsers may keep it.
const VENDORED_CACHE: &str = "public, max-age=31536000, immutable";
/// The pages and their start-up scripts change with Tracepipe itself.
const OWN_CACHE: &str = "no-cache";

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// A file served under [`ASSETS_ROUTE`].
struct Asset {
    /// The path below [`ASSETS_ROUTE`], as the pages name it.
    path: &'static str,
    content_type: &'static str,
    cache: &'static str,
    body: &'static [u8],
    /// `body` gzipped, made on the first request that accepts it: the
    /// bundles are about 3 MB as they are and under 1 MB gzipped.
    gzipped: OnceLock<Vec<u8>>,
}

impl Asset {
    const fn new(
        path: &'static str,
        content_type: &'static str,
        cache: &'static str,
        body: &'static [u8],
    ) -> Self {
        Self {
            path,
            content_type,
            cache,
            body,
            gzipped: OnceLock::new(),
        }
    }

    fn gzipped(&self) -> &[u8] {
        self.gzipped.get_or_init(|| {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
            // Writing to a Vec cannot fail.
            encoder
                .write_all(self.body)
                .and_then(|()| encoder.finish())
                .unwrap_or_default()
        })
    }
}

/// Each bundle's licence files sit beside it, where its header comment points.
static ASSETS: [Asset; 10] = [
    Asset::new(
        "swagger-init.js",
        JAVASCRIPT,
        OWN_CACHE,
        include_bytes!("api_docs/swagger-init.js"),
    ),
    Asset::new(
        "redoc-init.js",
        JAVASCRIPT,
        OWN_CACHE,
        include_bytes!("api_docs/redoc-init.js"),
    ),
    Asset::new(
        "swagger-ui-5.35.0/swagger-ui-bundle.js",
        JAVASCRIPT,
        VENDORED_CACHE,
        include_bytes!("../../assets/vendor/swagger-ui-dist/swagger-ui-bundle.js"),
    ),
    Asset::new(
        "swagger-ui-5.35.0/swagger-ui.css",
        CSS,
        VENDORED_CACHE,
        include_bytes!("../../assets/vendor/swagger-ui-dist/swagger-ui.css"),
    ),
    Asset::new(
        "swagger-ui-5.35.0/swagger-ui-bundle.js.LICENSE.txt",
        TEXT,
        VENDORED_CACHE,
        include_bytes!("../../assets/vendor/swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt"),
    ),
    Asset::new(
        "swagger-ui-5.35.0/LICENSE",
        TEXT,
        VENDORED_CACHE,
        include_bytes!("../../assets/vendor/swagger-ui-dist/LICENSE"),
    ),
    Asset::new(
        "swagger-ui-5.35.0/NOTICE",
        TEXT,
        VENDORED_CACHE,
        include_bytes!("../../assets/vendor/swagger-ui-dist/NOTICE"),
    ),
    Asset::new(
        "redoc-2.5.4/redoc.standalone.js",
        JAVASCRIPT,
        VENDORED_CACHE,
        include_bytes!("../../assets/vendor/redoc/redoc.standalone.js"),
    ),
    Asset::new(
        "redoc-2.5.4/redoc.standalone.js.LICENSE.txt",
        TEXT,
        VENDORED_CACHE,
        include_bytes!("../../assets/vendor/redoc/redoc.standalone.js.LICENSE.txt"),
    ),
    Asset::new(
        "redoc-2.5.4/LICENSE",
        TEXT,
        VENDORED_CACHE,
        include_bytes!("../../assets/vendor/redoc/LICENSE"),
    ),
];

const SWAGGER_PAGE: &str = include_str!("api_docs/swagger.html");
const REDOC_PAGE: &str = include_str!("api_docs/redoc.html");

pub fn routes() -> Router {
    let router = Router::new()
        .route(SWAGGER_ROUTE, get(|| page(SWAGGER_PAGE)))
        .route(REDOC_ROUTE, get(|| page(REDOC_PAGE)));
    ASSETS.iter().fold(router, |router, asset| {
        router.route(
            &format!("{ASSETS_ROUTE}/{}", asset.path),
            get(move |request: HeaderMap| serve_asset(asset, request)),
        )
    })
}

async fn page(html: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HTML),
            (header::CACHE_CONTROL, OWN_CACHE),
            (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        html,
    )
}

async fn serve_asset(asset: &'static Asset, request: HeaderMap) -> Response {
    let headers: [(HeaderName, HeaderValue); 4] = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static(asset.cache)),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::VARY, HeaderValue::from_static("accept-encoding")),
    ];
    if accepts_gzip(&request) {
        let encoding = [(header::CONTENT_ENCODING, "gzip")];
        (headers, encoding, asset.gzipped()).into_response()
    } else {
        (headers, asset.body).into_response()
    }
}

/// Whether `Accept-Encoding` takes gzip: named with a weight above 0, or
/// not named and `*` is.
fn accepts_gzip(request: &HeaderMap) -> bool {
    let mut wildcard = false;
    let codings = request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for coding in codings {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let weight = parts
            .find_map(|param| param.strip_prefix("q="))
            .map_or(1.0, |q| q.parse::<f32>().unwrap_or(0.0));
        if name.eq_ignore_ascii_case("gzip") {
            return weight > 0.0;
        }
        if name == "*" {
            wildcard = weight > 0.0;
        }
    }
    wildcard
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{to_bytes, Body};
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    /// One GET through the router, as a server would route it.
    async fn fetch(uri: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
        fetch_accepting(uri, None).await
    }

    async fn fetch_accepting(
        uri: &str,
        accept_encoding: Option<&str>,
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut request = Request::get(uri);
        if let Some(accepted) = accept_encoding {
            request = request.header(header::ACCEPT_ENCODING, accepted);
        }
        let request = request.body(Body::empty()).expect("a valid request");
        let response = routes().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        (status, headers, body.to_vec())
    }

    /// The values of every `src="…"` and `href="…"` in a page.
    fn references(html: &str) -> Vec<&str> {
        ["src=\"", "href=\""]
            .iter()
            .flat_map(|attribute| {
                html.split(attribute)
                    .skip(1)
                    .filter_map(|rest| rest.split('"').next())
            })
            .collect()
    }

    #[tokio::test]
    async fn the_pages_are_html_with_a_language_a_title_and_a_same_origin_policy() {
        for route in [SWAGGER_ROUTE, REDOC_ROUTE] {
            let (status, headers, body) = fetch(route).await;
            assert_eq!(status, StatusCode::OK, "{route}");
            assert_eq!(headers[header::CONTENT_TYPE], HTML, "{route}");
            assert_eq!(headers[header::CACHE_CONTROL], OWN_CACHE, "{route}");
            let csp = headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .expect("ASCII");
            assert!(csp.starts_with("default-src 'none'; script-src 'self';"));
            assert!(!csp.contains("http"), "{route}: {csp}");
            let html = String::from_utf8(body).expect("UTF-8");
            assert!(html.contains("<html lang=\"en\">"), "{route}");
            assert!(html.contains("<title>Tracepipe API"), "{route}");
            // Neither an absolute nor a scheme-relative URL: only this host.
            assert!(!html.contains("//"), "{route} names another host: {html}");
        }
    }

    #[tokio::test]
    async fn everything_the_pages_load_is_served_from_the_binary() {
        for (route, html) in [(SWAGGER_ROUTE, SWAGGER_PAGE), (REDOC_ROUTE, REDOC_PAGE)] {
            let loaded = references(html);
            assert!(loaded.contains(&"openapi.json"), "{route}: {loaded:?}");
            // Relative to the page: /v1/docs and /v1/redoc both resolve
            // against /v1/.
            for reference in loaded.into_iter().filter(|r| *r != "openapi.json") {
                let (status, headers, body) = fetch(&format!("/v1/{reference}")).await;
                assert_eq!(status, StatusCode::OK, "{route} loads {reference}");
                let expected = if reference.ends_with(".css") {
                    CSS
                } else {
                    JAVASCRIPT
                };
                assert_eq!(headers[header::CONTENT_TYPE], expected, "{reference}");
                assert!(!body.is_empty(), "{reference}");
            }
        }
    }

    #[tokio::test]
    async fn every_asset_answers_with_its_type_and_cache_policy() {
        for asset in &ASSETS {
            let uri = format!("{ASSETS_ROUTE}/{}", asset.path);
            let (status, headers, body) = fetch(&uri).await;
            assert_eq!(status, StatusCode::OK, "{uri}");
            let expected = match asset.path.rsplit_once('.').map(|(_, ext)| ext) {
                Some("js") => JAVASCRIPT,
                Some("css") => CSS,
                _ => TEXT,
            };
            assert_eq!(headers[header::CONTENT_TYPE], expected, "{uri}");
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{uri}");
            let versioned = asset.path.contains('/');
            let cache = if versioned { VENDORED_CACHE } else { OWN_CACHE };
            assert_eq!(headers[header::CACHE_CONTROL], cache, "{uri}");
            assert!(headers.get(header::CONTENT_ENCODING).is_none(), "{uri}");
            assert_eq!(body, asset.body, "{uri}");
        }
    }

    #[tokio::test]
    async fn assets_are_gzipped_for_a_browser_that_accepts_it() {
        let uri = format!("{ASSETS_ROUTE}/redoc-2.5.4/redoc.standalone.js");
        let bundle = include_bytes!("../../assets/vendor/redoc/redoc.standalone.js");
        for accepted in ["gzip, deflate, br, zstd", "br;q=1.0, GZIP;q=0.5", "*"] {
            let (status, headers, body) = fetch_accepting(&uri, Some(accepted)).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(headers[header::CONTENT_ENCODING], "gzip", "{accepted}");
            assert_eq!(headers[header::VARY], "accept-encoding");
            assert_eq!(headers[header::CONTENT_TYPE], JAVASCRIPT);
            assert!(body.len() < bundle.len() / 2, "{} bytes", body.len());
            let mut unzipped = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut unzipped)
                .expect("gzip");
            assert_eq!(unzipped, bundle);
        }
        for refused in ["br", "gzip;q=0, br", "identity", "gzip;q=0, *", "*;q=0"] {
            let (_, headers, body) = fetch_accepting(&uri, Some(refused)).await;
            assert!(headers.get(header::CONTENT_ENCODING).is_none(), "{refused}");
            assert_eq!(body, bundle, "{refused}");
        }
    }

    /// A bundle replaced by `scripts/vendor-api-docs.sh` must come with the
    /// version in its URL changed, or browsers keep the old one.
    #[test]
    fn each_vendored_bundle_is_the_version_its_url_names() {
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let Some((folder, _)) = asset.path.split_once('/') else {
                continue;
            };
            let version = folder.rsplit('-').next().expect("a version");
            let body = std::str::from_utf8(asset.body).expect("UTF-8");
            assert!(
                body.contains(&format!("\"{version}\"")),
                "{} is not version {version}",
                asset.path
            );
        }
    }
}
