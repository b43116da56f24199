//! Server role: answering a requestor's bulk queries, with the replies of
//! pipelined queries interleaved (RFC 6926 §7.7).

use super::{Exec, Stop};
use crate::scenario::model::{AnswerBulk, BulkPart, Send, TypeName, Value};
use crate::wire::MessageType;

impl Exec<'_> {
    pub(super) async fn answer_bulk(&mut self, a: &AnswerBulk) -> Result<(), Stop> {
        let xids = self.conn(&a.conn)?.peer.bulk_query_xids().to_vec();
        if xids.is_empty() {
            return Err(Stop::Error(format!(
                "answer-bulk: no bulk query was received on '{}'",
                a.conn
            )));
        }
        let base_time = self.backend.epoch();
        let mut replies = Vec::new();
        match a.part {
            BulkPart::Bindings => {
                for round in 0..a.rounds.unwrap_or(2) {
                    for (i, xid) in xids.iter().enumerate() {
                        // Distinct documentation addresses per query and round.
                        let host = 100 + (round * xids.len() + i) % 150;
                        replies.push(Send {
                            conn: a.conn.clone(),
                            kind: Some(TypeName(MessageType::LeaseActive)),
                            xid: Some(Value::Number(*xid)),
                            ciaddr: Some(Value::Text(format!("192.0.2.{host}"))),
                            chaddr: Some(format!("02:00:00:00:00:{host:02x}")),
                            base_time: Some(Value::Number(base_time)),
                            lease_time: Some(Value::Number(3600)),
                            ..Send::default()
                        });
                    }
                }
            }
            BulkPart::Done => {
                for xid in &xids {
                    replies.push(Send {
                        conn: a.conn.clone(),
                        kind: Some(TypeName(MessageType::LeaseQueryDone)),
                        xid: Some(Value::Number(*xid)),
                        ..Send::default()
                    });
                }
            }
        }
        for reply in &replies {
            self.send(reply).await?;
        }
        Ok(())
    }
}
