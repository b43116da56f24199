#![no_main]
//! Feeds arbitrary text to the target-profile loader (parse and every check
//! `run --target` makes) and the `serve` configuration loader (parse, pool,
//! server configuration). Any panic is a bug; every profile error must name
//! the file.

use alq_harness::iut::profile::TargetProfile;
use alq_harness::reference::config::ServeConfig;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let path = Path::new("fuzz.toml");
    match TargetProfile::parse(path, &text) {
        Ok(profile) => {
            let _ = profile.durations();
            let _ = profile.clock_skew_secs();
            let _ = profile.transport();
        }
        Err(e) => assert!(e.to_string().contains("fuzz.toml"), "{e}"),
    }
    if let Ok(config) = ServeConfig::parse(path, &text) {
        let _ = config.addresses();
        let _ = config.server_config();
    }
});
