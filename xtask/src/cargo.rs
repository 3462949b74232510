//! Running cargo itself, and where its outputs land.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The workspace root (xtask's manifest is one level below it).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The cargo that runs us (`CARGO`), else `cargo` on the PATH.
fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// Runs `cargo <args>`, echoing the command, and fails if it fails.
pub fn run(args: &[&str]) -> anyhow::Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    checked(cargo(), args)
}

/// Runs `cargo <args>` in `dir`, a crate outside this workspace, with this workspace's target
/// directory (so that it reuses what the workspace compiled, and finds the stack's venv there),
/// echoing the command, and fails if it fails.
pub fn run_in(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let target = std::path::absolute(target_dir())?;
    eprintln!(
        "$ (cd {} && CARGO_TARGET_DIR={} cargo {})",
        dir.display(),
        target.display(),
        args.join(" ")
    );
    let mut command = cargo();
    command.current_dir(dir).env("CARGO_TARGET_DIR", target);
    checked(command, args)
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

/// The bench's profile: `release` without the fat-LTO link (see the workspace `Cargo.toml`).
pub const FAST_PROFILE: &str = "fast";

/// The profile of everything else built here (xtask itself, the tests, the demo): `dev`.
pub const DEV_PROFILE: &str = "dev";

/// Builds binaries with a profile, all in one cargo call (one dependency graph, built once,
/// the binaries linked in parallel), and returns their paths in the same order.
pub fn build(profile: &str, binaries: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    let mut args = vec!["build", "--profile", profile];
    for binary in binaries {
        args.extend(["--package", binary]);
    }
    run(&args)?;
    let dir = target_dir().join(profile_dir(profile));
    Ok(binaries.iter().map(|binary| dir.join(binary)).collect())
}

/// Whether the binaries of [`build`] are there already (the first build takes minutes).
pub fn built(profile: &str, binaries: &[&str]) -> bool {
    let dir = target_dir().join(profile_dir(profile));
    binaries.iter().all(|binary| dir.join(binary).is_file())
}

/// The directory of a profile's outputs under the target directory (`dev` writes `debug`).
fn profile_dir(profile: &str) -> &str {
    match profile {
        "dev" | "test" => "debug",
        "bench" => "release",
        other => other,
    }
}
