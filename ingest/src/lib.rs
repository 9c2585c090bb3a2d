//! tracepipe-ingest
