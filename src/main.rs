//! The `smartcheck` binary: reads the environment once, runs the command line, exits.

use std::process::ExitCode;

fn main() -> ExitCode {
    let env = smartcheck::app::Environment::from_process();
    smartcheck::logging::init(&env);
    let code = smartcheck::cli::main(std::env::args_os(), &env);
    smartcheck::exit::code(code)
}
