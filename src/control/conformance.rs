//! The conformance suite every [`super::ControlPlane`] passes.
