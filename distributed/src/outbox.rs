//! The gateway's transactional outbox: every Kafka message the API promises
//! (an upload's SessionRef, `POST /examples`'s) is written to PostgreSQL in
//! the same statement as the rows it announces, and a relay task in each
//! gateway publishes it. An acknowledged request therefore reaches Kafka
//! eventually, however long Kafka is away, and a refused one announces
//! nothing.
//!
//! The relay takes a batch with `FOR UPDATE SKIP LOCKED` in a transaction on
//! its own connection, so several gateways share the table without publishing
//! a row twice at once; it produces the batch through the idempotent
//! producer, deletes the rows Kafka acknowledged and commits. A crash between
//! the acknowledgement and the commit publishes those rows again: delivery is
//! at-least-once, which the processor's content-keyed writes and the sink's
//! claims absorb, as they do for its own replays.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureProducer;
use serde_json::{Map, Value};
use tokio::sync::Notify;
use tokio_postgres::{Client, NoTls};

use super::config::OutboxConfig;
use super::{kafka, DistributedError};
use crate::control::postgres::{DatabaseConfig, OutboxMessage};

/// The outbox row of a Kafka message with these headers (the trace context).
pub fn message(
    topic: &str,
    key: &str,
    value: Vec<u8>,
    headers: Option<OwnedHeaders>,
) -> OutboxMessage {
    use rdkafka::message::Headers as _;
    let mut fields = Map::new();
    if let Some(headers) = headers {
        for header in headers.iter() {
            if let Some(value) = header.value {
                fields.insert(
                    header.key.to_owned(),
                    Value::String(String::from_utf8_lossy(value).into_owned()),
                );
            }
        }
    }
    OutboxMessage {
        topic: topic.to_owned(),
        key: key.to_owned(),
        value,
        headers: Value::Object(fields),
    }
}

/// The Kafka headers `message` is published with.
fn kafka_headers(message: &OutboxMessage) -> Option<OwnedHeaders> {
    let fields = message.headers.as_object().filter(|f| !f.is_empty())?;
    Some(
        fields
            .iter()
            .fold(OwnedHeaders::new(), |headers, (key, value)| {
                headers.insert(Header {
                    key,
                    value: value.as_str().map(str::as_bytes),
                })
            }),
    )
}

/// Publishes the outbox for as long as the gateway runs. `wake` is notified
/// after every write to the outbox, so a message normally leaves within
/// milliseconds; `poll_interval_ms` bounds the wait for rows this gateway was
/// not told about. Failures (Kafka or PostgreSQL away) are logged and retried
/// after a second; nothing is dropped.
pub async fn relay(
    database: DatabaseConfig,
    producer: FutureProducer,
    settings: OutboxConfig,
    wake: Arc<Notify>,
) {
    let poll = Duration::from_millis(settings.poll_interval_ms.max(1));
    let mut client: Option<Client> = None;
    loop {
        let connection = match client.as_mut().filter(|c| !c.is_closed()) {
            Some(c) => c,
            None => match open(&database).await {
                Ok(c) => client.insert(c),
                Err(e) => {
                    ::tracing::warn!("the outbox relay cannot reach PostgreSQL: {e}; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        match publish_batch(connection, &producer, settings.batch).await {
            // A full batch: there may be more behind it.
            Ok(published) if published >= settings.batch => {}
            Ok(_) => {
                // Either wakes it; a notification that came while publishing
                // is kept and returns at once.
                let _ = tokio::time::timeout(poll, wake.notified()).await;
            }
            Err(e) => {
                ::tracing::warn!("publishing the outbox: {e}; retrying in 1s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Publishes up to `batch` of the oldest unlocked rows; the number Kafka
/// acknowledged. Rows that failed stay for the next attempt, and the first
/// failure is returned once the acknowledged ones are deleted.
async fn publish_batch(
    client: &mut Client,
    producer: &FutureProducer,
    batch: i64,
) -> Result<i64, DistributedError> {
    let transaction = client.transaction().await?;
    let rows = transaction
        .query(
            "SELECT seq, topic, key, value, headers,
                    extract(epoch FROM now() - created_at)::float8 AS age_secs
             FROM outbox ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
            &[&batch.max(1)],
        )
        .await?;
    // The oldest message waiting: grows while Kafka is away.
    crate::telemetry::gateway::outbox_oldest(rows.first().map_or(0.0, |r| r.get("age_secs")));
    if rows.is_empty() {
        return Ok(0);
    }
    let messages: Vec<(i64, OutboxMessage)> = rows
        .iter()
        .map(|row| {
            (
                row.get("seq"),
                OutboxMessage {
                    topic: row.get("topic"),
                    key: row.get("key"),
                    value: row.get("value"),
                    headers: row.get("headers"),
                },
            )
        })
        .collect();
    // All at once: the producer batches them, and the idempotent producer
    // keeps each partition's order across its retries.
    let results = join_all(
        messages
            .iter()
            .map(|(_, m)| kafka::send(producer, &m.topic, &m.key, &m.value, kafka_headers(m))),
    )
    .await;
    let mut sent = Vec::with_capacity(messages.len());
    let mut failure = None;
    for ((seq, _), result) in messages.iter().zip(results) {
        match result {
            Ok(()) => sent.push(*seq),
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    if !sent.is_empty() {
        transaction
            .execute("DELETE FROM outbox WHERE seq = ANY($1)", &[&sent])
            .await?;
    }
    transaction.commit().await?;
    crate::telemetry::gateway::outbox_published(sent.len());
    match failure {
        Some(e) => Err(e),
        None => Ok(i64::try_from(sent.len()).unwrap_or(i64::MAX)),
    }
}

/// A connection whose search path is the configured schema (created if
/// missing).
async fn open(config: &DatabaseConfig) -> Result<Client, DistributedError> {
    let schema = &config.schema;
    if schema.is_empty()
        || !schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(DistributedError::Config(format!(
            "database.schema `{schema}` may only hold a-z 0-9 _"
        )));
    }
    let (client, connection) = tokio_postgres::connect(config.url.expose(), NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!("the outbox relay's PostgreSQL connection ended: {e}");
        }
    });
    // The schema name was checked above; identifiers cannot be bound.
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema};"
        ))
        .await?;
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_headers_survive_the_round_trip_through_the_outbox() {
        let headers = OwnedHeaders::new().insert(Header {
            key: "traceparent",
            value: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        });
        let stored = message("t", "k", vec![1, 2], Some(headers));
        assert_eq!(
            stored.headers["traceparent"],
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
        let back = kafka_headers(&stored).expect("headers");
        use rdkafka::message::Headers as _;
        let first = back.iter().next().expect("one header");
        assert_eq!(first.key, "traceparent");
        assert_eq!(
            first.value,
            Some(&b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"[..])
        );
        assert!(kafka_headers(&message("t", "k", vec![], None)).is_none());
    }
}
