pub mod catalog;
pub mod eval;
pub mod inspect;
