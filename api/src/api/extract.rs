//! Request extractors whose rejections are JSON [`ApiError`]s, and the list
//! conventions (`page`, `per_page`, `{"items","total","page","per_page"}`).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::ApiError;
use crate::control::Page;

pub const DEFAULT_PER_PAGE: u32 = 20;
pub const MAX_PER_PAGE: u32 = 100;

/// A JSON body: an object. serde would read a struct from an array of its
/// fields' values too (`["name", true]`); the API takes objects only, as its
/// document says.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<JsonObject>::from_request(req, state).await {
            Ok(axum::Json(object)) => from_object(object).map(Json),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

type JsonObject = serde_json::Map<String, serde_json::Value>;

/// `T` from a body already read as a JSON object.
pub fn from_object<T: DeserializeOwned>(object: JsonObject) -> Result<T, ApiError> {
    T::deserialize(serde_json::Value::Object(object)).map_err(|e| {
        ApiError::unprocessable(
            "invalid_body",
            format!("the body does not fit this operation: {e}"),
        )
    })
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let text = rejection.body_text();
    match rejection {
        JsonRejection::JsonDataError(_) => ApiError::unprocessable("invalid_body", text),
        JsonRejection::JsonSyntaxError(_) => ApiError::bad_request("malformed_json", text),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        other if other.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::too_large("the request body is larger than the server accepts")
        }
        other => ApiError::bad_request("invalid_body", other.body_text()),
    }
}

/// Query parameters.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::bad_request("invalid_query", e.body_text()))
            }
            Err(other) => Err(ApiError::bad_request("invalid_query", other.body_text())),
        }
    }
}

/// `page` and `per_page` as they arrive. Unknown query parameters are refused
/// on every list, so that a misspelt filter (`?suiteid=`) is an error rather
/// than silently ignored.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based page
    #[param(minimum = 1, maximum = 1_000_000, default = 1)]
    pub page: Option<u32>,
    /// items per page
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub per_page: Option<u32>,
}

impl PageQuery {
    pub fn page(self) -> Result<Page, ApiError> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if page == 0 {
            return Err(ApiError::bad_request("invalid_query", "`page` starts at 1").field("page"));
        }
        if page > 1_000_000 {
            return Err(
                ApiError::bad_request("invalid_query", "`page` is at most 1000000").field("page"),
            );
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("`per_page` is between 1 and {MAX_PER_PAGE}"),
            )
            .field("per_page"));
        }
        Ok(Page { page, per_page })
    }
}

/// A list answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct List<T> {
    pub items: Vec<T>,
    #[schema(minimum = 0)]
    pub total: i64,
    #[schema(minimum = 1)]
    pub page: u32,
    #[schema(minimum = 1, maximum = 100)]
    pub per_page: u32,
}

impl<T> List<T> {
    pub fn new(items: Vec<T>, total: i64, page: Page) -> Self {
        List {
            items,
            total,
            page: page.page,
            per_page: page.per_page,
        }
    }

    /// Pages a list that is already in memory (the catalog).
    pub fn slice(all: Vec<T>, page: Page) -> Self {
        let total = all.len() as i64;
        let start = (page.page as usize - 1).saturating_mul(page.per_page as usize);
        let items = all
            .into_iter()
            .skip(start)
            .take(page.per_page as usize)
            .collect();
        List {
            items,
            total,
            page: page.page,
            per_page: page.per_page,
        }
    }
}

/// A path id, with an error that names the parameter.
pub fn parse_id(name: &str, raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::invalid_id(name))
}

/// The path's ids, in order; each must be a UUID, but a suite's may be its name.
pub struct Ids<const N: usize>(pub [Uuid; N]);

impl<S: Send + Sync, const N: usize> FromRequestParts<S> for Ids<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("invalid_path", e.body_text()))?;
        let mut ids = [Uuid::nil(); N];
        let mut count = 0;
        for (name, value) in &params {
            let slot = ids
                .get_mut(count)
                .ok_or_else(|| ApiError::bad_request("invalid_path", "too many path ids"))?;
            *slot = match (name, Uuid::parse_str(value)) {
                (_, Ok(id)) => id,
                // Suites are named by their id or their name, whose id it
                // derives from.
                ("suite_id", Err(_)) => tracepipe_processors::catalog::ids::suite(value),
                (_, Err(_)) => return Err(ApiError::invalid_id(name)),
            };
            count += 1;
        }
        if count != N {
            return Err(ApiError::bad_request("invalid_path", "missing path id"));
        }
        Ok(Ids(ids))
    }
}
