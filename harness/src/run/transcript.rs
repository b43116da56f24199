//! A scenario's transcript with bounded memory: the first half of its limit is
//! kept, then only the latest entries; what falls between is counted and
//! replaced by one note. Entries are addressed by their sequence number while
//! the scenario runs and renumbered when it ends. A received message is kept
//! as the few fields its line shows, written out only if the line is still
//! kept when the scenario ends.

use crate::outcome::{Direction, Entry};
use crate::wire::describe::Brief;

/// The text of an entry, or what it will say of a received message.
#[derive(Debug)]
pub enum Text {
    Plain(String),
    Message(Brief),
}

/// A connection's name as lines carry it: its place in the transcript's
/// list of names (a line per message stays a copy, with no count to keep).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnId(u32);

#[derive(Debug)]
pub struct Line {
    pub at_ms: u64,
    /// Capture records made before this line were numbered below this.
    pub tap_seq: u64,
    pub conn: ConnId,
    pub dir: Direction,
    pub text: Text,
}

impl Line {
    fn entry(self, names: &[String]) -> Entry {
        let text = match self.text {
            Text::Plain(text) => text,
            Text::Message(brief) => brief.to_string(),
        };
        Entry {
            at_ms: self.at_ms,
            tap_seq: self.tap_seq,
            conn: names.get(self.conn.0 as usize).cloned().unwrap_or_default(),
            dir: self.dir,
            text,
        }
    }
}

#[derive(Debug)]
pub struct Transcript {
    head: Vec<Line>,
    /// The latest entries past the head, with their sequence numbers: a
    /// ring whose oldest entry is at `tail_start` once it is full (the entry
    /// it drops is overwritten where it is).
    tail: Vec<(usize, Line)>,
    tail_start: usize,
    head_limit: usize,
    tail_limit: usize,
    next: usize,
    /// Connection names, in the order lines first named them.
    names: Vec<String>,
    ids: rustc_hash::FxHashMap<String, ConnId>,
}

impl Transcript {
    /// Keeps at most `limit` entries (at least 2: the first and the latest).
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(2);
        Transcript {
            head: Vec::new(),
            tail: Vec::new(),
            tail_start: 0,
            head_limit: limit / 2,
            tail_limit: limit - limit / 2,
            next: 0,
            names: Vec::new(),
            ids: Default::default(),
        }
    }

    /// The id lines carry for connection `name`.
    pub fn conn_id(&mut self, name: &str) -> ConnId {
        if let Some(id) = self.find_conn(name) {
            return id;
        }
        // Past u32::MAX names (never, in practice) the last id is shared.
        let id = ConnId(u32::try_from(self.names.len()).unwrap_or(u32::MAX));
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    /// Lines about connection `from` name it `to` from now on, those written
    /// already included: a connection accepted before its name was known (it
    /// set up TLS first) takes the name a step gave it.
    pub fn rename(&mut self, from: &str, to: &str) {
        let Some(id) = self.ids.remove(from) else {
            return;
        };
        if let Some(name) = self.names.get_mut(id.0 as usize) {
            *name = to.to_string();
        }
        self.ids.insert(to.to_string(), id);
    }

    /// The id of connection `name`, if a line named it.
    pub fn find_conn(&self, name: &str) -> Option<ConnId> {
        self.ids.get(name).copied()
    }

    /// Appends an entry; returns its sequence number.
    #[inline]
    pub fn push(&mut self, entry: Line) -> usize {
        let seq = self.next;
        self.next += 1;
        if self.head.len() < self.head_limit {
            self.head.push(entry);
        } else {
            let full = self.tail.len() >= self.tail_limit;
            match self.tail.get_mut(self.tail_start) {
                Some(oldest) if full => {
                    *oldest = (seq, entry);
                    // Not `%`: a division per message costs more than the
                    // branch.
                    self.tail_start += 1;
                    if self.tail_start == self.tail_limit {
                        self.tail_start = 0;
                    }
                }
                _ => self.tail.push((seq, entry)),
            }
        }
        seq
    }

    /// The tail's entries, oldest first.
    fn tail_in_order(&self) -> impl DoubleEndedIterator<Item = &(usize, Line)> {
        let (newer, older) = self.tail.split_at(self.tail_start.min(self.tail.len()));
        older.iter().chain(newer)
    }

    /// The sequence number of the latest entry.
    pub fn last_seq(&self) -> Option<usize> {
        self.next.checked_sub(1)
    }

    /// The latest entry still kept that satisfies `wanted`.
    pub fn rposition(&self, wanted: impl Fn(&Line) -> bool) -> Option<usize> {
        self.tail_in_order()
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
        let mut tail = self.tail;
        // Oldest first.
        let oldest = self.tail_start.min(tail.len());
        tail.rotate_left(oldest);
        let first_tail = tail.first().map_or(self.next, |(seq, _)| *seq);
        let first_tail_ms = tail.first().map_or(0, |(_, e)| e.at_ms);
        let names = self.names;
        let mut entries: Vec<Entry> = self.head.into_iter().map(|e| e.entry(&names)).collect();
        let gap = usize::from(dropped > 0);
        if dropped > 0 {
            entries.push(Entry {
                at_ms: first_tail_ms,
                tap_seq: 0,
                conn: String::new(),
                dir: Direction::Note,
                text: format!("{dropped} transcript entries not kept (transcript limit)"),
            });
        }
        entries.extend(tail.into_iter().map(|(_, e)| e.entry(&names)));
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
            tap_seq: 0,
            conn: ConnId(0),
            dir: Direction::Recv,
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

    #[test]
    fn lines_name_their_connection_by_id_and_entries_by_name() {
        let mut t = Transcript::new(10);
        for name in ["a", "b", "a", "", "b"] {
            let conn = t.conn_id(name);
            t.push(Line { conn, ..entry(0) });
        }
        assert_eq!(t.find_conn("b"), Some(t.conn_id("b")));
        assert_ne!(t.conn_id("a"), t.conn_id("b"));
        assert_eq!(t.find_conn("c"), None);
        let (entries, _) = t.finish();
        let names: Vec<&str> = entries.iter().map(|e| e.conn.as_str()).collect();
        assert_eq!(names, ["a", "b", "a", "", "b"]);
    }
}
