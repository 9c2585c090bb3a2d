//! Reviews of Examples (a person's decisions on each classified action, and
//! the actions they added) and the daily usage series, as the control plane
//! stores them: the types the [`super::ControlPlane`] methods take and answer,
//! and the SQLite half (the PostgreSQL half is `reviews_postgres.rs`).
//!
//! A review is made when it is first looked at, from the Example's classified
//! actions, so that its items keep their indices whatever is added later.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{now, ControlError, ControlResult, ExampleRecord};

/// Whether a review may still change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReviewState {
    Open,
    Completed,
}

/// Where a review item came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = ReviewItemOrigin)]
pub enum Origin {
    /// One of the Example's classified actions.
    Classified,
    /// A missed action the reviewer added.
    Added,
}

/// What the reviewer decided about an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = ReviewItemDecision)]
pub enum Decision {
    Pending,
    Confirmed,
    Changed,
    Deleted,
}

fn text_of<T: Serialize>(value: &T) -> String {
    // Unit enum variants serialise to a JSON string.
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn parse_text<T: for<'de> Deserialize<'de>>(text: &str) -> Option<T> {
    serde_json::from_value(Value::String(text.to_owned())).ok()
}

impl ReviewState {
    pub fn as_str(self) -> String {
        text_of(&self)
    }
}

impl Origin {
    pub fn as_str(self) -> String {
        text_of(&self)
    }
}

impl Decision {
    pub fn as_str(self) -> String {
        text_of(&self)
    }
}

/// One action under review: a classified one with the reviewer's decision,
/// or one the reviewer added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReviewItem {
    /// Stable: a classified action keeps its index, an added one gets the next.
    #[schema(minimum = 0)]
    pub index: u32,
    pub origin: Origin,
    pub decision: Decision,
    /// The suite action (for an added item, the action mapped onto its tool).
    pub action: String,
    pub tool: String,
    #[schema(value_type = Object)]
    pub arguments: Value,
    /// The classifier's confidence; null for an added item.
    #[schema(required)]
    pub confidence: Option<f64>,
    pub low_confidence: bool,
    pub start_ms: f64,
    pub end_ms: f64,
    /// The timeline events it was classified from (empty for an added item).
    pub evidence: Vec<u32>,
}

/// An Example's review.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Review {
    pub example_id: Uuid,
    pub session_id: Uuid,
    #[serde(skip)]
    pub user_id: Uuid,
    #[serde(skip)]
    pub suite_id: Uuid,
    pub state: ReviewState,
    /// Ordered by start_ms.
    pub items: Vec<ReviewItem>,
    /// When a decision was last recorded; null if never reviewed.
    #[schema(required, format = DateTime)]
    pub updated_at: Option<String>,
}

/// What completing a review records on its Example.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewOutcome {
    pub tool_calls: i64,
    pub rejected_calls: i64,
    pub messages_bytes: i64,
}

/// One pending action in the review queue.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct QueueEntry {
    pub example_id: Uuid,
    pub session_id: Uuid,
    #[schema(minimum = 0)]
    pub index: u32,
    pub action: String,
    pub tool: String,
    #[schema(required)]
    pub confidence: Option<f64>,
    pub low_confidence: bool,
    pub start_ms: f64,
}

/// One day's counts, as stored (UTC days).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayCounts {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub sessions: i64,
    pub examples: i64,
    pub tokens: i64,
    /// Bytes stored that day (uploads and conversations).
    pub bytes_added: i64,
}

/// The days of a range that had any activity, and what was stored before it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DailyRows {
    pub stored_before: i64,
    pub days: Vec<DayCounts>,
}

/// Version 9 of the SQLite schema: reviews, their items, and the Example's
/// `reviewed` flag.
pub const SCHEMA_V9: &str = r#"
CREATE TABLE reviews (
    example_id TEXT PRIMARY KEY REFERENCES examples(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    session_id TEXT NOT NULL,
    suite_id TEXT NOT NULL,
    example_created_at TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT
);
CREATE INDEX reviews_user ON reviews(user_id, state);
CREATE TABLE review_items (
    example_id TEXT NOT NULL REFERENCES reviews(example_id),
    idx INTEGER NOT NULL,
    origin TEXT NOT NULL,
    decision TEXT NOT NULL,
    action TEXT NOT NULL,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    confidence REAL,
    low_confidence INTEGER NOT NULL,
    start_ms REAL NOT NULL,
    end_ms REAL NOT NULL,
    evidence TEXT NOT NULL,
    PRIMARY KEY (example_id, idx)
);
ALTER TABLE examples ADD COLUMN reviewed INTEGER NOT NULL DEFAULT 0;
"#;

/// The suites a key restricts a query to, as the JSON text SQLite's
/// `json_each` reads (None: every suite).
fn suites_json(suites: Option<&[Uuid]>) -> Option<String> {
    suites.map(|s| {
        Value::Array(s.iter().map(|id| Value::String(id.to_string())).collect()).to_string()
    })
}

fn corrupt(what: &str, text: &str) -> ControlError {
    ControlError::Corrupt(format!("a review's {what} `{text}`"))
}

/// An item's columns as stored, for both backends.
pub(crate) struct ItemColumns {
    pub origin: String,
    pub decision: String,
    pub arguments: String,
    pub evidence: String,
}

impl ItemColumns {
    pub(crate) fn of(item: &ReviewItem) -> ItemColumns {
        ItemColumns {
            origin: item.origin.as_str(),
            decision: item.decision.as_str(),
            arguments: item.arguments.to_string(),
            evidence: Value::from(item.evidence.clone()).to_string(),
        }
    }
}

/// Builds an item from its stored columns.
#[allow(clippy::too_many_arguments)]
pub(crate) fn item_from_columns(
    index: i64,
    origin: &str,
    decision: &str,
    action: String,
    tool: String,
    arguments: &str,
    confidence: Option<f64>,
    low_confidence: bool,
    start_ms: f64,
    end_ms: f64,
    evidence: &str,
) -> ControlResult<ReviewItem> {
    Ok(ReviewItem {
        index: u32::try_from(index).map_err(|_| corrupt("index", &index.to_string()))?,
        origin: parse_text(origin).ok_or_else(|| corrupt("origin", origin))?,
        decision: parse_text(decision).ok_or_else(|| corrupt("decision", decision))?,
        action,
        tool,
        arguments: serde_json::from_str(arguments).map_err(|_| corrupt("arguments", arguments))?,
        confidence,
        low_confidence,
        start_ms,
        end_ms,
        evidence: serde_json::from_str(evidence).map_err(|_| corrupt("evidence", evidence))?,
    })
}

pub(crate) fn parse_state(text: &str) -> ControlResult<ReviewState> {
    parse_text(text).ok_or_else(|| corrupt("state", text))
}

// ------------------------------------------------------------------ SQLite

fn uuid_text(row: &Row<'_>, idx: usize) -> rusqlite::Result<Uuid> {
    let text: String = row.get(idx)?;
    Uuid::parse_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

const ITEM_COLUMNS: &str = "idx, origin, decision, action, tool, arguments, confidence, \
     low_confidence, start_ms, end_ms, evidence";

fn sqlite_item(row: &Row<'_>) -> rusqlite::Result<ControlResult<ReviewItem>> {
    let origin: String = row.get(1)?;
    let decision: String = row.get(2)?;
    let arguments: String = row.get(5)?;
    let evidence: String = row.get(10)?;
    Ok(item_from_columns(
        row.get(0)?,
        &origin,
        &decision,
        row.get(3)?,
        row.get(4)?,
        &arguments,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        &evidence,
    ))
}

fn insert_item(conn: &Connection, example_id: Uuid, item: &ReviewItem) -> ControlResult<()> {
    let c = ItemColumns::of(item);
    conn.execute(
        &format!(
            "INSERT INTO review_items (example_id, {ITEM_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ),
        params![
            example_id.to_string(),
            item.index,
            c.origin,
            c.decision,
            item.action,
            item.tool,
            c.arguments,
            item.confidence,
            item.low_confidence,
            item.start_ms,
            item.end_ms,
            c.evidence,
        ],
    )?;
    Ok(())
}

/// Stores `review` unless the Example has one already.
pub fn open_review(
    conn: &mut Connection,
    review: &Review,
    example_created_at: &str,
) -> ControlResult<()> {
    let tx = conn.transaction()?;
    let added = tx.execute(
        "INSERT INTO reviews (example_id, user_id, session_id, suite_id, example_created_at,
             state, created_at, updated_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
         WHERE EXISTS (SELECT 1 FROM examples WHERE id = ?1 AND user_id = ?2)
         ON CONFLICT (example_id) DO NOTHING",
        params![
            review.example_id.to_string(),
            review.user_id.to_string(),
            review.session_id.to_string(),
            review.suite_id.to_string(),
            example_created_at,
            review.state.as_str(),
            now(),
            review.updated_at,
        ],
    )?;
    if added == 1 {
        for item in &review.items {
            insert_item(&tx, review.example_id, item)?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub fn get_review(
    conn: &Connection,
    user_id: Uuid,
    example_id: Uuid,
) -> ControlResult<Option<Review>> {
    let head = conn
        .query_row(
            "SELECT session_id, suite_id, state, updated_at FROM reviews
             WHERE example_id = ?1 AND user_id = ?2",
            params![example_id.to_string(), user_id.to_string()],
            |r| {
                Ok((
                    uuid_text(r, 0)?,
                    uuid_text(r, 1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            },
        )
        .optional()?;
    let Some((session_id, suite_id, state, updated_at)) = head else {
        return Ok(None);
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT {ITEM_COLUMNS} FROM review_items WHERE example_id = ?1 ORDER BY start_ms, idx"
    ))?;
    let items = stmt
        .query_map([example_id.to_string()], sqlite_item)?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .collect::<ControlResult<Vec<_>>>()?;
    Ok(Some(Review {
        example_id,
        session_id,
        user_id,
        suite_id,
        state: parse_state(&state)?,
        items,
        updated_at,
    }))
}

/// Replaces item `item.index` of the user's open review; false when there is
/// no such item in an open review of theirs.
pub fn update_item(
    conn: &Connection,
    user_id: Uuid,
    example_id: Uuid,
    item: &ReviewItem,
) -> ControlResult<bool> {
    let c = ItemColumns::of(item);
    let stamp = now();
    let changed = conn.execute(
        "UPDATE review_items SET decision = ?3, tool = ?4, arguments = ?5, action = ?6
         WHERE example_id = ?1 AND idx = ?2 AND EXISTS (
             SELECT 1 FROM reviews r WHERE r.example_id = ?1 AND r.user_id = ?7 AND r.state = 'open')",
        params![
            example_id.to_string(),
            item.index,
            c.decision,
            item.tool,
            c.arguments,
            item.action,
            user_id.to_string(),
        ],
    )?;
    if changed == 1 {
        conn.execute(
            "UPDATE reviews SET updated_at = ?2 WHERE example_id = ?1",
            params![example_id.to_string(), stamp],
        )?;
    }
    Ok(changed == 1)
}

/// Adds `item` to the user's open review under the next index; the item as
/// stored, or None when there is no open review of theirs.
pub fn add_item(
    conn: &mut Connection,
    user_id: Uuid,
    example_id: Uuid,
    item: &ReviewItem,
) -> ControlResult<Option<ReviewItem>> {
    let tx = conn.transaction()?;
    let open: Option<i64> = tx
        .query_row(
            "SELECT (SELECT COALESCE(max(idx) + 1, 0) FROM review_items WHERE example_id = ?1)
             FROM reviews WHERE example_id = ?1 AND user_id = ?2 AND state = 'open'",
            params![example_id.to_string(), user_id.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    let Some(next) = open else {
        return Ok(None);
    };
    let mut stored = item.clone();
    stored.index = u32::try_from(next).map_err(|_| corrupt("index", &next.to_string()))?;
    insert_item(&tx, example_id, &stored)?;
    tx.execute(
        "UPDATE reviews SET updated_at = ?2 WHERE example_id = ?1",
        params![example_id.to_string(), now()],
    )?;
    tx.commit()?;
    Ok(Some(stored))
}

/// Closes the user's open review and marks its Example reviewed with the
/// re-synthesised results; false when there is no open review of theirs.
pub fn complete_review(
    conn: &mut Connection,
    user_id: Uuid,
    example_id: Uuid,
    outcome: &ReviewOutcome,
) -> ControlResult<bool> {
    let tx = conn.transaction()?;
    let stamp = now();
    let closed = tx.execute(
        "UPDATE reviews SET state = 'completed', updated_at = ?3
         WHERE example_id = ?1 AND user_id = ?2 AND state = 'open'",
        params![example_id.to_string(), user_id.to_string(), stamp],
    )?;
    if closed == 0 {
        return Ok(false);
    }
    tx.execute(
        "UPDATE examples SET reviewed = 1, tool_calls = ?2, rejected_calls = ?3,
             messages_bytes = ?4, updated_at = ?5
         WHERE id = ?1",
        params![
            example_id.to_string(),
            outcome.tool_calls,
            outcome.rejected_calls,
            outcome.messages_bytes,
            stamp
        ],
    )?;
    tx.commit()?;
    Ok(true)
}

/// The user's COMPLETED Examples (within `suites`) that have no review yet,
/// newest first.
pub fn unreviewed_examples(
    conn: &Connection,
    user_id: Uuid,
    suites: Option<&[Uuid]>,
    limit: u32,
    example_columns: &str,
    from_row: fn(&Row<'_>) -> rusqlite::Result<ExampleRecord>,
) -> ControlResult<Vec<ExampleRecord>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {example_columns} FROM examples e
         WHERE e.user_id = ?1 AND e.status = 'COMPLETED'
           AND (?2 IS NULL OR e.suite_id IN (SELECT value FROM json_each(?2)))
           AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.example_id = e.id)
         ORDER BY e.created_at DESC, e.seq DESC LIMIT ?3"
    ))?;
    let rows = stmt
        .query_map(
            params![user_id.to_string(), suites_json(suites), limit],
            from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The pending items of the user's open reviews (within `suites`):
/// low-confidence first, then the least confident, then the newest Example;
/// `limit` of them from `offset`.
pub fn review_queue(
    conn: &Connection,
    user_id: Uuid,
    suites: Option<&[Uuid]>,
    offset: u64,
    limit: u32,
) -> ControlResult<Vec<QueueEntry>> {
    let mut stmt = conn.prepare(
        "SELECT r.example_id, r.session_id, i.idx, i.action, i.tool, i.confidence,
                i.low_confidence, i.start_ms
         FROM review_items i JOIN reviews r ON r.example_id = i.example_id
         WHERE r.user_id = ?1 AND r.state = 'open' AND i.decision = 'pending'
           AND (?2 IS NULL OR r.suite_id IN (SELECT value FROM json_each(?2)))
         ORDER BY i.low_confidence DESC, i.confidence IS NULL, i.confidence,
                  r.example_created_at DESC, r.example_id, i.idx
         LIMIT ?3 OFFSET ?4",
    )?;
    let rows = stmt
        .query_map(
            params![
                user_id.to_string(),
                suites_json(suites),
                limit,
                i64::try_from(offset).unwrap_or(i64::MAX)
            ],
            |r| {
                let index: i64 = r.get(2)?;
                Ok(QueueEntry {
                    example_id: uuid_text(r, 0)?,
                    session_id: uuid_text(r, 1)?,
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                    action: r.get(3)?,
                    tool: r.get(4)?,
                    confidence: r.get(5)?,
                    low_confidence: r.get(6)?,
                    start_ms: r.get(7)?,
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The user's activity per UTC day in [`start`, `end`) (stored timestamps),
/// and the bytes they had stored before `start`.
pub fn daily_usage(
    conn: &Connection,
    user_id: Uuid,
    suite_id: Option<Uuid>,
    start: &str,
    end: &str,
) -> ControlResult<DailyRows> {
    let user = user_id.to_string();
    let suite = suite_id.map(|s| s.to_string());
    let stored_before = conn.query_row(
        "SELECT COALESCE((SELECT sum(size_bytes) FROM sessions WHERE user_id = ?1
                 AND (?2 IS NULL OR suite_id = ?2) AND created_at < ?3), 0)
              + COALESCE((SELECT sum(messages_bytes) FROM examples WHERE user_id = ?1
                 AND (?2 IS NULL OR suite_id = ?2) AND status = 'COMPLETED'
                 AND completed_at < ?3), 0)",
        params![user, suite, start],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(
        "SELECT day, sum(sessions), sum(examples), sum(tokens), sum(bytes) FROM (
             SELECT substr(created_at, 1, 10) AS day, 1 AS sessions, 0 AS examples,
                    0 AS tokens, size_bytes AS bytes
             FROM sessions WHERE user_id = ?1 AND (?2 IS NULL OR suite_id = ?2)
               AND created_at >= ?3 AND created_at < ?4
             UNION ALL
             SELECT substr(completed_at, 1, 10), 0, 1, tokens, messages_bytes
             FROM examples WHERE user_id = ?1 AND (?2 IS NULL OR suite_id = ?2)
               AND status = 'COMPLETED' AND completed_at >= ?3 AND completed_at < ?4)
         GROUP BY day ORDER BY day",
    )?;
    let days = stmt
        .query_map(params![user, suite, start, end], |r| {
            Ok(DayCounts {
                date: r.get(0)?,
                sessions: r.get(1)?,
                examples: r.get(2)?,
                tokens: r.get(3)?,
                bytes_added: r.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DailyRows {
        stored_before,
        days,
    })
}
