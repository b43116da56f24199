//! A scenario's transcript with bounded memory: the first half of its limit is
//! kept, then only the latest entries; what falls between is counted and
//! replaced by one note. Entries are addressed by their sequence number while
//! the scenario runs and renumbered when it ends. A received message is kept
//! as the few fields its line shows, written out only if the line is still
//! kept when the scenario ends.

use super::exec::{Direction, Entry};
use crate::wire::describe::Brief;
use std::collections::VecDeque;

/// Entries kept per scenario unless the target profile says otherwise.
pub const DEFAULT_LIMIT: usize = 2_000;

/// The text of an entry, or what it will say of a received message.
#[derive(Debug)]
pub enum Text {
    Plain(String),
    Message(Brief),
}

#[derive(Debug)]
pub struct Line {
    pub at_ms: u64,
    /// Shared with the connection: one count, not one copy, per line.
    pub conn: std::sync::Arc<str>,
    pub dir: Direction,
    pub text: Text,
}

impl Line {
    fn entry(self) -> Entry {
        let text = match self.text {
            Text::Plain(text) => text,
            Text::Message(brief) => brief.to_string(),
        };
        Entry {
            at_ms: self.at_ms,
            conn: self.conn.to_string(),
            dir: self.dir,
            text,
        }
    }
}

#[derive(Debug)]
pub struct Transcript {
    head: Vec<Line>,
    /// The latest entries past the head, with their sequence numbers.
    tail: VecDeque<(usize, Line)>,
    head_limit: usize,
    tail_limit: usize,
    next: usize,
}

impl Transcript {
    /// Keeps at most `limit` entries (at least 2: the first and the latest).
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(2);
        Transcript {
            head: Vec::new(),
            tail: VecDeque::new(),
            head_limit: limit / 2,
            tail_limit: limit - limit / 2,
            next: 0,
        }
    }

    /// Appends an entry; returns its sequence number.
    pub fn push(&mut self, entry: Line) -> usize {
        let seq = self.next;
        self.next += 1;
        if self.head.len() < self.head_limit {
            self.head.push(entry);
        } else {
            if self.tail.len() >= self.tail_limit {
                self.tail.pop_front();
            }
            self.tail.push_back((seq, entry));
        }
        seq
    }

    /// The sequence number of the latest entry.
    pub fn last_seq(&self) -> Option<usize> {
        self.next.checked_sub(1)
    }

    /// The latest entry still kept that satisfies `wanted`.
    pub fn rposition(&self, wanted: impl Fn(&Line) -> bool) -> Option<usize> {
        self.tail
            .iter()
            .rev()
            .find(|(_, e)| wanted(e))
            .map(|(seq, _)| *seq)
            .or_else(|| self.head.iter().rposition(&wanted))
    }

    /// Entries that were not kept.
    fn dropped(&self) -> usize {
        self.next - self.head.len() - self.tail.len()
    }

    /// The kept entries in order, with one note where entries were dropped,
    /// and the function that maps a sequence number to its final index
    /// (`None` for a dropped entry).
    pub fn finish(self) -> (Vec<Entry>, impl Fn(usize) -> Option<usize>) {
        let dropped = self.dropped();
        let head_len = self.head.len();
        let first_tail = self.tail.front().map_or(self.next, |(seq, _)| *seq);
        let mut entries: Vec<Entry> = self.head.into_iter().map(Line::entry).collect();
        let gap = usize::from(dropped > 0);
        if dropped > 0 {
            let at_ms = self.tail.front().map_or(0, |(_, e)| e.at_ms);
            entries.push(Entry {
                at_ms,
                conn: String::new(),
                dir: Direction("note"),
                text: format!("{dropped} transcript entries not kept (transcript limit)"),
            });
        }
        entries.extend(self.tail.into_iter().map(|(_, e)| e.entry()));
        let index = move |seq: usize| {
            if seq < head_len {
                Some(seq)
            } else if seq >= first_tail {
                Some(head_len + gap + (seq - first_tail))
            } else {
                None
            }
        };
        (entries, index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> Line {
        Line {
            at_ms: n as u64,
            conn: "a".into(),
            dir: Direction("recv"),
            text: Text::Plain(format!("m{n}")),
        }
    }

    fn is_text(line: &Line, want: &str) -> bool {
        matches!(&line.text, Text::Plain(t) if t == want)
    }

    #[test]
    fn under_the_limit_everything_is_kept_in_order() {
        let mut t = Transcript::new(10);
        for n in 0..10 {
            assert_eq!(t.push(entry(n)), n);
        }
        let (entries, index) = t.finish();
        assert_eq!(entries.len(), 10);
        assert_eq!(index(7), Some(7));
        assert_eq!(entries.get(7).map(|e| e.text.as_str()), Some("m7"));
    }

    #[test]
    fn over_the_limit_the_head_and_the_latest_stay_with_one_note_between() {
        let mut t = Transcript::new(6);
        for n in 0..100 {
            t.push(entry(n));
        }
        assert_eq!(t.rposition(|e| is_text(e, "m98")), Some(98));
        assert_eq!(t.rposition(|e| is_text(e, "m50")), None);
        let (entries, index) = t.finish();
        let texts: Vec<&str> = entries.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "m0",
                "m1",
                "m2",
                "94 transcript entries not kept (transcript limit)",
                "m97",
                "m98",
                "m99"
            ]
        );
        assert_eq!(index(1), Some(1));
        assert_eq!(index(50), None);
        assert_eq!(index(98), Some(5));
        assert_eq!(
            index(98)
                .and_then(|i| entries.get(i))
                .map(|e| e.text.as_str()),
            Some("m98")
        );
    }
}
