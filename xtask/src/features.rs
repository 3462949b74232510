//! That the workspace's build reuses xtask's: every dependency compiled for xtask (`cargo
//! xtask` builds it first, from a clean clone the biggest part of CI's compiling) must be
//! resolved with the same features by `cargo build --workspace --all-targets`.
//!
//! Cargo resolves features for the packages a command selects, so a member that enables one
//! more feature of a shared crate (`hyper-rustls`' `aws-lc-rs` did, in `rotation-apikey`)
//! makes the workspace's build compile that crate, and every crate above it (there: the AWS
//! SDKs), a second time. This check names the crate and both feature sets instead.

use std::collections::BTreeSet;

use anyhow::{Context, bail};

use crate::cargo;

/// Fails naming each crate of xtask's build that the workspace's build resolves otherwise.
pub fn check_shared() -> anyhow::Result<()> {
    let xtask = resolved(&["--package", "xtask", "--edges", "normal,build"])?;
    let workspace = resolved(&["--workspace", "--edges", "normal,build,dev"])?;
    let drifted = drift(&xtask, &workspace);
    if !drifted.is_empty() {
        bail!(
            "the workspace's build would compile these again, and every crate that depends on \
             them, because other features are enabled in it than in xtask's:\n{}\nenable the \
             same features of each in xtask/Cargo.toml (or drop the extra one where it is \
             enabled: `cargo tree --invert <crate> --edges features` shows where)",
            drifted.join("\n")
        );
    }
    Ok(())
}

/// Each package as `cargo tree` resolves it for `selection`: `name vX.Y.Z|features,...`.
fn resolved(selection: &[&str]) -> anyhow::Result<BTreeSet<String>> {
    let output = cargo::cargo()
        .args(["tree", "--prefix", "none", "--format", "{p}|{f}"])
        .args(selection)
        .output()
        .context("running cargo tree")?;
    if !output.status.success() {
        bail!(
            "`cargo tree {}` failed: {}",
            selection.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.trim_end_matches(" (*)").to_owned())
        .filter(|line| !line.is_empty())
        .collect())
}

/// The packages of `xtask` whose features `workspace` does not have, each with the feature
/// sets the workspace resolves for it.
fn drift(xtask: &BTreeSet<String>, workspace: &BTreeSet<String>) -> Vec<String> {
    xtask
        .difference(workspace)
        .map(|line| {
            let package = package_of(line);
            let there: Vec<&str> = workspace
                .iter()
                .filter(|other| package_of(other) == package)
                .map(|other| features_of(other))
                .collect();
            format!(
                "  {package}: [{}] for xtask, [{}] in the workspace",
                features_of(line),
                there.join("] or [")
            )
        })
        .collect()
}

/// `name vX.Y.Z` (and a path or `(proc-macro)` when cargo tree prints one).
fn package_of(line: &str) -> &str {
    line.split_once('|').map_or(line, |(package, _)| package)
}

fn features_of(line: &str) -> &str {
    line.split_once('|').map_or("", |(_, features)| features)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(lines: &[&str]) -> BTreeSet<String> {
        lines.iter().map(|line| (*line).to_owned()).collect()
    }

    #[test]
    fn a_crate_with_other_features_in_the_workspace_is_named_with_both_sets() {
        let xtask = set(&[
            "anyhow v1.0.104|default,std",
            "hyper-rustls v0.27.10|http1,tls12",
        ]);
        let workspace = set(&[
            "anyhow v1.0.104|default,std",
            "hyper-rustls v0.27.10|aws-lc-rs,http1,tls12",
            "hyper-rustls v0.27.10 (proc-macro)|other",
            "tokio v1.0.0|rt",
        ]);
        assert_eq!(
            drift(&xtask, &workspace),
            [
                "  hyper-rustls v0.27.10: [http1,tls12] for xtask, [aws-lc-rs,http1,tls12] in the workspace"
            ]
        );
    }

    #[test]
    fn the_same_features_or_more_crates_in_the_workspace_are_no_drift() {
        let xtask = set(&[
            "anyhow v1.0.104|default,std",
            "rustversion v1.0.23 (proc-macro)|",
        ]);
        let mut workspace = xtask.clone();
        workspace.insert("tokio v1.0.0|rt".to_owned());
        assert!(drift(&xtask, &workspace).is_empty());
    }
}
