#![no_main]
//! Feeds arbitrary text to the scenario loader and the target-profile parser.
//! Any panic is a bug; every error must render to a message naming the file.

use alq_harness::scenario::load::parse_scenario;
use alq_harness::iut::profile::TargetProfile;
use alq_harness::toml_load::parse_toml;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let path = Path::new("fuzz.toml");
    if let Err(e) = parse_scenario(path, &text) {
        assert!(e.to_string().contains("fuzz.toml"), "{e}");
    }
    if let Err(e) = parse_toml::<TargetProfile>(path, &text) {
        assert!(e.to_string().contains("fuzz.toml"), "{e}");
    }
});
