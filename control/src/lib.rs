//! The control plane: users, API keys, sessions, Examples, usage and the
//! catalog, behind one small trait with a SQLite implementation (the embedded
//! `serve`) and a PostgreSQL one (the distributed gateway). The `/v1` API is
//! written once against [`ControlPlane`]; the conformance suite in
//! [`conformance`] runs against both implementations.
//!
//! Every method that touches a user's data takes the user's id, so no caller
//! can read across users by forgetting a filter. Timestamps are RFC 3339 UTC
//! text with milliseconds, so the API's answers look the same on both.

pub mod accounts;
pub mod accounts_postgres;
pub mod billing;
pub mod billing_postgres;
pub mod billing_sqlite;
pub mod callbacks;
pub mod callbacks_postgres;
pub mod conformance;
pub mod deposits;
pub mod deposits_postgres;
pub mod postgres;
pub mod reviews;
pub mod reviews_postgres;
pub mod sqlite;

use std::collections::HashSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use self::callbacks::{CallbackOutcome, DueCallback};
use self::deposits::Deposit;
use self::reviews::{DailyRows, QueueEntry, Review, ReviewItem, ReviewOutcome};

/// What went wrong in the control plane. Callers decide what a client hears:
/// [`ControlError::Unavailable`] is worth a retry, [`ControlError::StorageFull`]
/// is the server's lack of room, the rest are internal errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    #[error("the control-plane database is unavailable: {0}")]
    Unavailable(String),
    #[error("the control-plane database has no room left: {0}")]
    StorageFull(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("control-plane database: {0}")]
    Database(String),
}

pub type ControlResult<T> = Result<T, ControlError>;

/// Now, as stored: RFC 3339 UTC with milliseconds, so text order is time order.
pub fn now() -> String {
    timestamp(chrono::Utc::now())
}

pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A page of a list: 1-based `page`, `per_page` rows.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub page: u32,
    pub per_page: u32,
}

impl Page {
    pub fn limit_offset(self) -> (i64, i64) {
        let per = i64::from(self.per_page);
        (per, i64::from(self.page.saturating_sub(1)) * per)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    pub display_name: String,
    pub is_admin: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// An API key as listed: never the secret, only enough of it to tell keys
/// apart (`tp_live_Ab12…xY9z`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    #[schema(required)]
    pub name: Option<String>,
    /// The key's first and last characters around an ellipsis
    /// (`tp_live_Ab12…xY9z`): enough to tell keys apart, never the secret.
    pub masked: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(required, format = DateTime)]
    pub last_used_at: Option<String>,
    #[schema(required, format = DateTime)]
    pub revoked_at: Option<String>,
    /// The suites the key may be used for; None: every suite.
    #[schema(required)]
    pub suite_ids: Option<Vec<Uuid>>,
}

/// Who a live key belongs to, and what it may be used for.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyOwner {
    pub user: User,
    /// The key's suites; None: every suite.
    pub suite_ids: Option<Vec<Uuid>>,
}

/// An uploaded recording.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = Session)]
pub struct SessionRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub suite_id: Uuid,
    #[schema(required)]
    pub description: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Object key of the raw upload, relative to the deployment's object store.
    pub storage_path: String,
    /// `CHROME_TRACE` or `INPUT_EVENTS_JSONL`.
    #[schema(pattern = "^(CHROME_TRACE|INPUT_EVENTS_JSONL)$")]
    pub source_format: String,
    #[schema(minimum = 0)]
    pub size_bytes: i64,
    #[schema(minimum = 0)]
    pub event_count: i64,
    /// The uploaded file's name, as the client sent it.
    #[schema(required)]
    pub source_name: Option<String>,
    /// SHA-256 of the uploaded bytes, lowercase hex.
    #[schema(required, pattern = "^[0-9a-f]{64}$")]
    pub source_sha256: Option<String>,
    /// How its actions were captured: `script` (the capture script's marks
    /// name what was clicked and typed) or `none` (recorded without it: only
    /// inputs without targets, requests and navigations; docs/recording.md);
    /// `pending` while a deployment that reads uploads after accepting them
    /// (the distributed gateway) has not read it yet, `event_count` being 0
    /// until then.
    #[schema(pattern = "^(script|none|pending)$")]
    pub capture: String,
}

impl SessionRecord {
    /// The `capture` of a session stored unread, until a processor reads it.
    pub const UNREAD_CAPTURE: &'static str = "pending";

    /// Stored but not read yet: no timeline, screenshots or event count.
    pub fn is_unread(&self) -> bool {
        self.capture == Self::UNREAD_CAPTURE
    }
}

/// Where an Example is in its processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Pending,
    Processing,
    Completed,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Processing => "PROCESSING",
            Status::Completed => "COMPLETED",
            Status::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "PENDING" => Status::Pending,
            "PROCESSING" => Status::Processing,
            "COMPLETED" => Status::Completed,
            "FAILED" => Status::Failed,
            _ => return None,
        })
    }
}

/// Why an Example failed: a stable code and what to do about it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ExampleError {
    pub code: String,
    pub message: String,
}

/// A training conversation asked of a session with a model.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = Example)]
pub struct ExampleRecord {
    pub id: Uuid,
    pub session_id: Uuid,
    #[serde(skip)]
    pub user_id: Uuid,
    pub suite_id: Uuid,
    pub model_id: Uuid,
    #[schema(required)]
    pub action_tool_map_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub model_configuration: serde_json::Value,
    /// Object key of `messages.jsonl`, once COMPLETED.
    #[schema(required)]
    pub storage_path: Option<String>,
    pub status: Status,
    #[schema(required)]
    pub error: Option<ExampleError>,
    /// Tool calls in the conversation, once COMPLETED.
    #[schema(required, minimum = 0)]
    pub tool_calls: Option<i64>,
    /// Classified actions left out (unmapped, invalid), once COMPLETED.
    #[schema(required, minimum = 0)]
    pub rejected_calls: Option<i64>,
    /// Re-synthesised from a completed review of its actions.
    pub reviewed: bool,
    /// Where its status is POSTed when it is COMPLETED or FAILED.
    #[schema(required)]
    pub callback_url: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

#[derive(Debug, Clone, Default)]
pub struct ExampleFilter {
    pub session_id: Option<Uuid>,
    pub suite_id: Option<Uuid>,
    pub model_id: Option<Uuid>,
    pub status: Option<Status>,
    pub reviewed: Option<bool>,
}

/// One stored catalog file: `kind` is `mcp_server`, `suite`, `map` or
/// `rules`; `suite` names the suite a map belongs to (empty otherwise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogFile {
    pub kind: String,
    pub suite: String,
    pub name: String,
    pub contents: String,
}

/// The stored catalog and its version, which every write increments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredCatalog {
    pub version: i64,
    pub files: Vec<CatalogFile>,
}

/// One stored object's size and when it was stored, for storage accounting.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredObject {
    pub bytes: i64,
    pub created_at: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageRows {
    pub sessions_uploaded: i64,
    pub examples_generated: i64,
    /// (model id, tokens) of Examples completed in the period.
    pub tokens_by_model: Vec<(Uuid, i64)>,
    /// Every object the user has stored that existed before the period ended.
    pub objects: Vec<StoredObject>,
}

/// An accepted upload, written in one transaction: the session, the
/// idempotency key that made it, and the Example to process it with.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub session: SessionRecord,
    /// The `Idempotency-Key` and the fingerprint of the request it came with.
    pub idempotency: Option<(String, String)>,
    pub example: Option<ExampleRecord>,
    /// Set when the recording is stored as sent but not read yet (the
    /// distributed gateway leaves the reading to the processors): what the
    /// reader needs to know that the session row does not say.
    pub unread: Option<UnreadUpload>,
}

/// How an upload stored unread is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UnreadUpload {
    /// The uploader declared the screenshots of a recording without
    /// `tracepipe:sensitive` marks safe to keep.
    pub screenshots_safe: bool,
}

/// What a write of an upload found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadOutcome {
    Stored,
    /// Another request with the same idempotency key stored its session
    /// first; nothing of this one was written.
    KeyTaken,
}

/// The control plane of one deployment. Implementations keep every write
/// of one method atomic.
#[async_trait]
pub trait ControlPlane: Send + Sync + 'static {
    // ------------------------------------------------------------ users, keys
    async fn user_count(&self) -> ControlResult<i64>;
    /// A user and their first key, together.
    async fn insert_user(&self, user: &User, key: &ApiKey, key_hash: &str) -> ControlResult<()>;
    async fn insert_api_key(
        &self,
        user_id: Uuid,
        key: &ApiKey,
        key_hash: &str,
    ) -> ControlResult<()>;
    /// The user a live key hash belongs to, with the key's suites; records
    /// that the key was used.
    async fn authenticate(&self, key_hash: &str) -> ControlResult<Option<KeyOwner>>;
    /// The user's live keys, oldest first.
    async fn list_api_keys(&self, user_id: Uuid, page: Page) -> ControlResult<(Vec<ApiKey>, i64)>;
    /// Revokes one of the user's live keys; false when the user has none by
    /// that id.
    async fn revoke_api_key(&self, user_id: Uuid, key_id: Uuid) -> ControlResult<bool>;

    // --------------------------------------------------------------- sessions
    async fn insert_upload(&self, upload: &NewUpload) -> ControlResult<UploadOutcome>;
    /// The Session the user's idempotency `key` made, with the fingerprint of
    /// the request it was made for.
    async fn idempotent_session(
        &self,
        user_id: Uuid,
        key: &str,
    ) -> ControlResult<Option<(String, SessionRecord)>>;
    async fn get_session(&self, user_id: Uuid, id: Uuid) -> ControlResult<Option<SessionRecord>>;
    /// The user's sessions, newest first.
    async fn list_sessions(
        &self,
        user_id: Uuid,
        suite_id: Option<Uuid>,
        page: Page,
    ) -> ControlResult<(Vec<SessionRecord>, i64)>;
    /// Which of `ids` are sessions, whoever owns them.
    async fn existing_sessions(&self, ids: &[Uuid]) -> ControlResult<HashSet<Uuid>>;
    /// Sessions of any user that refer to `suite_id`.
    async fn sessions_of_suite(&self, suite_id: Uuid) -> ControlResult<i64>;

    // --------------------------------------------------------------- examples
    async fn insert_example(&self, example: &ExampleRecord) -> ControlResult<()>;
    async fn get_example(&self, user_id: Uuid, id: Uuid) -> ControlResult<Option<ExampleRecord>>;
    /// A paid-for Example and its deposit, together.
    async fn insert_deposit(&self, example: &ExampleRecord, deposit: &Deposit)
        -> ControlResult<()>;
    async fn get_deposit(&self, user_id: Uuid, example_id: Uuid) -> ControlResult<Option<Deposit>>;
    /// Records what the deposit's Example cost and what was refunded, once;
    /// false when it was settled already.
    async fn settle_deposit(
        &self,
        example_id: Uuid,
        cost_cents: i64,
        refunded_cents: i64,
        settled_at: chrono::DateTime<chrono::Utc>,
    ) -> ControlResult<bool>;
    /// The user's Examples, newest first.
    async fn list_examples(
        &self,
        user_id: Uuid,
        filter: &ExampleFilter,
        page: Page,
    ) -> ControlResult<(Vec<ExampleRecord>, i64)>;

    // ---------------------------------------------------------------- catalog
    async fn catalog(&self) -> ControlResult<StoredCatalog>;
    async fn catalog_version(&self) -> ControlResult<i64>;
    /// Replaces the stored catalog if it is still at `base_version`; the new
    /// version, or None when another writer changed it first.
    async fn replace_catalog(
        &self,
        base_version: i64,
        files: &[CatalogFile],
    ) -> ControlResult<Option<i64>>;

    // ------------------------------------------------------------------ usage
    /// The user's usage between `start` and `end` (timestamps as stored).
    async fn usage(
        &self,
        user_id: Uuid,
        suite_id: Option<Uuid>,
        start: &str,
        end: &str,
    ) -> ControlResult<UsageRows>;
    /// The user's activity per UTC day between `start` and `end`
    /// (timestamps as stored), and what they had stored before `start`.
    async fn daily_usage(
        &self,
        user_id: Uuid,
        suite_id: Option<Uuid>,
        start: &str,
        end: &str,
    ) -> ControlResult<DailyRows>;

    // ---------------------------------------------------------------- reviews
    /// Stores `review` (of its user's Example, made at `example_created_at`)
    /// unless the Example has one already.
    async fn open_review(&self, review: &Review, example_created_at: &str) -> ControlResult<()>;
    async fn get_review(&self, user_id: Uuid, example_id: Uuid) -> ControlResult<Option<Review>>;
    /// Replaces item `item.index` of the user's open review; false when the
    /// user has no open review with that item.
    async fn update_review_item(
        &self,
        user_id: Uuid,
        example_id: Uuid,
        item: &ReviewItem,
    ) -> ControlResult<bool>;
    /// Adds `item` under the review's next index; the item as stored, or
    /// None when the user has no open review of that Example.
    async fn add_review_item(
        &self,
        user_id: Uuid,
        example_id: Uuid,
        item: &ReviewItem,
    ) -> ControlResult<Option<ReviewItem>>;
    /// Closes the user's open review and marks the Example reviewed with the
    /// results of its re-synthesis, together; false when there is no open
    /// review.
    async fn complete_review(
        &self,
        user_id: Uuid,
        example_id: Uuid,
        outcome: &ReviewOutcome,
    ) -> ControlResult<bool>;
    /// Up to `limit` of the user's COMPLETED Examples in `suites` (None:
    /// every suite) that have no review yet, newest first.
    async fn unreviewed_examples(
        &self,
        user_id: Uuid,
        suites: Option<&[Uuid]>,
        limit: u32,
    ) -> ControlResult<Vec<ExampleRecord>>;
    /// The pending items of the user's open reviews in `suites`:
    /// low-confidence first, then the least confident, then the newest
    /// Example; `limit` from `offset`.
    async fn review_queue(
        &self,
        user_id: Uuid,
        suites: Option<&[Uuid]>,
        offset: u64,
        limit: u32,
    ) -> ControlResult<Vec<QueueEntry>>;

    // -------------------------------------------------------------- callbacks
    /// Sets (or with None removes) the secret the user's status callbacks
    /// are signed with; false when there is no such user.
    async fn set_callback_secret(&self, user_id: Uuid, secret: Option<&str>)
        -> ControlResult<bool>;
    async fn has_callback_secret(&self, user_id: Uuid) -> ControlResult<bool>;
    /// Claims up to `limit` callbacks due at `now` (of any user's finished
    /// Examples) until `lease_until`, counting an attempt of each.
    async fn claim_callbacks(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        lease_until: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> ControlResult<Vec<DueCallback>>;
    /// Records what became of `attempt` of the Example's callback; false when
    /// that attempt no longer holds the claim.
    async fn finish_callback(
        &self,
        example_id: Uuid,
        attempt: u32,
        outcome: &CallbackOutcome,
    ) -> ControlResult<bool>;
}
