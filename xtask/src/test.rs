//! `cargo xtask test`: everything CI runs, from a clean clone.
//!
//! Formatting first (cheap, and the most common failure), then one build of every target
//! that clippy lints as it compiles (beside it: the deployment templates' and the GitHub
//! Actions workflows' lint, and on a first run the install of moto and the AWS CLI in venvs
//! under `target/`), the doc tests, and every test binary of the workspace (unit tests, the
//! local driver's tests, and the end-to-end tests against a private moto, PostgreSQL and
//! MariaDB that each binary starts for itself), two at a time, beside the check of a rotator
//! crate generated from the starter template, built, linted and tested on its own. At the
//! end, the time of each phase.

use anyhow::bail;

use crate::cargo;

/// The six prebuilt rotators: what `package` zips, the demo runs and `preflight` can run.
pub const ROTATORS: &[&str] = &[
    "api-key",
    "mysql-multi-user",
    "mysql-single-user",
    "postgres-single-user",
    "postgres-multi-user",
    "replica-fanout",
];

/// Runs the whole suite, then prints how long each phase took (where CI's time goes).
///
/// What waits on the network or on servers runs beside what compiles: the templates' and the
/// workflows' lint (their tools are installed in venvs on the first run) beside the build, and
/// the generated starter's check beside the test binaries, which run two at a time
/// ([`crate::test_binaries`]). Every target is built by one `cargo build --workspace
/// --all-targets`, whose features are those xtask's own build resolved (every dependency
/// xtask compiled is reused), with clippy as the workspace's compiler
/// ([`cargo::run_linted`]): `cargo clippy` would first check every dependency again, in a
/// mode whose output a build cannot use.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    if !args.is_empty() {
        bail!("usage: cargo xtask test");
    }
    let mut phases = Phases::default();
    phases.run("fmt", || cargo::run(&["fmt", "--all", "--check"]))?;
    phases.run("shared features", crate::features::check_shared)?;
    let lints = std::thread::spawn(|| {
        let started = std::time::Instant::now();
        // The deployment templates (cfn-lint, checkov, terraform fmt), the release workflow
        // (actionlint, shellcheck).
        crate::templates::check()
            .and_then(|()| crate::workflows::check())
            .map(|()| started.elapsed())
    });
    // The e2e tests' tools (moto, the AWS CLI), installed on a first run while this compiles
    // rather than by the first test binary that needs them.
    let tools = std::thread::spawn(|| {
        let started = std::time::Instant::now();
        rotation_stack::MotoServer::install()
            .map_err(anyhow::Error::from)
            .and_then(|_| Ok(rotation_e2e::AWS_CLI.ensure()?))
            .map(|_| started.elapsed())
    });
    // One build that also lints: clippy compiles the workspace's own crates, denying
    // warnings (what `cargo clippy --workspace --all-targets -- -D warnings` checks), and the
    // dependencies are compiled once, by the units xtask's own build already made.
    cargo::check_clippy_driver()?;
    phases.run("build and clippy", || {
        cargo::run_linted(None, &["build", "--workspace", "--all-targets"])
    })?;
    let linted = lints
        .join()
        .map_err(|_| anyhow::anyhow!("the templates' lint panicked"))??;
    phases.beside("templates and workflows lint", linted);
    let installed = tools
        .join()
        .map_err(|_| anyhow::anyhow!("the test tools' install panicked"))??;
    phases.beside("test tools install", installed);
    phases.run("doc tests", || {
        cargo::run_linted(None, &["test", "--workspace", "--doc"])
    })?;
    let binaries = crate::test_binaries::list()?;
    // A rotator generated from templates/starter builds, passes the contract and lints clean.
    let starter = std::thread::spawn(|| {
        let started = std::time::Instant::now();
        crate::new::check_starter().map(|()| started.elapsed())
    });
    let tests = phases.run("test binaries", || {
        crate::test_binaries::run_all(binaries, 2)
    });
    let checked = starter
        .join()
        .map_err(|_| anyhow::anyhow!("the starter check panicked"))?;
    tests?;
    phases.beside("starter check", checked?);
    phases.print();
    println!("cargo xtask test: every check passed");
    Ok(())
}

/// The phases run so far and how long each took.
#[derive(Default)]
struct Phases(
    Vec<(&'static str, std::time::Duration)>,
    Vec<(&'static str, std::time::Duration)>,
);

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

    /// Records a phase that ran beside the others (its time is not added to the total).
    fn beside(&mut self, name: &'static str, took: std::time::Duration) {
        self.1.push((name, took));
    }

    fn print(&self) {
        let total: std::time::Duration = self.0.iter().map(|(_, took)| *took).sum();
        let phases: Vec<String> = self
            .0
            .iter()
            .map(|(name, took)| format!("{name} {:.0} s", took.as_secs_f64()))
            .collect();
        let beside: Vec<String> = self
            .1
            .iter()
            .map(|(name, took)| format!("{name} {:.0} s", took.as_secs_f64()))
            .collect();
        println!(
            "cargo xtask test: {} (total {:.0} s); beside them: {}",
            phases.join(", "),
            total.as_secs_f64(),
            if beside.is_empty() {
                "nothing yet".to_owned()
            } else {
                beside.join(", ")
            }
        );
    }
}
