//! Reading Perfetto's protobuf trace format (`.pftrace`, `.perfetto-trace`):
//! what the Perfetto UI records, and what Chrome writes over CDP with
//! `Tracing.start({streamFormat: "proto"})`.
//!
//! A Perfetto trace is a `Trace` message: nothing but `TracePacket`s, each
//! written as field 1 (tag byte `0x0a`), its length, and its bytes. The reader
//! takes one packet at a time, so memory is bounded by the largest packet plus
//! the per-sequence interning tables. Each Chrome trace event (a `TrackEvent`)
//! is turned back into the JSON event Chrome would have written (`name`, `cat`,
//! `ph`, `ts` in microseconds of the trace clock, `pid`, `args` from its debug
//! annotations), so that one set of rules ([`super::Reader`]) reads both
//! formats into the same Session. Only events whose name the caller wants are
//! turned back; the rest are skipped after their name is read.
//!
//! The messages are declared here, with the field numbers of Perfetto's
//! `protos/perfetto/trace/**.proto`, for only the fields read. A crate with
//! all of Perfetto's protos (`perfetto_protos` 0.51, rust-protobuf) was not
//! used: it compiles every one of Perfetto's several hundred messages with a
//! bundled `protoc` at build time, parses each packet into all of its fields
//! (Chrome's typed sub-messages included) where only a handful are read, and
//! trails Perfetto's releases. Protobuf field numbers never change, so the
//! dozen messages below stay valid; unknown fields are skipped.

use super::scan::TopLevel;
use crate::decode::PlainReader;
use crate::error::Location;
use crate::{IngestError, Limits};
use prost::Message;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::io::Read;

/// `Trace.packet`: field 1, length-delimited.
pub const PACKET_TAG: u8 = 0x0a;

/// Builtin clocks (`BuiltinClock`); Chrome's JSON `ts` is CLOCK_MONOTONIC.
const CLOCK_MONOTONIC: u32 = 3;
const CLOCK_BOOTTIME: u32 = 6;
/// Ids from here on are clocks of one packet sequence.
const FIRST_SEQUENCE_CLOCK: u32 = 64;

/// `TracePacket.sequence_flags`: the sequence's interned data starts anew.
const SEQ_INCREMENTAL_STATE_CLEARED: u32 = 1;

/// The first packet's fields of a TracePacket, without the event's arguments.
#[derive(Clone, PartialEq, Message)]
struct TracePacket {
    #[prost(uint64, optional, tag = "8")]
    timestamp: Option<u64>,
    #[prost(uint32, optional, tag = "58")]
    timestamp_clock_id: Option<u32>,
    #[prost(uint32, optional, tag = "10")]
    trusted_packet_sequence_id: Option<u32>,
    #[prost(message, optional, tag = "11")]
    track_event: Option<TrackEventHead>,
    #[prost(message, optional, tag = "12")]
    interned_data: Option<InternedData>,
    #[prost(uint32, optional, tag = "13")]
    sequence_flags: Option<u32>,
    #[prost(bool, optional, tag = "41")]
    incremental_state_cleared: Option<bool>,
    #[prost(message, optional, tag = "59")]
    trace_packet_defaults: Option<TracePacketDefaults>,
    #[prost(message, optional, tag = "60")]
    track_descriptor: Option<TrackDescriptor>,
    #[prost(message, optional, tag = "6")]
    clock_snapshot: Option<ClockSnapshot>,
}

/// A TrackEvent's name, kind and track: enough to decide whether to read on.
#[derive(Clone, PartialEq, Message)]
struct TrackEventHead {
    #[prost(int32, optional, tag = "9")]
    r#type: Option<i32>,
    #[prost(uint64, optional, tag = "11")]
    track_uuid: Option<u64>,
    #[prost(uint64, repeated, packed = "false", tag = "3")]
    category_iids: Vec<u64>,
    #[prost(string, repeated, tag = "22")]
    categories: Vec<String>,
    #[prost(uint64, optional, tag = "10")]
    name_iid: Option<u64>,
    #[prost(string, optional, tag = "23")]
    name: Option<String>,
    #[prost(message, optional, tag = "6")]
    legacy_event: Option<LegacyEvent>,
}

/// The same packet read again for a wanted event: its arguments.
#[derive(Clone, PartialEq, Message)]
struct PacketArgs {
    #[prost(message, optional, tag = "11")]
    track_event: Option<TrackEventArgs>,
}

#[derive(Clone, PartialEq, Message)]
struct TrackEventArgs {
    #[prost(message, repeated, tag = "4")]
    debug_annotations: Vec<DebugAnnotation>,
}

#[derive(Clone, PartialEq, Message)]
struct LegacyEvent {
    #[prost(int32, optional, tag = "2")]
    phase: Option<i32>,
    #[prost(int32, optional, tag = "18")]
    pid_override: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
struct DebugAnnotation {
    #[prost(uint64, optional, tag = "1")]
    name_iid: Option<u64>,
    #[prost(string, optional, tag = "10")]
    name: Option<String>,
    #[prost(bool, optional, tag = "2")]
    bool_value: Option<bool>,
    #[prost(uint64, optional, tag = "3")]
    uint_value: Option<u64>,
    #[prost(int64, optional, tag = "4")]
    int_value: Option<i64>,
    #[prost(double, optional, tag = "5")]
    double_value: Option<f64>,
    #[prost(string, optional, tag = "6")]
    string_value: Option<String>,
    #[prost(uint64, optional, tag = "7")]
    pointer_value: Option<u64>,
    #[prost(message, optional, tag = "8")]
    nested_value: Option<NestedValue>,
    #[prost(string, optional, tag = "9")]
    legacy_json_value: Option<String>,
    #[prost(uint64, optional, tag = "17")]
    string_value_iid: Option<u64>,
    #[prost(message, repeated, tag = "11")]
    dict_entries: Vec<DebugAnnotation>,
    #[prost(message, repeated, tag = "12")]
    array_values: Vec<DebugAnnotation>,
}

/// The older form of structured arguments.
#[derive(Clone, PartialEq, Message)]
struct NestedValue {
    #[prost(int32, optional, tag = "1")]
    nested_type: Option<i32>,
    #[prost(string, repeated, tag = "2")]
    dict_keys: Vec<String>,
    #[prost(message, repeated, tag = "3")]
    dict_values: Vec<NestedValue>,
    #[prost(message, repeated, tag = "4")]
    array_values: Vec<NestedValue>,
    #[prost(int64, optional, tag = "5")]
    int_value: Option<i64>,
    #[prost(double, optional, tag = "6")]
    double_value: Option<f64>,
    #[prost(bool, optional, tag = "7")]
    bool_value: Option<bool>,
    #[prost(string, optional, tag = "8")]
    string_value: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
struct InternedData {
    #[prost(message, repeated, tag = "1")]
    event_categories: Vec<InternedName>,
    #[prost(message, repeated, tag = "2")]
    event_names: Vec<InternedName>,
    #[prost(message, repeated, tag = "3")]
    debug_annotation_names: Vec<InternedName>,
    #[prost(message, repeated, tag = "29")]
    debug_annotation_string_values: Vec<InternedString>,
}

#[derive(Clone, PartialEq, Message)]
struct InternedName {
    #[prost(uint64, optional, tag = "1")]
    iid: Option<u64>,
    #[prost(string, optional, tag = "2")]
    name: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
struct InternedString {
    #[prost(uint64, optional, tag = "1")]
    iid: Option<u64>,
    #[prost(bytes = "vec", optional, tag = "2")]
    str: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
struct TracePacketDefaults {
    #[prost(uint32, optional, tag = "58")]
    timestamp_clock_id: Option<u32>,
    #[prost(message, optional, tag = "11")]
    track_event_defaults: Option<TrackEventDefaults>,
}

#[derive(Clone, PartialEq, Message)]
struct TrackEventDefaults {
    #[prost(uint64, optional, tag = "11")]
    track_uuid: Option<u64>,
}

#[derive(Clone, PartialEq, Message)]
struct TrackDescriptor {
    #[prost(uint64, optional, tag = "1")]
    uuid: Option<u64>,
    #[prost(uint64, optional, tag = "5")]
    parent_uuid: Option<u64>,
    #[prost(message, optional, tag = "3")]
    process: Option<ProcessDescriptor>,
    #[prost(message, optional, tag = "4")]
    thread: Option<ThreadDescriptor>,
    #[prost(message, optional, tag = "6")]
    chrome_process: Option<ChromeProcessDescriptor>,
}

#[derive(Clone, PartialEq, Message)]
struct ProcessDescriptor {
    #[prost(int32, optional, tag = "1")]
    pid: Option<i32>,
    #[prost(string, optional, tag = "6")]
    process_name: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
struct ThreadDescriptor {
    #[prost(int32, optional, tag = "1")]
    pid: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
struct ChromeProcessDescriptor {
    /// `ProcessType`: 1 is the browser process.
    #[prost(int32, optional, tag = "1")]
    process_type: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
struct ClockSnapshot {
    #[prost(message, repeated, tag = "1")]
    clocks: Vec<Clock>,
}

#[derive(Clone, PartialEq, Message)]
struct Clock {
    #[prost(uint32, optional, tag = "1")]
    clock_id: Option<u32>,
    #[prost(uint64, optional, tag = "2")]
    timestamp: Option<u64>,
    #[prost(bool, optional, tag = "3")]
    is_incremental: Option<bool>,
    #[prost(uint64, optional, tag = "4")]
    unit_multiplier_ns: Option<u64>,
}

/// A clock of one sequence, tied to a builtin clock by a snapshot.
#[derive(Clone, Copy)]
struct SequenceClock {
    incremental: bool,
    unit_ns: u64,
    /// The clock's last value (incremental clocks count from it).
    value: u64,
    /// The builtin clock and the value it had when this one read `anchor_value`.
    reference: u32,
    reference_ns: u64,
    anchor_value: u64,
}

/// What a packet sequence (one writer thread) interned and defaulted.
#[derive(Default)]
struct Sequence {
    categories: HashMap<u64, String>,
    names: HashMap<u64, String>,
    annotation_names: HashMap<u64, String>,
    string_values: HashMap<u64, String>,
    default_clock: Option<u32>,
    default_track: Option<u64>,
    clocks: HashMap<u32, SequenceClock>,
    /// Bytes of interned text held, bounded by the limits.
    interned_bytes: usize,
}

/// What a track says about the process its events belong to.
struct Track {
    pid: Option<i64>,
    parent: Option<u64>,
}

/// Whether the leading bytes are a Perfetto trace: one or more whole, well
/// formed packets (tag `0x0a`, length, fields of valid wire types) up to the
/// end of `prefix` or of the first packet that does not fit in it. `complete`
/// says that `prefix` is the whole recording.
pub fn looks_like_perfetto(prefix: &[u8], complete: bool) -> bool {
    let mut at = 0;
    let mut packets = 0;
    while at < prefix.len() {
        if prefix[at] != PACKET_TAG {
            return false;
        }
        let Some((len, n)) = varint(&prefix[at + 1..]) else {
            // The length runs past the prefix: fine after a whole packet.
            return packets > 0 && !complete;
        };
        let start = at + 1 + n;
        let Some(end) = start.checked_add(len as usize).filter(|_| len < 1 << 40) else {
            return false;
        };
        if end > prefix.len() {
            // A packet longer than the prefix: judge the part that is there.
            return !complete && fields_are_well_formed(&prefix[start..], true);
        }
        if !fields_are_well_formed(&prefix[start..end], false) {
            return false;
        }
        packets += 1;
        at = end;
    }
    packets > 0
}

/// Whether `bytes` parse as protobuf fields (wire types 0, 1, 2, 5, field
/// numbers above 0); with `cut`, the last field may run past the end.
fn fields_are_well_formed(bytes: &[u8], cut: bool) -> bool {
    let mut at = 0;
    while at < bytes.len() {
        let Some((key, n)) = varint(&bytes[at..]) else {
            return cut;
        };
        at += n;
        if key >> 3 == 0 {
            return false;
        }
        let size = match key & 7 {
            0 => match varint(&bytes[at..]) {
                Some((_, n)) => n,
                None => return cut,
            },
            1 => 8,
            5 => 4,
            2 => match varint(&bytes[at..]) {
                Some((len, n)) => {
                    at += n;
                    match usize::try_from(len) {
                        Ok(len) => len,
                        Err(_) => return false,
                    }
                }
                None => return cut,
            },
            _ => return false,
        };
        match at.checked_add(size) {
            Some(end) if end <= bytes.len() => at = end,
            _ => return cut,
        }
    }
    true
}

/// A base-128 varint at the start of `bytes`: its value and length, or None
/// when it does not end within `bytes` (or is longer than ten bytes).
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Hands out the wanted events of a Perfetto trace as Chrome JSON events.
pub struct PacketReader<R: Read> {
    input: PlainReader<R>,
    limits: Limits,
    wanted: fn(&str) -> bool,
    /// Read-ahead from the input.
    chunk: Vec<u8>,
    chunk_pos: usize,
    chunk_end: usize,
    /// Offset in the plain stream of `chunk[chunk_pos]`.
    offset: u64,
    packet: Vec<u8>,
    /// The JSON of the event handed out last.
    out: Vec<u8>,
    sequences: HashMap<u32, Sequence>,
    tracks: HashMap<u64, Track>,
    /// Builtin clocks' offsets to CLOCK_MONOTONIC, in nanoseconds.
    to_monotonic: HashMap<u32, i128>,
    /// Processes to announce as `process_name` events (the browser's).
    process_names: Vec<(i64, String)>,
}

impl<R: Read> PacketReader<R> {
    /// `wanted` says which event names are turned back into JSON.
    pub fn new(input: PlainReader<R>, limits: Limits, wanted: fn(&str) -> bool) -> Self {
        PacketReader {
            input,
            limits,
            wanted,
            chunk: vec![0; 256 << 10],
            chunk_pos: 0,
            chunk_end: 0,
            offset: 0,
            packet: Vec::new(),
            out: Vec::new(),
            sequences: HashMap::new(),
            tracks: HashMap::new(),
            to_monotonic: HashMap::new(),
            process_names: Vec::new(),
        }
    }

    /// Refills the read-ahead; false at the end of the input.
    fn fill(&mut self) -> Result<bool, IngestError> {
        if self.chunk_pos < self.chunk_end {
            return Ok(true);
        }
        self.chunk_pos = 0;
        self.chunk_end = self.input.read_chunk(&mut self.chunk)?;
        Ok(self.chunk_end > 0)
    }

    fn next_byte(&mut self) -> Result<Option<u8>, IngestError> {
        if !self.fill()? {
            return Ok(None);
        }
        let b = self.chunk[self.chunk_pos];
        self.chunk_pos += 1;
        self.offset += 1;
        Ok(Some(b))
    }

    /// A varint from the input; None at a clean end before its first byte.
    fn read_varint(&mut self, what: &str) -> Result<Option<u64>, IngestError> {
        let start = self.offset;
        let mut value = 0u64;
        for i in 0..10 {
            let Some(b) = self.next_byte()? else {
                if i == 0 {
                    return Ok(None);
                }
                return Err(IngestError::Truncated {
                    at: Location::Byte(start),
                    message: format!("the input ends inside {what}"),
                });
            };
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(Some(value));
            }
        }
        Err(IngestError::syntax(
            Location::Byte(start),
            format!("{what} is not a valid protobuf varint (longer than 10 bytes)"),
        ))
    }

    /// Reads the next packet into `self.packet`; its offset, or None at the end.
    fn next_packet(&mut self) -> Result<Option<u64>, IngestError> {
        loop {
            let tag_at = self.offset;
            let Some(key) = self.read_varint("a packet's tag")? else {
                return Ok(None);
            };
            let wire = key & 7;
            let length = match wire {
                2 => self.read_varint("a packet's length")?.ok_or_else(|| {
                    IngestError::Truncated {
                        at: Location::Byte(self.offset),
                        message: "the input ends before a packet's length".into(),
                    }
                })?,
                0 => {
                    self.read_varint("a field of the trace")?;
                    continue;
                }
                1 => 8,
                5 => 4,
                _ => {
                    return Err(IngestError::syntax(
                        Location::Byte(tag_at),
                        format!(
                        "not a Perfetto trace packet: field {} has the invalid wire type {wire}",
                        key >> 3
                    ),
                    ))
                }
            };
            if length > self.limits.max_event_bytes as u64 {
                return Err(IngestError::EventTooLarge {
                    at: Location::Byte(tag_at),
                    limit: self.limits.max_event_bytes,
                });
            }
            let length = length as usize;
            let body_at = self.offset;
            self.packet.clear();
            while self.packet.len() < length {
                if !self.fill()? {
                    return Err(IngestError::Truncated {
                        at: Location::Byte(self.offset),
                        message: format!(
                            "a Perfetto packet of {length} bytes starting at byte {body_at} has only {}",
                            self.packet.len()
                        ),
                    });
                }
                let n = (length - self.packet.len()).min(self.chunk_end - self.chunk_pos);
                self.packet
                    .extend_from_slice(&self.chunk[self.chunk_pos..self.chunk_pos + n]);
                self.chunk_pos += n;
                self.offset += n as u64;
            }
            if key >> 3 == 1 {
                return Ok(Some(body_at));
            }
            // Another member of `Trace` (none is defined today): skipped.
        }
    }

    /// The next wanted event as Chrome JSON, or None at the end of the trace.
    pub fn next_item(&mut self) -> Result<Option<TopLevel<'_>>, IngestError> {
        loop {
            if let Some((pid, name)) = self.process_names.pop() {
                self.out.clear();
                serde_json::to_writer(
                    &mut self.out,
                    &serde_json::json!({"name": "process_name", "cat": "__metadata", "ph": "M",
                        "pid": pid, "ts": 0, "args": {"name": name}}),
                )
                .map_err(|e| IngestError::Io { source: e.into() })?;
                return Ok(Some(TopLevel::Event(&self.out, self.offset)));
            }
            let Some(at) = self.next_packet()? else {
                return Ok(None);
            };
            if self.packet_event(at)? {
                return Ok(Some(TopLevel::Event(&self.out, at)));
            }
        }
    }

    /// Takes in one packet; true when it was a wanted event, now in `self.out`.
    fn packet_event(&mut self, at: u64) -> Result<bool, IngestError> {
        let corrupt = |e: prost::DecodeError| {
            IngestError::shape(
                Location::Byte(at),
                format!("a corrupt Perfetto trace packet: {e}"),
            )
        };
        if decoded_elements(&self.packet) > MAX_DECODED_ELEMENTS {
            // prost makes a struct of each element of a repeated field: two
            // bytes of input may become a few hundred (a DebugAnnotation),
            // so a packet within the size limit could take gigabytes.
            return Err(IngestError::shape(
                Location::Byte(at),
                format!(
                    "a Perfetto packet with more than {MAX_DECODED_ELEMENTS} arguments, categories or interned names"
                ),
            ));
        }
        let mut packet = TracePacket::decode(&self.packet[..]).map_err(corrupt)?;
        let sequence_id = packet.trusted_packet_sequence_id.unwrap_or(0);
        if self.sequences.len() >= MAX_SEQUENCES && !self.sequences.contains_key(&sequence_id) {
            return Err(IngestError::shape(
                Location::Byte(at),
                format!("the trace has more than {MAX_SEQUENCES} packet sequences"),
            ));
        }
        let cleared = packet.incremental_state_cleared == Some(true)
            || packet
                .sequence_flags
                .is_some_and(|f| f & SEQ_INCREMENTAL_STATE_CLEARED != 0);
        if cleared {
            self.sequences.insert(sequence_id, Sequence::default());
        }
        if let Some(snapshot) = &packet.clock_snapshot {
            self.clock_snapshot(sequence_id, snapshot);
        }
        let max_interned = self.limits.max_event_bytes;
        let sequence = self.sequences.entry(sequence_id).or_default();
        if let Some(defaults) = &packet.trace_packet_defaults {
            sequence.default_clock = defaults.timestamp_clock_id;
            sequence.default_track = defaults
                .track_event_defaults
                .as_ref()
                .and_then(|d| d.track_uuid);
        }
        if let Some(interned) = packet.interned_data.take() {
            sequence.intern(interned);
            if sequence.interned_bytes > max_interned {
                return Err(IngestError::shape(
                    Location::Byte(at),
                    format!("a packet sequence interns more than {max_interned} bytes of names"),
                ));
            }
        }
        if let Some(track) = &packet.track_descriptor {
            let new = track.uuid.is_some_and(|u| !self.tracks.contains_key(&u));
            if new && self.tracks.len() >= MAX_TRACKS {
                return Err(IngestError::shape(
                    Location::Byte(at),
                    format!("the trace describes more than {MAX_TRACKS} tracks"),
                ));
            }
            self.track(track);
        }
        let ts_us = self.timestamp(sequence_id, &packet);
        let Some(head) = packet.track_event else {
            return Ok(false);
        };
        let sequence = self.sequences.entry(sequence_id).or_default();
        let name = match (&head.name, head.name_iid) {
            (Some(name), _) => name.clone(),
            (None, Some(iid)) => match sequence.names.get(&iid) {
                Some(name) => name.clone(),
                None => return Ok(false),
            },
            // An end of a slice: nothing Tracepipe reads.
            (None, None) => return Ok(false),
        };
        if !(self.wanted)(&name) {
            return Ok(false);
        }
        let cat = if head.categories.is_empty() {
            head.category_iids
                .iter()
                .filter_map(|iid| sequence.categories.get(iid).map(String::as_str))
                .collect::<Vec<_>>()
                .join(",")
        } else {
            head.categories.join(",")
        };
        let ph = match head.legacy_event.as_ref().and_then(|l| l.phase) {
            Some(phase) => u8::try_from(phase)
                .ok()
                .filter(u8::is_ascii_graphic)
                .map_or_else(|| "I".to_string(), |p| (p as char).to_string()),
            None => match head.r#type {
                Some(1) => "B",
                Some(2) => "E",
                Some(4) => "C",
                _ => "I",
            }
            .to_string(),
        };
        let track = head.track_uuid.or(sequence.default_track);
        let pid = head
            .legacy_event
            .as_ref()
            .and_then(|l| l.pid_override)
            .map(i64::from)
            .or_else(|| track.and_then(|t| self.pid_of(t)));
        let args = PacketArgs::decode(&self.packet[..]).map_err(corrupt)?;
        let sequence = &self.sequences[&sequence_id];
        let mut args_json = Map::new();
        for annotation in args
            .track_event
            .map(|e| e.debug_annotations)
            .unwrap_or_default()
        {
            if let Some(key) = sequence.annotation_name(&annotation) {
                args_json.insert(key, sequence.annotation_value(annotation, 0));
            }
        }
        let mut event = Map::new();
        event.insert("name".into(), Value::String(name));
        event.insert("cat".into(), Value::String(cat));
        event.insert("ph".into(), Value::String(ph));
        if let Some(ts) = ts_us {
            event.insert("ts".into(), serde_json::json!(ts));
        }
        if let Some(pid) = pid {
            event.insert("pid".into(), Value::from(pid));
        }
        event.insert("args".into(), Value::Object(args_json));
        self.out.clear();
        serde_json::to_writer(&mut self.out, &event)
            .map_err(|e| IngestError::Io { source: e.into() })?;
        Ok(true)
    }

    fn clock_snapshot(&mut self, sequence_id: u32, snapshot: &ClockSnapshot) {
        let monotonic = snapshot
            .clocks
            .iter()
            .find(|c| c.clock_id == Some(CLOCK_MONOTONIC))
            .and_then(|c| c.timestamp);
        // A builtin clock of this snapshot that sequence clocks are tied to.
        let reference = snapshot
            .clocks
            .iter()
            .filter(|c| c.clock_id.is_some_and(|id| id < FIRST_SEQUENCE_CLOCK))
            .find_map(|c| Some((c.clock_id?, c.timestamp?)));
        for clock in &snapshot.clocks {
            let (Some(id), Some(ts)) = (clock.clock_id, clock.timestamp) else {
                continue;
            };
            if id < FIRST_SEQUENCE_CLOCK {
                if let Some(m) = monotonic {
                    self.to_monotonic.insert(id, i128::from(m) - i128::from(ts));
                }
                continue;
            }
            let Some((reference, reference_ns)) = reference else {
                continue;
            };
            self.sequences
                .entry(sequence_id)
                .or_default()
                .clocks
                .insert(
                    id,
                    SequenceClock {
                        incremental: clock.is_incremental == Some(true),
                        unit_ns: clock.unit_multiplier_ns.unwrap_or(1).max(1),
                        value: ts,
                        reference,
                        reference_ns,
                        anchor_value: ts,
                    },
                );
        }
    }

    /// The packet's time in microseconds of CLOCK_MONOTONIC (Chrome's JSON
    /// `ts`), as far as the clocks seen say.
    fn timestamp(&mut self, sequence_id: u32, packet: &TracePacket) -> Option<f64> {
        let ts = packet.timestamp?;
        let sequence = self.sequences.entry(sequence_id).or_default();
        let clock = packet
            .timestamp_clock_id
            .or(sequence.default_clock)
            .unwrap_or(CLOCK_BOOTTIME);
        let (builtin, ns) = if clock >= FIRST_SEQUENCE_CLOCK {
            let c = sequence.clocks.get_mut(&clock)?;
            if c.incremental {
                c.value = c.value.wrapping_add(ts);
            } else {
                c.value = ts;
            }
            let since_anchor = i128::from(c.value) - i128::from(c.anchor_value);
            // Saturating: a clock's unit and values are whatever the trace
            // says, and 2^64 units of 2^64 ns overflow even an i128.
            (
                c.reference,
                i128::from(c.reference_ns)
                    .saturating_add(since_anchor.saturating_mul(i128::from(c.unit_ns))),
            )
        } else {
            (clock, i128::from(ts))
        };
        let offset = if builtin == CLOCK_MONOTONIC {
            0
        } else {
            self.to_monotonic.get(&builtin).copied().unwrap_or(0)
        };
        Some(ns.saturating_add(offset) as f64 / 1000.0)
    }

    fn track(&mut self, track: &TrackDescriptor) {
        let Some(uuid) = track.uuid else { return };
        let pid = track
            .process
            .as_ref()
            .and_then(|p| p.pid)
            .or_else(|| track.thread.as_ref().and_then(|t| t.pid))
            .map(i64::from);
        if let (Some(pid), Some(process)) = (pid, &track.process) {
            let browser = process.process_name.as_deref() == Some("Browser")
                || track
                    .chrome_process
                    .as_ref()
                    .is_some_and(|c| c.process_type == Some(1));
            if browser && !self.tracks.contains_key(&uuid) {
                self.process_names.push((pid, "Browser".into()));
            }
        }
        self.tracks.insert(
            uuid,
            Track {
                pid,
                parent: track.parent_uuid,
            },
        );
    }

    /// The process of a track, from it or the nearest ancestor that says.
    fn pid_of(&self, mut uuid: u64) -> Option<i64> {
        for _ in 0..16 {
            let track = self.tracks.get(&uuid)?;
            if track.pid.is_some() {
                return track.pid;
            }
            uuid = track.parent?;
        }
        None
    }
}

/// Most tracks and packet sequences one trace may describe: a browser
/// session has hundreds. Their tables are the memory a trace's size alone
/// does not bound.
const MAX_TRACKS: usize = 100_000;
const MAX_SEQUENCES: usize = 10_000;

/// How deep nested arguments are followed.
const MAX_ANNOTATION_DEPTH: usize = 32;

/// Most elements of repeated fields one packet may decode into (a
/// recording's packets have up to about 120).
const MAX_DECODED_ELEMENTS: usize = 1 << 16;

/// What an interned entry costs beyond its text (a table entry), counted
/// against the sequence's interning limit so that entries with empty names
/// are not free.
const INTERNED_ENTRY_BYTES: usize = 32;

/// The fields of a protobuf message: (field number, payload of a
/// length-delimited field). Ends quietly at malformed bytes, which prost
/// reports when it decodes the same bytes.
fn fields(mut bytes: &[u8]) -> impl Iterator<Item = (u64, Option<&[u8]>)> {
    std::iter::from_fn(move || {
        let (key, n) = varint(bytes)?;
        bytes = &bytes[n..];
        let payload = match key & 7 {
            0 => {
                let (_, n) = varint(bytes)?;
                bytes = &bytes[n..];
                None
            }
            1 | 5 => {
                let size = if key & 7 == 1 { 8 } else { 4 };
                bytes = bytes.get(size..)?;
                None
            }
            2 => {
                let (len, n) = varint(bytes)?;
                let end = n.checked_add(usize::try_from(len).ok()?)?;
                let payload = bytes.get(n..end)?;
                bytes = &bytes[end..];
                Some(payload)
            }
            _ => return None,
        };
        Some((key >> 3, payload))
    })
}

/// How many elements of repeated fields the packet's messages decode into:
/// the event's categories and arguments (nested ones too) and the interned
/// entries.
fn decoded_elements(packet: &[u8]) -> usize {
    // As deep as prost decodes (its recursion limit); deeper is its error.
    const DEPTH: usize = 100;
    fn annotation(bytes: &[u8], depth: usize) -> usize {
        if depth > DEPTH {
            return 0;
        }
        fields(bytes)
            .map(|(number, payload)| match (number, payload) {
                // dict_entries, array_values
                (11 | 12, Some(p)) => 1 + annotation(p, depth + 1),
                // nested_value
                (8, Some(p)) => 1 + nested(p, depth + 1),
                _ => 0,
            })
            .fold(0, usize::saturating_add)
    }
    fn nested(bytes: &[u8], depth: usize) -> usize {
        if depth > DEPTH {
            return 0;
        }
        fields(bytes)
            .map(|(number, payload)| match (number, payload) {
                // dict_keys
                (2, _) => 1,
                // dict_values, array_values
                (3 | 4, Some(p)) => 1 + nested(p, depth + 1),
                _ => 0,
            })
            .fold(0, usize::saturating_add)
    }
    fields(packet)
        .map(|(number, payload)| match (number, payload) {
            // track_event: category_iids, categories, debug_annotations
            (11, Some(event)) => fields(event)
                .map(|(n, p)| match (n, p) {
                    (3 | 22, _) => 1,
                    (4, Some(a)) => 1 + annotation(a, 0),
                    _ => 0,
                })
                .fold(0, usize::saturating_add),
            // interned_data: event categories and names, annotation names and values
            (12, Some(interned)) => fields(interned)
                .filter(|(n, _)| matches!(n, 1 | 2 | 3 | 29))
                .count(),
            _ => 0,
        })
        .fold(0, usize::saturating_add)
}

impl Sequence {
    fn intern(&mut self, data: InternedData) {
        let mut add = |table: &mut HashMap<u64, String>, iid: Option<u64>, text: String| {
            if let Some(iid) = iid {
                self.interned_bytes += text.len() + INTERNED_ENTRY_BYTES;
                table.insert(iid, text);
            }
        };
        for n in data.event_categories {
            add(&mut self.categories, n.iid, n.name.unwrap_or_default());
        }
        for n in data.event_names {
            add(&mut self.names, n.iid, n.name.unwrap_or_default());
        }
        for n in data.debug_annotation_names {
            add(
                &mut self.annotation_names,
                n.iid,
                n.name.unwrap_or_default(),
            );
        }
        for s in data.debug_annotation_string_values {
            let text = String::from_utf8_lossy(&s.str.unwrap_or_default()).into_owned();
            add(&mut self.string_values, s.iid, text);
        }
    }

    fn annotation_name(&self, a: &DebugAnnotation) -> Option<String> {
        match (&a.name, a.name_iid) {
            (Some(name), _) => Some(name.clone()),
            (None, Some(iid)) => self.annotation_names.get(&iid).cloned(),
            (None, None) => None,
        }
    }

    /// An annotation as the JSON value Chrome writes for the same argument.
    fn annotation_value(&self, a: DebugAnnotation, depth: usize) -> Value {
        if depth > MAX_ANNOTATION_DEPTH {
            return Value::Null;
        }
        if !a.dict_entries.is_empty() {
            let mut object = Map::new();
            for entry in a.dict_entries {
                if let Some(key) = self.annotation_name(&entry) {
                    object.insert(key, self.annotation_value(entry, depth + 1));
                }
            }
            return Value::Object(object);
        }
        if !a.array_values.is_empty() {
            return Value::Array(
                a.array_values
                    .into_iter()
                    .map(|v| self.annotation_value(v, depth + 1))
                    .collect(),
            );
        }
        if let Some(s) = a.string_value {
            return Value::String(s);
        }
        if let Some(iid) = a.string_value_iid {
            return self
                .string_values
                .get(&iid)
                .map_or(Value::Null, |s| Value::String(s.clone()));
        }
        if let Some(b) = a.bool_value {
            return Value::Bool(b);
        }
        if let Some(i) = a.int_value {
            return Value::from(i);
        }
        if let Some(u) = a.uint_value {
            return Value::from(u);
        }
        if let Some(d) = a.double_value {
            return serde_json::Number::from_f64(d).map_or(Value::Null, Value::Number);
        }
        if let Some(p) = a.pointer_value {
            return Value::String(format!("0x{p:x}"));
        }
        if let Some(json) = a.legacy_json_value {
            return serde_json::from_str(&json).unwrap_or(Value::String(json));
        }
        if let Some(nested) = a.nested_value {
            return nested_value(nested, depth + 1);
        }
        // An empty dictionary or array is written with no entries at all.
        Value::Object(Map::new())
    }
}

fn nested_value(v: NestedValue, depth: usize) -> Value {
    if depth > MAX_ANNOTATION_DEPTH {
        return Value::Null;
    }
    match v.nested_type {
        // DICT
        Some(1) => Value::Object(
            v.dict_keys
                .into_iter()
                .zip(v.dict_values)
                .map(|(k, v)| (k, nested_value(v, depth + 1)))
                .collect(),
        ),
        // ARRAY
        Some(2) => Value::Array(
            v.array_values
                .into_iter()
                .map(|v| nested_value(v, depth + 1))
                .collect(),
        ),
        _ => {
            if let Some(s) = v.string_value {
                Value::String(s)
            } else if let Some(i) = v.int_value {
                Value::from(i)
            } else if let Some(b) = v.bool_value {
                Value::Bool(b)
            } else if let Some(d) = v.double_value {
                serde_json::Number::from_f64(d).map_or(Value::Null, Value::Number)
            } else {
                Value::Null
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfetto_is_told_from_json_by_its_first_packets() {
        // A packet with a timestamp (field 8) and a sequence id (field 10).
        let packet = [0x0a, 0x04, 0x40, 0x01, 0x50, 0x02];
        assert!(looks_like_perfetto(&packet, true));
        let mut two = packet.to_vec();
        two.extend_from_slice(&packet);
        assert!(looks_like_perfetto(&two, true));
        // Cut inside the second packet: a longer file.
        assert!(looks_like_perfetto(&two[..9], false));
        assert!(!looks_like_perfetto(&two[..9], true));
        // JSON, even after a newline (0x0a).
        assert!(!looks_like_perfetto(b"\n{\"traceEvents\": []}", true));
        assert!(!looks_like_perfetto(b"\n\n[{\"name\":\"x\"}]", true));
        assert!(!looks_like_perfetto(b"[]", true));
        assert!(!looks_like_perfetto(b"", true));
    }
}
