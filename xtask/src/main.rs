//! `cargo xtask`: the project's developer tasks, written in Rust instead of shell scripts and
//! Makefiles, so that they run wherever cargo does.
//!
//! Each command is a module with a `run(args)` function; `main` only dispatches on the first
//! argument.

mod bench;
mod cargo;
mod demo;
mod scenario;
mod stack;
mod test;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  stack up     start the local stack (moto, PostgreSQL, MariaDB) in the background, or reuse the
               running one, and print its variables (eval \"$(cargo xtask stack up)\")
  stack env    print `export NAME='value'` lines for the running stack
  stack down   stop the local stack and delete its data
  demo         run a rotation end to end against the local stack
  test         run the test suite
  bench [ROTATOR...]  run the benchmarks (all four rotators, or those named)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let outcome = match command.as_str() {
        "stack" => stack::run(&args[1..]),
        "demo" => demo::run(&args[1..]),
        "test" => test::run(&args[1..]),
        "bench" => bench::run(&args[1..]),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(anyhow::anyhow!("unknown command `{other}`\n\n{USAGE}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
