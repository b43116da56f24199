//! Packet captures: reading TCP conversations out of pcap files, and taking the
//! framed leasequery messages out of them.

pub mod extract;
pub mod pcap;
pub mod tap;
pub mod tcp_streams;

pub use extract::{framed_messages, CapturedEvent, CapturedMessage, Sender};
pub use tcp_streams::{read_pcap, CaptureError, Conversation, StreamHalf};
