//! One binary that works anywhere: copied into an empty folder, with no clone of this
//! repository around, `demo` runs the built-in suites against the embedded reference server,
//! and `suites export` writes the built-in suites byte for byte, files `validate` accepts.

use std::path::Path;
use std::process::Command;

/// The binary, copied alone into a new empty folder; commands run there.
fn lone_binary() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("smartcheck");
    std::fs::copy(env!("CARGO_BIN_EXE_smartcheck"), &binary).unwrap();
    (dir, binary)
}

fn run(binary: &Path, cwd: &Path, args: &[&str]) -> std::process::Output {
    // A file just written can be "busy" for a moment when another test thread forks while it
    // is open (the child holds the descriptor until it execs).
    for _ in 0..100 {
        match Command::new(binary).args(args).current_dir(cwd).output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => return other.unwrap(),
        }
    }
    panic!("{} stayed busy", binary.display());
}

#[test]
fn demo_runs_from_an_empty_folder() {
    let (dir, binary) = lone_binary();
    let out = run(
        &binary,
        dir.path(),
        &[
            "demo",
            "--color",
            "never",
            "--exact",
            "reference::smart-discovery::smart-configuration",
        ],
    );
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{console}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(console.contains("1 passed"), "{console}");
    assert!(dir.path().join("reports/results.json").exists());
}

#[test]
fn exported_suites_are_the_built_in_ones_and_validate() {
    let (dir, binary) = lone_binary();
    let out = run(&binary, dir.path(), &["suites", "export", "my-suites"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for entry in std::fs::read_dir("suites").unwrap().flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().ends_with(".yaml") {
            continue;
        }
        let exported = std::fs::read(dir.path().join("my-suites").join(&name))
            .unwrap_or_else(|e| panic!("{name:?} not exported: {e}"));
        assert_eq!(exported, std::fs::read(entry.path()).unwrap(), "{name:?}");
    }
    // A second export does not overwrite without --force.
    let again = run(&binary, dir.path(), &["suites", "export", "my-suites"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("pass --force to replace"));
    let forced = run(
        &binary,
        dir.path(),
        &["suites", "export", "my-suites", "--force"],
    );
    assert_eq!(forced.status.code(), Some(0));
    // The exported files validate.
    let mut files: Vec<String> = std::fs::read_dir(dir.path().join("my-suites"))
        .unwrap()
        .flatten()
        .map(|e| format!("my-suites/{}", e.file_name().to_string_lossy()))
        .collect();
    files.sort();
    let mut args = vec!["validate"];
    args.extend(files.iter().map(String::as_str));
    let validate = run(&binary, dir.path(), &args);
    assert_eq!(
        validate.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&validate.stderr)
    );
}
