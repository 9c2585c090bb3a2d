//! The PostgreSQL half of the reviews and the daily usage series (see
//! `reviews.rs`), with the SQLite half's semantics: the conformance suite
//! runs against both.

use chrono::{DateTime, SubsecRound, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::reviews::{
    item_from_columns, parse_state, DailyRows, DayCounts, ItemColumns, QueueEntry, Review,
    ReviewItem, ReviewOutcome,
};
use super::{timestamp, ControlError, ControlResult};

/// Migration step 4 of the PostgreSQL schema: reviews, their items, and the
/// Example's `reviewed` flag.
pub const STEP_4: &str = "
CREATE TABLE reviews (
    example_id uuid PRIMARY KEY REFERENCES examples(id),
    user_id uuid NOT NULL REFERENCES users(id),
    session_id uuid NOT NULL,
    suite_id uuid NOT NULL,
    example_created_at timestamptz NOT NULL,
    state text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz
);
CREATE INDEX reviews_user ON reviews (user_id, state);
CREATE TABLE review_items (
    example_id uuid NOT NULL REFERENCES reviews(example_id),
    idx integer NOT NULL,
    origin text NOT NULL,
    decision text NOT NULL,
    action text NOT NULL,
    tool text NOT NULL,
    arguments text NOT NULL,
    confidence double precision,
    low_confidence boolean NOT NULL,
    start_ms double precision NOT NULL,
    end_ms double precision NOT NULL,
    evidence text NOT NULL,
    PRIMARY KEY (example_id, idx)
);
ALTER TABLE examples ADD COLUMN reviewed boolean NOT NULL DEFAULT false;
";

fn col<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, name: &str) -> ControlResult<T> {
    row.try_get(name)
        .map_err(|e| ControlError::Corrupt(format!("column {name}: {e}")))
}

fn now_millis() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

fn parse_time(text: &str) -> ControlResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| ControlError::Database(format!("`{text}` is not an RFC 3339 time: {e}")))
}

fn index_param(index: u32) -> i32 {
    i32::try_from(index).unwrap_or(i32::MAX)
}

const ITEM_COLUMNS: &str = "idx, origin, decision, action, tool, arguments, confidence, \
     low_confidence, start_ms, end_ms, evidence";

fn item_from_row(row: &Row) -> ControlResult<ReviewItem> {
    let origin: String = col(row, "origin")?;
    let decision: String = col(row, "decision")?;
    let arguments: String = col(row, "arguments")?;
    let evidence: String = col(row, "evidence")?;
    item_from_columns(
        i64::from(col::<i32>(row, "idx")?),
        &origin,
        &decision,
        col(row, "action")?,
        col(row, "tool")?,
        &arguments,
        col(row, "confidence")?,
        col(row, "low_confidence")?,
        col(row, "start_ms")?,
        col(row, "end_ms")?,
        &evidence,
    )
}

async fn insert_item(
    client: &impl GenericClient,
    example_id: Uuid,
    item: &ReviewItem,
) -> ControlResult<()> {
    let c = ItemColumns::of(item);
    client
        .execute(
            &format!(
                "INSERT INTO review_items (example_id, {ITEM_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ),
            &[
                &example_id,
                &index_param(item.index),
                &c.origin,
                &c.decision,
                &item.action,
                &item.tool,
                &c.arguments,
                &item.confidence,
                &item.low_confidence,
                &item.start_ms,
                &item.end_ms,
                &c.evidence,
            ],
        )
        .await?;
    Ok(())
}

pub async fn open_review(
    client: &mut deadpool_postgres::Client,
    review: &Review,
    example_created_at: &str,
) -> ControlResult<()> {
    let tx = client.transaction().await?;
    let updated_at = review.updated_at.as_deref().map(parse_time).transpose()?;
    let added = tx
        .execute(
            "INSERT INTO reviews (example_id, user_id, session_id, suite_id, example_created_at,
                 state, created_at, updated_at)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8
             WHERE EXISTS (SELECT 1 FROM examples WHERE id = $1 AND user_id = $2)
             ON CONFLICT (example_id) DO NOTHING",
            &[
                &review.example_id,
                &review.user_id,
                &review.session_id,
                &review.suite_id,
                &parse_time(example_created_at)?,
                &review.state.as_str(),
                &now_millis(),
                &updated_at,
            ],
        )
        .await?;
    if added == 1 {
        for item in &review.items {
            insert_item(&tx, review.example_id, item).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

pub async fn get_review(
    client: &impl GenericClient,
    user_id: Uuid,
    example_id: Uuid,
) -> ControlResult<Option<Review>> {
    let Some(head) = client
        .query_opt(
            "SELECT session_id, suite_id, state, updated_at FROM reviews
             WHERE example_id = $1 AND user_id = $2",
            &[&example_id, &user_id],
        )
        .await?
    else {
        return Ok(None);
    };
    let rows = client
        .query(
            &format!(
                "SELECT {ITEM_COLUMNS} FROM review_items WHERE example_id = $1
                 ORDER BY start_ms, idx"
            ),
            &[&example_id],
        )
        .await?;
    let state: String = col(&head, "state")?;
    Ok(Some(Review {
        example_id,
        session_id: col(&head, "session_id")?,
        user_id,
        suite_id: col(&head, "suite_id")?,
        state: parse_state(&state)?,
        items: rows.iter().map(item_from_row).collect::<Result<_, _>>()?,
        updated_at: col::<Option<DateTime<Utc>>>(&head, "updated_at")?.map(timestamp),
    }))
}

pub async fn update_item(
    client: &mut deadpool_postgres::Client,
    user_id: Uuid,
    example_id: Uuid,
    item: &ReviewItem,
) -> ControlResult<bool> {
    let c = ItemColumns::of(item);
    let tx = client.transaction().await?;
    let changed = tx
        .execute(
            "UPDATE review_items SET decision = $3, tool = $4, arguments = $5, action = $6
             WHERE example_id = $1 AND idx = $2 AND EXISTS (
                 SELECT 1 FROM reviews r
                 WHERE r.example_id = $1 AND r.user_id = $7 AND r.state = 'open')",
            &[
                &example_id,
                &index_param(item.index),
                &c.decision,
                &item.tool,
                &c.arguments,
                &item.action,
                &user_id,
            ],
        )
        .await?;
    if changed == 1 {
        tx.execute(
            "UPDATE reviews SET updated_at = $2 WHERE example_id = $1",
            &[&example_id, &now_millis()],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(changed == 1)
}

pub async fn add_item(
    client: &mut deadpool_postgres::Client,
    user_id: Uuid,
    example_id: Uuid,
    item: &ReviewItem,
) -> ControlResult<Option<ReviewItem>> {
    let tx = client.transaction().await?;
    // The row lock serialises two additions to one review.
    let Some(row) = tx
        .query_opt(
            "SELECT example_id FROM reviews
             WHERE example_id = $1 AND user_id = $2 AND state = 'open' FOR UPDATE",
            &[&example_id, &user_id],
        )
        .await?
    else {
        return Ok(None);
    };
    drop(row);
    let next: i32 = col(
        &tx.query_one(
            "SELECT COALESCE(max(idx) + 1, 0) AS next FROM review_items WHERE example_id = $1",
            &[&example_id],
        )
        .await?,
        "next",
    )?;
    let mut stored = item.clone();
    stored.index = u32::try_from(next)
        .map_err(|_| ControlError::Corrupt(format!("a review item index {next}")))?;
    insert_item(&tx, example_id, &stored).await?;
    tx.execute(
        "UPDATE reviews SET updated_at = $2 WHERE example_id = $1",
        &[&example_id, &now_millis()],
    )
    .await?;
    tx.commit().await?;
    Ok(Some(stored))
}

pub async fn complete_review(
    client: &mut deadpool_postgres::Client,
    user_id: Uuid,
    example_id: Uuid,
    outcome: &ReviewOutcome,
) -> ControlResult<bool> {
    let tx = client.transaction().await?;
    let stamp = now_millis();
    let closed = tx
        .execute(
            "UPDATE reviews SET state = 'completed', updated_at = $3
             WHERE example_id = $1 AND user_id = $2 AND state = 'open'",
            &[&example_id, &user_id, &stamp],
        )
        .await?;
    if closed == 0 {
        return Ok(false);
    }
    tx.execute(
        "UPDATE examples SET reviewed = true, tool_calls = $2, rejected_calls = $3,
             messages_bytes = $4, updated_at = $5
         WHERE id = $1",
        &[
            &example_id,
            &outcome.tool_calls,
            &outcome.rejected_calls,
            &outcome.messages_bytes,
            &stamp,
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The WHERE clause of the user's COMPLETED Examples without a review, the
/// suites being `$2` (NULL: every suite).
pub const UNREVIEWED: &str = "e.user_id = $1 AND e.status = 'COMPLETED'
     AND ($2::uuid[] IS NULL OR e.suite_id = ANY($2))
     AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.example_id = e.id)";

pub async fn review_queue(
    client: &impl GenericClient,
    user_id: Uuid,
    suites: Option<&[Uuid]>,
    offset: u64,
    limit: u32,
) -> ControlResult<Vec<QueueEntry>> {
    let suites: Option<Vec<Uuid>> = suites.map(<[Uuid]>::to_vec);
    let rows = client
        .query(
            "SELECT r.example_id, r.session_id, i.idx, i.action, i.tool, i.confidence,
                    i.low_confidence, i.start_ms
             FROM review_items i JOIN reviews r ON r.example_id = i.example_id
             WHERE r.user_id = $1 AND r.state = 'open' AND i.decision = 'pending'
               AND ($2::uuid[] IS NULL OR r.suite_id = ANY($2))
             ORDER BY i.low_confidence DESC, i.confidence ASC NULLS LAST,
                      r.example_created_at DESC, r.example_id, i.idx
             LIMIT $3 OFFSET $4",
            &[
                &user_id,
                &suites,
                &i64::from(limit),
                &i64::try_from(offset).unwrap_or(i64::MAX),
            ],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(QueueEntry {
                example_id: col(r, "example_id")?,
                session_id: col(r, "session_id")?,
                index: u32::try_from(col::<i32>(r, "idx")?).unwrap_or(u32::MAX),
                action: col(r, "action")?,
                tool: col(r, "tool")?,
                confidence: col(r, "confidence")?,
                low_confidence: col(r, "low_confidence")?,
                start_ms: col(r, "start_ms")?,
            })
        })
        .collect()
}

pub async fn daily_usage(
    client: &impl GenericClient,
    user_id: Uuid,
    suite_id: Option<Uuid>,
    start: &str,
    end: &str,
) -> ControlResult<DailyRows> {
    let (start, end) = (parse_time(start)?, parse_time(end)?);
    let suite = "($2::uuid IS NULL OR suite_id = $2)";
    let before = client
        .query_one(
            &format!(
                "SELECT (COALESCE((SELECT sum(size_bytes) FROM sessions
                             WHERE user_id = $1 AND {suite} AND created_at < $3), 0)
                       + COALESCE((SELECT sum(messages_bytes) FROM examples
                             WHERE user_id = $1 AND {suite} AND status = 'COMPLETED'
                               AND completed_at < $3), 0))::bigint AS stored_before"
            ),
            &[&user_id, &suite_id, &start],
        )
        .await?;
    let rows = client
        .query(
            &format!(
                "SELECT day, sum(sessions)::bigint AS sessions, sum(examples)::bigint AS examples,
                        sum(tokens)::bigint AS tokens, sum(bytes)::bigint AS bytes FROM (
                     SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
                            1 AS sessions, 0 AS examples, 0::bigint AS tokens, size_bytes AS bytes
                     FROM sessions WHERE user_id = $1 AND {suite}
                       AND created_at >= $3 AND created_at < $4
                     UNION ALL
                     SELECT to_char(completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 0, 1,
                            tokens, messages_bytes
                     FROM examples WHERE user_id = $1 AND {suite}
                       AND status = 'COMPLETED' AND completed_at >= $3 AND completed_at < $4
                 ) activity
                 GROUP BY day ORDER BY day"
            ),
            &[&user_id, &suite_id, &start, &end],
        )
        .await?;
    Ok(DailyRows {
        stored_before: col(&before, "stored_before")?,
        days: rows
            .iter()
            .map(|r| {
                Ok(DayCounts {
                    date: col(r, "day")?,
                    sessions: col(r, "sessions")?,
                    examples: col(r, "examples")?,
                    tokens: col(r, "tokens")?,
                    bytes_added: col(r, "bytes")?,
                })
            })
            .collect::<ControlResult<_>>()?,
    })
}
