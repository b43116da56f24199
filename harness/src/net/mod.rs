//! Thin tokio shells around the sans-IO sessions: TCP, TLS after DHCPTLS, UDP.

pub mod clock;
pub mod deadline;
pub mod driver;
pub mod requestor;
pub mod server;
pub mod tls;
pub mod transport;
pub mod udp;
