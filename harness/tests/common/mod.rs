//! Helpers shared by the tests that write target profiles.

use std::path::Path;

/// A profile's `[tls]` table over the files `alq-harness certs DIR` writes.
pub fn tls_table(certs: &Path) -> String {
    let c = |f: &str| certs.join(f).display().to_string();
    format!(
        "[tls]\nca = \"{}\"\nclient-cert = \"{}\"\nclient-key = \"{}\"\nother-cert = \"{}\"\nother-key = \"{}\"\nuntrusted-cert = \"{}\"\nuntrusted-key = \"{}\"\n",
        c("ca.pem"),
        c("client.pem"),
        c("client.key"),
        c("other-client.pem"),
        c("other-client.key"),
        c("untrusted-client.pem"),
        c("untrusted-client.key")
    )
}
