//! `cargo xtask demo client`: applications under load while the real rotators rotate their
//! secret, with three clients side by side.
//!
//! For each workload (PostgreSQL and MariaDB, single-user and multi-user through sqlx;
//! PostgreSQL single-user through deadpool-postgres; an API key through reqwest against
//! `rotation-keyservice`) and each client (naive: credentials read once; cache-only: AWS's
//! caching client with a TTL, read before each new login; `rotation-client`), runs the
//! rotations through the real binary and counts the application's failed requests and its
//! Secrets Manager calls (through a counting proxy). The harness is `rotation_e2e::survival`,
//! which `tests/client.rs` runs with fewer rotations and assertions.

use std::time::Duration;

use anyhow::{Context, bail};
use rotation_e2e::survival::{self, Measured, Mode, Settings, Workload};
use rotation_stack::{Lifetime, Stack};

use crate::cargo::{self, Build};

const ROTATORS: [&str; 5] = [
    "postgres-single-user",
    "postgres-multi-user",
    "mysql-single-user",
    "mysql-multi-user",
    "api-key",
];

/// Runs the comparison (`--rotations N`, 100 by default; `--only TEXT`: the workloads whose
/// name contains TEXT, e.g. `deadpool`).
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut rotations = 100;
    let mut only = None;
    let mut rest = args;
    loop {
        match rest {
            [] => break,
            [flag, n, tail @ ..] if flag == "--rotations" => {
                rotations = n.parse().context("--rotations takes a number")?;
                rest = tail;
            }
            [flag, text, tail @ ..] if flag == "--only" => {
                only = Some(text.as_str());
                rest = tail;
            }
            _ => bail!("usage: cargo xtask demo client [--rotations N] [--only TEXT]"),
        }
    }
    // Debug builds: the subject is the application's client, not the rotators' speed, and a
    // release build of five rotators (fat LTO) takes minutes.
    cargo::build(Build::Local, &ROTATORS)?;
    let settings = Settings {
        rotations,
        workers: 4,
        ttl: Duration::from_secs(1),
        pause: Duration::from_millis(30),
        binaries: cargo::target_dir().join("debug"),
    };
    println!("== starting a private local stack (moto, PostgreSQL and MariaDB)");
    let stack = Stack::start(Lifetime::WithProcess).context("starting the local stack")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "== {rotations} rotations per run, {} workers, every other request on a new \
         connection, cache TTL {} s",
        settings.workers,
        settings.ttl.as_secs()
    );
    let mut rows = Vec::new();
    let chosen = Workload::ALL
        .into_iter()
        .filter(|w| only.is_none_or(|text| w.name().contains(text)));
    for workload in chosen {
        let mut row = Vec::new();
        for mode in Mode::ALL {
            let measured = runtime.block_on(survival::run(&stack, workload, mode, &settings));
            println!("   {} / {}: {measured}", workload.name(), mode.name());
            if !measured.failed_rotations.is_empty() {
                bail!(
                    "{} rotation(s) failed: {}",
                    measured.failed_rotations.len(),
                    measured.failed_rotations.join("\n")
                );
            }
            row.push(measured);
        }
        rows.push((workload, row));
    }
    print_table(rotations, &rows);
    let client_failures: u64 = rows.iter().map(|(_, row)| row[2].failures).sum();
    let naive_failures: u64 = rows.iter().map(|(_, row)| row[0].failures).sum();
    if client_failures > 0 {
        bail!("rotation-client failed {client_failures} request(s)");
    }
    if naive_failures == 0 {
        bail!("the naive client failed nothing: the measurement sees no rotation");
    }
    Ok(())
}

fn print_table(rotations: usize, rows: &[(Workload, Vec<Measured>)]) {
    println!("\n== failed requests / requests, per {rotations} rotations");
    println!(
        "| workload | naive | cache-only | rotation-client | SM calls per rotation (naive / cache-only / client) | client's forced reads per rotation |"
    );
    println!("|---|---|---|---|---|---|");
    for (workload, row) in rows {
        let per_rotation = |m: &Measured| m.secrets_manager_calls as f64 / rotations as f64;
        println!(
            "| {} | {} / {} | {} / {} | {} / {} | {:.2} / {:.2} / {:.2} | {:.2} |",
            workload.name(),
            row[0].failures,
            row[0].requests,
            row[1].failures,
            row[1].requests,
            row[2].failures,
            row[2].requests,
            per_rotation(&row[0]),
            per_rotation(&row[1]),
            per_rotation(&row[2]),
            row[2].forced_reads as f64 / rotations as f64,
        );
    }
}
