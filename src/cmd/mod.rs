pub mod catalog;
pub mod inspect;
