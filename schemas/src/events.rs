//! The Kafka values: Avro single-object encoding (`C3 01`, the writer
//! schema's Rabin fingerprint, the datum), as the Session uses, so every value
//! says which schema wrote it. Schemas are in `schemas/avro/`.

use std::sync::OnceLock;

use apache_avro::rabin::Rabin;
use apache_avro::Schema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tracepipe_sinks::{ActionRow, ExampleRow};

const MARKER: [u8; 2] = [0xC3, 0x01];

/// A value that cannot be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    #[error("the value is not Avro single-object encoded")]
    NotSingleObject,
    #[error("the value was written with schema {found:016x}, not {record}'s {expected:016x}")]
    UnknownSchema {
        record: &'static str,
        found: u64,
        expected: u64,
    },
    #[error("{record}: {source}")]
    Avro {
        record: &'static str,
        #[source]
        source: Box<apache_avro::Error>,
    },
    #[error("{record}: the value is malformed ({reason})")]
    Malformed {
        record: &'static str,
        reason: &'static str,
    },
}

/// A record type with its schema, and the earlier versions of it that values
/// still in a topic may have been written with.
pub trait Event: Serialize + DeserializeOwned {
    const NAME: &'static str;
    fn codec() -> &'static Codec;
    fn earlier_codecs() -> &'static [Codec] {
        &[]
    }
}

pub struct Codec {
    schema: Schema,
    fingerprint: u64,
}

impl Codec {
    fn new(json: &str) -> Codec {
        // The schemas are files of this repository; the tests parse each one.
        let schema = Schema::parse_str(json).expect("bundled Avro schema parses");
        let bytes = schema.fingerprint::<Rabin>().bytes;
        let mut le = [0u8; 8];
        le.copy_from_slice(&bytes[..8]);
        Codec {
            schema,
            fingerprint: u64::from_le_bytes(le),
        }
    }
}

impl Codec {
    /// A value of this schema as a message: the marker, the schema's
    /// fingerprint, then the Avro datum.
    fn message(&self, value: apache_avro::types::Value) -> Result<Vec<u8>, apache_avro::Error> {
        let datum = apache_avro::to_avro_datum(&self.schema, value)?;
        let mut out = Vec::with_capacity(datum.len() + 10);
        out.extend_from_slice(&MARKER);
        out.extend_from_slice(&self.fingerprint.to_le_bytes());
        out.extend_from_slice(&datum);
        Ok(out)
    }
}

pub fn encode<T: Event>(value: &T) -> Result<Vec<u8>, EventError> {
    let codec = T::codec();
    let avro = |source| EventError::Avro {
        record: T::NAME,
        source: Box::new(source),
    };
    let value = apache_avro::to_value(value)
        .and_then(|v| v.resolve(&codec.schema))
        .map_err(avro)?;
    codec.message(value).map_err(avro)
}

pub fn decode<T: Event>(bytes: &[u8]) -> Result<T, EventError> {
    let codec = T::codec();
    let (marker, rest) = bytes
        .split_at_checked(2)
        .ok_or(EventError::NotSingleObject)?;
    if marker != MARKER {
        return Err(EventError::NotSingleObject);
    }
    let (fingerprint, mut datum) = rest
        .split_at_checked(8)
        .ok_or(EventError::NotSingleObject)?;
    let mut le = [0u8; 8];
    le.copy_from_slice(fingerprint);
    let found = u64::from_le_bytes(le);
    // A value of an earlier version is read with its writer's schema and
    // resolved to the current one: the fields it lacks take their defaults.
    let writer = std::iter::once(codec)
        .chain(T::earlier_codecs())
        .find(|c| c.fingerprint == found)
        .ok_or(EventError::UnknownSchema {
            record: T::NAME,
            found,
            expected: codec.fingerprint,
        })?;
    let avro = |source| EventError::Avro {
        record: T::NAME,
        source: Box::new(source),
    };
    let reader = (writer.fingerprint != codec.fingerprint).then_some(&codec.schema);
    // As for a Session (avro::bounds): no length apache_avro would allocate
    // beyond what the value holds.
    crate::avro::bounds::check_datum(&writer.schema, datum).map_err(|reason| {
        EventError::Malformed {
            record: T::NAME,
            reason,
        }
    })?;
    let value = apache_avro::from_avro_datum(&writer.schema, &mut datum, reader).map_err(avro)?;
    apache_avro::from_value(&value).map_err(avro)
}

/// The sessions topic's value, keyed by session id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRef {
    pub session_id: String,
    pub example_id: String,
    pub user_id: String,
    pub suite: String,
    pub session_path: String,
    pub created_at: String,
    pub model_id: Option<String>,
    pub action_tool_map_id: Option<String>,
    pub model_configuration: Option<String>,
    pub catalog_version: Option<i64>,
    pub upload_path: Option<String>,
    pub source_name: Option<String>,
    pub screenshots_safe: Option<bool>,
}

impl Event for SessionRef {
    const NAME: &'static str = "SessionRef";
    fn codec() -> &'static Codec {
        static CODEC: OnceLock<Codec> = OnceLock::new();
        CODEC.get_or_init(|| Codec::new(include_str!("../avro/session_ref.avsc")))
    }
    fn earlier_codecs() -> &'static [Codec] {
        static CODECS: OnceLock<[Codec; 2]> = OnceLock::new();
        CODECS.get_or_init(|| {
            [
                Codec::new(include_str!("../avro/session_ref.v1.avsc")),
                Codec::new(include_str!("../avro/session_ref.v2.avsc")),
            ]
        })
    }
}

/// The examples topic's value, keyed by session id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExampleEvent {
    pub example: ExampleRow,
    pub actions: Vec<ActionRow>,
}

impl Event for ExampleEvent {
    const NAME: &'static str = "ExampleEvent";
    fn codec() -> &'static Codec {
        static CODEC: OnceLock<Codec> = OnceLock::new();
        CODEC.get_or_init(|| Codec::new(include_str!("../avro/example_event.avsc")))
    }
    fn earlier_codecs() -> &'static [Codec] {
        // v1: before actions said whether their result was grounded.
        static CODECS: OnceLock<[Codec; 1]> = OnceLock::new();
        CODECS.get_or_init(|| [Codec::new(include_str!("../avro/example_event.v1.avsc"))])
    }
}

pub const PROCESSING: &str = "PROCESSING";
pub const COMPLETED: &str = "COMPLETED";
pub const FAILED: &str = "FAILED";

/// The status topic's value, keyed by session id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusEvent {
    pub example_id: String,
    pub session_id: String,
    pub status: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub storage_path: Option<String>,
    pub tool_calls: i64,
    pub rejected_calls: Option<i64>,
    pub tokens: Option<i64>,
    pub messages_bytes: Option<i64>,
    pub session_event_count: Option<i64>,
    pub session_capture: Option<String>,
}

impl Event for StatusEvent {
    const NAME: &'static str = "StatusEvent";
    fn codec() -> &'static Codec {
        static CODEC: OnceLock<Codec> = OnceLock::new();
        CODEC.get_or_init(|| Codec::new(include_str!("../avro/status_event.avsc")))
    }
    fn earlier_codecs() -> &'static [Codec] {
        static CODECS: OnceLock<[Codec; 2]> = OnceLock::new();
        CODECS.get_or_init(|| {
            [
                Codec::new(include_str!("../avro/status_event.v1.avsc")),
                Codec::new(include_str!("../avro/status_event.v2.avsc")),
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    /// The Example row both ExampleEvent tests carry.
    fn example_row(at: chrono::DateTime<Utc>) -> ExampleRow {
        ExampleRow {
            example_id: "e".into(),
            session_id: "s".into(),
            suite: "gmail".into(),
            model_provider: "RULES".into(),
            model_name: "rules".into(),
            model_version: "1".into(),
            action_tool_map_id: None,
            status: "COMPLETED".into(),
            created_at: at,
            session_started_at: Some(at),
            action_count: 1,
            low_confidence_count: 0,
            min_confidence: Some(0.9),
            tools: vec!["send_email".into()],
            messages_path: "examples/e/messages.jsonl".into(),
            training_line: "{}".into(),
            rejected_calls: 0,
            source_name: Some("send_simple.trace.json.gz".into()),
            source_sha256: Some("ab".repeat(32)),
            capture: "script".into(),
        }
    }

    #[test]
    fn every_event_round_trips() {
        let at = Utc
            .with_ymd_and_hms(2026, 1, 6, 20, 30, 1)
            .single()
            .expect("time");
        let example = ExampleEvent {
            example: example_row(at),
            actions: vec![ActionRow {
                example_id: "e".into(),
                session_id: "s".into(),
                suite: "gmail".into(),
                model_name: "rules".into(),
                model_version: "1".into(),
                action_index: 0,
                action: "send_email".into(),
                tool: "send_email".into(),
                arguments: "{}".into(),
                confidence: 0.9,
                low_confidence: false,
                evidence: vec![1, 2],
                evidence_start: 1,
                evidence_end: 2,
                start_us: 5,
                end_us: 6,
                created_at: at,
                session_started_at: Some(at),
                result_grounded: true,
            }],
        };
        let bytes = encode(&example).expect("encodes");
        assert_eq!(&bytes[..2], &MARKER);
        assert_eq!(decode::<ExampleEvent>(&bytes).expect("decodes"), example);

        let status = StatusEvent {
            example_id: "e".into(),
            session_id: "s".into(),
            status: FAILED.into(),
            error_code: Some("input".into()),
            error_message: Some("bad".into()),
            storage_path: None,
            tool_calls: 0,
            rejected_calls: None,
            tokens: Some(0),
            messages_bytes: None,
            session_event_count: Some(12),
            session_capture: Some("script".into()),
        };
        assert_eq!(
            decode::<StatusEvent>(&encode(&status).expect("enc")).expect("dec"),
            status
        );
        let reference = SessionRef {
            session_id: "s".into(),
            example_id: "e".into(),
            user_id: "u".into(),
            suite: "gmail".into(),
            session_path: "sessions/s/session.avro".into(),
            created_at: at.to_rfc3339(),
            model_id: Some("m".into()),
            action_tool_map_id: None,
            model_configuration: Some("{}".into()),
            catalog_version: Some(3),
            upload_path: Some("sessions/s/input_events.jsonl".into()),
            source_name: Some("send_simple.trace.json.gz".into()),
            screenshots_safe: Some(true),
        };
        let bytes = encode(&reference).expect("enc");
        assert_eq!(decode::<SessionRef>(&bytes).expect("dec"), reference);
        // A value of another schema is refused by its fingerprint, not misread.
        assert!(matches!(
            decode::<StatusEvent>(&bytes),
            Err(EventError::UnknownSchema { .. })
        ));
        assert!(matches!(
            decode::<StatusEvent>(b"{}"),
            Err(EventError::NotSingleObject)
        ));
        // A session id said to be 2^39 bytes long: refused before apache_avro
        // would allocate it (docs/fuzzing.md).
        let mut huge = bytes[..10].to_vec();
        huge.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x40]);
        assert!(matches!(
            decode::<SessionRef>(&huge),
            Err(EventError::Malformed { .. })
        ));
    }

    /// An ExampleEvent written before actions carried `result_grounded`
    /// decodes, each action's result taken as not grounded.
    #[test]
    fn an_example_event_of_v1_decodes_as_ungrounded() {
        let v1 = &ExampleEvent::earlier_codecs()[0];
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-06T20:30:01Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        let mut value = apache_avro::to_value(ExampleEvent {
            example: example_row(at),
            actions: Vec::new(),
        })
        .expect("to value");
        // One action as v1 wrote it: without `result_grounded`.
        let action = apache_avro::types::Value::Record(vec![
            ("example_id".into(), "e".into()),
            ("session_id".into(), "s".into()),
            ("suite".into(), "gmail".into()),
            ("model_name".into(), "rules".into()),
            ("model_version".into(), "1".into()),
            ("action_index".into(), apache_avro::types::Value::Int(0)),
            ("action".into(), "read_email".into()),
            ("tool".into(), "read_email".into()),
            ("arguments".into(), "{}".into()),
            ("confidence".into(), apache_avro::types::Value::Double(0.9)),
            (
                "low_confidence".into(),
                apache_avro::types::Value::Boolean(false),
            ),
            (
                "evidence".into(),
                apache_avro::types::Value::Array(vec![apache_avro::types::Value::Int(1)]),
            ),
            ("evidence_start".into(), apache_avro::types::Value::Int(1)),
            ("evidence_end".into(), apache_avro::types::Value::Int(1)),
            ("start_us".into(), apache_avro::types::Value::Long(5)),
            ("end_us".into(), apache_avro::types::Value::Long(6)),
            ("session_started_at".into(), apache_avro::types::Value::Null),
            ("created_at".into(), at.to_rfc3339().into()),
        ]);
        if let apache_avro::types::Value::Record(fields) = &mut value {
            for (name, v) in fields.iter_mut() {
                if name == "actions" {
                    *v = apache_avro::types::Value::Array(vec![action.clone()]);
                }
            }
        }
        let value = value.resolve(&v1.schema).expect("a v1 value");
        let bytes = v1.message(value).expect("a v1 message");
        let decoded = decode::<ExampleEvent>(&bytes).expect("decodes");
        assert_eq!(decoded.actions.len(), 1);
        assert!(!decoded.actions[0].result_grounded);
    }

    /// A SessionRef written by the version before (still in the topic during
    /// an upgrade) decodes, with the fields it lacks absent.
    #[test]
    fn an_earlier_version_decodes_with_defaults() {
        let v1 = &SessionRef::earlier_codecs()[0];
        let value = apache_avro::types::Value::Record(vec![
            ("session_id".into(), "s".into()),
            ("example_id".into(), "e".into()),
            ("user_id".into(), "u".into()),
            ("suite".into(), "gmail".into()),
            ("session_path".into(), "sessions/s/session.avro".into()),
            ("created_at".into(), "2026-01-06T20:30:01+00:00".into()),
        ]);
        let bytes = v1.message(value).expect("a v1 message");
        let decoded = decode::<SessionRef>(&bytes).expect("decodes");
        assert_eq!(decoded.suite, "gmail");
        assert_eq!((decoded.model_id, decoded.catalog_version), (None, None));
        assert_eq!(
            (decoded.upload_path, decoded.screenshots_safe),
            (None, None)
        );
    }
}
