//! Every scenario against the embedded reference target on the paused clock,
//! one test per scenario file. The normalized transcript and verdicts are
//! snapshotted (insta, YAML) so that any change in what the harness sends or
//! concludes shows up in review; the reference must pass every scenario.
//!
//! With `ALQ_TARGET=PROFILE` (a path from the workspace root) the scenarios
//! run against that target instead, one at a time, and the snapshots go to
//! `snapshots/<target name>/`: a vendor's CI then shows every change in their
//! implementation's behaviour as a diff to review (`cargo insta review`).
//! Against a real target times, addresses and clock readings differ from run
//! to run, so those are normalized away.

use alq_harness::iut::profile::TargetProfile;
use alq_harness::outcome::Verdict;
use alq_harness::run::runner::{run_one, RunOptions};
use alq_harness::scenario::load::load_scenario;
use rstest::rstest;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

#[derive(Serialize)]
struct Snapshot {
    id: String,
    verdict: &'static str,
    findings: Vec<String>,
    /// "+ms conn dir text", times on the paused clock.
    transcript: Vec<String>,
}

/// The profile ALQ_TARGET names, loaded once; `None` without it.
fn target() -> Option<&'static TargetProfile> {
    static TARGET: OnceLock<Option<TargetProfile>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let named = std::env::var_os("ALQ_TARGET")?;
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            // A profile's own relative paths (TLS files, commands) read as
            // from the workspace root, as for `alq-harness run` there.
            std::env::set_current_dir(&root).unwrap();
            let path = root.join(named);
            Some(TargetProfile::load(&path).unwrap_or_else(|e| panic!("ALQ_TARGET: {e}")))
        })
        .as_ref()
}

/// A real target runs one scenario at a time, as its exclusive scenarios
/// need and so that one scenario's changes never show in another's queries.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[rstest]
fn scenario(#[files("../scenarios/**/*.toml")] path: PathBuf) {
    let loaded = load_scenario(&path).unwrap();
    if let Some(profile) = target() {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let outcome = run_one(&loaded, profile, &RunOptions::default());
        let snapshot = normalized(&outcome);
        let folder = format!("snapshots/{}", profile.name);
        insta::with_settings!({ snapshot_path => folder, prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_yaml_snapshot!(outcome.id.clone(), snapshot);
        });
        return;
    }
    let outcome = run_one(&loaded, &TargetProfile::reference(), &RunOptions::default());
    let snapshot = Snapshot {
        id: outcome.id.clone(),
        verdict: outcome.verdict.label(),
        findings: outcome
            .findings
            .iter()
            .map(|f| {
                let frame = f.frame.map(|i| format!(" @#{i}")).unwrap_or_default();
                format!(
                    "{} {}: {}{frame}",
                    f.verdict.label(),
                    f.requirement,
                    f.message
                )
            })
            .collect(),
        transcript: outcome
            .transcript
            .iter()
            .enumerate()
            .map(|(i, e)| format!("#{i} +{}ms {} {} {}", e.at_ms, e.conn, e.dir, e.text))
            .collect(),
    };
    insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_yaml_snapshot!(outcome.id.clone(), snapshot);
    });
    assert_eq!(outcome.verdict, Verdict::Pass, "{:#?}", outcome.findings);
}

/// A covered requirement that no step names and no check judges would be
/// reported without evidence; the runner calls it inconclusive, and no
/// scenario of ours may have one.
#[rstest]
fn every_covered_requirement_is_judged(#[files("../scenarios/**/*.toml")] path: PathBuf) {
    let loaded = load_scenario(&path).unwrap();
    let unjudged = alq_harness::checks::scenario::unjudged(&loaded.scenario);
    assert!(
        unjudged.is_empty(),
        "{}: nothing judges {unjudged:?}",
        path.display()
    );
}

/// What a real target's run says, without what changes from run to run:
/// no times; addresses, clock readings, ports, fractions and message counts
/// as placeholders; a line repeated in a row written once, marked repeated
/// (how many DHCPLEASEACTIVEs a catch-up carries depends on timing), with
/// findings pointing into the lines so kept.
fn normalized(outcome: &alq_harness::outcome::ScenarioOutcome) -> Snapshot {
    let mut transcript: Vec<(String, bool)> = Vec::new();
    let mut kept_at: Vec<usize> = Vec::new();
    for e in &outcome.transcript {
        let line = rewrite(&format!("{} {} {}", e.conn, e.dir, e.text));
        match transcript.last_mut() {
            Some((last, repeated)) if *last == line => *repeated = true,
            _ => transcript.push((line, false)),
        }
        kept_at.push(transcript.len() - 1);
    }
    let findings = outcome
        .findings
        .iter()
        .map(|f| {
            let frame = f
                .frame
                .and_then(|i| kept_at.get(i))
                .map(|i| format!(" @#{i}"))
                .unwrap_or_default();
            rewrite(&format!(
                "{} {}: {}{frame}",
                f.verdict.label(),
                f.requirement,
                f.message
            ))
        })
        .collect();
    Snapshot {
        id: outcome.id.clone(),
        verdict: outcome.verdict.label(),
        findings,
        transcript: transcript
            .into_iter()
            .map(|(line, repeated)| {
                if repeated {
                    format!("{line} (repeated)")
                } else {
                    line
                }
            })
            .collect(),
    }
}

/// `line` with the values that differ between runs of one target replaced.
fn rewrite(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        // A token of digits and dots: an address, a number or a fraction.
        let (before, from) = rest.split_at(start);
        let end = from
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(from.len());
        let token = from[..end].trim_end_matches('.');
        let after = &from[token.len()..];
        out.push_str(before);
        let glued = before.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '#');
        let parts: Vec<&str> = token.split('.').collect();
        let placeholder = if glued {
            // Part of a name or a reference (xid=0x00000061, ALQ-S-26, @#3).
            None
        } else if parts.len() == 4 && parts.iter().all(|p| p.parse::<u8>().is_ok()) {
            Some("<addr>")
        } else if before.ends_with(':') && out.ends_with(">:") {
            Some("<port>")
        } else if parts.len() == 2 {
            Some("<fraction>")
        } else if token.parse::<u64>().is_ok_and(|n| n >= 1_000_000_000) {
            Some("<clock>")
        } else if [" message(s)", " matching message(s)", " transcript entries"]
            .iter()
            .any(|unit| after.starts_with(unit))
        {
            Some("<count>")
        } else {
            None
        };
        out.push_str(placeholder.unwrap_or(token));
        rest = after;
    }
    out.push_str(rest);
    out
}

#[test]
fn a_real_targets_lines_lose_what_changes_between_runs() {
    assert_eq!(
        rewrite("a recv DHCPLEASEACTIVE xid=0x00000061 ciaddr=192.0.2.22 options=152,51"),
        "a recv DHCPLEASEACTIVE xid=0x00000061 ciaddr=<addr> options=152,51"
    );
    assert_eq!(
        rewrite("note trigger: bound 192.0.2.23, 192.0.2.22; base-time = 1796242670."),
        "note trigger: bound <addr>, <addr>; base-time = <clock>."
    );
    assert_eq!(
        rewrite("accepted from 127.0.0.1:40112 after 5s (ALQ-S-26) @#3"),
        "accepted from <addr>:<port> after 5s (ALQ-S-26) @#3"
    );
    assert_eq!(
        rewrite("info ALQ-S-36: 7554 message(s) before the close; 5 of 315 bytes in 10.009s"),
        "info ALQ-S-36: <count> message(s) before the close; 5 of 315 bytes in <fraction>s"
    );
    assert_eq!(
        rewrite("pass ALQ-S-20: 7 matching message(s) @#10"),
        "pass ALQ-S-20: <count> matching message(s) @#10"
    );
}
