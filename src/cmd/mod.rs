pub mod catalog;
pub mod eval;
pub mod export;
pub mod inspect;
pub mod process;
pub mod serve;
