//! Sans-IO protocol sessions: bytes and time in; bytes, timers and actions out.

pub mod admission;
pub mod replies;
pub mod requestor;
pub mod server;
pub mod timers;
