//! `send`: building a message (well-formed or deliberately broken) and writing it.

use super::{Exec, Stop};
use crate::outcome::Direction;
use crate::scenario::expr::Shown;
use crate::scenario::model::{primary, Role, Send, StatusName, Trickle, TypeName};
use crate::wire::describe::summary;
use crate::wire::framing::{encode_frame, encode_frame_with_prefix};
use crate::wire::options::code;
use crate::wire::{
    DhcpOption, DhcpState, MessageBuilder, MessageType, OptionItem, RawMessage, RelayAgentInfo,
    Status,
};
use bytes::Bytes;
use std::time::Duration;

impl Exec<'_> {
    pub(super) fn build(&mut self, s: &Send) -> Result<RawMessage, Stop> {
        let role = self.scenario.role;
        let xid = match &s.xid {
            Some(v) => self.number(v)?,
            None if role == Role::Server => self
                .conns
                .get(&s.conn)
                .and_then(|c| c.peer.last_received())
                .map(|m| m.xid())
                .unwrap_or(0),
            None => {
                self.next_xid = self.next_xid.wrapping_add(1);
                self.next_xid
            }
        };
        let op = s.op.unwrap_or(if role == Role::Requestor { 1 } else { 2 });
        let mut b = match s.kind {
            Some(TypeName(t)) => MessageBuilder::request(t, xid),
            None => MessageBuilder::request(MessageType::Other(0), xid),
        };
        if let Some(hw) = &s.chaddr {
            let bytes = self.bytes(hw)?;
            b = b.hardware(s.htype.unwrap_or(1), &bytes);
        }
        if let Some(v) = &s.ciaddr {
            b = b.ciaddr(self.address(v)?);
        }
        if let Some(prl) = &s.prl {
            b = b.option(DhcpOption::ParameterRequestList(prl.clone()));
        }
        if let Some(id) = &s.client_id {
            b = b.option(DhcpOption::ClientId(Bytes::from(self.bytes(id)?)));
        }
        if let Some(relay) = RelayAgentInfo::from_text(
            s.circuit_id.as_deref(),
            s.remote_id.as_deref(),
            s.relay_id.as_deref(),
        ) {
            b = b.option(DhcpOption::RelayAgentInfo(relay));
        }
        if let Some(v) = &s.query_start_time {
            b = b.option(DhcpOption::QueryStartTime(self.number(v)?));
        }
        if let Some(v) = &s.query_end_time {
            b = b.option(DhcpOption::QueryEndTime(self.number(v)?));
        }
        if let Some(StatusName(Some(code))) = s.status {
            b = b.option(DhcpOption::Status(Status::new(
                code,
                s.status_text.as_deref().unwrap_or(""),
            )));
        }
        if let Some(v) = &s.base_time {
            b = b.option(DhcpOption::BaseTime(self.number(v)?));
        }
        if let Some(v) = &s.lease_time {
            b = b.option(DhcpOption::LeaseTime(self.number(v)?));
        }
        if let Some(state) = &s.dhcp_state {
            let state: DhcpState = state
                .parse()
                .map_err(|e: crate::wire::types::UnknownName| Stop::Error(e.to_string()))?;
            b = b.option(DhcpOption::DhcpState(state));
        }
        for raw in &s.options {
            let data = self.bytes(&raw.hex)?;
            let len = raw
                .length
                .unwrap_or(u8::try_from(data.len()).unwrap_or(u8::MAX));
            let mut bytes = vec![raw.code, len];
            bytes.extend_from_slice(&data);
            b = b.item(OptionItem::Raw(Bytes::from(bytes)));
        }
        let mut msg = if s.no_end {
            b.build_without_end()
        } else {
            b.build()
        };
        if s.kind.is_none() {
            msg.options.retain(
                |i| !matches!(i, OptionItem::Tlv { code: c, .. } if *c == code::MESSAGE_TYPE),
            );
        }
        msg.header.op = op;
        if let Some(h) = s.hlen {
            msg.header.hlen = h;
        }
        if let Some(v) = &s.yiaddr {
            msg.header.yiaddr = self.address(v)?;
        }
        if let Some(v) = &s.siaddr {
            msg.header.siaddr = self.address(v)?;
        }
        Ok(msg)
    }

    pub(super) async fn send(&mut self, s: &Send) -> Result<(), Stop> {
        let (bytes, text) = match &s.raw_hex {
            Some(hex) => {
                let bytes = self.bytes(hex)?;
                let text = format!("{} raw bytes", bytes.len());
                (bytes, text)
            }
            None => {
                let msg = self.build(s)?;
                let view = crate::wire::Received::from_raw(&msg);
                let conn = self.conn(&s.conn)?;
                conn.peer.sent(&view);
                if view.kind().is_some_and(|k| {
                    matches!(
                        k,
                        MessageType::BulkLeaseQuery | MessageType::ActiveLeaseQuery
                    )
                }) {
                    conn.asked_at = Some(tokio::time::Instant::now());
                }
                let body = msg.encode();
                let framed = match s.length_prefix {
                    Some(p) => encode_frame_with_prefix(p, &body),
                    None => encode_frame(&body).map_err(|e| Stop::Error(e.to_string()))?,
                };
                let mut text = summary(&view);
                if let Some(p) = s.length_prefix {
                    text.push_str(&format!(" (length prefix {p}, true length {})", body.len()));
                }
                (framed, text)
            }
        };
        let times = s.repeat.unwrap_or(1).max(1);
        let text = if times > 1 {
            format!("{text} (x{times})")
        } else {
            text
        };
        let bytes = bytes.repeat(times);
        let conn = self.conn(&s.conn)?;
        if s.with_next {
            conn.held.extend_from_slice(&bytes);
            let text = format!("{text} (held for the next send)");
            self.log(&s.conn, Direction::Send, text);
            return Ok(());
        }
        let held = std::mem::take(&mut conn.held);
        let together = !held.is_empty();
        let bytes = [held, bytes].concat();
        let text = if together {
            format!("{text} (in one write with the held bytes)")
        } else {
            text
        };
        if let Some(t) = &s.trickle {
            return self.trickle(&s.conn, &bytes, &text, t).await;
        }
        let conn = self.conn(&s.conn)?;
        if conn.unheard.is_none() && conn.peer_closed() {
            conn.unheard = Some(format!(
                "the target had closed connection '{}' before the harness sent on it",
                s.conn
            ));
        }
        self.log(&s.conn, Direction::Send, text);
        let mut cuts: Vec<usize> = s
            .split
            .iter()
            .copied()
            .filter(|c| *c < bytes.len())
            .collect();
        cuts.sort_unstable();
        cuts.push(bytes.len());
        let mut from = 0;
        for cut in cuts {
            let piece = bytes.get(from..cut).unwrap_or_default();
            let conn = self.conn(&s.conn)?;
            if let Err(e) = conn.write(piece).await {
                conn.unheard
                    .get_or_insert_with(|| format!("a write on '{}' failed: {e}", s.conn));
                self.log(&s.conn, Direction::Note, format!("write failed: {e}"));
                break;
            }
            from = cut;
            if from < bytes.len() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        Ok(())
    }

    /// Writes `bytes` one at a time, `t.every` apart, for at most
    /// `t.duration`; the peer closing sooner breaks `t.requirement`. The
    /// transcript shows `text` as sent only once every byte was: what the
    /// pcap holds until then is part of a message.
    async fn trickle(
        &mut self,
        conn: &str,
        bytes: &[u8],
        text: &str,
        t: &Trickle,
    ) -> Result<(), Stop> {
        let every = self.duration(&t.every)?.max(Duration::from_millis(1));
        let budget = self.duration(&t.duration)?;
        let started = tokio::time::Instant::now();
        let start = format!(
            "trickling {text} ({} bytes) one byte per {}",
            bytes.len(),
            Shown(every)
        );
        self.log(conn, Direction::Note, start);
        let mut sent = 0usize;
        for byte in bytes {
            if started.elapsed() >= budget {
                break;
            }
            // Nothing reads during a step: a close shows as a write that
            // fails (the peer's RST answers the first byte after its FIN).
            if self
                .conn(conn)?
                .write(std::slice::from_ref(byte))
                .await
                .is_err()
            {
                let elapsed = started.elapsed();
                let frame = self.log(
                    conn,
                    Direction::Note,
                    format!(
                        "peer closed after {sent} trickled bytes, {}",
                        Shown(elapsed)
                    ),
                );
                return self.judge(
                    primary(&t.requirement),
                    None,
                    format!(
                        "closed {} into a message trickled one byte per {}, before {}",
                        Shown(elapsed),
                        Shown(every),
                        Shown(budget)
                    ),
                    Some(frame),
                );
            }
            sent += 1;
            tokio::time::sleep(every).await;
        }
        if sent == bytes.len() {
            self.log(conn, Direction::Send, text.to_string());
        }
        let text = format!(
            "{sent} of {} bytes trickled in {}",
            bytes.len(),
            Shown(started.elapsed())
        );
        self.log(conn, Direction::Note, text);
        Ok(())
    }
}
