/// The default of [`Limits::max_events`]: a long recorded session has a few
/// thousand; `docs/recording.md` and the README's measurements say what a
/// session at this limit costs.
pub const DEFAULT_MAX_EVENTS: usize = 50_000;

/// Bounds that keep a reader's memory and time independent of what it is fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes after decompression. Also what stops a gzip bomb.
    pub max_decompressed_bytes: u64,
    /// Decompressed bytes per compressed byte beyond which a gzip stream is taken
    /// for a bomb. Real traces compress about 10:1.
    pub max_compression_ratio: u64,
    /// Largest single trace event (a screenshot event is the usual big one).
    pub max_event_bytes: usize,
    /// Deepest JSON nesting accepted anywhere.
    pub max_depth: usize,
    /// Longest line of a JSON Lines recording.
    pub max_line_bytes: usize,
    /// Most events kept from one recording. What a Session costs downstream
    /// (classification, both conversations, table rows) grows with its
    /// events, so this is what bounds the memory of processing it.
    pub max_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_decompressed_bytes: 4 << 30,
            max_compression_ratio: 200,
            max_event_bytes: 32 << 20,
            max_depth: 64,
            max_line_bytes: 16 << 20,
            max_events: DEFAULT_MAX_EVENTS,
        }
    }
}
