//! The OpenAPI 3 document served at `/v1/openapi.json`.

pub const DOCUMENT: &str = include_str!("openapi.json");
