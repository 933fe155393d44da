//! What the binary carries, so that it works in any folder: the built-in suites and the
//! reference target. The reference server's fixtures and the harness's keys are compiled in
//! where they are used. `smartcheck suites export DIR` writes the suites out for people who
//! want to change them; `--suite` runs files instead.

use std::path::{Path, PathBuf};

use crate::environment::Environment;
use crate::suite::{self, LoadError, Loaded, Suite, Target};

/// The built-in suites: (file name in `suites/`, text).
pub const SUITES: &[(&str, &str)] = &[
    (
        "smart-app-launch.yaml",
        include_str!("../suites/smart-app-launch.yaml"),
    ),
    (
        "smart-app-state.yaml",
        include_str!("../suites/smart-app-state.yaml"),
    ),
    (
        "smart-backend-services.yaml",
        include_str!("../suites/smart-backend-services.yaml"),
    ),
    (
        "smart-bearer-access.yaml",
        include_str!("../suites/smart-bearer-access.yaml"),
    ),
    (
        "smart-discovery.yaml",
        include_str!("../suites/smart-discovery.yaml"),
    ),
    (
        "smart-registration.yaml",
        include_str!("../suites/smart-registration.yaml"),
    ),
    (
        "smart-token-lifecycle.yaml",
        include_str!("../suites/smart-token-lifecycle.yaml"),
    ),
    (
        "smart-user-access-brands.yaml",
        include_str!("../suites/smart-user-access-brands.yaml"),
    ),
];

/// The target templates (`fixtures/targets/templates/`) and the harness's public client JWK
/// Set that a server which cannot reach this machine fetches from where the user publishes it
/// (`client-jwks-url`): what `smartcheck templates export DIR` writes for a binary without
/// this repository.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "backend-services-only.yaml",
        include_str!("../fixtures/targets/templates/backend-services-only.yaml"),
    ),
    (
        "smart2-dynamic-registration.yaml",
        include_str!("../fixtures/targets/templates/smart2-dynamic-registration.yaml"),
    ),
    (
        "smart2-static-clients.yaml",
        include_str!("../fixtures/targets/templates/smart2-static-clients.yaml"),
    ),
    (
        "stu1-s4s-debug.yaml",
        include_str!("../fixtures/targets/templates/stu1-s4s-debug.yaml"),
    ),
    (
        "client-jwks.json",
        include_str!("../fixtures/keys/client-jwks.json"),
    ),
];

/// Where the built-in suites live in the repository: the file named in load errors and in
/// every check's `location`, so that it points at the source in a clone.
pub const SUITES_DIR: &str = "suites";

/// The target `smartcheck demo` runs against, and the name its errors carry.
pub const REFERENCE_TARGET: (&str, &str) = (
    "fixtures/targets/reference.yaml",
    include_str!("../fixtures/targets/reference.yaml"),
);

/// The built-in suites, loaded.
pub fn suites() -> Result<Vec<Suite>, Vec<LoadError>> {
    let mut suites = Vec::new();
    let mut errors = Vec::new();
    for (name, text) in SUITES {
        let file = format!("{SUITES_DIR}/{name}");
        match suite::load_bytes(&file, text.as_bytes().to_vec(), &|_| None) {
            Ok(Loaded::Suite(s)) => suites.push(*s),
            Ok(Loaded::Target(_)) => errors.push(LoadError::whole_file(
                &file,
                "a built-in suite loads as a target",
            )),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(suites)
    } else {
        Err(errors)
    }
}

/// The reference target, with `${NAME}` read from `env`.
pub fn reference_target(env: &Environment) -> Result<Target, Vec<LoadError>> {
    let (file, text) = REFERENCE_TARGET;
    match suite::load_bytes(file, text.as_bytes().to_vec(), &|n| env.var(n))? {
        Loaded::Target(t) => Ok(*t),
        Loaded::Suite(_) => Err(vec![LoadError::whole_file(
            file,
            "the reference target loads as a suite",
        )]),
    }
}

/// Writes every built-in suite into `dir` (created if missing); an existing file is replaced
/// only with `force`. Returns the files written.
pub fn export(dir: &Path, force: bool) -> Result<Vec<PathBuf>, String> {
    export_files(dir, force, SUITES)
}

/// Writes `files` (name, text) into `dir`, refusing to replace any that exists unless `force`.
pub fn export_files(
    dir: &Path,
    force: bool,
    files: &[(&str, &str)],
) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if !force {
        let existing: Vec<String> = files
            .iter()
            .map(|(name, _)| dir.join(name))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !existing.is_empty() {
            return Err(format!(
                "{} already exist(s); pass --force to replace",
                existing.join(", ")
            ));
        }
    }
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suite_file_in_the_repository_is_built_in_and_loads() {
        let mut on_disk: Vec<String> = std::fs::read_dir(SUITES_DIR)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.ends_with(".yaml"))
            .collect();
        on_disk.sort();
        let built_in: Vec<String> = SUITES.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(built_in, on_disk, "add the new suite to builtin::SUITES");
        let loaded = suites().unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(loaded.len(), SUITES.len());
    }

    #[test]
    fn every_template_in_the_repository_is_built_in() {
        let mut on_disk: Vec<String> = std::fs::read_dir("fixtures/targets/templates")
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        on_disk.push("client-jwks.json".into());
        on_disk.sort();
        let mut built_in: Vec<String> = TEMPLATES.iter().map(|(n, _)| n.to_string()).collect();
        built_in.sort();
        assert_eq!(
            built_in, on_disk,
            "add the new template to builtin::TEMPLATES"
        );
    }
}
