//! The suite and target loaders on arbitrary bytes: every input ends in a suite, a target or
//! positioned errors, never a panic, a hang or unbounded memory (libFuzzer's `-timeout` and
//! `-rss_limit_mb` catch the last two).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Every `${NAME}` is set, so that targets get past the environment check.
    let env = |name: &str| Some(format!("value-of-{name}"));
    if let Err(errors) = smartcheck::suite::load_bytes("fuzz.yaml", data.to_vec(), &env) {
        // Rendering an error must not panic either (long lines, odd characters, positions).
        for error in errors {
            let _ = error.to_string();
        }
    }
});
