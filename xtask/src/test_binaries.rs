//! Running the workspace's test binaries two at a time.
//!
//! `cargo test` runs its test binaries one after the other, and most of their time is spent
//! waiting (for a database, for moto, for a rotator process), so two at a time take about half
//! as long on two cores. Each end-to-end binary starts a private stack of its own, so they do
//! not share state. A binary's output is printed whole when it ends, under its name, so logs
//! read as `cargo test`'s do.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::cargo;

/// The binaries that take longest, started first so that the two lanes end together.
const SLOWEST_FIRST: [&str; 7] = [
    "replica_fanout",
    "client",
    "runbook",
    "acl_copy",
    "postgres_multi_user",
    "api_key",
    "replicas",
];

/// One test binary: where it is, the package directory it runs in, a name to print.
#[derive(Debug, Clone)]
pub struct TestBinary {
    name: String,
    executable: PathBuf,
    package_dir: PathBuf,
}

/// What one binary did.
struct Ran {
    binary: TestBinary,
    success: bool,
    took: Duration,
    output: String,
}

/// The test binaries of the workspace, built by `cargo test --no-run` (nothing to build after
/// `cargo build --workspace --all-targets`), slowest first.
///
/// Listed before anything else uses the target directory (the starter's check): cargo would
/// otherwise wait for that build's lock before saying what is built already.
pub fn list() -> anyhow::Result<Vec<TestBinary>> {
    // Linted as the build before it was, so that nothing is compiled again.
    let output = cargo::linted(None)?
        .args(["test", "--workspace", "--no-run", "--message-format=json"])
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo test --no-run")?;
    if !output.status.success() {
        bail!("`cargo test --workspace --no-run` failed");
    }
    let mut binaries = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let is_test =
            message["reason"] == "compiler-artifact" && message["profile"]["test"] == true;
        let Some(executable) = message["executable"].as_str().filter(|_| is_test) else {
            continue;
        };
        let manifest = PathBuf::from(message["manifest_path"].as_str().unwrap_or_default());
        let kind = message["target"]["kind"][0].as_str().unwrap_or("test");
        let target = message["target"]["name"].as_str().unwrap_or("?");
        let name = match kind {
            "test" => format!("{target} ({})", package_name(&manifest)),
            other => format!("{} {other} {target}", package_name(&manifest)),
        };
        binaries.push(TestBinary {
            name,
            executable: PathBuf::from(executable),
            package_dir: manifest.parent().map(PathBuf::from).unwrap_or_default(),
        });
    }
    let rank = |binary: &TestBinary| {
        let stem = binary
            .executable
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.rsplit_once('-').map(|(stem, _)| stem.to_owned()))
            .unwrap_or_default();
        SLOWEST_FIRST
            .iter()
            .position(|slow| *slow == stem)
            .unwrap_or(SLOWEST_FIRST.len())
    };
    binaries.sort_by_key(rank);
    Ok(binaries)
}

fn package_name(manifest: &std::path::Path) -> String {
    manifest
        .parent()
        .and_then(|dir| dir.file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Runs every test binary of the workspace, `lanes` at a time; fails naming each binary that
/// failed (its whole output is printed above).
pub fn run_all(binaries: Vec<TestBinary>, lanes: usize) -> anyhow::Result<()> {
    let queue = Arc::new(Mutex::new(VecDeque::from(binaries)));
    let started = Instant::now();
    let ran: Arc<Mutex<Vec<Ran>>> = Arc::default();
    let workers: Vec<_> = (0..lanes.max(1))
        .map(|_| {
            let (queue, ran) = (Arc::clone(&queue), Arc::clone(&ran));
            std::thread::spawn(move || {
                loop {
                    // Its own statement: in a `while let`, the queue's guard would live through
                    // the whole run, and the lanes would take turns instead of running together.
                    let next = queue.lock().expect("queue").pop_front();
                    let Some(binary) = next else {
                        break;
                    };
                    let result = run_one(binary);
                    print_ran(&result);
                    ran.lock().expect("results").push(result);
                }
            })
        })
        .collect();
    for worker in workers {
        worker
            .join()
            .map_err(|_| anyhow::anyhow!("a test lane panicked"))?;
    }
    let ran = ran.lock().expect("results");
    let failed: Vec<&str> = ran
        .iter()
        .filter(|ran| !ran.success)
        .map(|ran| ran.binary.name.as_str())
        .collect();
    println!(
        "test binaries: {} run, {lanes} at a time, in {:.0} s",
        ran.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        bail!("test binaries failed: {}", failed.join(", "));
    }
    Ok(())
}

fn run_one(binary: TestBinary) -> Ran {
    let started = Instant::now();
    let outcome = Command::new(&binary.executable)
        .current_dir(&binary.package_dir)
        .env("CARGO_MANIFEST_DIR", &binary.package_dir)
        .stdin(Stdio::null())
        .output();
    let took = started.elapsed();
    match outcome {
        Ok(output) => Ran {
            success: output.status.success(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
            binary,
            took,
        },
        Err(error) => Ran {
            success: false,
            output: format!("cannot run {}: {error}", binary.executable.display()),
            binary,
            took,
        },
    }
}

fn print_ran(ran: &Ran) {
    println!(
        "     Running {} ({}) in {:.1} s{}\n{}",
        ran.binary.name,
        ran.binary.executable.display(),
        ran.took.as_secs_f64(),
        if ran.success { "" } else { ": FAILED" },
        ran.output.trim_end()
    );
}
