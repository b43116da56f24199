//! Running scenarios against a target and judging the outcome.

mod budget;
pub mod conn;
pub mod conns;
pub mod exec;
pub mod interrupt;
mod judge;
pub mod kill_matrix;
pub mod peer;
pub mod progress;
pub mod reported;
pub mod runner;
pub mod spread;
pub mod transcript;
pub mod variant_matrix;
