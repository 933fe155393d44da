//! Golden tests of bad suite and target files: each `tests/bad-files/NAME.yaml` is validated
//! and must exit 2 with exactly the error text in `NAME.expected` beside it.
//! `UPDATE_GOLDEN=1 cargo test --test bad_files` rewrites the expected files.

use std::path::Path;
use std::process::Command;

fn check(path: &Path) -> datatest_stable::Result<()> {
    let out = Command::new(env!("CARGO_BIN_EXE_smartcheck"))
        .arg("validate")
        .arg(path)
        .env_clear()
        .env("SMARTCHECK_TEST_SET", "set-value")
        .output()?;
    let stderr = String::from_utf8(out.stderr)?;
    let expected_path = path.with_extension("expected");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_path, &stderr)?;
    }
    let expected = std::fs::read_to_string(&expected_path).map_err(|e| {
        format!(
            "{}: {e} (UPDATE_GOLDEN=1 writes it)",
            expected_path.display()
        )
    })?;
    if out.status.code() != Some(2) {
        return Err(format!(
            "exit code {:?}, expected 2; stderr:\n{stderr}",
            out.status.code()
        )
        .into());
    }
    if stderr != expected {
        return Err(
            format!("error text differs.\n--- expected\n{expected}\n--- actual\n{stderr}").into(),
        );
    }
    if stderr.contains("panicked") {
        return Err("the harness panicked".into());
    }
    Ok(())
}

datatest_stable::harness! {
    { test = check, root = "tests/bad-files", pattern = r"\.yaml$" },
}
