//! Thin tokio shells around the sans-IO sessions: TCP, TLS after DHCPTLS, UDP,
//! and the stream reader of the harness's own connections.

pub mod clock;
pub mod deadline;
pub mod driver;
pub mod legacy_tls;
pub mod read_ahead;
pub mod replay;
pub mod requestor;
pub mod server;
pub mod stream_reader;
pub mod tls;
pub mod transport;
pub mod udp;
