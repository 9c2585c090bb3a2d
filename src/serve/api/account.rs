//! Users and API keys: `/users/me`, `/users` (administrators), `/api-keys`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::serve::auth::{self, Caller};
use crate::serve::db::{self, ApiKey, Db, User};
use crate::serve::error::{ApiError, ApiResult, ServeError};
use crate::serve::extract::{Ids, Json, List, PageQuery, Query};
use crate::serve::AppState;

const MAX_NAME_CHARS: usize = 200;

/// On the first start (no users yet), creates the administrator and answers
/// its key, which is shown once and never stored in the clear.
pub async fn ensure_admin(db: &Db, display_name: &str) -> Result<Option<String>, ServeError> {
    let display_name = display_name.to_owned();
    db.call(move |conn| {
        let tx = conn.transaction()?;
        if db::user_count(&tx)? > 0 {
            return Ok(None);
        }
        let user = User {
            id: Uuid::new_v4(),
            display_name,
            is_admin: true,
            created_at: db::now(),
        };
        db::insert_user(&tx, &user)?;
        let key = auth::generate()?;
        let record = ApiKey {
            id: Uuid::new_v4(),
            name: Some("first administrator key".into()),
            prefix: key.prefix.clone(),
            created_at: db::now(),
            revoked_at: None,
        };
        db::insert_api_key(&tx, user.id, &record, &key.hash)?;
        tx.commit()?;
        Ok(Some(key.secret))
    })
    .await
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
    prefix: String,
    created_at: String,
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
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(body): Json<NewUser>,
) -> ApiResult<(StatusCode, axum::Json<CreatedUser>)> {
    caller.require_admin()?;
    check_name("display_name", &body.display_name)?;
    let created = state
        .db
        .call(move |conn| {
            let tx = conn.transaction()?;
            let user = User {
                id: Uuid::new_v4(),
                display_name: body.display_name,
                is_admin: body.is_admin,
                created_at: db::now(),
            };
            db::insert_user(&tx, &user)?;
            let key = new_key(&tx, user.id, None)?;
            tx.commit()?;
            Ok(CreatedUser { user, api_key: key })
        })
        .await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

fn new_key(
    conn: &rusqlite::Connection,
    user_id: Uuid,
    name: Option<String>,
) -> Result<CreatedKey, ServeError> {
    let key = auth::generate()?;
    let record = ApiKey {
        id: Uuid::new_v4(),
        name,
        prefix: key.prefix.clone(),
        created_at: db::now(),
        revoked_at: None,
    };
    db::insert_api_key(conn, user_id, &record, &key.hash)?;
    Ok(CreatedKey {
        id: record.id,
        name: record.name,
        key: key.secret,
        prefix: record.prefix,
        created_at: record.created_at,
    })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    #[serde(default)]
    name: Option<String>,
}

/// `POST /api-keys`: a new key for the caller. The body is optional.
pub async fn create_key(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, axum::Json<CreatedKey>)> {
    let name = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<NewKey>(&body)
            .map_err(|e| {
                ApiError::unprocessable(
                    "invalid_body",
                    format!("the body is not a key request: {e}"),
                )
            })?
            .name
    };
    if let Some(n) = &name {
        check_name("name", n)?;
    }
    let user_id = caller.0.id;
    let key = state
        .db
        .call(move |conn| new_key(conn, user_id, name))
        .await?;
    Ok((StatusCode::CREATED, axum::Json(key)))
}

pub async fn list_keys(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<List<ApiKey>>> {
    let page = q.page()?;
    let user_id = caller.0.id;
    let (items, total) = state
        .db
        .call(move |conn| db::list_api_keys(conn, user_id, page))
        .await?;
    Ok(axum::Json(List::new(items, total, page)))
}

/// `DELETE /api-keys/{id}`: revokes one of the caller's keys (the one in use
/// too); revoking twice answers the same.
pub async fn revoke_key(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Ids([key_id]): Ids<1>,
) -> ApiResult<axum::Json<ApiKey>> {
    let user_id = caller.0.id;
    state
        .db
        .call(move |conn| db::revoke_api_key(conn, user_id, key_id))
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("API key"))
}
