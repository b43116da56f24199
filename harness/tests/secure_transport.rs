//! Transport from the profile: against a server or a requestor that runs
//! secure only, as RFC 7724 §8.1 wants by default, every scenario that is not
//! about cleartext runs over DHCPTLS then TLS and passes. Run against the
//! reference server and requestor on the paused clock.

use alq_harness::iut::profile::{TargetProfile, Transport};
use alq_harness::outcome::Verdict;
use alq_harness::reference::variants::{Variant, VariantSet};
use alq_harness::run::runner::{run_one, RunOptions};
use alq_harness::scenario::load::load_dir;
use alq_harness::scenario::model::{Need, Role};
use std::path::Path;

/// The findings of `o` that are neither pass, info nor not-applicable.
fn not_passed(o: &alq_harness::outcome::ScenarioOutcome) -> Vec<String> {
    o.findings
        .iter()
        .filter(|f| {
            matches!(
                f.verdict,
                Verdict::Fail | Verdict::Warn | Verdict::Error | Verdict::Inconclusive
            )
        })
        .map(|f| format!("{} {}: {}", f.verdict.label(), f.requirement, f.message))
        .collect()
}

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
        let broken = not_passed(&o);
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
    // Of the server scenarios, 2 about cleartext and 1 bulk-only do not apply.
    assert_eq!(ran, server.len() - 3);
    assert!(over_tls >= 30, "only {over_tls} scenarios ran over TLS");
}

#[test]
fn every_requestor_scenario_not_about_cleartext_runs_over_tls_against_a_secure_only_requestor() {
    let profile = TargetProfile::reference_with(VariantSet::one(Variant::SecureOnly));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let scenarios = load_dir(&dir).unwrap();
    let requestor: Vec<_> = scenarios
        .iter()
        .filter(|l| l.scenario.role == Role::Server)
        .collect();
    let about_cleartext = requestor
        .iter()
        .filter(|l| l.scenario.needs.contains(&Need::Insecure))
        .count();
    let (mut ran, mut over_tls) = (0, 0);
    for l in &requestor {
        let o = run_one(l, &profile, &RunOptions::default());
        let needs = &l.scenario.needs;
        if needs.contains(&Need::Insecure) {
            assert_eq!(o.verdict, Verdict::NotApplicable, "{}", o.id);
            continue;
        }
        ran += 1;
        let broken = not_passed(&o);
        assert!(broken.is_empty(), "{}: {broken:#?}", o.id);
        // Scenarios about TLS answer the DHCPTLS themselves; every other one
        // took its connections inside TLS the harness served.
        if !needs.contains(&Need::Secure) {
            let served = o
                .transcript
                .iter()
                .filter(|e| e.text == "TLS established")
                .count();
            let accepted = o
                .transcript
                .iter()
                .filter(|e| e.text == "accepted" || e.text.starts_with("accepted and set aside"))
                .count();
            assert!(
                served >= accepted && accepted > 0,
                "{}: {served} of {accepted} over TLS",
                o.id
            );
            // Lines written while TLS came up carry the step's name.
            assert!(
                !o.transcript.iter().any(|e| e.conn.starts_with("(incoming")),
                "{}",
                o.id
            );
            over_tls += 1;
        }
    }
    // Only the scenarios about cleartext do not apply.
    assert_eq!(ran, requestor.len() - about_cleartext);
    assert!(
        about_cleartext <= 1,
        "{about_cleartext} requestor scenarios need insecure"
    );
    let not_about_transport = requestor
        .iter()
        .filter(|l| {
            !l.scenario
                .needs
                .iter()
                .any(|n| matches!(n, Need::Insecure | Need::Secure))
        })
        .count();
    assert_eq!(over_tls, not_about_transport);
    assert!(over_tls >= 9, "only {over_tls} scenarios ran over TLS");
}

#[test]
fn a_secure_only_requestor_that_skips_dhcptls_breaks_alq_r_08_in_any_scenario() {
    use alq_harness::reference::faults::{Fault, FaultSet};
    let mut profile = TargetProfile::reference_with(VariantSet::one(Variant::SecureOnly));
    profile.faults = FaultSet::one(Fault::SkipsDhcpTls);
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/requestor/ALQ-R-01-retry-spacing.toml");
    let l = alq_harness::scenario::load::load_scenario(&path).unwrap();
    let o = run_one(&l, &profile, &RunOptions::default());
    let f = o
        .findings
        .iter()
        .find(|f| f.verdict == Verdict::Fail)
        .unwrap_or_else(|| panic!("no failure: {:#?}", o.findings));
    assert_eq!(f.requirement, "ALQ-R-08");
    assert!(f.message.contains("not DHCPTLS"), "{}", f.message);
    // The evidence carries the name the scenario gave the connection.
    let evidence = f.frame.and_then(|i| o.transcript.get(i));
    assert_eq!(
        evidence.map(|e| e.conn.as_str()),
        Some("a"),
        "{:#?}",
        o.transcript
    );
}

/// AMB-08: a secure-only server that answers DHCPTLS with status Success is
/// taken as accepting TLS, with a warning on ALQ-S-05; every other scenario
/// carries on over TLS, without an error or a finding elsewhere.
#[test]
fn a_dhcptls_success_status_is_a_warning_and_the_scenarios_carry_on() {
    use alq_harness::reference::faults::{Fault, FaultSet};
    let profile = TargetProfile {
        faults: FaultSet::one(Fault::DhcpTlsSuccessStatus),
        ..TargetProfile::reference_with(VariantSet::one(Variant::SecureOnly))
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let scenarios = load_dir(&dir).unwrap();
    let mut warned = 0;
    for l in scenarios
        .iter()
        .filter(|l| l.scenario.role == Role::Requestor)
    {
        let o = run_one(l, &profile, &RunOptions::default());
        if o.verdict == Verdict::NotApplicable {
            continue;
        }
        assert_eq!(o.error, None, "{}", o.id);
        for f in o
            .findings
            .iter()
            .filter(|f| f.verdict > Verdict::Inconclusive)
        {
            assert_eq!(
                (f.requirement.as_str(), f.verdict),
                ("ALQ-S-05", Verdict::Warn),
                "{}: {f:?}",
                o.id
            );
            warned += 1;
        }
    }
    assert!(warned > 10, "{warned}");
}

/// A secure requestor that opens its bulk sync connection before its active
/// one, whether it speaks on it at once or only once the server answered on
/// the active one: the mock server takes both as they come, over TLS, and
/// every requestor scenario that applies passes.
#[rstest::rstest]
// Spoken at once, the sync's query shows in most scenarios (some end before
// it is read); quiet, it is set aside in every one.
#[case::speaks_at_once(Variant::BulkSyncBesideActive, "DHCPBULKLEASEQUERY", 2)]
#[case::quiet_until_answered(Variant::SyncConnectionFirst, "accepted and set aside", 1)]
fn a_secure_requestor_that_opens_its_sync_connection_first_passes(
    #[case] variant: Variant,
    #[case] sign_of_the_sync: &str,
    #[case] seen_in_one_of: usize,
) {
    let profile = TargetProfile::reference_with(VariantSet::of(&[Variant::SecureOnly, variant]));
    assert_eq!(profile.transport(), Transport::Tls);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let scenarios = load_dir(&dir).unwrap();
    let mut ran = 0;
    let mut sync_seen = 0;
    let mut false_verdicts = Vec::new();
    for l in scenarios.iter().filter(|l| l.scenario.role == Role::Server) {
        let o = run_one(l, &profile, &RunOptions::default());
        if o.verdict == Verdict::NotApplicable {
            continue;
        }
        ran += 1;
        false_verdicts.extend(not_passed(&o).into_iter().map(|f| format!("{}: {f}", o.id)));
        sync_seen += usize::from(
            o.transcript
                .iter()
                .any(|e| e.text.contains(sign_of_the_sync)),
        );
    }
    assert!(false_verdicts.is_empty(), "{false_verdicts:#?}");
    assert!(ran >= 8, "{ran}");
    // The sync connection shows in what the scenarios saw.
    assert!(sync_seen >= ran / seen_in_one_of, "{sync_seen} of {ran}");
}
