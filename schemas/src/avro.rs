//! Avro encoding of [`Session`]s.
//!
//! Values use Avro's single-object encoding: the two marker bytes `C3 01`, the
//! writer schema's 64-bit Rabin fingerprint (little-endian), then the datum. A
//! reader therefore knows which schema wrote a value and resolves it against the
//! current one, so values written before an optional field was added still decode.

pub(crate) mod bounds;

use crate::{Event, Session, SourceFormat};
use apache_avro::{rabin::Rabin, Schema};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The current Session schema.
pub const SESSION_SCHEMA_JSON: &str = include_str!("../avro/session.avsc");
/// Every earlier Session schema a reader must still accept, oldest first.
const PREVIOUS_SESSION_SCHEMAS: &[&str] = &[
    include_str!("../avro/session.v1.avsc"),
    include_str!("../avro/session.v2.avsc"),
    include_str!("../avro/session.v3.avsc"),
    include_str!("../avro/session.v4.avsc"),
];

const MARKER: [u8; 2] = [0xC3, 0x01];

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AvroError {
    #[error("value is not Avro single-object encoded (missing the C3 01 marker)")]
    NotSingleObject,
    #[error("value was written with an unknown schema (fingerprint {fingerprint:016x})")]
    UnknownSchema { fingerprint: u64 },
    #[error("Avro encoding failed: {source}")]
    Encode {
        #[source]
        source: Box<apache_avro::Error>,
    },
    #[error("Avro decoding failed: {source}")]
    Decode {
        #[source]
        source: Box<apache_avro::Error>,
    },
    #[error("Avro decoding failed: the events array is {0}")]
    BadEvents(&'static str),
    #[error("Avro decoding failed: the value is malformed ({0})")]
    Malformed(&'static str),
}

struct KnownSchemas {
    current: Schema,
    current_fingerprint: u64,
    /// (fingerprint, schema) of every schema a value may have been written with.
    writers: Vec<(u64, Schema)>,
    /// The current schema without its last field, `events`, and the schema of
    /// one event. A Session in the current schema is encoded and decoded one
    /// event at a time through these: Avro's value tree of a whole Session
    /// takes several kilobytes per event, for a Session that holds a few
    /// hundred bytes per event.
    header: Schema,
    event: Schema,
}

/// [`Session`] without its events: the fields before `events` in the schema.
#[derive(Serialize)]
struct HeaderRef<'a> {
    session_id: &'a str,
    source: SourceFormat,
    suite: &'a Option<String>,
    started_at: &'a Option<String>,
    duration_us: i64,
    user_agent: &'a Option<String>,
    source_name: &'a Option<String>,
    source_sha256: &'a Option<String>,
    pages: &'a [String],
}

#[derive(Deserialize)]
struct Header {
    session_id: String,
    source: SourceFormat,
    suite: Option<String>,
    started_at: Option<String>,
    duration_us: i64,
    user_agent: Option<String>,
    source_name: Option<String>,
    source_sha256: Option<String>,
    pages: Vec<String>,
}

/// (header, event) schemas of the current Session schema.
fn split_schema(json: &str) -> (Schema, Schema) {
    let mut header: serde_json::Value =
        serde_json::from_str(json).expect("bundled Avro schema is JSON");
    let namespace = header["namespace"].clone();
    let events = header["fields"]
        .as_array_mut()
        .and_then(|fields| fields.pop())
        .filter(|field| field["name"] == "events")
        .expect("`events` is the Session schema's last field");
    let mut event = events["type"]["items"].clone();
    event["namespace"] = namespace;
    let parse =
        |v: &serde_json::Value| Schema::parse(v).expect("part of the bundled Avro schema parses");
    (parse(&header), parse(&event))
}

fn fingerprint(schema: &Schema) -> u64 {
    let bytes = schema.fingerprint::<Rabin>().bytes;
    let mut le = [0u8; 8];
    le.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(le)
}

fn known() -> &'static KnownSchemas {
    static KNOWN: OnceLock<KnownSchemas> = OnceLock::new();
    KNOWN.get_or_init(|| {
        // The schema files are part of this crate; a parse failure is a build defect
        // that the crate's tests catch, never something input can cause.
        let parse = |json: &str| Schema::parse_str(json).expect("bundled Avro schema parses");
        let current = parse(SESSION_SCHEMA_JSON);
        let current_fingerprint = fingerprint(&current);
        let mut writers = vec![(current_fingerprint, current.clone())];
        for json in PREVIOUS_SESSION_SCHEMAS {
            let schema = parse(json);
            writers.push((fingerprint(&schema), schema));
        }
        let (header, event) = split_schema(SESSION_SCHEMA_JSON);
        KnownSchemas {
            current,
            current_fingerprint,
            writers,
            header,
            event,
        }
    })
}

/// The current Session schema.
pub fn session_schema() -> &'static Schema {
    &known().current
}

/// Encodes a session with the current schema, single-object framed.
pub fn encode_session(session: &Session) -> Result<Vec<u8>, AvroError> {
    let known = known();
    let encode = |e| AvroError::Encode {
        source: Box::new(e),
    };
    let datum = |schema: &Schema, value: apache_avro::types::Value| {
        let value = value.resolve(schema).map_err(encode)?;
        apache_avro::to_avro_datum(schema, value).map_err(encode)
    };
    let header = HeaderRef {
        session_id: &session.session_id,
        source: session.source,
        suite: &session.suite,
        started_at: &session.started_at,
        duration_us: session.duration_us,
        user_agent: &session.user_agent,
        source_name: &session.source_name,
        source_sha256: &session.source_sha256,
        pages: &session.pages,
    };
    let mut out = Vec::new();
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&known.current_fingerprint.to_le_bytes());
    out.extend(datum(
        &known.header,
        apache_avro::to_value(header).map_err(encode)?,
    )?);
    // The events array as one block, written as the whole-value encoder
    // writes it: its length, the items, and the closing empty block.
    if !session.events.is_empty() {
        write_long(
            &mut out,
            i64::try_from(session.events.len()).unwrap_or(i64::MAX),
        );
        for event in &session.events {
            out.extend(datum(
                &known.event,
                apache_avro::to_value(event).map_err(encode)?,
            )?);
        }
    }
    write_long(&mut out, 0);
    Ok(out)
}

/// Avro's `long`: zig-zag, then 7 bits a byte, low first.
fn write_long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7F) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn read_long(input: &mut &[u8]) -> Result<i64, AvroError> {
    let mut z: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input
            .split_first()
            .ok_or(AvroError::BadEvents("truncated"))?;
        *input = rest;
        z |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return Ok((z >> 1) as i64 ^ -((z & 1) as i64));
        }
    }
    Err(AvroError::BadEvents(
        "malformed (a block count longer than 64 bits)",
    ))
}

/// Decodes a datum of the current schema one event at a time, stopping after
/// `max_events`.
fn decode_current(mut datum: &[u8], max_events: usize) -> Result<Session, AvroError> {
    let known = known();
    let decode = |e| AvroError::Decode {
        source: Box::new(e),
    };
    bounds::check_datum(&known.header, datum).map_err(AvroError::Malformed)?;
    let header = apache_avro::from_avro_datum(&known.header, &mut datum, None).map_err(decode)?;
    let header: Header = apache_avro::from_value(&header).map_err(decode)?;
    let mut events = Vec::new();
    while events.len() < max_events {
        let count = read_long(&mut datum)?;
        if count == 0 {
            break;
        }
        if count < 0 {
            // A negative count is followed by the block's size in bytes.
            read_long(&mut datum)?;
        }
        for _ in 0..count.unsigned_abs() {
            if events.len() == max_events {
                break;
            }
            if datum.is_empty() {
                return Err(AvroError::BadEvents("truncated"));
            }
            bounds::check_datum(&known.event, datum).map_err(AvroError::Malformed)?;
            let event =
                apache_avro::from_avro_datum(&known.event, &mut datum, None).map_err(decode)?;
            events.push(apache_avro::from_value::<Event>(&event).map_err(decode)?);
        }
    }
    Ok(Session {
        session_id: header.session_id,
        source: header.source,
        suite: header.suite,
        started_at: header.started_at,
        duration_us: header.duration_us,
        user_agent: header.user_agent,
        source_name: header.source_name,
        source_sha256: header.source_sha256,
        pages: header.pages,
        events,
    })
}

/// Decodes a single-object encoded session written with the current or any earlier
/// schema.
pub fn decode_session(bytes: &[u8]) -> Result<Session, AvroError> {
    decode_session_head(bytes, usize::MAX)
}

/// The session's header and its first `max_events` events, without decoding
/// the rest when it is of the current schema: the first page of a long
/// session's timeline in milliseconds rather than the whole session's time.
pub fn decode_session_head(bytes: &[u8], max_events: usize) -> Result<Session, AvroError> {
    let known = known();
    if bytes.len() < 10 || bytes[..2] != MARKER {
        return Err(AvroError::NotSingleObject);
    }
    let mut fp = [0u8; 8];
    fp.copy_from_slice(&bytes[2..10]);
    let fingerprint = u64::from_le_bytes(fp);
    let (_, writer) = known
        .writers
        .iter()
        .find(|(f, _)| *f == fingerprint)
        .ok_or(AvroError::UnknownSchema { fingerprint })?;
    if fingerprint == known.current_fingerprint {
        return decode_current(&bytes[10..], max_events);
    }
    let decode = |e| AvroError::Decode {
        source: Box::new(e),
    };
    let mut datum = &bytes[10..];
    bounds::check_datum(writer, datum).map_err(AvroError::Malformed)?;
    let value =
        apache_avro::from_avro_datum(writer, &mut datum, Some(&known.current)).map_err(decode)?;
    let mut session: Session = apache_avro::from_value(&value).map_err(decode)?;
    session.events.truncate(max_events);
    Ok(session)
}
