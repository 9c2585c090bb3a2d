//! The usage page: this period's sessions, Examples, storage and tokens by
//! model, with the estimated cost split into tokens and storage. The same
//! numbers as `GET /v1/usage` (src/api/usage.rs computes both).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use maud::html;

use super::layout::Page;
use super::{WebError, WebUser};
use crate::api::usage::this_period;
use crate::api::ApiState;

pub async fn show(State(state): State<Arc<ApiState>>, user: WebUser) -> Result<Response, WebError> {
    let usage = this_period(&state, user.user.id, None).await?;
    let charts = super::usage_chart::section(&state, &user.user).await?;
    let cost = &usage.estimated_cost;
    let period = |t: &str| t.get(..10).unwrap_or(t).to_owned();
    let page = Page {
        title: "Usage",
        path: "/usage",
        user: Some(&user),
    };
    Ok(page.render(html! {
        h1 { "Usage this period" }
        p {
            "From " (period(&usage.billing_period.start)) " to " (period(&usage.billing_period.end))
            " (UTC, end excluded). Also at " code { "GET /v1/usage" } "."
        }
        div class="cards" {
            div class="card" { div class="hint" { "Sessions uploaded" } div class="figure" data-testid="sessions-uploaded" { (usage.sessions_uploaded) } }
            div class="card" { div class="hint" { "Examples generated" } div class="figure" data-testid="examples-generated" { (usage.examples_generated) } }
            div class="card" { div class="hint" { "Storage (GB-hours)" } div class="figure" data-testid="gb-hours" { (format!("{:.6}", usage.storage.gb_hours)) } }
            div class="card" { div class="hint" { "Tokens" } div class="figure" data-testid="tokens" { (usage.tokens.total) } }
        }
        h2 { "Tokens by model" }
        @if usage.tokens.by_model.is_empty() {
            p { "No model tokens used this period." }
        } @else {
            table {
                thead { tr { th scope="col" { "Model" } th scope="col" class="num" { "Tokens" } } }
                tbody {
                    @for (model, tokens) in &usage.tokens.by_model {
                        tr { td { code { (model) } } td class="num" { (tokens) } }
                    }
                }
            }
        }
        h2 { "Estimated cost" }
        table {
            caption class="hint" { "From the price list; the month's invoice is final." }
            thead { tr { th scope="col" { "Item" } th scope="col" class="num" { "Amount (" (cost.currency) ")" } } }
            tbody {
                tr { td { "Tokens" } td class="num" data-testid="cost-tokens" { (format!("{:.2}", cost.tokens)) } }
                tr { td { "Storage" } td class="num" data-testid="cost-storage" { (format!("{:.2}", cost.storage)) } }
                tr { th scope="row" { "Total" } td class="num" data-testid="cost-total" { strong { (format!("{:.2}", cost.total)) } } }
            }
        }
        p { "Currently stored: " (format!("{:.6}", usage.storage.current_gb)) " GB." }
        (charts)
    }))
}
