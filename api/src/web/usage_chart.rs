//! The usage page's charts: the last 30 days of sessions, Examples, tokens
//! and storage, drawn by uPlot (vendored from npm into assets/vendor/uplot/,
//! MIT, see assets/vendor/README.md) with the same figures in a table for
//! those who do not see the canvas.

use std::sync::Arc;

use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};

use chrono::{Days, NaiveDate, Utc};

use super::WebError;
use crate::api::auth::{Caller, KeyScope};
use crate::api::usage_daily::{self, DayUsage};
use crate::api::ApiState;
use crate::control::User;

/// The days the usage page charts, today included.
const CHARTED_DAYS: u64 = 30;

const UPLOT_VERSION: &str = "1.6.32";
const UPLOT_JS_ROUTE: &str = "/static/vendor/uplot-1.6.32/uPlot.iife.min.js";
const UPLOT_CSS_ROUTE: &str = "/static/vendor/uplot-1.6.32/uPlot.min.css";
const UPLOT_LICENSE_ROUTE: &str = "/static/vendor/uplot-1.6.32/LICENSE";
const CHART_JS_ROUTE: &str = "/static/console/usage-chart.js";

const UPLOT_JS: &[u8] = include_bytes!("../../../assets/vendor/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &[u8] = include_bytes!("../../../assets/vendor/uplot/uPlot.min.css");
const UPLOT_LICENSE: &[u8] = include_bytes!("../../../assets/vendor/uplot/LICENSE");
const CHART_JS: &str = include_str!("assets/usage-chart.js");

pub fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route(
            UPLOT_JS_ROUTE,
            get(|| vendored("text/javascript; charset=utf-8", UPLOT_JS)),
        )
        .route(
            UPLOT_CSS_ROUTE,
            get(|| vendored("text/css; charset=utf-8", UPLOT_CSS)),
        )
        .route(
            UPLOT_LICENSE_ROUTE,
            get(|| vendored("text/plain; charset=utf-8", UPLOT_LICENSE)),
        )
        .route(
            CHART_JS_ROUTE,
            get(|| async { super::asset("text/javascript; charset=utf-8", CHART_JS) }),
        )
}

/// A vendored file: its URL carries the version, so it may be cached for good.
async fn vendored(content_type: &'static str, body: &'static [u8]) -> Response {
    use axum::http::{header, HeaderValue};
    use axum::response::IntoResponse;
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The last [`CHARTED_DAYS`] days, today (UTC) included.
fn charted_range() -> (NaiveDate, NaiveDate) {
    let today = Utc::now().date_naive();
    let from = today
        .checked_sub_days(Days::new(CHARTED_DAYS - 1))
        .unwrap_or(today);
    (from, today)
}

/// The charts section of the usage page, for the signed-in `user`: the
/// series `GET /v1/usage/daily` answers, over every suite (a signed-in
/// browser's scope).
pub async fn section(state: &ApiState, user: &User) -> Result<Markup, WebError> {
    let (from, to) = charted_range();
    let caller = Caller(user.clone(), KeyScope::default());
    let usage = usage_daily::daily(state, &caller, from, to, None)
        .await
        .map_err(|e| WebError::Internal(e.message))?;
    Ok(charts(&usage.days))
}

fn charts(days: &[DayUsage]) -> Markup {
    let series = serde_json::to_string(days).unwrap_or_else(|_| "[]".to_owned());
    let first = days.first().map(|d| d.date.as_str()).unwrap_or_default();
    let last = days.last().map(|d| d.date.as_str()).unwrap_or_default();
    html! {
        section class="usage-charts" aria-labelledby="charts-title" {
            h2 id="charts-title" { "The last " (days.len()) " days" }
            p class="hint" { "Each UTC day from " (first) " to " (last) "; storage is what was stored at the day's end." }
            link rel="stylesheet" href=(UPLOT_CSS_ROUTE);
            div class="chart-grid" id="usage-charts" data-series=(series) {
                figure class="chart" {
                    figcaption id="chart-counts-caption" { "Sessions uploaded and Examples generated per day" }
                    div class="chart-canvas" data-chart="counts" role="img" aria-labelledby="chart-counts-caption" {}
                }
                figure class="chart" {
                    figcaption id="chart-tokens-caption" { "Tokens per day" }
                    div class="chart-canvas" data-chart="tokens" role="img" aria-labelledby="chart-tokens-caption" {}
                }
                figure class="chart" {
                    figcaption id="chart-storage-caption" { "Storage at the end of each day (MB)" }
                    div class="chart-canvas" data-chart="storage" role="img" aria-labelledby="chart-storage-caption" {}
                }
            }
            details {
                summary { "The same figures as a table" }
                table data-testid="daily-table" {
                    thead { tr {
                        th scope="col" { "Day" }
                        th scope="col" class="num" { "Sessions" }
                        th scope="col" class="num" { "Examples" }
                        th scope="col" class="num" { "Tokens" }
                        th scope="col" class="num" { "Stored" }
                    } }
                    tbody {
                        @for day in days.iter().rev() {
                            tr {
                                td { (day.date) }
                                td class="num" { (day.sessions) }
                                td class="num" { (day.examples) }
                                td class="num" { (day.tokens) }
                                td class="num" { (super::console::human_bytes(day.storage_bytes)) }
                            }
                        }
                    }
                }
            }
            p class="hint" { "Charts drawn with " a href=(UPLOT_LICENSE_ROUTE) { "uPlot " (UPLOT_VERSION) } " (MIT)." }
            script src=(UPLOT_JS_ROUTE) defer {}
            script src=(CHART_JS_ROUTE) defer {}
        }
    }
}
