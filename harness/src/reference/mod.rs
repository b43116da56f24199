//! The embedded reference server and requestor: the harness's default target.

pub mod config;
pub mod dhcp_front;
pub mod faults;
pub mod leases;
