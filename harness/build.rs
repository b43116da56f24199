// The conformance test enumerates scenario files at compile time (rstest
// `#[files]`); rebuild it when scenarios are added, removed or edited.
fn main() {
    println!("cargo:rerun-if-changed=../scenarios");
    println!("cargo:rerun-if-changed=build.rs");
}
