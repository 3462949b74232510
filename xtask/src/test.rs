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

/// Runs the whole suite, then prints how long each phase took (where CI's time goes).
pub fn run(args: &[String]) -> anyhow::Result<()> {
    if !args.is_empty() {
        bail!("usage: cargo xtask test");
    }
    let mut phases = Phases::default();
    phases.run("fmt", || cargo::run(&["fmt", "--all", "--check"]))?;
    // The deployment templates: cfn-lint, checkov, terraform fmt.
    phases.run("templates", crate::templates::check)?;
    // The release workflow: actionlint (and shellcheck on its scripts).
    phases.run("workflows", crate::workflows::check)?;
    phases.run("clippy", || {
        cargo::run(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])
    })?;
    phases.run("build rotators", || {
        let mut build = vec!["build"];
        for rotator in ROTATORS {
            build.extend(["--package", rotator]);
        }
        cargo::run(&build)
    })?;
    // Plain `cargo test` builds examples as ordinary binaries (the local driver's tests run
    // one) and runs the doc tests; `--all-targets` would build examples as test binaries.
    phases.run("cargo test", || cargo::run(&["test", "--workspace"]))?;
    // A rotator generated from templates/starter builds, passes the contract and lints clean.
    phases.run("starter", crate::new::check_starter)?;
    phases.print();
    println!("cargo xtask test: every check passed");
    Ok(())
}

/// The phases run so far and how long each took.
#[derive(Default)]
struct Phases(Vec<(&'static str, std::time::Duration)>);

impl Phases {
    fn run(
        &mut self,
        name: &'static str,
        phase: impl FnOnce() -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        let outcome = phase();
        self.0.push((name, started.elapsed()));
        if outcome.is_err() {
            self.print();
        }
        outcome
    }

    fn print(&self) {
        let total: std::time::Duration = self.0.iter().map(|(_, took)| *took).sum();
        let phases: Vec<String> = self
            .0
            .iter()
            .map(|(name, took)| format!("{name} {:.0} s", took.as_secs_f64()))
            .collect();
        println!(
            "cargo xtask test: {} (total {:.0} s)",
            phases.join(", "),
            total.as_secs_f64()
        );
    }
}
