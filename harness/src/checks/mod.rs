//! The harness's judges, declared as data: each check names the requirement
//! it judges, the level a broken check is graded at, what it applies to, and
//! its judge function. One file per family of the catalog:
//!
//! - [`wire`]: catalog §4.6, every message received in either role;
//! - [`reply`]: how a server builds its replies (RFC 6926 §8.3, RFC 4388
//!   §6.4.2, RFC 7724 §7.4), every message from a server;
//! - [`request`]: how a requestor builds its requests (RFC 7724 §7.2-§7.3,
//!   RFC 6926 §7.2, §9), every message from a requestor;
//! - [`stream`]: what a connection's bytes and close are judged against;
//! - [`scenario`]: what a scenario's steps and checks judge as a whole.
//!
//! The executor names no requirement: it feeds each received message to the
//! registries here and grades what they report.

pub mod reply;
pub mod request;
pub mod scenario;
pub mod stream;
pub mod wire;

use crate::wire::Indexed;

/// How a broken check is graded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// At the requirement's level in the catalog (a MUST fails).
    Must,
    /// A warning at most (`--strict` makes it a failure), whatever the
    /// catalog level: the check judges a SHOULD part of the requirement.
    Should,
}

/// One check, as declared: what it judges and how. Its judge function is
/// named beside it in the [`registry!`] of its family.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// The catalog ID of the requirement judged.
    pub requirement: &'static str,
    pub level: Level,
    /// Which messages it judges, in words (for `explain` and the docs).
    pub applies_to: &'static str,
    /// The function that judges it, in `checks::<family>`.
    pub name: &'static str,
}

/// Declares a family's checks, in the order their findings are reported:
/// `judge_fn: "REQUIREMENT-ID", Level, "what it applies to";`. It defines
/// `CHECKS`, the declarations, and `judge_each`, which calls every judge
/// function on a subject (each says [`Judgement::held`] or
/// [`Judgement::broken`], or nothing when the message is not one it applies
/// to), marks in `judged` which judged it and adds what broke to `broken`.
macro_rules! registry {
    ($subject:ty; $($judge:ident: $requirement:literal, $level:ident, $applies_to:expr;)+) => {
        pub const CHECKS: &[$crate::checks::Check] = &[$(
            $crate::checks::Check {
                requirement: $requirement,
                level: $crate::checks::Level::$level,
                applies_to: $applies_to,
                name: stringify!($judge),
            },
        )+];

        /// Applies every check of [`CHECKS`] to `subject`, in order.
        pub fn judge_each(
            subject: &$subject,
            judged: &mut [bool],
            broken: &mut Vec<$crate::checks::Broken>,
        ) {
            let mut marks = judged.iter_mut();
            $(
                let mut judgement = $crate::checks::Judgement::new(
                    $requirement,
                    $crate::checks::Level::$level,
                    broken,
                );
                $judge(subject, &mut judgement);
                if let Some(mark) = marks.next() {
                    *mark |= judgement.evaluated;
                }
            )+
        }
    };
}
pub(crate) use registry;

/// A broken check: the requirement, the level it is graded at and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub requirement: &'static str,
    pub level: Level,
    pub message: String,
}

/// What one check says of one message.
pub struct Judgement<'a> {
    requirement: &'static str,
    level: Level,
    evaluated: bool,
    broken: &'a mut Vec<Broken>,
}

impl<'a> Judgement<'a> {
    pub fn new(requirement: &'static str, level: Level, broken: &'a mut Vec<Broken>) -> Self {
        Judgement {
            requirement,
            level,
            evaluated: false,
            broken,
        }
    }

    /// The requirement held for this message.
    pub fn held(&mut self) {
        self.evaluated = true;
    }

    /// The requirement is broken, graded at the check's level.
    pub fn broken(&mut self, message: String) {
        self.broken_at(self.level, message);
    }

    /// The requirement is broken, graded at `level` (a check whose
    /// requirement has a MUST and a SHOULD part).
    pub fn broken_at(&mut self, level: Level, message: String) {
        self.evaluated = true;
        self.broken.push(Broken {
            requirement: self.requirement,
            level,
            message,
        });
    }

    /// Held unless `broken`; `message` is worked out only when it is.
    pub fn unless(&mut self, broken: bool, message: impl FnOnce() -> String) {
        if broken {
            self.broken(message());
        } else {
            self.held();
        }
    }
}

/// The requirements the per-message checks judged in a scenario, so that one
/// that held for every message is reported pass and one never judged is not.
#[derive(Debug)]
pub struct Judged {
    wire: [bool; wire::CHECKS.len()],
    server_messages: [bool; reply::CHECKS.len()],
    requestor_messages: [bool; request::CHECKS.len()],
}

impl Default for Judged {
    fn default() -> Self {
        Judged {
            wire: [false; wire::CHECKS.len()],
            server_messages: [false; reply::CHECKS.len()],
            requestor_messages: [false; request::CHECKS.len()],
        }
    }
}

impl Judged {
    /// The requirements of the construction checks (how replies and
    /// requests are built) judged at least once, each once, in order.
    pub fn construction(&self) -> Vec<&'static str> {
        let mut out = marked(reply::CHECKS, &self.server_messages);
        out.extend(marked(request::CHECKS, &self.requestor_messages));
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The requirements of every check made on each message (the WIRE
    /// checks and the construction checks) judged at least once, each
    /// once, in order: what a scenario reports as held for every message
    /// where nothing broke it.
    pub fn held(&self) -> Vec<&'static str> {
        let mut out = marked(wire::CHECKS, &self.wire);
        out.extend(self.construction());
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether some check judged requirement `id` at least once, the WIRE
    /// checks included.
    pub fn judged(&self, id: &str) -> bool {
        self.held().contains(&id)
    }
}

/// The requirements of `checks` whose mark is set.
fn marked(checks: &[Check], marks: &[bool]) -> Vec<&'static str> {
    checks
        .iter()
        .zip(marks)
        .filter(|(_, m)| **m)
        .map(|(c, _)| c.requirement)
        .collect()
}

/// Judges a message from a server (the harness is the requestor) on `conn`.
pub fn server_message(
    msg: Indexed<'_>,
    conn: &reply::ServerConn<'_>,
    judged: &mut Judged,
) -> Vec<Broken> {
    let mut broken = wire::judge(msg, wire::Sender::Server, &mut judged.wire);
    if let Some(kind) = msg.kind() {
        let subject = reply::ServerMessage { msg, kind, conn };
        reply::judge_each(&subject, &mut judged.server_messages, &mut broken);
    }
    broken
}

/// Judges a message from a requestor (the harness is the server) on `conn`.
pub fn requestor_message(
    msg: Indexed<'_>,
    conn: &request::RequestorConn<'_>,
    judged: &mut Judged,
) -> Vec<Broken> {
    let mut broken = wire::judge(msg, wire::Sender::Requestor, &mut judged.wire);
    if let Some(kind) = msg.kind() {
        let subject = request::RequestorMessage { msg, kind, conn };
        request::judge_each(&subject, &mut judged.requestor_messages, &mut broken);
    }
    broken
}

/// Every requirement some per-message check judges, once, sorted.
/// The per-message checks of every family that judge `requirement`, with
/// their family ("reply", "request", "wire").
pub fn checks_judging(requirement: &str) -> Vec<(&'static str, &'static Check)> {
    [
        ("reply", reply::CHECKS),
        ("request", request::CHECKS),
        ("wire", wire::CHECKS),
    ]
    .into_iter()
    .flat_map(|(family, checks)| checks.iter().map(move |c| (family, c)))
    .filter(|(_, c)| c.requirement == requirement)
    .collect()
}

pub fn judged_on_every_message() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = reply::CHECKS
        .iter()
        .map(|c| c.requirement)
        .chain(request::CHECKS.iter().map(|c| c.requirement))
        .chain(wire::CHECKS.iter().map(|c| c.requirement))
        .chain(stream::FRAMING.iter().copied())
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{requirement, Strength};

    fn declared() -> Vec<(&'static str, Level)> {
        let mut all: Vec<(&'static str, Level)> = Vec::new();
        all.extend(reply::CHECKS.iter().map(|c| (c.requirement, c.level)));
        all.extend(request::CHECKS.iter().map(|c| (c.requirement, c.level)));
        all.extend(wire::CHECKS.iter().map(|c| (c.requirement, c.level)));
        all
    }

    #[test]
    fn every_check_judges_a_catalog_requirement_at_a_level_it_has() {
        for (id, level) in declared() {
            let r = requirement(id).unwrap_or_else(|| panic!("{id} is not in the catalog"));
            if level == Level::Must {
                assert_eq!(r.strength(), Strength::Must, "{id} is declared Must");
            }
        }
        for id in stream::FRAMING
            .iter()
            .chain([&stream::GRACEFUL_CLOSE, &stream::SECURE_FIRST])
        {
            assert!(requirement(id).is_some(), "{id} is not in the catalog");
        }
    }

    #[test]
    fn every_message_requirements_come_once_and_sorted() {
        let all = judged_on_every_message();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(all, sorted);
        assert!(all.contains(&"ALQ-S-20") && all.contains(&"WIRE-05"));
        assert!(all.contains(&"BLQ-R-12") && all.contains(&"BLQ-S-01"));
    }
}
