//! Tracepipe's processing core: the Capability Surface catalog, the classifier
//! models that turn a normalised [`tracepipe_schemas::Session`] into classified
//! actions, and the synthesis of Examples (tool-call conversations) from them.
//!
//! Everything here is pure: no files, sockets or clocks. Services and the CLI load
//! the inputs and store the outputs.

pub mod browser;
pub mod catalog;
pub mod classify;
pub mod model;
pub mod results;
pub mod synth;
pub mod validate;
