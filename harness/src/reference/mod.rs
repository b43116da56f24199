//! The embedded reference server and requestor, the harness's default target:
//! sans-IO sessions over the lease store, and the faults that break them on
//! purpose.

pub mod admission;
pub mod config;
pub mod dhcp_front;
pub mod faults;
pub mod leases;
pub mod replies;
pub mod requestor;
pub mod server;
pub mod shaping;
pub mod variants;
