//! `cargo xtask bench`: start-up, rotation time, memory and Secrets Manager calls of the
//! four database rotators (builds of the `fast` profile, release without LTO, or the binaries
//! of `--binaries DIR`, such as `target/release`) on the private local stack: `postgres-single-user`
//! and `postgres-multi-user` against PostgreSQL, `mysql-single-user` and `mysql-multi-user`
//! against MariaDB (the multi-user ones through a master secret holding the superuser).
//!
//! - ready: process start to the first `GET /runtime/invocation/next` (median of runs);
//! - cold rotation: process start plus the four steps, a new process each time;
//! - warm rotation: the four steps in a process that has rotated before;
//! - per step: median over the warm rotations;
//! - peak RSS: the largest `VmHWM` of the rotator processes;
//! - Secrets Manager calls: counted by a pass-through proxy between the rotator and moto, in a
//!   separate rotation (the proxy's extra hop would otherwise be in the timings).
//!
//! Figures are printed with the targets beside them; they are measurements, not pass/fail
//! tests (timings depend on the machine).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rotation_core::Step;
use rotation_local::{FaultProxy, LocalFunction, RotationReport, SecretsManagerDriver};
use rotation_stack::{Lifetime, Stack};

use crate::cargo::{self, Build};
use crate::scenario::{self, Strategy, Target};

/// Runs per figure, of which the bench reports the median (the README says how many).
pub(crate) const RUNS: usize = 15;

const USAGE: &str = "usage: cargo xtask bench [--binaries DIR] [ROTATOR...]";

/// Runs the benchmark: `[--binaries DIR] [ROTATOR...]`. With `--binaries`, the rotators are
/// taken from DIR instead of being built (to measure another commit's release build against
/// the same stack, e.g. before and after a change).
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let names = [
        "postgres-single-user",
        "postgres-multi-user",
        "mysql-single-user",
        "mysql-multi-user",
    ];
    let (binaries, args) = match args {
        [flag, dir, rest @ ..] if flag == "--binaries" => (Some(Path::new(dir)), rest),
        [flag] if flag == "--binaries" => bail!("--binaries needs a directory; {USAGE}"),
        _ => (None, args),
    };
    if let Some(unknown) = args.iter().find(|arg| !names.contains(&arg.as_str())) {
        bail!(
            "unknown rotator {unknown:?}; {USAGE} with ROTATOR one of {}",
            names.join(", ")
        );
    }
    let wanted = |name: &str| args.is_empty() || args.iter().any(|arg| arg == name);
    let chosen: Vec<&str> = names.into_iter().filter(|name| wanted(name)).collect();
    let built: BTreeMap<&str, std::path::PathBuf> = match binaries {
        Some(dir) => {
            println!("measuring the binaries in {}", dir.display());
            BTreeMap::new()
        }
        None => {
            let paths = cargo::build(Build::Measured, &chosen)?;
            println!(
                "measuring builds of the `{}` profile (release without LTO; the Lambda zips are \
                 `release`, with fat LTO: `--binaries target/release` measures those)",
                Build::Measured.profile()
            );
            chosen.iter().copied().zip(paths).collect()
        }
    };
    let stack = Stack::start(Lifetime::WithProcess).context("starting the local stack")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for target in [
        Target::Postgres(&stack.postgres),
        Target::MariaDb(&stack.mariadb),
    ] {
        for strategy in [Strategy::SingleUser, Strategy::MultiUser] {
            if !wanted(target.binary(strategy)) {
                continue;
            }
            let binary = match binaries {
                Some(dir) => {
                    let binary = dir.join(target.binary(strategy));
                    if !binary.is_file() {
                        bail!("--binaries: {} does not exist", binary.display());
                    }
                    binary
                }
                None => built[target.binary(strategy)].clone(),
            };
            runtime.block_on(bench(&stack, target, strategy, &binary))?;
            println!();
        }
    }
    Ok(())
}

/// A new database user and its secret, outside the timed part; multi-user secrets name the
/// master secret.
async fn fresh_secret(
    driver: &SecretsManagerDriver,
    target: Target<'_>,
    strategy: Strategy,
    master: Option<&str>,
    serial: &mut usize,
) -> anyhow::Result<String> {
    *serial += 1;
    // Short: `<user>_clone` must fit MySQL's default USERNAME_CHARACTER_LIMIT of 16.
    let user = format!("bench{serial}");
    target.create_user(&user, "Bench-Initial-1").await?;
    let name = format!("bench/{}-{serial}", target.binary(strategy));
    let mut secret = target.secret_json(&user, "Bench-Initial-1");
    if let Some(master) = master {
        secret["masterarn"] = serde_json::Value::String(master.to_owned());
    }
    scenario::create_secret(driver.client(), &name, &secret).await
}

/// Deletes a measured secret, so that every rotation meets a Secrets Manager holding the same
/// few secrets, and the rotators measured last do not pay for a store the earlier ones filled
/// (a suspicion about moto's lookups that we did not verify; this removes it from the figures).
async fn forget(driver: &SecretsManagerDriver, arn: &str) -> anyhow::Result<()> {
    driver
        .client()
        .delete_secret()
        .secret_id(arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .with_context(|| format!("deleting secret {arn}"))?;
    Ok(())
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// One rotator's benchmark: the secrets it rotates and where its processes run.
struct Bench<'a> {
    driver: SecretsManagerDriver,
    target: Target<'a>,
    strategy: Strategy,
    binary: &'a Path,
    moto: String,
    /// The master secret of a multi-user rotator.
    master: Option<String>,
    /// How many secrets (and users) it has made so far.
    secrets: usize,
}

/// What the runs of one rotator measured.
#[derive(Default)]
struct Figures {
    ready: Vec<Duration>,
    cold: Vec<Duration>,
    warm: Vec<Duration>,
    cold_steps: BTreeMap<Step, Vec<Duration>>,
    warm_steps: BTreeMap<Step, Vec<Duration>>,
    peak_kib: u64,
    /// The Secrets Manager calls of the counted rotation, by name.
    calls: Vec<String>,
}

async fn bench(
    stack: &Stack,
    target: Target<'_>,
    strategy: Strategy,
    binary: &Path,
) -> anyhow::Result<()> {
    let driver = SecretsManagerDriver::new(&stack.moto.endpoint()).await;
    let moto = stack.moto.endpoint();
    let proxy = FaultProxy::start(&moto).await?;
    let master = match strategy {
        Strategy::SingleUser => None,
        Strategy::MultiUser => {
            let name = format!("bench/{}-master", target.binary(strategy));
            Some(scenario::create_secret(driver.client(), &name, &target.master_json()).await?)
        }
    };
    // Every measured rotation gets a secret of its own: moto keeps every version forever (AWS
    // prunes them), and a secret with dozens of versions makes its answers slower.
    let mut bench = Bench {
        driver,
        target,
        strategy,
        binary,
        moto,
        master,
        secrets: 0,
    };
    let mut figures = Figures::default();
    bench.cold_rotations(&mut figures).await?;
    bench.warm_rotations(&mut figures).await?;
    figures.calls = bench.counted_rotation(&proxy).await?;
    print_figures(&bench, figures);
    Ok(())
}

impl Bench<'_> {
    /// A new database user and its secret, outside the timed part.
    async fn fresh_secret(&mut self) -> anyhow::Result<String> {
        fresh_secret(
            &self.driver,
            self.target,
            self.strategy,
            self.master.as_deref(),
            &mut self.secrets,
        )
        .await
    }

    /// A rotator process against `endpoint`, trusting the target's CA.
    async fn start_function(&self, endpoint: &str) -> anyhow::Result<LocalFunction> {
        scenario::start_function(self.binary, endpoint, self.target.ca_cert_path()).await
    }

    /// [`RUNS`] rotations, each in a new process: its start-up and its steps.
    async fn cold_rotations(&mut self, figures: &mut Figures) -> anyhow::Result<()> {
        for _ in 0..RUNS {
            let arn = self.fresh_secret().await?;
            let token = self.driver.start_rotation(&arn).await?;
            let started = Instant::now();
            let function = self.start_function(&self.moto).await?;
            figures.ready.push(function.ready().await?);
            let (took, report) = self
                .timed_steps(&function, &arn, &token, started, "cold")
                .await?;
            figures.cold.push(took);
            record_steps(&mut figures.cold_steps, &report);
            figures.peak_kib = figures.peak_kib.max(function.peak_rss_kib().unwrap_or(0));
            function.stop().await;
            forget(&self.driver, &arn).await?;
        }
        Ok(())
    }

    /// A warm-up rotation, then [`RUNS`] rotations in that same process.
    async fn warm_rotations(&mut self, figures: &mut Figures) -> anyhow::Result<()> {
        let function = self.start_function(&self.moto).await?;
        let secret = self.fresh_secret().await?;
        let warm_up = self.driver.rotate(&function, &secret).await?;
        if !warm_up.succeeded() {
            bail!("the warm-up rotation failed:\n{warm_up}");
        }
        for _ in 0..RUNS {
            let arn = self.fresh_secret().await?;
            let token = self.driver.start_rotation(&arn).await?;
            let started = Instant::now();
            let (took, report) = self
                .timed_steps(&function, &arn, &token, started, "warm")
                .await?;
            figures.warm.push(took);
            forget(&self.driver, &arn).await?;
            record_steps(&mut figures.warm_steps, &report);
        }
        figures.peak_kib = figures.peak_kib.max(function.peak_rss_kib().unwrap_or(0));
        function.stop().await;
        Ok(())
    }

    /// Runs the four steps with `token` through `function`: the report, and the time since
    /// `started`; an error names the `what` rotation that failed.
    async fn timed_steps(
        &self,
        function: &LocalFunction,
        arn: &str,
        token: &str,
        started: Instant,
        what: &str,
    ) -> anyhow::Result<(Duration, RotationReport)> {
        let report = self
            .driver
            .run_steps(function, arn, token, &Step::ALL)
            .await;
        let took = started.elapsed();
        if !report.succeeded() {
            bail!("a {what} rotation failed:\n{report}");
        }
        Ok((took, report))
    }

    /// One more rotation, through the counting proxy: the Secrets Manager calls it made.
    async fn counted_rotation(&mut self, proxy: &FaultProxy) -> anyhow::Result<Vec<String>> {
        let counted = self.start_function(&proxy.endpoint()).await?;
        let arn = self.fresh_secret().await?;
        let token = self.driver.start_rotation(&arn).await?;
        proxy.clear_calls();
        let report = self
            .driver
            .run_steps(&counted, &arn, &token, &Step::ALL)
            .await;
        if !report.succeeded() {
            bail!("the counted rotation failed:\n{report}");
        }
        let calls = proxy.calls();
        counted.stop().await;
        Ok(calls)
    }
}

/// Adds the duration of each step of a successful rotation (all of [`Step::ALL`], in order).
fn record_steps(steps: &mut BTreeMap<Step, Vec<Duration>>, report: &RotationReport) {
    for (step, name) in report.steps.iter().zip(Step::ALL) {
        steps
            .entry(name)
            .or_default()
            .push(step.invocation.duration);
    }
}

/// Prints the medians beside their targets.
fn print_figures(bench: &Bench<'_>, mut figures: Figures) {
    let call_target = call_target(bench.strategy);
    let mut breakdown = BTreeMap::new();
    for call in &figures.calls {
        *breakdown.entry(call.as_str()).or_insert(0usize) += 1;
    }
    let ready = median(figures.ready);
    let cold = median(figures.cold);
    let warm = median(figures.warm);
    let calls = figures.calls.len();
    let peak_mb = figures.peak_kib as f64 / 1024.0;
    let check = |ok: bool| if ok { "ok" } else { "MISSED" };
    println!(
        "{} ({}) on the local stack's {}, {RUNS} runs each, medians",
        bench.target.binary(bench.strategy),
        bench.binary.display(),
        bench.target.name()
    );
    println!("{:<34} {:>10} {:>10}  ", "figure", "measured", "target");
    let timed = [
        ("ready (start to first event)", ready, 20),
        ("cold rotation (start + 4 steps)", cold, 80),
        ("warm rotation (4 steps)", warm, 60),
    ];
    for (figure, measured, target_ms) in timed {
        println!(
            "{:<34} {:>8.1}ms {:>8}ms  {}",
            figure,
            ms(measured),
            target_ms,
            check(measured <= Duration::from_millis(target_ms))
        );
    }
    for step in Step::ALL {
        let warm_step = median(figures.warm_steps.remove(&step).unwrap_or_default());
        let cold_step = median(figures.cold_steps.remove(&step).unwrap_or_default());
        println!(
            "{:<34} {:>8.1}ms   (cold {:.1}ms)",
            format!("  {step} (warm)"),
            ms(warm_step),
            ms(cold_step)
        );
    }
    println!(
        "{:<34} {:>8.1}MB {:>8}MB  {}",
        "peak RSS",
        peak_mb,
        16,
        check(peak_mb <= 16.0)
    );
    println!(
        "{:<34} {:>10} {:>10}  {}",
        "Secrets Manager calls / rotation",
        calls,
        call_target,
        check(calls <= call_target)
    );
    let detail: Vec<String> = breakdown
        .iter()
        .map(|(call, n)| format!("{call} x{n}"))
        .collect();
    println!("  calls: {}", detail.join(", "));
}

/// The Secrets Manager calls a rotation may make: each version is read once per process;
/// multi-user rotations also read the master secret once.
fn call_target(strategy: Strategy) -> usize {
    match strategy {
        Strategy::SingleUser => 8,
        Strategy::MultiUser => 9,
    }
}
