//! Transport from the profile: against a server that runs secure only, as
//! RFC 7724 §8.1 wants by default, every server scenario that is not about
//! cleartext runs over DHCPTLS then TLS and passes. Run against the reference
//! server on the paused clock.

use alq_harness::iut::profile::{TargetProfile, Transport};
use alq_harness::outcome::Verdict;
use alq_harness::reference::variants::{Variant, VariantSet};
use alq_harness::run::runner::{run_one, RunOptions};
use alq_harness::scenario::load::load_dir;
use alq_harness::scenario::model::{Need, Role};
use std::path::Path;

#[test]
fn every_server_scenario_not_about_cleartext_runs_over_tls_against_a_secure_only_server() {
    let profile = TargetProfile::reference_with(VariantSet::one(Variant::SecureOnly));
    assert_eq!(profile.transport(), Transport::Tls);
    assert_eq!(TargetProfile::reference().transport(), Transport::Cleartext);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let scenarios = load_dir(&dir).unwrap();
    let server: Vec<_> = scenarios
        .iter()
        .filter(|l| l.scenario.role == Role::Requestor)
        .collect();
    let (mut ran, mut over_tls) = (0, 0);
    for l in &server {
        let o = run_one(l, &profile, &RunOptions::default());
        let needs = &l.scenario.needs;
        if needs.contains(&Need::Insecure) || needs.contains(&Need::BulkOnly) {
            assert_eq!(o.verdict, Verdict::NotApplicable, "{}", o.id);
            continue;
        }
        ran += 1;
        let broken: Vec<String> = o
            .findings
            .iter()
            .filter(|f| matches!(f.verdict, Verdict::Fail | Verdict::Warn | Verdict::Error))
            .map(|f| format!("{} {}: {}", f.verdict.label(), f.requirement, f.message))
            .collect();
        assert!(broken.is_empty(), "{}: {broken:#?}", o.id);
        let about_tls = needs.contains(&Need::Secure);
        let set_up_tls = o.transcript.iter().any(|e| e.text == "TLS established");
        // Scenarios about TLS make their own handshakes; every other one
        // that opened a connection ran inside TLS set up for it.
        let connected = o.transcript.iter().any(|e| e.text.starts_with("connected"));
        if !about_tls && connected {
            assert!(set_up_tls, "{} did not run over TLS", o.id);
            over_tls += 1;
        }
    }
    // 44 server scenarios: 2 about cleartext and 1 bulk-only do not apply.
    assert_eq!(ran, server.len() - 3);
    assert!(over_tls >= 30, "only {over_tls} scenarios ran over TLS");
}
