//! Running cargo itself, and where its outputs land.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The workspace root (xtask's manifest is one level below it).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The cargo that runs us (`CARGO`), else `cargo` on the PATH, in the workspace root, without
/// the variables `cargo run` set for xtask itself ([`RUN_VARIABLES`]).
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_run_variable) {
            command.env_remove(name);
        }
    }
    command
}

/// The variables `cargo run` sets for the program it runs (the package's name, version,
/// manifest directory...). A build script may ask to be rerun when one changes (ring's does),
/// and cargo compares them with its own environment: inherited by a cargo that xtask starts,
/// they made it rebuild ring and every crate above it (the AWS SDKs), already built for
/// xtask.
const RUN_VARIABLES: [&str; 6] = [
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_RUSTC_CURRENT_DIR",
];

fn is_run_variable(name: &str) -> bool {
    RUN_VARIABLES.iter().any(|prefix| name.starts_with(prefix)) || name == "OUT_DIR"
}

/// Runs `cargo <args>`, echoing the command, and fails if it fails.
pub fn run(args: &[&str]) -> anyhow::Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    checked(cargo(), args)
}

/// `cargo` in `dir`, a crate outside this workspace, with this workspace's target directory
/// (so that it reuses what the workspace compiled, and finds the stack's venv there).
fn cargo_in(dir: &Path) -> anyhow::Result<Command> {
    let mut command = cargo();
    command
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", std::path::absolute(target_dir())?);
    Ok(command)
}

/// Runs `cargo <args>` in `dir` as [`cargo_in`] does, echoing the command, and fails if it
/// fails.
pub fn run_in(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    echo_in(dir, "", args)?;
    checked(cargo_in(dir)?, args)
}

fn echo_in(dir: &Path, env: &str, args: &[&str]) -> anyhow::Result<()> {
    eprintln!(
        "$ (cd {} && CARGO_TARGET_DIR={} {env}cargo {})",
        dir.display(),
        std::path::absolute(target_dir())?.display(),
        args.join(" ")
    );
    Ok(())
}

fn checked(mut command: Command, args: &[&str]) -> anyhow::Result<()> {
    let status = command
        .args(args)
        .status()
        .with_context(|| format!("cannot run cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The target directory (`CARGO_TARGET_DIR` or `<root>/target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// How [`build`] builds the rotator binaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// Profile `dev`, the dependencies' features resolved for the whole workspace: exactly the
    /// units xtask itself and `cargo xtask test` compile, so a local run (the demo,
    /// `preflight`, `demo client`) compiles only the rotators' own crates on top of them.
    /// Optimising the dependencies at all (`opt-level` 1 already) triples a first build's
    /// CPU time, and local runs wait on servers, not on computation.
    Local,
    /// Profile `fast` (`release` without its fat-LTO link, see the workspace `Cargo.toml`),
    /// each rotator with its own features, as in its zip: what the bench measures.
    Measured,
}

impl Build {
    /// The cargo profile.
    pub fn profile(self) -> &'static str {
        match self {
            Build::Local => "dev",
            Build::Measured => "fast",
        }
    }

    /// The directory of the profile's outputs under the target directory.
    fn dir(self) -> PathBuf {
        target_dir().join(match self {
            Build::Local => "debug",
            Build::Measured => "fast",
        })
    }
}

/// Builds binaries, all in one cargo call (one dependency graph, built once, the binaries
/// linked in parallel), and returns their paths in the same order.
///
/// Cargo resolves features for the packages a command selects: `--package` selects the
/// rotators alone (their zips' features), `--workspace --bin` the whole workspace (the
/// features xtask's and the tests' builds resolved, so their compiled units are reused).
pub fn build(how: Build, binaries: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    let mut args = vec!["build", "--profile", how.profile()];
    let select = match how {
        Build::Local => {
            args.push("--workspace");
            "--bin"
        }
        Build::Measured => "--package",
    };
    for binary in binaries {
        args.extend([select, binary]);
    }
    run(&args)?;
    Ok(binaries
        .iter()
        .map(|binary| how.dir().join(binary))
        .collect())
}

/// Whether the binaries of [`build`] are there already (the first build takes minutes).
pub fn built(how: Build, binaries: &[&str]) -> bool {
    binaries
        .iter()
        .all(|binary| how.dir().join(binary).is_file())
}

/// What `cargo clippy` sets for the workspace's own crates, so that a build lints them as it
/// compiles them (warnings denied): clippy's driver is the workspace's compiler
/// (`RUSTC_WORKSPACE_WRAPPER`), with its arguments in `CLIPPY_ARGS`, each followed by the
/// separator `__CLIPPY_HACKERY__` (clippy's own protocol between `cargo-clippy` and
/// `clippy-driver`). `cargo clippy` itself runs `cargo check`, whose metadata-only units of
/// every dependency a build cannot reuse: on two cores that separate pass took two minutes of
/// CI. The dependencies are compiled by rustc as usual and are neither linted nor changed.
const CLIPPY_WRAPPER: [(&str, &str); 2] = [
    ("RUSTC_WORKSPACE_WRAPPER", "clippy-driver"),
    (
        "CLIPPY_ARGS",
        "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__",
    ),
];

/// Fails, saying what to install, unless clippy's driver runs.
pub fn check_clippy_driver() -> anyhow::Result<()> {
    let runs = Command::new("clippy-driver")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !runs {
        bail!(
            "`clippy-driver --version` did not run: `cargo xtask test` lints the workspace with              clippy's driver as it builds; install clippy (`rustup component add clippy`)"
        );
    }
    Ok(())
}

/// `cargo` (in `dir`, a crate outside this workspace, as [`cargo_in`], when given) with
/// clippy as the compiler of the crates being developed: a build or a test run that also lints
/// them, as `cargo clippy -- -D warnings` would ([`CLIPPY_WRAPPER`]). Every cargo call of one
/// run must be linted or none, or each would compile the workspace's crates again.
pub fn linted(dir: Option<&Path>) -> anyhow::Result<Command> {
    let mut command = match dir {
        None => cargo(),
        Some(dir) => cargo_in(dir)?,
    };
    command.envs(CLIPPY_WRAPPER);
    Ok(command)
}

/// Runs [`linted`] `cargo <args>`, echoing the command, and fails if it fails.
pub fn run_linted(dir: Option<&Path>, args: &[&str]) -> anyhow::Result<()> {
    let env: String = CLIPPY_WRAPPER
        .iter()
        .map(|(name, value)| format!("{name}={value} "))
        .collect();
    match dir {
        None => eprintln!("$ {env}cargo {}", args.join(" ")),
        Some(dir) => echo_in(dir, &env, args)?,
    }
    checked(linted(dir)?, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variables_of_cargo_run_are_not_passed_on() {
        for name in [
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_CRATE_NAME",
            "CARGO_PRIMARY_PACKAGE",
            "OUT_DIR",
        ] {
            assert!(is_run_variable(name), "{name}");
        }
        // What a user sets for cargo itself is kept.
        for name in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_PROFILE_DEV_DEBUG",
            "CARGO_TERM_COLOR",
        ] {
            assert!(!is_run_variable(name), "{name}");
        }
    }
}
