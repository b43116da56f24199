//! Ways to reach and drive an implementation under test.

pub mod relay;
