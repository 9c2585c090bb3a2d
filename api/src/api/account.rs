//! Users and API keys: `/users/me`, `/users` (administrators), `/api-keys`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::auth::{self, Caller};
use crate::api::error::{ApiError, ApiResult, ServiceError};
use crate::api::extract::{Ids, Json, List, PageQuery, Query};
use crate::api::openapi::{Always, BadRequest, BodyRefused, NotFound};
use crate::api::ApiState;
use crate::control::{self, ApiKey, ControlPlane, User};

const MAX_NAME_CHARS: usize = 200;
/// Suites one key may be restricted to.
const MAX_KEY_SUITES: usize = 100;

/// On the first start (no users yet), creates the administrator and answers
/// its key, which is shown once and never stored in the clear.
pub async fn ensure_admin(
    control: &dyn ControlPlane,
    display_name: &str,
) -> Result<Option<String>, ServiceError> {
    if control.user_count().await? > 0 {
        return Ok(None);
    }
    let user = User {
        id: Uuid::new_v4(),
        display_name: display_name.to_owned(),
        is_admin: true,
        created_at: control::now(),
    };
    let (record, key) = key_record(Some("first administrator key".into()))?;
    control.insert_user(&user, &record, &key.hash).await?;
    Ok(Some(key.secret))
}

/// A fresh key and how it is stored and listed.
pub(crate) fn key_record(name: Option<String>) -> Result<(ApiKey, auth::NewKey), ServiceError> {
    let key = auth::generate()?;
    let record = ApiKey {
        id: Uuid::new_v4(),
        name,
        masked: key.masked.clone(),
        created_at: control::now(),
        last_used_at: None,
        revoked_at: None,
        suite_ids: None,
    };
    Ok((record, key))
}

/// A key request's suites, named by id or name, as their ids; every one must
/// be in the catalog.
pub(crate) fn key_suites(
    snapshot: &crate::api::catalog_store::Snapshot,
    named: &[String],
) -> ApiResult<Vec<Uuid>> {
    if named.is_empty() || named.len() > MAX_KEY_SUITES {
        return Err(ApiError::unprocessable(
            "invalid_field",
            format!("`suite_ids` names 1 to {MAX_KEY_SUITES} suites; leave it out for a key for every suite"),
        )
        .field("suite_ids"));
    }
    let mut ids = Vec::new();
    for name in named {
        let suite = snapshot.suite_by_name_or_id(name).ok_or_else(|| {
            ApiError::unprocessable(
                "unknown_suite",
                format!(
                    "there is no suite `{}`",
                    crate::admission::truncated(name, 64)
                ),
            )
            .field("suite_ids")
        })?;
        if !ids.contains(&suite.id) {
            ids.push(suite.id);
        }
    }
    Ok(ids)
}

/// The caller.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    id: Uuid,
    display_name: String,
}

#[utoipa::path(
    get,
    path = "/users/me",
    operation_id = "get_caller",
    tag = "account",
    summary = "The caller",
    responses((status = 200, description = "the caller", body = Me), Always)
)]
pub async fn me(caller: Caller) -> axum::Json<Me> {
    axum::Json(Me {
        id: caller.0.id,
        display_name: caller.0.display_name,
    })
}

// The names' pattern is what `check_name` accepts: no control characters and
// not only white space.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    display_name: String,
    #[serde(default)]
    is_admin: bool,
}

/// A key as created: the only answer that carries the secret.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = CreatedApiKey)]
pub struct CreatedKey {
    id: Uuid,
    #[schema(required)]
    name: Option<String>,
    /// the secret: store it now
    #[schema(pattern = "^tp_live_[A-Za-z0-9_-]{43}$")]
    key: String,
    /// how the key is listed: its prefix and the ends of its random part
    masked: String,
    #[schema(format = DateTime)]
    created_at: String,
    /// The suites the key may be used for; null: every suite.
    #[schema(required)]
    suite_ids: Option<Vec<Uuid>>,
}

impl CreatedKey {
    fn of(record: ApiKey, secret: String) -> CreatedKey {
        CreatedKey {
            id: record.id,
            name: record.name,
            key: secret,
            masked: record.masked,
            created_at: record.created_at,
            suite_ids: record.suite_ids,
        }
    }
}
/// A new user and its first key, shown only now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedUser {
    user: User,
    api_key: CreatedKey,
}

fn check_name(field: &str, name: &str) -> ApiResult<()> {
    if name.trim().is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::unprocessable(
            "invalid_field",
            format!("`{field}` must be 1 to {MAX_NAME_CHARS} printable characters"),
        )
        .field(field));
    }
    Ok(())
}

/// `POST /users` (administrators): a user and its first key.
#[utoipa::path(
    post,
    path = "/users",
    operation_id = "create_user",
    tag = "account",
    summary = "Create a user and its first API key (administrators)",
    request_body = NewUser,
    responses(
        (status = 201, description = "the user and its key, shown only now", body = CreatedUser),
        Always, BadRequest, BodyRefused
    )
)]
pub async fn create_user(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Json(body): Json<NewUser>,
) -> ApiResult<(StatusCode, axum::Json<CreatedUser>)> {
    caller.require_admin()?;
    check_name("display_name", &body.display_name)?;
    let user = User {
        id: Uuid::new_v4(),
        display_name: body.display_name,
        is_admin: body.is_admin,
        created_at: control::now(),
    };
    let (record, key) = key_record(None)?;
    state.control.insert_user(&user, &record, &key.hash).await?;
    let created = CreatedUser {
        user,
        api_key: CreatedKey::of(record, key.secret),
    };
    Ok((StatusCode::CREATED, axum::Json(created)))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewApiKey)]
pub struct NewKey {
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    name: Option<String>,
    /// The suites the key may be used for, by id or name; absent: every suite.
    #[serde(default)]
    #[schema(schema_with = key_suites_schema)]
    suite_ids: Option<Vec<String>>,
}

/// What [`key_suites`] accepts, as the OpenAPI document states it: 1 to 100
/// suites, each by its id or name.
fn key_suites_schema() -> utoipa::openapi::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(64)),
        )
        .min_items(Some(1))
        .max_items(Some(100))
        .description(Some(
            "the suites the key may be used for, by id or name; absent: every suite (a key restricted to suites makes keys for those only)",
        ))
        .build()
}

/// `POST /api-keys`: a new key for the caller. The body is optional.
#[utoipa::path(
    post,
    path = "/api-keys",
    operation_id = "create_api_key",
    tag = "account",
    summary = "A new API key for the caller; the key is shown only in this answer",
    request_body(content = Option<NewKey>, content_type = "application/json"),
    responses(
        (status = 201, description = "the key", body = CreatedKey),
        Always, BadRequest, BodyRefused
    )
)]
pub async fn create_key(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, axum::Json<CreatedKey>)> {
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        NewKey::default()
    } else {
        let object = serde_json::from_slice(&body).map_err(|e| {
            ApiError::unprocessable(
                "invalid_body",
                format!("the body is not a key request (a JSON object): {e}"),
            )
        })?;
        crate::api::extract::from_object::<NewKey>(object)?
    };
    if let Some(n) = &request.name {
        check_name("name", n)?;
    }
    let suite_ids = request
        .suite_ids
        .map(|named| key_suites(&state.catalog.snapshot(), &named))
        .transpose()?;
    // A key restricted to suites makes no key for more of them.
    if let (Some(wanted), Some(_)) = (&suite_ids, &caller.1 .0) {
        for suite in wanted {
            caller.1.check(*suite)?;
        }
    }
    let suite_ids = suite_ids.or_else(|| caller.1 .0.clone());
    let (mut record, key) = key_record(request.name)?;
    record.suite_ids = suite_ids;
    state
        .control
        .insert_api_key(caller.0.id, &record, &key.hash)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedKey::of(record, key.secret)),
    ))
}

/// `GET /api-keys`: the caller's live keys, masked.
#[utoipa::path(
    get,
    path = "/api-keys",
    operation_id = "list_api_keys",
    tag = "account",
    summary = "The caller's keys, masked",
    params(PageQuery),
    responses(
        (status = 200, description = "a page of keys", body = List<ApiKey>),
        Always, BadRequest
    )
)]
pub async fn list_keys(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<List<ApiKey>>> {
    let page = q.page()?;
    let (items, total) = state.control.list_api_keys(caller.0.id, page).await?;
    Ok(axum::Json(List::new(items, total, page)))
}

/// `DELETE /api-keys/{id}`: revokes one of the caller's keys (the one in use
/// too), at once: `204`.
#[utoipa::path(
    delete,
    path = "/api-keys/{api_key_id}",
    operation_id = "revoke_api_key",
    tag = "account",
    summary = "Revoke one of the caller's keys",
    params(("api_key_id" = Uuid, Path, description = "the key's id")),
    responses(
        (status = 204, description = "revoked; the key no longer authenticates"),
        Always, BadRequest, NotFound
    )
)]
pub async fn revoke_key(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Ids([key_id]): Ids<1>,
) -> ApiResult<StatusCode> {
    if state.control.revoke_api_key(caller.0.id, key_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("API key"))
    }
}

/// The secret status callbacks are signed with, shown only when made.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CallbackSecret {
    /// Verify each callback's `Tracepipe-Signature` with it (docs/api.md,
    /// "Status callbacks"); store it now.
    #[schema(pattern = "^tpcb_[A-Za-z0-9_-]{43}$")]
    secret: String,
}

/// `POST /account/callback-secret`: a new signing secret for the caller's
/// status callbacks, replacing any; callbacks not yet sent are signed with it.
#[utoipa::path(
    post,
    path = "/account/callback-secret",
    operation_id = "create_callback_secret",
    tag = "account",
    summary = "A new secret to sign the caller's status callbacks with; shown only in this answer",
    responses(
        (status = 201, description = "the secret", body = CallbackSecret),
        Always
    )
)]
pub async fn create_callback_secret(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
) -> ApiResult<(StatusCode, axum::Json<CallbackSecret>)> {
    let secret = auth::random_secret("tpcb_")?;
    state
        .control
        .set_callback_secret(caller.0.id, Some(&secret))
        .await?;
    Ok((StatusCode::CREATED, axum::Json(CallbackSecret { secret })))
}

/// `DELETE /account/callback-secret`: removes the caller's callback secret;
/// callbacks not yet sent are given up, and new ones refused.
#[utoipa::path(
    delete,
    path = "/account/callback-secret",
    operation_id = "delete_callback_secret",
    tag = "account",
    summary = "Remove the caller's callback secret",
    responses((status = 204, description = "removed"), Always)
)]
pub async fn delete_callback_secret(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
) -> ApiResult<StatusCode> {
    state.control.set_callback_secret(caller.0.id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
