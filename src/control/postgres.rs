//! The distributed deployment's control plane: [`super::ControlPlane`] over PostgreSQL.
