//! Ways to reach and drive an implementation under test.

mod arrivals;
pub mod backend;
pub mod expectations;
pub mod launched;
pub mod profile;
pub mod relay;
