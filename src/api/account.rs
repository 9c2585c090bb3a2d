//! Users and API keys: `/users/me`, `/users` (administrators), `/api-keys`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::auth::{self, Caller};
use crate::api::error::{ApiError, ApiResult, ServiceError};
use crate::api::extract::{Ids, Json, List, PageQuery, Query};
use crate::api::ApiState;
use crate::control::{self, ApiKey, ControlPlane, User};

const MAX_NAME_CHARS: usize = 200;

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
    if named.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_field",
            "`suite_ids` names at least one suite; leave it out for a key for every suite",
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

#[derive(Serialize)]
pub struct Me {
    id: Uuid,
    display_name: String,
}

pub async fn me(caller: Caller) -> axum::Json<Me> {
    axum::Json(Me {
        id: caller.0.id,
        display_name: caller.0.display_name,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    display_name: String,
    #[serde(default)]
    is_admin: bool,
}

/// A key as created: the only answer that carries the secret.
#[derive(Serialize)]
pub struct CreatedKey {
    id: Uuid,
    name: Option<String>,
    key: String,
    masked: String,
    created_at: String,
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
#[derive(Serialize)]
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    #[serde(default)]
    name: Option<String>,
    /// The suites the key may be used for, by id or name; absent: every suite.
    #[serde(default)]
    suite_ids: Option<Vec<String>>,
}

/// `POST /api-keys`: a new key for the caller. The body is optional.
pub async fn create_key(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, axum::Json<CreatedKey>)> {
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        NewKey::default()
    } else {
        serde_json::from_slice::<NewKey>(&body).map_err(|e| {
            ApiError::unprocessable(
                "invalid_body",
                format!("the body is not a key request: {e}"),
            )
        })?
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
