//! Kafka clients as the services use them: an idempotent producer, consumers
//! that store offsets only when told to, topic creation, and the dead-letter
//! headers.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::Consumer as _;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::Producer as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::config::{KafkaConfig, Topics};
use super::DistributedError;

/// How long a produce may wait in the client before it counts as failed.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// librdkafka backs off up to 10 s between reconnects by default, which is
/// most of the delay before a client notices a restarted broker; a 1 s cap
/// costs a few refused connections a second while a broker is down.
const RECONNECT_BACKOFF_MAX_MS: &str = "1000";

/// The pause after a consumer reports an error (a broker away: one per
/// failed connection attempt) before it polls again. Short: while the broker
/// is down errors queue up at the reconnect pace, and a pause as long as that
/// pace (it was 1 s) leaves a backlog of them to wait through, one pause
/// each, after the broker is back.
pub const CONSUMER_ERROR_PAUSE: Duration = Duration::from_millis(100);

pub const HEADER_ERROR: &str = "tracepipe-error";
pub const HEADER_ORIGIN_TOPIC: &str = "tracepipe-origin-topic";
pub const HEADER_ORIGIN_PARTITION: &str = "tracepipe-origin-partition";
pub const HEADER_ORIGIN_OFFSET: &str = "tracepipe-origin-offset";

fn kafka(what: &str) -> impl FnOnce(KafkaError) -> DistributedError + '_ {
    move |source| DistributedError::Kafka {
        what: what.to_owned(),
        source,
    }
}

/// An idempotent producer: retries never duplicate or reorder a partition's
/// messages, and a send completes only once every in-sync replica has it.
/// The gateway, the processor and the sink all produce through it.
pub fn producer(config: &KafkaConfig) -> Result<FutureProducer, DistributedError> {
    producer_within(config, DELIVERY_TIMEOUT)
}

/// The same producer with its own delivery timeout: a send not acknowledged
/// within `timeout` fails (the gateway's outbox relay keeps it to retry).
pub fn producer_within(
    config: &KafkaConfig,
    timeout: Duration,
) -> Result<FutureProducer, DistributedError> {
    producer_config(config, timeout)
        .create()
        .map_err(kafka("creating the producer"))
}

/// Separate from `producer` so the unit tests can check the settings the
/// guarantees rest on without a broker.
fn producer_config(config: &KafkaConfig, timeout: Duration) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("delivery.timeout.ms", timeout.as_millis().to_string())
        .set("reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX_MS);
    client
}

/// Sends one message and waits for the broker's acknowledgement.
pub async fn send(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    value: &[u8],
    headers: Option<OwnedHeaders>,
) -> Result<(), DistributedError> {
    let mut record = FutureRecord::to(topic).key(key).payload(value);
    if let Some(headers) = headers {
        record = record.headers(headers);
    }
    producer
        .send(record, DELIVERY_TIMEOUT)
        .await
        .map(|_| ())
        .map_err(|(source, _)| DistributedError::Kafka {
            what: format!("producing to {topic}"),
            source,
        })
}

/// The headers of a dead-lettered message: why, and where it came from.
pub fn dead_letter_headers(error: &str, topic: &str, partition: i32, offset: i64) -> OwnedHeaders {
    let partition = partition.to_string();
    let offset = offset.to_string();
    OwnedHeaders::new()
        .insert(Header {
            key: HEADER_ERROR,
            value: Some(error),
        })
        .insert(Header {
            key: HEADER_ORIGIN_TOPIC,
            value: Some(topic),
        })
        .insert(Header {
            key: HEADER_ORIGIN_PARTITION,
            value: Some(&partition),
        })
        .insert(Header {
            key: HEADER_ORIGIN_OFFSET,
            value: Some(&offset),
        })
}

/// Creates the four topics with `topics.partitions` partitions; existing
/// topics are left as they are.
pub async fn ensure_topics(config: &KafkaConfig, topics: &Topics) -> Result<(), DistributedError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &config.bootstrap)
        .create()
        .map_err(kafka("creating the admin client"))?;
    let names = [
        &topics.sessions,
        &topics.examples,
        &topics.dead_letter,
        &topics.status,
    ];
    let mut new: Vec<NewTopic<'_>> = names
        .iter()
        .map(|name| NewTopic::new(name, topics.partitions, TopicReplication::Fixed(1)))
        .collect();
    // One key, the latest value: the catalog as last stored.
    new.push(
        NewTopic::new(&topics.catalog, 1, TopicReplication::Fixed(1))
            .set("cleanup.policy", "compact"),
    );
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(&new, &options)
        .await
        .map_err(kafka("creating topics"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(DistributedError::Kafka {
                    what: format!("creating topic {topic}"),
                    source: KafkaError::AdminOp(code),
                })
            }
        }
    }
    Ok(())
}

/// Remembers the partitions taken away by rebalances, for the consumer's loop
/// to drop what it holds of them before it handles the next message.
#[derive(Default, Clone)]
pub struct Revocations {
    revoked: Arc<Mutex<HashSet<(String, i32)>>>,
}

impl Revocations {
    /// The partitions revoked since the last call.
    pub fn take(&self) -> HashSet<(String, i32)> {
        match self.revoked.lock() {
            Ok(mut set) => std::mem::take(&mut *set),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

impl ClientContext for Revocations {
    fn stats(&self, statistics: rdkafka::statistics::Statistics) {
        crate::telemetry::kafka::statistics(&statistics);
    }
}

impl ConsumerContext for Revocations {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let mut set = match self.revoked.lock() {
                Ok(set) => set,
                Err(poisoned) => poisoned.into_inner(),
            };
            for element in list.elements() {
                set.insert((element.topic().to_owned(), element.partition()));
            }
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        // Which member holds which partitions is what one needs to know when
        // reading several members' logs (and what the tests check).
        if let Rebalance::Assign(list) = rebalance {
            crate::telemetry::kafka::assigned(list.count());
            let partitions: Vec<String> = list
                .elements()
                .iter()
                .map(|e| format!("{}:{}", e.topic(), e.partition()))
                .collect();
            ::tracing::info!("assigned [{}]", partitions.join(", "));
        }
    }
}

pub type Consumer = StreamConsumer<Revocations>;

/// A consumer of `topic` in `config.group` that never stores offsets by
/// itself. `auto_commit`: commit stored offsets in the background (the
/// processor's at-least-once); otherwise the caller commits explicitly.
pub fn consumer(
    config: &KafkaConfig,
    topic: &str,
    auto_commit: bool,
    partition_eof: bool,
) -> Result<(Consumer, Revocations), DistributedError> {
    let revocations = Revocations::default();
    let consumer: Consumer = ClientConfig::new()
        .set("bootstrap.servers", &config.bootstrap)
        .set("group.id", &config.group)
        .set("enable.auto.offset.store", "false")
        .set(
            "enable.auto.commit",
            if auto_commit { "true" } else { "false" },
        )
        .set("auto.offset.reset", "earliest")
        .set(
            "enable.partition.eof",
            if partition_eof { "true" } else { "false" },
        )
        // A killed member's partitions move to the others this soon.
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        // Static membership, one id per process: a broker away for longer
        // than the session timeout ends the session on the client's side,
        // and a dynamic member's rejoin then waits for its old self to time
        // out on the broker's (about 10 s measured, tests/distributed_kafka.rs);
        // a static member takes its partitions back at once. The price: a
        // stopping member does not leave the group, so its partitions move
        // after the session timeout instead of at once.
        .set(
            "group.instance.id",
            format!("{}-{}", config.group, uuid::Uuid::new_v4()),
        )
        .set("isolation.level", "read_committed")
        .set("reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX_MS)
        // Consumer lag for the metrics, from librdkafka's own bookkeeping.
        .set("statistics.interval.ms", "5000")
        .create_with_context(revocations.clone())
        .map_err(kafka("creating the consumer"))?;
    rdkafka::consumer::Consumer::subscribe(&consumer, &[topic]).map_err(kafka("subscribing"))?;
    Ok((consumer, revocations))
}

/// A consumer of every partition of `topic` by assignment, not group
/// membership: there is no rebalance to wait for when a broker comes back,
/// only a reconnect (capped at 1 s), and fetching resumes from the position
/// held in memory. `config.group` only names where offsets are committed:
/// each partition starts from its committed offset (the earliest without
/// one), and stored offsets are committed in the background.
///
/// Blocking (it asks the broker for the topic's partitions, up to
/// `timeout`): call it on a blocking thread. Partitions added to the topic
/// later are read after a restart.
pub fn assigned_consumer(
    config: &KafkaConfig,
    topic: &str,
    timeout: Duration,
) -> Result<Consumer, DistributedError> {
    let consumer: Consumer = ClientConfig::new()
        .set("bootstrap.servers", &config.bootstrap)
        .set("group.id", &config.group)
        .set("enable.auto.offset.store", "false")
        .set("enable.auto.commit", "true")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX_MS)
        .set("statistics.interval.ms", "5000")
        .create_with_context(Revocations::default())
        .map_err(kafka("creating the consumer"))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(kafka("reading the topic's partitions"))?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    if partitions == 0 {
        return Err(DistributedError::Config(format!(
            "topic {topic} has no partitions (does it exist?)"
        )));
    }
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        let partition = i32::try_from(partition).unwrap_or(i32::MAX);
        assignment
            .add_partition_offset(topic, partition, Offset::Stored)
            .map_err(kafka("assigning partitions"))?;
    }
    consumer
        .assign(&assignment)
        .map_err(kafka("assigning partitions"))?;
    crate::telemetry::kafka::assigned(partitions);
    ::tracing::info!("assigned all {partitions} partitions of {topic}");
    Ok(consumer)
}

/// Whether the cluster answers a metadata request for `topic` within
/// `timeout`. Blocking.
pub fn reachable(
    producer: &FutureProducer,
    topic: &str,
    timeout: Duration,
) -> Result<(), DistributedError> {
    producer
        .client()
        .fetch_metadata(Some(topic), timeout)
        .map(|_| ())
        .map_err(kafka("reading metadata"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_produces_idempotently_to_all_replicas() {
        let config = producer_config(
            &KafkaConfig {
                bootstrap: "127.0.0.1:9092".into(),
                group: "g".into(),
            },
            Duration::from_secs(5),
        );
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("delivery.timeout.ms"), Some("5000"));
    }
}
