//! `cargo xtask package [ROTATOR...] [--arch arm64|x86_64]`: the Lambda zips.
//!
//! Each rotator is built with `cargo lambda build --release --output-format zip` for each
//! architecture (provided.al2023 runs both) into `target/lambda/<arch>/<rotator>/bootstrap.zip`,
//! the layout the deployment templates expect. cargo-lambda comes from the PATH, else from a
//! venv under `target/` (`pip install cargo-lambda`, which brings its Zig toolchain for the
//! cross-linking), so a fresh machine needs nothing but python3.
//!
//! Next to the zips, `target/lambda/SHA256SUMS` and `target/lambda/manifest.json` describe the
//! zips of this run ([`crate::manifest`]); `--release-dir DIR` also copies them into `DIR` as
//! `<rotator>-<arch>.zip` with their own checksums and manifest, as a release publishes them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use rotation_stack::PythonTool;

use crate::manifest::{self, Source, Zip};
use crate::test::ROTATORS;
use crate::{cargo, programs};

/// cargo-lambda, pinned: its build flags and output layout are what this module relies on.
const CARGO_LAMBDA: PythonTool =
    PythonTool::new("cargo-lambda", &["cargo-lambda==1.9.2"], "cargo-lambda");

/// A Lambda architecture, as the templates and the output directories name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arch {
    Arm64,
    X86_64,
}

impl Arch {
    const ALL: [Arch; 2] = [Arch::Arm64, Arch::X86_64];

    fn name(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::X86_64 => "x86_64",
        }
    }

    fn cargo_lambda_flag(self) -> &'static str {
        match self {
            Arch::Arm64 => "--arm64",
            Arch::X86_64 => "--x86-64",
        }
    }

    fn rust_target(self) -> &'static str {
        match self {
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
        }
    }

    /// Whether this machine runs the architecture natively.
    fn is_host(self) -> bool {
        match self {
            Arch::Arm64 => cfg!(target_arch = "aarch64"),
            Arch::X86_64 => cfg!(target_arch = "x86_64"),
        }
    }

    /// qemu-user's program for the architecture, and where Debian's cross C library is.
    fn emulator(self) -> (&'static str, &'static str) {
        match self {
            Arch::Arm64 => ("qemu-aarch64", "/usr/aarch64-linux-gnu"),
            Arch::X86_64 => ("qemu-x86_64", "/usr/x86_64-linux-gnu"),
        }
    }

    fn debian_arch(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::X86_64 => "amd64",
        }
    }

    fn parse(name: &str) -> anyhow::Result<Arch> {
        Arch::ALL
            .into_iter()
            .find(|arch| arch.name() == name)
            .with_context(|| format!("--arch {name}: expected arm64 or x86_64"))
    }
}

/// What to build: rotators and architectures, and where to copy the zips for a release.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    rotators: Vec<String>,
    arches: Vec<Arch>,
    release_dir: Option<PathBuf>,
}

const USAGE: &str =
    "usage: cargo xtask package [ROTATOR...] [--arch arm64|x86_64] [--release-dir DIR]";

fn parse(args: &[String]) -> anyhow::Result<Request> {
    let mut rotators = Vec::new();
    let mut arches = Vec::new();
    let mut release_dir = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--arch" => {
                let name = args.next().context("--arch needs arm64 or x86_64")?;
                arches.push(Arch::parse(name)?);
            }
            "--release-dir" => {
                let dir = args.next().context("--release-dir needs a directory")?;
                release_dir = Some(PathBuf::from(dir));
            }
            name if ROTATORS.contains(&name) => rotators.push(name.to_owned()),
            other => bail!(
                "unknown rotator or option `{other}`\n\n{USAGE}\nrotators: {}",
                ROTATORS.join(", ")
            ),
        }
    }
    if rotators.is_empty() {
        rotators = ROTATORS.iter().map(|name| (*name).to_owned()).collect();
    }
    if arches.is_empty() {
        arches = Arch::ALL.to_vec();
    }
    Ok(Request {
        rotators,
        arches,
        release_dir,
    })
}

/// Builds the zips, prints their sizes and writes their checksums and manifest.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let request = parse(args)?;
    let cargo_lambda = find_cargo_lambda()?;
    // Asked before building: what was built is what the tree held then.
    let source = Source::of_checkout(&cargo::workspace_root());
    let lambda_root = cargo::target_dir().join("lambda");
    let mut zips = Vec::new();
    for arch in &request.arches {
        add_rust_target(*arch)?;
        let lambda_dir = lambda_root.join(arch.name());
        let mut command = Command::new(&cargo_lambda.program);
        command
            .current_dir(cargo::workspace_root())
            .env("PATH", &cargo_lambda.path)
            .args(["lambda", "build", "--release", "--output-format", "zip"])
            .arg(arch.cargo_lambda_flag())
            .arg("--lambda-dir")
            .arg(&lambda_dir);
        for rotator in &request.rotators {
            command.args(["--package", rotator]);
        }
        eprintln!(
            "$ cargo lambda build --release --output-format zip {} --lambda-dir {} -p {}",
            arch.cargo_lambda_flag(),
            lambda_dir.display(),
            request.rotators.join(" -p ")
        );
        let status = command
            .status()
            .with_context(|| format!("cannot run {}", cargo_lambda.program.display()))?;
        if !status.success() {
            bail!("cargo lambda build for {} failed ({status})", arch.name());
        }
        for rotator in &request.rotators {
            zips.push(Zip {
                rotator: rotator.clone(),
                arch: arch.name(),
                path: lambda_dir.join(rotator).join("bootstrap.zip"),
            });
        }
    }
    print_sizes(&zips)?;
    describe(&lambda_root, &zips, &source, request.release_dir.as_deref())
}

/// One line per zip: rotator, architecture, size and path.
fn print_sizes(zips: &[Zip]) -> anyhow::Result<()> {
    println!("{:<22} {:<7} {:>10}  zip", "rotator", "arch", "size");
    for zip in zips {
        let size = std::fs::metadata(&zip.path)
            .with_context(|| {
                format!(
                    "cargo lambda reported success but {} is missing",
                    zip.path.display()
                )
            })?
            .len();
        println!(
            "{:<22} {:<7} {:>10}  {}",
            zip.rotator,
            zip.arch,
            human(size),
            zip.path.display()
        );
    }
    Ok(())
}

/// Writes the checksums and the manifest next to the zips, and the release's copies when asked.
fn describe(
    lambda_root: &Path,
    zips: &[Zip],
    source: &Source,
    release_dir: Option<&Path>,
) -> anyhow::Result<()> {
    if source.dirty != Some(false) {
        eprintln!(
            "warning: the work tree is not a clean git checkout (commit {:?}, dirty {:?}): \
             the manifest says so",
            source.commit, source.dirty
        );
    }
    for written in manifest::write(lambda_root, zips, source)? {
        println!("{}", written.display());
    }
    if let Some(dir) = release_dir {
        for written in manifest::write_release(dir, zips, source)? {
            println!("{}", written.display());
        }
    }
    Ok(())
}

/// The program to run and the PATH to run it with (the venv's `bin` first, where its
/// `python-zig` is).
struct CargoLambda {
    program: PathBuf,
    path: std::ffi::OsString,
}

fn find_cargo_lambda() -> anyhow::Result<CargoLambda> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(program) = programs::find("cargo-lambda") {
        return Ok(CargoLambda { program, path });
    }
    eprintln!("cargo-lambda is not on the PATH: installing it into a venv under target/ (once)");
    let program = CARGO_LAMBDA
        .ensure()
        .context("installing cargo-lambda from PyPI")?;
    let dirs = std::iter::once(CARGO_LAMBDA.bin_dir()).chain(std::env::split_paths(&path));
    let path = std::env::join_paths(dirs).context("building PATH")?;
    Ok(CargoLambda { program, path })
}

/// Adds the Rust standard library for `arch` with rustup when it is missing, so that a fresh
/// toolchain works; without rustup, cargo-lambda's own check explains what is missing.
fn add_rust_target(arch: Arch) -> anyhow::Result<()> {
    let Ok(installed) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(cargo::workspace_root())
        .output()
    else {
        return Ok(());
    };
    let installed = String::from_utf8_lossy(&installed.stdout);
    if installed
        .lines()
        .any(|line| line.trim() == arch.rust_target())
    {
        return Ok(());
    }
    eprintln!("$ rustup target add {}", arch.rust_target());
    let status = Command::new("rustup")
        .args(["target", "add", arch.rust_target()])
        .current_dir(cargo::workspace_root())
        .status()
        .context("running rustup")?;
    if !status.success() {
        bail!(
            "rustup target add {} failed ({status}): it downloads the standard library for {}",
            arch.rust_target(),
            arch.name()
        );
    }
    Ok(())
}

/// Unpacks `target/lambda/<arch>/<rotator>/bootstrap.zip` into `target/lambda-run/<arch>/<rotator>/`
/// and returns the program that runs it here: the `bootstrap` itself when the machine has
/// that architecture, else a script that runs it under qemu-user.
pub fn unpack(arch: &str, rotator: &str) -> anyhow::Result<PathBuf> {
    let arch = Arch::parse(arch)?;
    let zip = cargo::target_dir()
        .join("lambda")
        .join(arch.name())
        .join(rotator)
        .join("bootstrap.zip");
    if !zip.is_file() {
        bail!(
            "{} is missing: run `cargo xtask package {rotator} --arch {}` first",
            zip.display(),
            arch.name()
        );
    }
    let dir = cargo::target_dir()
        .join("lambda-run")
        .join(arch.name())
        .join(rotator);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Python's zipfile, because python3 is already a requirement and unzip may not be.
    let status = Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&zip)
        .arg(&dir)
        .status()
        .context("running python3 -m zipfile")?;
    if !status.success() {
        bail!("extracting {} failed ({status})", zip.display());
    }
    let bootstrap = dir.join("bootstrap");
    // zipfile does not restore permissions; Lambda runs `bootstrap` as an executable.
    make_executable(&bootstrap)?;
    if arch.is_host() {
        return Ok(bootstrap);
    }
    let (qemu, sysroot) = arch.emulator();
    if !Path::new(sysroot).is_dir() || programs::find(qemu).is_none() {
        bail!(
            "running {} binaries here needs {qemu} and the C library under {sysroot} \
             (Debian: apt-get install qemu-user libc6-{}-cross)",
            arch.name(),
            arch.debian_arch()
        );
    }
    let runner = dir.join("run-under-qemu");
    std::fs::write(
        &runner,
        format!("#!/bin/sh\nexec {qemu} -L {sysroot} \"$(dirname \"$0\")/bootstrap\" \"$@\"\n"),
    )
    .with_context(|| format!("writing {}", runner.display()))?;
    make_executable(&runner)?;
    Ok(runner)
}

fn make_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

/// A size in KiB or MiB, one decimal.
fn human(bytes: u64) -> String {
    let kib = bytes as f64 / 1024.0;
    if kib < 1024.0 {
        format!("{kib:.1} KiB")
    } else {
        format!("{:.1} MiB", kib / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| (*arg).to_owned()).collect()
    }

    #[test]
    fn no_arguments_mean_every_rotator_for_both_architectures() {
        let request = parse(&[]).unwrap();
        assert_eq!(request.rotators.len(), ROTATORS.len());
        assert_eq!(request.arches, vec![Arch::Arm64, Arch::X86_64]);
    }

    #[test]
    fn rotators_and_an_architecture_can_be_chosen() {
        let request = parse(&args(&["api-key", "--arch", "x86_64"])).unwrap();
        assert_eq!(request.rotators, vec!["api-key".to_owned()]);
        assert_eq!(request.arches, vec![Arch::X86_64]);
        assert_eq!(request.release_dir, None);
    }

    #[test]
    fn a_release_directory_can_be_given() {
        let request = parse(&args(&["--release-dir", "dist"])).unwrap();
        assert_eq!(request.release_dir, Some(PathBuf::from("dist")));
        assert_eq!(request.rotators.len(), ROTATORS.len());
        let error = parse(&args(&["--release-dir"])).unwrap_err().to_string();
        assert!(error.contains("needs a directory"), "{error}");
    }

    #[test]
    fn unknown_names_are_refused_with_the_list() {
        let error = parse(&args(&["postgres"])).unwrap_err().to_string();
        assert!(
            error.contains("`postgres`") && error.contains("postgres-single-user"),
            "{error}"
        );
        let error = parse(&args(&["--arch", "aarch64"]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("expected arm64 or x86_64"), "{error}");
        assert!(parse(&args(&["--arch"])).is_err());
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human(512 * 1024), "512.0 KiB");
        assert_eq!(human(3 * 1024 * 1024 + 512 * 1024), "3.5 MiB");
    }
}
