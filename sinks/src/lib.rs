//! tracepipe-sinks
