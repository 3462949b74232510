//! `cargo xtask test`: everything CI runs, from a clean clone.
//!
//! Formatting and lints first (cheap, and the most common failure; the deployment templates'
//! and the GitHub Actions workflows' too), then the rotator binaries the end-to-end tests drive, then every test of the
//! workspace: unit tests, doc tests, the local driver's tests, and the end-to-end tests against
//! a private moto and PostgreSQL that each test binary starts for itself (the first run
//! installs moto in a venv under `target/`), and last a rotator crate generated from the
//! starter template, built and tested on its own.

use anyhow::bail;

use crate::cargo;

/// The rotator binaries the end-to-end tests run.
pub const ROTATORS: &[&str] = &[
    "api-key",
    "mysql-multi-user",
    "mysql-single-user",
    "postgres-single-user",
    "postgres-multi-user",
    "replica-fanout",
];

/// Runs the whole suite.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    if !args.is_empty() {
        bail!("usage: cargo xtask test");
    }
    cargo::run(&["fmt", "--all", "--check"])?;
    // The deployment templates: cfn-lint, checkov, terraform fmt.
    crate::templates::check()?;
    // The release workflow: actionlint (and shellcheck on its scripts).
    crate::workflows::check()?;
    cargo::run(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    let mut build = vec!["build"];
    for rotator in ROTATORS {
        build.extend(["--package", rotator]);
    }
    cargo::run(&build)?;
    // Plain `cargo test` builds examples as ordinary binaries (the local driver's tests run
    // one) and runs the doc tests; `--all-targets` would build examples as test binaries.
    cargo::run(&["test", "--workspace"])?;
    // A rotator generated from templates/starter builds, passes the contract and lints clean.
    crate::new::check_starter()?;
    println!("cargo xtask test: every check passed");
    Ok(())
}
