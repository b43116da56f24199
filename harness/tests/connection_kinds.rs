//! Connections by what they carry: a requestor that opens its bulk sync on a
//! connection beside its active query (RFC 7724 §4) is told apart from one
//! that reconnected, and the connection not awaited is still served. Run
//! against the reference requestor on the paused clock.

use alq_harness::iut::profile::TargetProfile;
use alq_harness::outcome::{ScenarioOutcome, Verdict};
use alq_harness::reference::variants::{Variant, VariantSet};
use alq_harness::run::runner::{run_one, RunOptions};
use alq_harness::scenario::load::{load_dir, parse_scenario, LoadedScenario};
use alq_harness::scenario::model::Role;
use std::path::{Path, PathBuf};

fn bulk_beside_active() -> TargetProfile {
    TargetProfile {
        variants: VariantSet::one(Variant::BulkSyncBesideActive),
        ..TargetProfile::reference()
    }
}

fn scenario(id: &str, accept_kind: &str) -> LoadedScenario {
    let text = format!(
        r#"
id = "{id}"
title = "t"
role = "server"
covers = ["ALQ-R-01"]
needs = ["active", "insecure"]

[[step]]
accept = {{ conn = "a", within = "ACTIVE_LQ_IDLE_TIMEOUT"{accept_kind} }}
[[step]]
expect = {{ conn = "a", type = "ACTIVELEASEQUERY" }}
[[step]]
close = {{ conn = "a" }}
[[step]]
accept = {{ conn = "b", within = "ACTIVE_LQ_IDLE_TIMEOUT + 5s", not-before = "ACTIVE_LQ_IDLE_TIMEOUT - 1s", since = "a", requirement = "ALQ-R-01"{accept_kind} }}
[[step]]
expect = {{ conn = "b", type = "ACTIVELEASEQUERY" }}
"#
    );
    let path = PathBuf::from(format!("{id}.toml"));
    LoadedScenario {
        scenario: parse_scenario(&path, &text).unwrap(),
        path,
    }
}

fn broken(o: &ScenarioOutcome) -> Vec<String> {
    o.findings
        .iter()
        .filter(|f| matches!(f.verdict, Verdict::Fail | Verdict::Warn | Verdict::Error))
        .map(|f| format!("{} {}: {}", f.verdict.label(), f.requirement, f.message))
        .collect()
}

#[test]
fn a_bulk_connection_beside_the_active_one_is_no_reconnect() {
    let profile = bulk_beside_active();
    // Taken in arrival order, the bulk connection is taken for the active
    // one: the set-up step awaiting the active query gets the bulk one, and
    // the scenario stops without a verdict on ALQ-R-01.
    let by_arrival = run_one(
        &scenario("ALQ-R-01-by-arrival", ""),
        &profile,
        &RunOptions::default(),
    );
    assert_eq!(by_arrival.verdict, Verdict::Inconclusive, "{by_arrival:#?}");
    assert!(broken(&by_arrival).is_empty(), "{by_arrival:#?}");
    // Taken by kind, the bulk connection is set aside and answered, and the
    // active query's reconnect is measured from the active connection.
    let by_kind = scenario("ALQ-R-01-by-kind", ", kind = \"active\"");
    let o = run_one(&by_kind, &profile, &RunOptions::default());
    assert!(broken(&o).is_empty(), "{:#?}", o.findings);
    assert_eq!(o.verdict, Verdict::Pass);
    let said = |text: &str| o.transcript.iter().any(|e| e.text.contains(text));
    assert!(said("set aside"), "{:#?}", o.transcript);
    assert!(said("DHCPLEASEQUERYDONE"), "the bulk query is answered");
    let reconnect = o
        .findings
        .iter()
        .find(|f| f.message.starts_with("reconnected after"))
        .map(|f| f.message.clone());
    assert_eq!(reconnect.as_deref(), Some("reconnected after 60s"));
    // The same requestor without the bulk connection passes both ways.
    let plain = TargetProfile::reference();
    for l in [scenario("ALQ-R-01-plain", ""), by_kind] {
        let o = run_one(&l, &plain, &RunOptions::default());
        assert!(broken(&o).is_empty(), "{}: {:#?}", o.id, o.findings);
    }
}

#[test]
fn every_requestor_scenario_holds_for_a_bulk_sync_beside_the_active_query() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let scenarios = load_dir(&dir).unwrap();
    let profile = bulk_beside_active();
    let mut ran = 0;
    for l in scenarios.iter().filter(|l| l.scenario.role == Role::Server) {
        let o = run_one(l, &profile, &RunOptions::default());
        assert!(broken(&o).is_empty(), "{}: {:#?}", o.id, o.findings);
        ran += 1;
    }
    // The TLS scenarios too: they take the connection that comes first.
    assert!(ran >= 16, "only {ran} scenarios ran");
}
