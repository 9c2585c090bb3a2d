//! Avro encoding of [`Session`]s.
//!
//! Values use Avro's single-object encoding: the two marker bytes `C3 01`, the
//! writer schema's 64-bit Rabin fingerprint (little-endian), then the datum. A
//! reader therefore knows which schema wrote a value and resolves it against the
//! current one, so values written before an optional field was added still decode.

use crate::Session;
use apache_avro::{rabin::Rabin, Schema};
use std::sync::OnceLock;

/// The current Session schema.
pub const SESSION_SCHEMA_JSON: &str = include_str!("../avro/session.avsc");
/// Every earlier Session schema a reader must still accept, oldest first.
const PREVIOUS_SESSION_SCHEMAS: &[&str] = &[include_str!("../avro/session.v1.avsc")];

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
}

struct KnownSchemas {
    current: Schema,
    current_fingerprint: u64,
    /// (fingerprint, schema) of every schema a value may have been written with.
    writers: Vec<(u64, Schema)>,
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
        KnownSchemas {
            current,
            current_fingerprint,
            writers,
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
    let value = apache_avro::to_value(session).map_err(encode)?;
    let value = value.resolve(&known.current).map_err(encode)?;
    let datum = apache_avro::to_avro_datum(&known.current, value).map_err(encode)?;
    let mut out = Vec::with_capacity(datum.len() + 10);
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&known.current_fingerprint.to_le_bytes());
    out.extend_from_slice(&datum);
    Ok(out)
}

/// Decodes a single-object encoded session written with the current or any earlier
/// schema.
pub fn decode_session(bytes: &[u8]) -> Result<Session, AvroError> {
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
    let decode = |e| AvroError::Decode {
        source: Box::new(e),
    };
    let mut datum = &bytes[10..];
    let value =
        apache_avro::from_avro_datum(writer, &mut datum, Some(&known.current)).map_err(decode)?;
    apache_avro::from_value(&value).map_err(decode)
}
