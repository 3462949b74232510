//! `cargo xtask demo`: real rotations, end to end, on a private local stack.
//!
//! Starts moto, PostgreSQL and MariaDB while it builds the six rotators (one cargo call, the
//! `dev` profile shared with xtask and the tests), and for each database creates a user and its
//! secret, rotates it through the real binary under the Lambda Runtime API, and shows the labels
//! before and after, which password logs in, and the time of each step.
//!
//! `cargo xtask demo --zip <arch>` runs the same rotations with the binaries inside the zips
//! of `cargo xtask package` instead, so that what ships is what was seen working (arm64 ones
//! through qemu-user on an x86_64 machine).
//!
//! `cargo xtask demo --transcript` runs the demo and writes what it printed into `README.md`,
//! between the transcript's markers ([`crate::readme`]), so the README shows what the demo
//! prints today; `cargo xtask test` checks that the README's transcript still has the demo's
//! shape.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use rotation_local::SecretsManagerDriver;
use rotation_stack::{Lifetime, Stack};

use crate::cargo::{self, Build};
use crate::scenario::{self, Strategy, Target};
use crate::test::ROTATORS;
use crate::{package, readme};

const INITIAL_PASSWORD: &str = "Demo-Initial-Password-1";

/// How long the rotators' first build takes on the reference machine (2 cores), measured.
const FIRST_BUILD: &str = "about half a minute on 2 cores";

/// Runs the demo.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    if let Some(at) = args.iter().position(|arg| arg == "--transcript") {
        let mut rest = args.to_vec();
        rest.remove(at);
        return transcript(&rest);
    }
    let zip_arch = match args {
        [] => None,
        [flag, arch] if flag == "--zip" => Some(arch.as_str()),
        _ => bail!("usage: cargo xtask demo [--transcript] [--zip arm64|x86_64]"),
    };
    // The stack starts (the very first time, installing moto) while the rotators build.
    println!("== starting a private local stack (moto, PostgreSQL and MariaDB, both with TLS)");
    let starting = std::thread::spawn(|| Stack::start(Lifetime::WithProcess));
    let paths = match zip_arch {
        None => {
            // Built as xtask was (see `Build::Local`): only the rotators' own crates are left.
            if !cargo::built(Build::Local, ROTATORS) {
                println!(
                    "== building the six rotators in one cargo call (profile `dev`, shared with \
                     xtask and the tests); a first build compiles what xtask did not: {FIRST_BUILD}"
                );
            }
            cargo::build(Build::Local, ROTATORS)?
        }
        Some(arch) => ROTATORS
            .iter()
            .map(|name| package::unpack(arch, name))
            .collect::<Result<_, _>>()?,
    };
    let binaries: BTreeMap<&str, std::path::PathBuf> =
        ROTATORS.iter().copied().zip(paths).collect();
    let stack = starting
        .join()
        .map_err(|_| anyhow::anyhow!("the stack's start panicked"))?
        .context("starting the local stack")?;
    println!(
        "   moto {}   PostgreSQL localhost:{}   MariaDB localhost:{}",
        stack.moto.endpoint(),
        stack.postgres.port(),
        stack.mariadb.port(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let driver = SecretsManagerDriver::new(&stack.moto.endpoint()).await;
        for target in [
            Target::Postgres(&stack.postgres),
            Target::MariaDb(&stack.mariadb),
        ] {
            for strategy in [Strategy::SingleUser, Strategy::MultiUser] {
                let binary = &binaries[target.binary(strategy)];
                rotate(&stack, &driver, target, strategy, binary).await?;
            }
        }
        rotate_with_replica(&stack, &driver, &binaries["replica-fanout"]).await?;
        rotate_api_key(&stack, &driver, &binaries["api-key"]).await?;
        println!("== done: stopping the stack");
        Ok(())
    })
}

/// Runs the demo (with `args`) in a child process, shows its output as it comes, and writes
/// that output into the README's transcript block.
fn transcript(args: &[String]) -> anyhow::Result<()> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut child = Command::new(std::env::current_exe()?)
        .arg("demo")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the demo")?;
    let stdout = child.stdout.take().context("the demo's output")?;
    let mut output = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        output.push_str(&line);
        output.push('\n');
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("the demo failed ({status}); README.md is unchanged");
    }
    let rendered = readme::render_transcript(&output);
    let templates = readme::heading_templates(include_str!("demo.rs"));
    let problems = readme::transcript_problems(&rendered, &templates);
    if !problems.is_empty() {
        bail!(
            "the demo's output does not have the shape its source says; README.md is \
             unchanged:\n{}",
            problems.join("\n")
        );
    }
    let readme = cargo::workspace_root().join("README.md");
    readme::write_transcript(&readme, &rendered)?;
    println!("wrote the transcript into {}", readme.display());
    Ok(())
}

/// One database rotator, end to end: a user and its secret, one rotation through the binary,
/// and which login works afterwards.
async fn rotate(
    stack: &Stack,
    driver: &SecretsManagerDriver,
    target: Target<'_>,
    strategy: Strategy,
    binary: &std::path::Path,
) -> anyhow::Result<()> {
    let name = target.binary(strategy);
    let user = match strategy {
        Strategy::SingleUser => "demo_app",
        Strategy::MultiUser => "demo_multi",
    };
    println!("\n#### {name} on {}", target.name());
    let arn = create_user_and_secret(driver, target, strategy, user).await?;
    print_labels("labels before", &driver.labels(&arn).await?);

    let function =
        scenario::start_function(binary, &stack.moto.endpoint(), target.ca_cert_path()).await?;
    let ready = function.ready().await?;
    println!(
        "== {name} started under the local Lambda Runtime API: ready in {} ms",
        ready.as_millis()
    );
    let report = driver.rotate(&function, &arn).await?;
    println!("== rotation {}", report.token);
    println!("{report}");
    let output = function.stop().await;
    print_labels("labels after", &driver.labels(&arn).await?);

    let value = current_value(driver, &arn).await?;
    let new_password = value["password"].as_str().unwrap_or_default().to_owned();
    let new_user = value["username"].as_str().unwrap_or_default().to_owned();
    let (old_works, new_works) = show_logins(target, user, &new_user, &new_password).await;
    print_step_log(&output);
    if output.contains(&new_password) || output.contains(INITIAL_PASSWORD) {
        bail!("a password appeared in the rotator's output");
    }
    // Single-user: the old password is gone. Multi-user: the previous user keeps working until
    // the next rotation changes it.
    let old_should_work = strategy == Strategy::MultiUser;
    if !report.succeeded() || old_works != old_should_work || !new_works {
        bail!("the {name} rotation did not end as it should");
    }
    Ok(())
}

/// Creates the demo's database user and its secret (for a multi-user rotator, also the master
/// secret it names); returns the secret's ARN.
async fn create_user_and_secret(
    driver: &SecretsManagerDriver,
    target: Target<'_>,
    strategy: Strategy,
    user: &str,
) -> anyhow::Result<String> {
    let name = target.binary(strategy);
    target.create_user(user, INITIAL_PASSWORD).await?;
    let mut secret = target.secret_json(user, INITIAL_PASSWORD);
    if strategy == Strategy::MultiUser {
        let master = scenario::create_secret(
            driver.client(),
            &format!("demo/{name}-master"),
            &target.master_json(),
        )
        .await?;
        println!("== master secret {master} (the server's superuser)");
        secret["masterarn"] = serde_json::Value::String(master);
    }
    let arn = scenario::create_secret(driver.client(), &format!("demo/{name}"), &secret).await?;
    println!("== database user {user:?} and secret {arn}");
    let keys: Vec<&str> = secret
        .as_object()
        .map(|object| object.keys().map(String::as_str).collect())
        .unwrap_or_default();
    println!(
        "   secret JSON keys: {} (ssl=true: verified TLS)",
        keys.join(", ")
    );
    Ok(arn)
}

/// Tries the old and the new login and says which works; returns (old works, new works).
async fn show_logins(
    target: Target<'_>,
    user: &str,
    new_user: &str,
    new_password: &str,
) -> (bool, bool) {
    let old_works = target.logs_in(user, INITIAL_PASSWORD).await;
    let new_works = target.logs_in(new_user, new_password).await;
    println!("== which login works now");
    println!(
        "   {user:?} with the old password (AWSPREVIOUS): {}",
        verdict(old_works)
    );
    println!(
        "   {new_user:?} with the new password (AWSCURRENT): {}",
        verdict(new_works)
    );
    println!(
        "   new password: {} characters, never printed, never sent to the database's logs",
        new_password.len()
    );
    (old_works, new_works)
}

/// The lines of the rotator's log that tell how each step ended.
fn print_step_log(output: &str) {
    println!("== the rotator's log (JSON lines; the step completions):");
    for line in output
        .lines()
        .filter(|line| line.contains("\"step succeeded\"") || line.contains("\"step failed\""))
    {
        println!("   {line}");
    }
}

/// The secret's `AWSCURRENT` value, parsed.
async fn current_value(
    driver: &SecretsManagerDriver,
    arn: &str,
) -> anyhow::Result<serde_json::Value> {
    let current = driver
        .client()
        .get_secret_value()
        .secret_id(arn)
        // Explicit: moto 5.2 answers a stage-less GetSecretValue with its first "default"
        // version even after AWSCURRENT has moved.
        .version_stage("AWSCURRENT")
        .send()
        .await?;
    Ok(serde_json::from_str(
        current.secret_string().unwrap_or("{}"),
    )?)
}

/// `replica-fanout`: a PostgreSQL streaming replica joins the stack, and the rotation only
/// finishes once the replica accepts the new password too.
async fn rotate_with_replica(
    stack: &Stack,
    driver: &SecretsManagerDriver,
    binary: &std::path::Path,
) -> anyhow::Result<()> {
    println!("\n#### replica-fanout on PostgreSQL with a streaming replica");
    let replica = stack
        .postgres
        .start_replica(Lifetime::WithProcess)
        .context("starting a PostgreSQL replica")?;
    println!(
        "== hot standby of the primary (pg_basebackup -R) on localhost:{}",
        replica.port()
    );
    let (primary, standby) = (
        Target::Postgres(&stack.postgres),
        Target::Postgres(&replica),
    );
    let user = "demo_fanout";
    primary.create_user(user, INITIAL_PASSWORD).await?;
    let started = std::time::Instant::now();
    while !standby.logs_in(user, INITIAL_PASSWORD).await {
        if started.elapsed() > std::time::Duration::from_secs(10) {
            bail!("the replica did not receive the demo user within 10 s");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut secret = primary.secret_json(user, INITIAL_PASSWORD);
    secret["replicas"] = serde_json::json!([{"host": "localhost", "port": replica.port()}]);
    let arn = scenario::create_secret(driver.client(), "demo/replica-fanout", &secret).await?;
    println!(
        "== secret {arn} with \"replicas\": [{{\"host\": \"localhost\", \"port\": {}}}]",
        replica.port()
    );
    // The replica has a certificate of its own: trust both.
    let bundle = std::env::temp_dir().join(format!("rotation-demo-ca-{}.pem", std::process::id()));
    let pem = std::fs::read_to_string(primary.ca_cert_path())?
        + &std::fs::read_to_string(standby.ca_cert_path())?;
    std::fs::write(&bundle, pem).context("writing the demo's CA bundle")?;
    let function = scenario::start_function(binary, &stack.moto.endpoint(), &bundle).await?;
    let report = driver.rotate(&function, &arn).await?;
    let _ = std::fs::remove_file(&bundle);
    println!("{report}");
    let output = function.stop().await;
    for line in output.lines().filter(|line| line.contains("\"replicas\":")) {
        println!("   {line}");
    }
    let value = current_value(driver, &arn).await?;
    let new_password = value["password"].as_str().unwrap_or_default().to_owned();
    println!("== which login works now");
    let mut all_right = report.succeeded();
    for (name, server) in [("primary", primary), ("replica", standby)] {
        let old = server.logs_in(user, INITIAL_PASSWORD).await;
        let new = server.logs_in(user, &new_password).await;
        println!(
            "   {name}: old password {}, new password {}",
            verdict(old),
            verdict(new)
        );
        all_right &= !old && new;
    }
    if output.contains(&new_password) || output.contains(INITIAL_PASSWORD) {
        bail!("a password appeared in the rotator's output");
    }
    if !all_right {
        bail!("the replica-fanout rotation did not end as it should");
    }
    Ok(())
}

/// `api-key` against the local key service: two rotations, and which keys are alive after each.
async fn rotate_api_key(
    stack: &Stack,
    driver: &SecretsManagerDriver,
    binary: &std::path::Path,
) -> anyhow::Result<()> {
    println!("\n#### api-key against a local key service (rotation-keyservice, real HTTP)");
    let service = rotation_keyservice::KeyService::start()
        .await
        .context("starting the local key service")?;
    let first = service.mint("first key");
    let secret = serde_json::json!({
        "apiKey": first.key, "apiKeyId": first.id,
        "profile": "rotation-keyservice", "baseUrl": service.base_url(),
    });
    let arn = scenario::create_secret(driver.client(), "demo/api-key", &secret).await?;
    println!(
        "== key service at {}; secret {arn} holds key {} (profile rotation-keyservice)",
        service.base_url(),
        first.id
    );
    let function = scenario::start_function(
        binary,
        &stack.moto.endpoint(),
        stack.postgres.ca_cert_path(),
    )
    .await?;
    for round in 1..=2 {
        let report = driver.rotate(&function, &arn).await?;
        println!("{report}");
        if !report.succeeded() {
            bail!("the api-key rotation failed:\n{}", function.output());
        }
        let alive: Vec<String> = service
            .alive()
            .into_iter()
            .map(|key| format!("{} ({})", key.id, key.name))
            .collect();
        println!(
            "== after rotation {round}, alive at the provider: {}",
            alive.join(", ")
        );
        if alive.len() != 2 {
            bail!("expected exactly the current and previous keys to be alive");
        }
    }
    let output = function.stop().await;
    if output.contains(&first.key) {
        bail!("a key appeared in the rotator's output");
    }
    println!(
        "   the first key is {} (revoked by the second rotation: two generations old)",
        verdict(service.is_alive_key(&first.key))
    );
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
