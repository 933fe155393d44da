//! What the process was started with: its environment variables and whether its output
//! goes to a terminal. Read once in `main` and passed down, so that every part reads the same
//! values and tests can give their own. A room of its own: the commands (`app`), the built-in
//! suites and the log setup all read it, and none of them needs the others for it.

use std::collections::HashMap;

/// What the process was started with, read once in `main`.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub vars: HashMap<String, String>,
    pub stderr_is_terminal: bool,
    pub stdout_is_terminal: bool,
}

impl Environment {
    pub fn from_process() -> Self {
        use std::io::IsTerminal;
        Environment {
            vars: std::env::vars().collect(),
            stderr_is_terminal: std::io::stderr().is_terminal(),
            stdout_is_terminal: std::io::stdout().is_terminal(),
        }
    }

    pub fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
}
