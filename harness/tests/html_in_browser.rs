//! index.html in a real browser: markup in a scenario title and in what the
//! implementation under test printed (a failing trigger's stderr) is shown
//! as text by headless Chromium, never run. Skipped with a line saying so
//! where Chromium is missing, unless ALQ_REQUIRE_CHROMIUM is set (CI).

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
            "name = \"hostile\"\nkind = \"tcp\"\naddress = \"{address}\"\nfeatures = [\"bulk\"]\n\n[trigger]\nkind = \"shell\"\ncommand = '''printf '%s' '{PRINTED}' >&2; exit 1'''\n"
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
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("ALQ_REQUIRE_CHROMIUM").is_none(),
            "ALQ_REQUIRE_CHROMIUM is set and no Chromium was found"
        );
        println!("skipped: no chromium on PATH");
        return;
    };
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=2000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
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
