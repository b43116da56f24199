//! index.html in a real browser, read back from the DOM headless Chromium
//! builds: the verdict line, the counts, one working link per capture and
//! failures listed before passes; markup in a scenario title and in what the
//! implementation under test printed (a failing trigger's stderr) is shown
//! as text, never run. Skipped with a line saying so where Chromium is
//! missing, unless ALQ_REQUIRE_CHROMIUM is set (CI).

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let out = Command::new("sh")
                .args(["-c", &format!("command -v {name}")])
                .output()
                .ok()?;
            let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
        })
}

const TITLE: &str = "<script>document.title=777</script>";
const PRINTED: &str = "<img src=x onerror=\"document.title=666\">";

/// A report from a run whose scenario title and trigger output hold markup.
fn hostile_report(dir: &Path) -> PathBuf {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let scenarios = dir.join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    std::fs::write(
        scenarios.join("a.toml"),
        format!(
            "id = \"BLQ-S-18-hostile\"\ntitle = \"{}\"\nrole = \"requestor\"\ncovers = [\"BLQ-S-18\"]\nneeds = [\"bulk\", \"trigger\"]\n\n[[step]]\ntrigger = {{ bind = 1 }}\n",
            TITLE.replace('"', "\\\"")
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("target.toml"),
        format!(
            "name = \"hostile\"\nkind = \"tcp\"\naddress = \"{address}\"\nfeatures = [\"bulk\"]\nhealth-probe = false\n\n[trigger]\nkind = \"shell\"\ncommand = '''[ {{action}} = release ] && exit 0; [ -e bound ] && {{ printf '%s' '{PRINTED}' >&2; exit 1; }}; touch bound; echo 192.0.2.1'''\n"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_alq-harness"))
        .current_dir(dir)
        .args(["run", "--target", "target.toml", "--scenarios", "scenarios"])
        .args(["--reports", "reports"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "the failing trigger is a harness error: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    drop(listener);
    dir.join("reports/hostile/index.html")
}

#[test]
fn markup_from_a_scenario_and_the_target_is_text_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let page = hostile_report(dir.path());
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("document.title=666"),
        "the trigger output is in the report"
    );
    let Some(dom) = dom_of(&page) else { return };
    assert!(dom.contains("<title>alq-harness: hostile</title>"), "{dom}");
    assert!(
        !dom.contains("<title>666") && !dom.contains("<title>777"),
        "{dom}"
    );
    // What was printed is there as text, not as an element.
    assert!(dom.contains("&lt;img src=x onerror="), "{dom}");
    assert!(dom.contains("&lt;script&gt;document.title="), "{dom}");
    assert!(!dom.contains("<img") && !dom.contains("<script"), "{dom}");
}

/// The DOM Chromium builds from `page`, serialized; `None` (said) where no
/// Chromium is installed and none is required.
fn dom_of(page: &Path) -> Option<String> {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("ALQ_REQUIRE_CHROMIUM").is_none(),
            "ALQ_REQUIRE_CHROMIUM is set and no Chromium was found"
        );
        println!("skipped: no chromium on PATH");
        return None;
    };
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--virtual-time-budget=2000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The text inside the first element that opens with `open`.
fn element_text<'a>(dom: &'a str, open: &str) -> &'a str {
    let start = dom
        .find(open)
        .unwrap_or_else(|| panic!("no {open} in {dom}"));
    let rest = &dom[start..];
    let body = &rest[rest.find('>').unwrap() + 1..];
    &body[..body.find('<').unwrap()]
}

/// Every value of attribute `name` in `dom`, in order.
fn attribute_values<'a>(dom: &'a str, prefix: &str) -> Vec<&'a str> {
    dom.match_indices(prefix)
        .map(|(at, _)| {
            let value = &dom[at + prefix.len()..];
            &value[..value.find('"').unwrap()]
        })
        .collect()
}

const FAILING: &str = r#"id = "ALQ-S-04-expects-the-wrong-answer"
title = "Deliberately wrong: expects TLS to be accepted by an insecure server"
role = "requestor"
covers = ["ALQ-S-05"]
needs = ["insecure"]

[[step]]
connect = {}

[[step]]
send = { type = "DHCPTLS", xid = 7 }

[[step]]
expect = { type = "DHCPTLS", xid = 7, status = "none", requirement = "ALQ-S-05" }
"#;

#[test]
fn the_verdict_counts_captures_and_failures_first_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    // Three passing scenarios of the suite, one of them over TLS, and one
    // that fails on purpose.
    for name in [
        "server/ALQ-S-04-insecure-refuses-dhcptls.toml",
        "server/BLQ-S-23-query-by-client-id.toml",
        "server/ALQ-S-08-secure-rejects-bad-certificates.toml",
    ] {
        let from = root.join("scenarios").join(name);
        std::fs::copy(&from, scenarios.join(from.file_name().unwrap()))
            .unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
    std::fs::write(scenarios.join("failing.toml"), FAILING).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_alq-harness"))
        .current_dir(dir.path())
        .args(["run", "--scenarios", "scenarios", "--reports", "reports"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report_dir = dir.path().join("reports/reference");
    let Some(dom) = dom_of(&report_dir.join("index.html")) else {
        return;
    };

    let verdict = element_text(&dom, "<p id=\"verdict\"");
    assert_eq!(verdict, "FAIL: 3 of 4 scenarios passed, 1 failed", "{dom}");
    assert_eq!(element_text(&dom, "data-count=\"fail\""), "1");
    assert_eq!(element_text(&dom, "data-count=\"pass\""), "3");
    assert_eq!(element_text(&dom, "data-count=\"scenarios\""), "4");

    // A link per capture, each to a file that is there.
    let pcaps: Vec<_> = std::fs::read_dir(report_dir.join("pcap"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcapng" || x == "pcap"))
        .collect();
    assert_eq!(pcaps.len(), 4);
    let links = attribute_values(&dom, "class=\"pcap\" href=\"");
    assert_eq!(links.len(), pcaps.len(), "{dom}");
    for link in &links {
        assert!(report_dir.join(link).is_file(), "{link} is not a file");
    }
    assert!(
        dom.contains("class=\"meta tls-note\""),
        "the TLS scenario says how to read it"
    );

    // Failures come first: the list of problems holds the failure and no
    // pass, and stands before the requirement table and the scenarios.
    let problems = dom.find("id=\"problems\"").unwrap();
    let table = dom.find("id=\"requirement-table\"").unwrap();
    let first_failure = dom.find("class=\"problem\" data-verdict=\"fail\"").unwrap();
    let first_pass_row = dom.find("class=\"row v-row-pass\"").unwrap();
    assert!(problems < first_failure && first_failure < table && table < first_pass_row);
    assert_eq!(
        attribute_values(&dom, "class=\"problem\" data-verdict=\"").len(),
        1
    );
    assert!(
        dom[first_failure..table]
            .contains("href=\"https://www.rfc-editor.org/rfc/rfc7724.html#section-8.1\""),
        "the failure links its RFC section"
    );
    assert!(
        dom[first_failure..table].contains("href=\"#s-ALQ-S-04-expects-the-wrong-answer-"),
        "the failure links the transcript entry that decided it"
    );
}
