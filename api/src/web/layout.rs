//! The page shell every page shares: `<html lang>`, a skip link, the site
//! header with the navigation and the signed-in person, `<main>`, a footer,
//! and the response headers of a page (a same-origin Content-Security-Policy,
//! no caching, no sniffing).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::{WebUser, CSS_ROUTE, JS_ROUTE};

/// The policy of every page: everything from this origin, nothing inline
/// (no inline scripts or style attributes), no framing, forms post here only.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// A navigation entry: the path and its label.
pub struct NavItem {
    pub path: &'static str,
    pub label: &'static str,
}

/// What a signed-in person's navigation holds, in order. Pages of other
/// parts of the product (billing) add their entry here.
pub const SIGNED_IN_NAV: &[NavItem] = &[
    NavItem {
        path: "/console",
        label: "Dashboard",
    },
    NavItem {
        path: "/upload",
        label: "Upload",
    },
    NavItem {
        path: "/sessions",
        label: "Sessions",
    },
    NavItem {
        path: "/examples",
        label: "Examples",
    },
    NavItem {
        path: "/review",
        label: "Review queue",
    },
    NavItem {
        path: "/quickstart",
        label: "Quickstart",
    },
    NavItem {
        path: "/keys",
        label: "API keys",
    },
    NavItem {
        path: "/usage",
        label: "Usage",
    },
    NavItem {
        path: "/billing",
        label: "Payment method",
    },
    NavItem {
        path: "/invoices",
        label: "Invoices",
    },
    NavItem {
        path: "/account",
        label: "Account",
    },
    NavItem {
        path: "/v1/docs",
        label: "API reference",
    },
    NavItem {
        path: "/capture",
        label: "Capture how-to",
    },
];

/// A visitor's navigation.
pub const VISITOR_NAV: &[NavItem] = &[
    NavItem {
        path: "/quickstart",
        label: "Quickstart",
    },
    NavItem {
        path: "/v1/docs",
        label: "API reference",
    },
    NavItem {
        path: "/capture",
        label: "Capture how-to",
    },
    NavItem {
        path: "/sign-in",
        label: "Sign in",
    },
    NavItem {
        path: "/register",
        label: "Register",
    },
];

/// One page to render.
pub struct Page<'a> {
    /// The `<title>` and, usually, the `<h1>`.
    pub title: &'a str,
    /// The path of the page, marked as current in the navigation.
    pub path: &'a str,
    /// The signed-in person, if any: their navigation and sign-out button.
    pub user: Option<&'a WebUser>,
}

impl Page<'_> {
    /// The whole document around `main`.
    pub fn markup(&self, main: Markup) -> Markup {
        let nav = if self.user.is_some() {
            SIGNED_IN_NAV
        } else {
            VISITOR_NAV
        };
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (self.title) " · Tracepipe" }
                    link rel="stylesheet" href=(CSS_ROUTE);
                    // No icon: an empty one, rather than a request for
                    // /favicon.ico answered 404.
                    link rel="icon" href="data:,";
                    // For page scripts calling the API with the session
                    // cookie: unsafe methods need it in X-CSRF-Token.
                    @if let Some(user) = self.user {
                        meta name="csrf-token" content=(user.csrf_token());
                    }
                    script src=(JS_ROUTE) defer {}
                }
                body {
                    a class="skip-link" href="#main" { "Skip to content" }
                    header class="site" {
                        div class="bar" {
                            a class="brand" href="/" { "Tracepipe" }
                            nav class="main" aria-label="Main" {
                                ul {
                                    @for item in nav {
                                        li {
                                            @if item.path == self.path {
                                                a href=(item.path) aria-current="page" { (item.label) }
                                            } @else {
                                                a href=(item.path) { (item.label) }
                                            }
                                        }
                                    }
                                }
                            }
                            @if let Some(user) = self.user {
                                div class="who" {
                                    span { "Signed in as " strong { (user.user.display_name) } }
                                    form method="post" action="/sign-out" {
                                        (user.csrf_field())
                                        button type="submit" class="secondary" { "Sign out" }
                                    }
                                }
                            }
                        }
                    }
                    main id="main" tabindex="-1" { (main) }
                    footer class="site" {
                        "Tracepipe turns browser recordings into MCP tool-call training data. "
                        a href="/v1/redoc" { "API reference (ReDoc)" }
                    }
                }
            }
        }
    }

    /// The page as a `200` response.
    pub fn render(&self, main: Markup) -> Response {
        self.render_with(StatusCode::OK, main)
    }

    pub fn render_with(&self, status: StatusCode, main: Markup) -> Response {
        html_response(status, self.markup(main))
    }
}

/// A page's response: its status, the document and the page headers.
pub fn html_response(status: StatusCode, document: Markup) -> Response {
    let mut response = (status, document.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    // Pages show keys, usage and account details: never from a cache.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// A notice above a form: an error or a confirmation, read out by screen
/// readers when it appears.
pub fn notice(kind: NoticeKind, text: &str) -> Markup {
    let class = match kind {
        NoticeKind::Error => "notice error",
        NoticeKind::Ok => "notice ok",
    };
    let role = match kind {
        NoticeKind::Error => "alert",
        NoticeKind::Ok => "status",
    };
    html! { div class=(class) role=(role) { (text) } }
}

#[derive(Debug, Clone, Copy)]
pub enum NoticeKind {
    Error,
    Ok,
}

/// The landing page's picture: a recording flows through Tracepipe into
/// training data. Inline SVG, labelled for screen readers.
pub fn pipeline_diagram() -> Markup {
    html! {
        svg class="diagram" viewBox="0 0 720 150" width="720" height="150" role="img"
            aria-labelledby="diagram-title diagram-desc" xmlns="http://www.w3.org/2000/svg" {
            title id="diagram-title" { "How Tracepipe works" }
            desc id="diagram-desc" {
                "A browser recording is uploaded to Tracepipe, which classifies each action and "
                "writes MCP tool-call conversations as JSONL training data."
            }
            (PreEscaped(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0 0 L10 5 L0 10 z" fill="#4a535e"/></marker></defs>
<rect x="10" y="35" width="180" height="80" rx="8" fill="#f3f6f9" stroke="#0b5cad" stroke-width="2"/>
<text x="100" y="70" text-anchor="middle" font-size="16" fill="#1b1f24">Browser recording</text>
<text x="100" y="94" text-anchor="middle" font-size="13" fill="#4a535e">Chrome trace / events</text>
<line x1="190" y1="75" x2="265" y2="75" stroke="#4a535e" stroke-width="2" marker-end="url(#arrow)"/>
<rect x="270" y="25" width="180" height="100" rx="8" fill="#0b5cad"/>
<text x="360" y="64" text-anchor="middle" font-size="18" font-weight="700" fill="#ffffff">Tracepipe</text>
<text x="360" y="88" text-anchor="middle" font-size="13" fill="#ffffff">normalise · classify</text>
<text x="360" y="106" text-anchor="middle" font-size="13" fill="#ffffff">map to MCP tools</text>
<line x1="450" y1="75" x2="525" y2="75" stroke="#4a535e" stroke-width="2" marker-end="url(#arrow)"/>
<rect x="530" y="35" width="180" height="80" rx="8" fill="#f3f6f9" stroke="#1a6b34" stroke-width="2"/>
<text x="620" y="70" text-anchor="middle" font-size="16" fill="#1b1f24">Training data</text>
<text x="620" y="94" text-anchor="middle" font-size="13" fill="#4a535e">messages.jsonl</text>"##))
        }
    }
}
