//! `cargo xtask templates`: the deployment templates' checks, also part of `cargo xtask test`.
//!
//! cfn-lint on every CloudFormation template, checkov on the CloudFormation and Terraform, and
//! `terraform fmt -check` when terraform is installed. cfn-lint and checkov come from PyPI into
//! a venv under `target/` on first use, pinned, so every machine applies the same rules; checkov
//! runs offline (`--skip-download`, no version check).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use rotation_stack::PythonTool;

use crate::{cargo, programs};

/// cfn-lint and checkov, pinned together (checkov depends on cfn-lint).
const TEMPLATE_LINT: PythonTool = PythonTool::new(
    "template-lint",
    &["cfn-lint==1.58.0", "checkov==3.3.30"],
    "cfn-lint",
);

/// Runs every check; fails on the first finding.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    if !args.is_empty() {
        bail!("usage: cargo xtask templates");
    }
    check()
}

/// The checks `cargo xtask test` runs.
pub fn check() -> anyhow::Result<()> {
    let root = cargo::workspace_root();
    let templates = root.join("templates");
    let cfn_lint = TEMPLATE_LINT
        .ensure()
        .context("installing cfn-lint and checkov from PyPI")?;
    let checkov = TEMPLATE_LINT.bin_dir().join("checkov");

    let cloudformation = yaml_files(&templates.join("cloudformation"))?;
    if cloudformation.is_empty() {
        bail!("no CloudFormation template under {}", templates.display());
    }
    let mut lint = Command::new(&cfn_lint);
    lint.args(&cloudformation);
    run_checked(lint, &root)?;

    let mut scan = Command::new(&checkov);
    scan.env("CKV_SKIP_PACKAGE_UPDATE_CHECK", "true")
        .args(["--directory", "templates"])
        .args(["--framework", "cloudformation", "terraform"])
        .args(["--quiet", "--compact", "--skip-download"]);
    run_checked(scan, &root)?;

    let terraform = templates.join("terraform");
    if programs::find("terraform").is_some() {
        let mut fmt = Command::new("terraform");
        fmt.args(["fmt", "-check", "-recursive"]).arg(&terraform);
        run_checked(fmt, &root)?;
    } else {
        eprintln!("terraform is not installed: `terraform fmt -check` skipped");
    }
    println!("templates: cfn-lint, checkov and terraform fmt found nothing");
    Ok(())
}

/// The `.yaml` files of a directory, sorted.
fn yaml_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn run_checked(mut command: Command, dir: &Path) -> anyhow::Result<()> {
    let shown = format!("{command:?}").replace('"', "");
    eprintln!("$ {shown}");
    let status = command
        .current_dir(dir)
        .status()
        .with_context(|| format!("cannot run {shown}"))?;
    if !status.success() {
        bail!(
            "{shown} reported findings ({status}); fix them, or suppress one with its reason in templates/README.md"
        );
    }
    Ok(())
}
