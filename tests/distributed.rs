//! Distributed mode against the real services: Kafka, S3 (SeaweedFS) and
//! PostgreSQL, as `scripts/services/all.sh start` runs them.
//!
//! Skipped, with a printed reason, when `TRACEPIPE_KAFKA_BOOTSTRAP` is not set
//! and `CI` is not set; under CI a missing service is a failure. Run with
//! `scripts/run-distributed-tests.sh`. Every test uses its own topics, consumer
//! groups, PostgreSQL schema and bucket prefix.

mod common;

use common::exactly_once::assert_exactly_once;
use common::{fixtures, runtime, services_available, statuses, store, upload, Deployment};

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use object_store::path::Path;
use object_store::ObjectStoreExt;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;

/// The partitions a member held last, from its `kafka: assigned [...]` lines.
fn last_assignment(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.split_once("assigned [").map(|(_, rest)| rest))
        .next_back()
        .map(|l| {
            l.trim_end_matches(']')
                .split(", ")
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn uploads_become_examples_exactly_once_with_two_processors_sharing_partitions() {
    if !services_available() {
        return;
    }
    let mut deployment = Deployment::new("share").with_env("TRACEPIPE_ROTATION_MAX_RECORDS", "3");
    deployment.start("gateway", "gateway");
    let (url, key) = deployment.gateway();
    deployment.start("processor", "processor");
    deployment.start("processor-2", "processor");
    deployment.start("sink", "sink");
    let mut sessions = BTreeSet::new();
    for file in fixtures() {
        let session = upload(&url, &key, &file);
        sessions.insert(session["id"].as_str().expect("id").to_owned());
    }
    assert_exactly_once(&deployment, &url, &key, &sessions);

    let first = last_assignment(&deployment.log("processor", "err"));
    let second = last_assignment(&deployment.log("processor-2", "err"));
    assert!(
        !first.is_empty() && !second.is_empty(),
        "both processors hold partitions: {first:?} {second:?}"
    );
    assert!(
        first.iter().all(|p| !second.contains(p)),
        "no partition is held twice: {first:?} {second:?}"
    );
}

#[test]
fn kill_9_of_processor_and_sink_mid_run_still_gives_one_example_per_session() {
    if !services_available() {
        return;
    }
    let mut deployment = Deployment::new("kill").with_env("TRACEPIPE_ROTATION_MAX_RECORDS", "3");
    deployment.start("gateway", "gateway");
    let (url, key) = deployment.gateway();
    deployment.start("processor", "processor");
    deployment.start("sink", "sink");
    let files = fixtures();
    let mut sessions = BTreeSet::new();
    let half = files.len() / 2;
    for file in &files[..half] {
        sessions.insert(
            upload(&url, &key, file)["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    // Mid-run: some of the first half done, some not.
    let deadline = Instant::now() + Duration::from_secs(60);
    while statuses(&url, &key)
        .values()
        .filter(|s| *s == "COMPLETED")
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "nothing completed");
        std::thread::sleep(Duration::from_millis(100));
    }
    deployment.kill9("processor");
    deployment.kill9("sink");
    for file in &files[half..] {
        sessions.insert(
            upload(&url, &key, file)["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    deployment.start("processor", "processor");
    deployment.start("sink", "sink");
    assert_exactly_once(&deployment, &url, &key, &sessions);
}

fn kafka_client() -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set(
        "bootstrap.servers",
        std::env::var("TRACEPIPE_KAFKA_BOOTSTRAP").expect("TRACEPIPE_KAFKA_BOOTSTRAP"),
    );
    config
}

/// A message as read back from a topic.
struct Record {
    partition: i32,
    offset: i64,
    key: String,
    payload: Vec<u8>,
    headers: BTreeMap<String, String>,
}

fn partitions(topic: &str) -> Vec<i32> {
    let consumer: BaseConsumer = kafka_client().create().expect("consumer");
    // A broker under load can answer a metadata request for a topic it has
    // just created with the topic but no partitions yet (leader not
    // available); ask again for a while before concluding it has none.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(30))
            .expect("metadata");
        let ids: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if !ids.is_empty() || Instant::now() > deadline {
            return ids;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every message of `topic` up to its end as of the call, read by assignment
/// (no group, nothing committed).
fn read_topic(topic: &str) -> Vec<Record> {
    let consumer: BaseConsumer = kafka_client()
        .set("group.id", format!("{topic}.reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let timeout = Duration::from_secs(30);
    let mut assignment = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for partition in partitions(topic) {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, timeout)
            .expect("watermarks");
        if high > low {
            assignment
                .add_partition_offset(topic, partition, Offset::Beginning)
                .expect("assignment");
            ends.insert(partition, high);
        }
    }
    let mut records = Vec::new();
    if ends.is_empty() {
        return records;
    }
    consumer.assign(&assignment).expect("assign");
    let mut finished = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while finished.len() < ends.len() {
        assert!(
            Instant::now() < deadline,
            "reading {topic} to {ends:?}: {} messages",
            records.len()
        );
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message.expect("message");
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| {
                        let value = h.value.map(String::from_utf8_lossy).unwrap_or_default();
                        (h.key.to_owned(), value.into_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let record = Record {
            partition: message.partition(),
            offset: message.offset(),
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default(),
            payload: message.payload().unwrap_or_default().to_vec(),
            headers,
        };
        if ends
            .get(&record.partition)
            .is_some_and(|end| record.offset + 1 >= *end)
        {
            finished.insert(record.partition);
        }
        records.push(record);
    }
    records
}

/// Produces one message to a given partition; its (partition, offset).
fn produce(topic: &str, partition: i32, key: &str, payload: &[u8]) -> (i32, i64) {
    let producer: FutureProducer = kafka_client().create().expect("producer");
    let record = FutureRecord::to(topic)
        .partition(partition)
        .key(key)
        .payload(payload);
    let delivery = runtime()
        .block_on(producer.send(record, Duration::from_secs(30)))
        .map_err(|(e, _)| e)
        .expect("produced");
    (delivery.partition, delivery.offset)
}

/// Checks that every value is Avro single-object encoded with the Rabin
/// fingerprint of `schemas/avro/<schema>` and decodes to its end.
fn assert_single_object(topic: &str, records: &[&Record], schema: &str) {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("schemas/avro")
        .join(schema);
    let json = std::fs::read_to_string(file).expect("schema file");
    let schema = apache_avro::Schema::parse_str(&json).expect("schema parses");
    let reader = apache_avro::GenericSingleObjectReader::new(schema).expect("reader");
    assert!(!records.is_empty(), "{topic}: no values to check");
    for record in records {
        let mut rest = record.payload.as_slice();
        if let Err(e) = reader.read_value(&mut rest) {
            panic!(
                "{topic}[{}]@{}: not single-object encoded: {e}",
                record.partition, record.offset
            );
        }
        assert!(
            rest.is_empty(),
            "{topic}[{}]@{}: bytes after the datum",
            record.partition,
            record.offset
        );
    }
}

/// The dead letters that came from `topic[partition]@offset`.
fn dead_letters_of<'a>(
    dead: &'a [Record],
    topic: &str,
    partition: i32,
    offset: i64,
) -> Vec<&'a Record> {
    dead.iter()
        .filter(|r| {
            r.headers.get("tracepipe-origin-topic").map(String::as_str) == Some(topic)
                && r.headers.get("tracepipe-origin-partition") == Some(&partition.to_string())
                && r.headers.get("tracepipe-origin-offset") == Some(&offset.to_string())
        })
        .collect()
}

#[test]
fn poison_messages_are_dead_lettered_and_their_partitions_move_on() {
    if !services_available() {
        return;
    }
    let mut deployment = Deployment::new("poison").with_env("TRACEPIPE_ROTATION_MAX_RECORDS", "3");
    deployment.start("gateway", "gateway");
    let (url, key) = deployment.gateway();
    let name = deployment.name.clone();
    let sessions_topic = format!("{name}.sessions");
    let examples_topic = format!("{name}.examples");
    let dead_letter_topic = format!("{name}.dead-letter");
    let files = fixtures();

    // An upload whose stored recording is gone before any processor reads
    // it: a SessionRef that can never succeed, with a known Example.
    let missing = upload(&url, &key, &files[0]);
    let missing_session = missing["id"].as_str().expect("id").to_owned();
    let listed: Value = reqwest::blocking::Client::new()
        .get(format!("{url}/examples?session_id={missing_session}"))
        .header("X-API-Key", &key)
        .send()
        .and_then(|r| r.json())
        .expect("the upload's Example");
    let missing_example = listed["items"][0]["id"]
        .as_str()
        .expect("example id")
        .to_owned();
    let object = Path::from(format!(
        "{name}/sessions/{missing_session}/input_events.jsonl"
    ));
    let store = store();
    runtime().block_on(async {
        store
            .head(&object)
            .await
            .expect("the gateway stored the upload");
        store.delete(&object).await.expect("delete");
    });

    // Bytes that are not Avro in every partition of both consumed topics:
    // whichever partition the next upload (and its ExampleEvent) lands in,
    // it comes after a poison message.
    let partition_ids = partitions(&sessions_topic);
    assert!(!partition_ids.is_empty(), "{sessions_topic} exists");
    let mut poisoned = Vec::new();
    for topic in [&sessions_topic, &examples_topic] {
        for partition in partitions(topic) {
            let (partition, offset) = produce(topic, partition, "not-avro", b"not avro");
            poisoned.push((topic.clone(), partition, offset));
        }
    }
    let good = upload(&url, &key, &files[1]);
    let good_session = good["id"].as_str().expect("id").to_owned();
    deployment.start("processor", "processor");
    deployment.start("sink", "sink");

    // Every poison message dead-lettered, and the good session through.
    let expected = poisoned.len() + 1;
    let deadline = Instant::now() + Duration::from_secs(240);
    let dead = loop {
        let status = statuses(&url, &key);
        let dead = read_topic(&dead_letter_topic);
        if status.get(&good_session).map(String::as_str) == Some("COMPLETED")
            && status.get(&missing_session).map(String::as_str) == Some("FAILED")
            && dead.len() >= expected
        {
            break dead;
        }
        if Instant::now() > deadline {
            deployment.dump_logs();
            panic!(
                "timed out: statuses {status:?}, {} of {expected} dead letters",
                dead.len()
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    };

    for record in &dead {
        for header in [
            "tracepipe-error",
            "tracepipe-origin-topic",
            "tracepipe-origin-partition",
            "tracepipe-origin-offset",
        ] {
            assert!(
                record.headers.contains_key(header),
                "dead letter @{} without {header}: {:?}",
                record.offset,
                record.headers
            );
        }
    }
    for (topic, partition, offset) in &poisoned {
        let letters = dead_letters_of(&dead, topic, *partition, *offset);
        assert!(
            !letters.is_empty(),
            "{topic}[{partition}]@{offset} is not dead-lettered"
        );
        for letter in letters {
            assert_eq!(letter.payload, b"not avro", "the value as it was");
            assert_eq!(letter.key, "not-avro");
            let error = &letter.headers["tracepipe-error"];
            if *topic == sessions_topic {
                assert!(error.starts_with("invalid_message: "), "{error}");
            } else {
                assert!(!error.is_empty(), "the sink says why");
            }
        }
    }
    let sessions = read_topic(&sessions_topic);
    let reference = sessions
        .iter()
        .find(|r| r.key == missing_session)
        .expect("the missing session's SessionRef");
    let letters = dead_letters_of(
        &dead,
        &sessions_topic,
        reference.partition,
        reference.offset,
    );
    assert!(!letters.is_empty(), "the missing session is dead-lettered");
    for letter in &letters {
        assert_eq!(letter.payload, reference.payload);
        let error = &letter.headers["tracepipe-error"];
        assert!(error.starts_with("session_missing: "), "{error}");
    }
    // Nothing else was dead-lettered (a replay may repeat one, never add one).
    let origins: BTreeSet<(String, i32, i64)> = poisoned
        .iter()
        .cloned()
        .chain([(
            sessions_topic.clone(),
            reference.partition,
            reference.offset,
        )])
        .collect();
    for record in &dead {
        let origin = (
            record.headers["tracepipe-origin-topic"].clone(),
            record.headers["tracepipe-origin-partition"]
                .parse()
                .expect("partition"),
            record.headers["tracepipe-origin-offset"]
                .parse()
                .expect("offset"),
        );
        assert!(
            origins.contains(&origin),
            "unexpected dead letter {origin:?}"
        );
    }

    // The known Example failed with a message that says what to do.
    let example: Value = reqwest::blocking::Client::new()
        .get(format!("{url}/examples/{missing_example}"))
        .header("X-API-Key", &key)
        .send()
        .and_then(|r| r.json())
        .expect("the failed Example");
    assert_eq!(example["status"], "FAILED", "{example}");
    assert_eq!(example["error"]["code"], "session_missing", "{example}");
    let message = example["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("sessions/{missing_session}/session.avro"))
            && message.contains("upload the recording again"),
        "{example}"
    );

    // The sink moved past its poison too: the good Example is in the table,
    // once, and nothing else is.
    assert_exactly_once(
        &deployment,
        &url,
        &key,
        &BTreeSet::from([good_session.clone()]),
    );

    // What the services produced is single-object Avro of the right schema.
    let references: Vec<&Record> = sessions.iter().filter(|r| r.key != "not-avro").collect();
    assert_eq!(references.len(), 2, "the two uploads' SessionRefs");
    assert_single_object(&sessions_topic, &references, "session_ref.avsc");
    let examples = read_topic(&examples_topic);
    let events: Vec<&Record> = examples.iter().filter(|r| r.key != "not-avro").collect();
    assert_single_object(&examples_topic, &events, "example_event.avsc");
    let status_topic = format!("{name}.status");
    let status = read_topic(&status_topic);
    assert_single_object(
        &status_topic,
        &status.iter().collect::<Vec<_>>(),
        "status_event.avsc",
    );
}
