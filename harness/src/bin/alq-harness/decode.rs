//! `decode`: the leasequery messages of a pcap file.

use alq_harness::capture::{framed_messages, read_pcap, CapturedEvent, Conversation, Sender};
use alq_harness::wire::describe::Describe;
use anyhow::Result;
use std::io::Write;

pub(crate) fn decode(file: &std::path::Path, port: Option<u16>) -> Result<()> {
    let conversations: Vec<Conversation> = read_pcap(file)?
        .into_iter()
        .filter(|c| port.is_none_or(|p| c.client.port() == p || c.server.port() == p))
        .collect();
    let messages = framed_messages(&conversations);
    let origin = conversations
        .iter()
        .map(|c| c.started)
        .min()
        .unwrap_or_default();
    let stdout = std::io::stdout();
    match print(&mut stdout.lock(), &conversations, &messages, origin) {
        // A reader that stopped early (`| head`) has what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn print(
    out: &mut impl Write,
    conversations: &[Conversation],
    messages: &[alq_harness::capture::CapturedMessage],
    origin: std::time::Duration,
) -> std::io::Result<()> {
    for m in messages {
        let Some(conv) = conversations.iter().find(|c| c.index == m.conversation) else {
            continue;
        };
        let (from, to) = match m.sender {
            Sender::Client => (conv.client, conv.server),
            Sender::Server => (conv.server, conv.client),
        };
        let elapsed = m.time.saturating_sub(origin).as_secs_f64();
        write!(
            out,
            "+{elapsed:.6}s conn {} {from} -> {to} @{}: ",
            conv.index, m.offset
        )?;
        match &m.event {
            CapturedEvent::Message(msg) => writeln!(out, "{}", Describe(msg))?,
            CapturedEvent::Undecodable { payload_len, error } => writeln!(
                out,
                "{payload_len}-byte frame is not a DHCP message: {error}"
            )?,
            CapturedEvent::Framing(error) => writeln!(out, "framing error: {error}")?,
        }
    }
    for conv in conversations {
        let ends = |fin: bool, rst: bool| match (fin, rst) {
            (_, true) => "RST",
            (true, false) => "FIN",
            (false, false) => "open",
        };
        write!(
            out,
            "conn {}: {} -> {}: client sent {} bytes ({}), server sent {} bytes ({})",
            conv.index,
            conv.client,
            conv.server,
            conv.to_server.data.len(),
            ends(conv.to_server.fin, conv.to_server.rst),
            conv.to_client.data.len(),
            ends(conv.to_client.fin, conv.to_client.rst),
        )?;
        let unplaced = conv.to_server.unplaced + conv.to_client.unplaced;
        if unplaced > 0 {
            write!(out, "; {unplaced} bytes after a gap in the capture")?;
        }
        writeln!(out)?;
    }
    let decoded = messages
        .iter()
        .filter(|m| matches!(m.event, CapturedEvent::Message(_)))
        .count();
    writeln!(
        out,
        "{decoded} messages decoded, {} problems, {} TCP conversations",
        messages.len() - decoded,
        conversations.len()
    )?;
    Ok(())
}
