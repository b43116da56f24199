//! Ways to reach and drive an implementation under test.

pub mod backend;
pub mod profile;
pub mod relay;
