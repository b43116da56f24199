//! The DHCPv4 leasequery wire codec.
//!
//! Three layers, each usable on its own:
//! - [`raw`]: the BOOTP header, magic cookie and an ordered option list that keeps
//!   everything a peer sent (duplicates, PAD runs, a missing END, bytes after END,
//!   a wrong cookie) and can encode anything, including malformed messages;
//! - [`options`] and [`message`]: typed views over the raw layer, whose accessors
//!   report a wrong-length option as an [`OptionError`] instead of panicking;
//! - [`framing`]: the 2-octet length prefix used on leasequery TCP connections.

pub mod describe;
pub mod framing;
pub mod index;
pub mod message;
pub mod options;
pub mod raw;
pub mod types;

pub use framing::{Frame, FrameDecoder, FrameError};
pub use index::{Indexed, OptionIndex, Received};
pub use message::MessageBuilder;
pub use options::{DhcpOption, OptionError, RelayAgentInfo, Status, Vss};
pub use raw::{DecodeError, Header, OptionItem, RawMessage};
pub use types::{DataSource, DhcpState, MessageType, StatusCode};
