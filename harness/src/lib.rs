//! alq-harness: conformance test harness for DHCPv4 Active Leasequery (RFC 7724)
//! and the Bulk Leasequery it builds on (RFC 6926).

#![forbid(unsafe_code)]
// Nothing from the network, a file or a user may panic the library; tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod capture;
pub mod catalog;
pub mod checks;
pub mod file_names;
pub mod iut;
pub mod net;
pub mod outcome;
pub mod reference;
pub mod report;
pub mod run;
pub mod scenario;
pub mod session;
pub mod toml_load;
pub mod wire;
