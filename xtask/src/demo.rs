//! `cargo xtask demo`: one real rotation, end to end, on a private local stack.
//!
//! Starts moto and PostgreSQL, builds `postgres-single-user` (release), creates a database
//! user and its secret, rotates it through the real binary under the Lambda Runtime API, and
//! shows the labels before and after, which password logs in, and the time of each step.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use rotation_local::RotationDriver;
use rotation_stack::{Lifetime, Stack};

use crate::{cargo, scenario};

const BINARY: &str = "postgres-single-user";
const USER: &str = "demo_app";
const SECRET: &str = "demo/postgres-single-user";

/// Runs the demo.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    if !args.is_empty() {
        bail!("usage: cargo xtask demo");
    }
    let binary = cargo::build_release(BINARY)?;
    println!("== starting a private local stack (moto + PostgreSQL with TLS)");
    let stack = Stack::start(Lifetime::WithProcess).context("starting the local stack")?;
    println!(
        "   moto {}   PostgreSQL localhost:{} (log {})",
        stack.moto.endpoint(),
        stack.postgres.port(),
        stack.postgres.log_path().display()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(rotate(&stack, &binary))
}

async fn rotate(stack: &Stack, binary: &std::path::Path) -> anyhow::Result<()> {
    let pg = &stack.postgres;
    let initial_password = "Demo-Initial-Password-1";
    scenario::create_user(pg, USER, initial_password).await?;
    let driver = RotationDriver::new(&stack.moto.endpoint()).await;
    let arn = scenario::create_secret(driver.client(), SECRET, pg, USER, initial_password).await?;
    println!("== database user {USER:?} and secret {arn}");
    println!(
        "   secret JSON keys: engine, host, port, username, password, dbname, ssl=true (verified TLS)"
    );
    print_labels("labels before", &driver.labels(&arn).await?);

    let function = scenario::start_function(binary, stack, &stack.moto.endpoint()).await?;
    let ready = function.ready().await?;
    println!(
        "== {BINARY} started under the local Lambda Runtime API: ready in {} ms",
        ready.as_millis()
    );
    let report = driver.rotate(&function, &arn).await?;
    println!("== rotation {}", report.token);
    println!("{report}");
    let output = function.stop().await;
    print_labels("labels after", &driver.labels(&arn).await?);

    let current = driver
        .client()
        .get_secret_value()
        .secret_id(&arn)
        // Explicit: moto 5.2 answers a stage-less GetSecretValue with its first "default"
        // version even after AWSCURRENT has moved.
        .version_stage("AWSCURRENT")
        .send()
        .await?;
    let value: serde_json::Value = serde_json::from_str(current.secret_string().unwrap_or("{}"))?;
    let new_password = value["password"].as_str().unwrap_or_default().to_owned();
    let old_works = scenario::logs_in(pg, USER, initial_password).await;
    let new_works = scenario::logs_in(pg, USER, &new_password).await;
    println!("== which login works now");
    println!("   old password (AWSPREVIOUS): {}", verdict(old_works));
    println!("   new password (AWSCURRENT):  {}", verdict(new_works));
    println!(
        "   new password: {} characters, never printed, never sent to PostgreSQL in clear (SCRAM verifier)",
        new_password.len()
    );
    println!("== the rotator's log (JSON lines; the step completions):");
    for line in output
        .lines()
        .filter(|line| line.contains("\"step succeeded\"") || line.contains("\"step failed\""))
    {
        println!("   {line}");
    }
    if output.contains(&new_password) || output.contains(initial_password) {
        bail!("a password appeared in the rotator's output");
    }
    if !report.succeeded() || old_works || !new_works {
        bail!("the rotation did not end as it should");
    }
    println!("== done: stopping the stack");
    Ok(())
}

fn verdict(works: bool) -> &'static str {
    if works { "logs in" } else { "refused" }
}

fn print_labels(title: &str, labels: &BTreeMap<String, Vec<String>>) {
    println!("== {title}");
    for (version, stages) in labels {
        println!("   {version}  {}", stages.join(", "));
    }
}
