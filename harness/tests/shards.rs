//! `run --shard K/N` splits the suite deterministically and `merge` joins the
//! shards' reports into the report of the whole run.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alq-harness"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap()
}

fn report(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn ids(report: &Value) -> Vec<String> {
    report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

fn verdicts(report: &Value) -> Vec<(String, String)> {
    report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn three_shards_merge_into_the_whole_run() {
    let out = tempfile::tempdir().unwrap();
    let dir = |name: &str| out.path().join(name);
    let whole = harness(&["run", "--reports", dir("whole").to_str().unwrap()]);
    assert!(whole.status.success());
    let whole = report(&dir("whole/reference/report.json"));

    let mut shard_ids = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let o = harness(&[
            "run",
            "--shard",
            &shard,
            "--reports",
            dir("shards").to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r = report(&dir(&format!(
            "shards/reference-shard-{k}-of-3/report.json"
        )));
        assert_eq!(r["shard"]["index"], k);
        assert_eq!(r["shard"]["count"], 3);
        shard_ids.push(ids(&r));
    }
    // Round-robin: every scenario in exactly one shard, sizes differ by at most one.
    let mut all: Vec<String> = shard_ids.concat();
    all.sort();
    let mut expected = ids(&whole);
    expected.sort();
    assert_eq!(all, expected);
    let sizes: Vec<usize> = shard_ids.iter().map(Vec::len).collect();
    assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);

    let shard_dirs: Vec<String> = (1..=3)
        .map(|k| {
            dir(&format!("shards/reference-shard-{k}-of-3"))
                .display()
                .to_string()
        })
        .collect();
    let mut args = vec!["merge", "--reports-dir"];
    let merged_dir = dir("merged");
    args.push(merged_dir.to_str().unwrap());
    args.extend(shard_dirs.iter().map(String::as_str));
    let o = harness(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let merged = report(&dir("merged/reference/report.json"));
    assert_eq!(verdicts(&merged), verdicts(&whole));
    assert_eq!(merged["scenario_counts"], whole["scenario_counts"]);
    assert_eq!(merged["requirement_counts"], whole["requirement_counts"]);
    assert_eq!(merged["requirements"], whole["requirements"]);
    assert!(merged.get("shard").is_none());
    for id in ids(&merged) {
        let pcap = dir(&format!("merged/reference/pcap/{id}.pcapng"));
        assert!(pcap.exists(), "{id}: no capture in the merged report");
        assert!(
            dir(&format!("whole/reference/pcap/{id}.pcapng")).exists(),
            "{id}"
        );
    }
    assert!(dir("merged/reference/junit.xml").exists());
    assert!(dir("merged/reference/index.html").exists());

    // A missing shard and a shard given twice are errors, exit 2.
    let merge_two = |first: &str, second: &str| {
        let merged = merged_dir.to_str().unwrap();
        harness(&["merge", "--reports-dir", merged, first, second])
    };
    let o = merge_two(&shard_dirs[0], &shard_dirs[2]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("shard 2 of 3 is missing"));
    let o = merge_two(&shard_dirs[0], &shard_dirs[0]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("are both shard 1"));
}

#[test]
fn a_shard_outside_one_to_n_is_refused() {
    for bad in ["0/3", "4/3", "1/0", "two/3", "3"] {
        let o = harness(&["run", "--shard", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("is not K/N"),
            "{bad}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
