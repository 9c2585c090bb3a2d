//! A walk over an Avro datum that checks, before apache_avro decodes it,
//! that every length and count the datum holds fits in the bytes that follow.
//!
//! apache_avro allocates what a length says before reading what it
//! describes: a string of length n is `vec![0; n]`, an array or a map of n
//! items reserves n of them, up to its process-wide 512 MiB limit — in
//! items, so a 20-byte value could ask for tens of gigabytes and abort the
//! process (found by fuzzing, docs/fuzzing.md). A string of n bytes needs n
//! more bytes of input, and an item of the types stored here at least one,
//! so a datum that passes this walk makes the decoder allocate no more than
//! a small multiple of its own size.

use apache_avro::schema::Name;
use apache_avro::Schema;

/// Why a datum was refused.
pub(crate) type Malformed = &'static str;

/// Deepest nesting of schemas followed; the stored schemas nest a few levels.
const MAX_DEPTH: usize = 32;

/// Walks one datum of `schema` at the start of `datum`.
pub(crate) fn check_datum(schema: &Schema, mut datum: &[u8]) -> Result<(), Malformed> {
    walk(schema, schema, &mut datum, 0)
}

/// The definition of the type `name` refers to within `root`: a type named
/// once may be used again by name (a view's items and its open item share
/// one record).
fn named<'s>(root: &'s Schema, name: &Name, depth: usize) -> Option<&'s Schema> {
    if depth > MAX_DEPTH {
        return None;
    }
    match root {
        Schema::Record(r) if r.name == *name => Some(root),
        Schema::Enum(e) if e.name == *name => Some(root),
        Schema::Fixed(f) if f.name == *name => Some(root),
        Schema::Record(r) => r
            .fields
            .iter()
            .find_map(|f| named(&f.schema, name, depth + 1)),
        Schema::Union(u) => u.variants().iter().find_map(|v| named(v, name, depth + 1)),
        Schema::Array(a) => named(&a.items, name, depth + 1),
        Schema::Map(m) => named(&m.types, name, depth + 1),
        _ => None,
    }
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], Malformed> {
    if n > input.len() {
        return Err("a value runs past the end of the datum");
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Ok(head)
}

/// A zig-zag varint `long`.
fn long(input: &mut &[u8]) -> Result<i64, Malformed> {
    let mut z: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = take(input, 1)?[0];
        z |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return Ok((z >> 1) as i64 ^ -((z & 1) as i64));
        }
    }
    Err("a varint longer than 64 bits")
}

/// A length that must fit in what is left of the datum.
fn length(input: &mut &[u8]) -> Result<usize, Malformed> {
    let n = long(input)?;
    usize::try_from(n)
        .ok()
        .filter(|&n| n <= input.len())
        .ok_or("a length larger than the rest of the datum")
}

/// The fewest bytes one value of `schema` takes; 0 when a value may take none.
fn min_size(root: &Schema, schema: &Schema, depth: usize) -> usize {
    if depth > MAX_DEPTH {
        return 0;
    }
    match schema {
        Schema::Null => 0,
        Schema::Float => 4,
        Schema::Double => 8,
        Schema::Fixed(f) => f.size,
        Schema::Record(r) => r
            .fields
            .iter()
            .map(|f| min_size(root, &f.schema, depth + 1))
            .fold(0usize, usize::saturating_add),
        Schema::Ref { name } => named(root, name, 0).map_or(1, |s| min_size(root, s, depth + 1)),
        // A varint, a length or a union's branch index: at least one byte.
        _ => 1,
    }
}

fn walk(root: &Schema, schema: &Schema, input: &mut &[u8], depth: usize) -> Result<(), Malformed> {
    if depth > MAX_DEPTH {
        return Err("values nested deeper than the schema allows");
    }
    match schema {
        Schema::Null => {}
        Schema::Boolean => {
            take(input, 1)?;
        }
        Schema::Int
        | Schema::Long
        | Schema::Date
        | Schema::TimeMillis
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => {
            long(input)?;
        }
        Schema::Float => {
            take(input, 4)?;
        }
        Schema::Double => {
            take(input, 8)?;
        }
        Schema::Duration => {
            take(input, 12)?;
        }
        Schema::Bytes | Schema::String | Schema::BigDecimal | Schema::Uuid => {
            let n = length(input)?;
            take(input, n)?;
        }
        Schema::Decimal(d) => walk(root, &d.inner, input, depth + 1)?,
        Schema::Fixed(f) => {
            take(input, f.size)?;
        }
        Schema::Enum(e) => {
            let index = long(input)?;
            if usize::try_from(index).map_or(true, |i| i >= e.symbols.len()) {
                return Err("an enum index beyond the symbols");
            }
        }
        Schema::Union(u) => {
            let index = long(input)?;
            let branch = usize::try_from(index)
                .ok()
                .and_then(|i| u.variants().get(i))
                .ok_or("a union index beyond the branches")?;
            walk(root, branch, input, depth + 1)?;
        }
        Schema::Record(r) => {
            for field in &r.fields {
                walk(root, &field.schema, input, depth + 1)?;
            }
        }
        Schema::Array(a) => blocks(
            root,
            input,
            depth,
            |input| walk(root, &a.items, input, depth + 1),
            &a.items,
        )?,
        Schema::Map(m) => blocks(
            root,
            input,
            depth,
            |input| {
                walk(root, &Schema::String, input, depth + 1)?;
                walk(root, &m.types, input, depth + 1)
            },
            &Schema::String,
        )?,
        Schema::Ref { name } => {
            let definition =
                named(root, name, 0).ok_or("a reference to a type the schema does not define")?;
            walk(root, definition, input, depth + 1)?;
        }
    }
    Ok(())
}

/// An array's or a map's blocks: a count, with a negative count followed by
/// the block's size in bytes, until a count of 0.
fn blocks(
    root: &Schema,
    input: &mut &[u8],
    depth: usize,
    mut item: impl FnMut(&mut &[u8]) -> Result<(), Malformed>,
    item_schema: &Schema,
) -> Result<(), Malformed> {
    let item_size = min_size(root, item_schema, depth + 1);
    loop {
        let count = long(input)?;
        if count == 0 {
            return Ok(());
        }
        if count < 0 {
            length(input)?;
        }
        let count = count.unsigned_abs();
        // Items that may take no bytes at all would let a count alone make
        // the decoder loop; the stored schemas have none.
        let fits = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(item_size.max(1)))
            .is_some_and(|bytes| item_size > 0 && bytes <= input.len());
        if !fits {
            return Err("an array or map count larger than the rest of the datum holds");
        }
        for _ in 0..count {
            item(input)?;
        }
    }
}
