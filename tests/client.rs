//! rotation-client, end to end: applications under load (several workers, real pool
//! connections recycled often) while the real rotator binaries rotate their secret as Secrets
//! Manager would. rotation-client must not fail a single request; a naive client must (so the
//! test is not vacuous). `cargo xtask demo client` runs 100 rotations of each and prints the
//! three clients side by side.

use std::time::Duration;

use rotation_e2e::survival::{self, Measured, Mode, Settings, Workload};
use rotation_e2e::{rotator_binary, stack};

/// Few rotations per workload: CI has a time budget; the demo runs 100.
const ROTATIONS: usize = 12;

fn settings() -> Settings {
    let binaries = rotator_binary("postgres-single-user")
        .parent()
        .expect("a binary has a directory")
        .to_path_buf();
    Settings {
        rotations: ROTATIONS,
        workers: 4,
        ttl: Duration::from_secs(1),
        pause: Duration::from_millis(30),
        binaries,
    }
}

async fn measure(workload: Workload, mode: Mode) -> Measured {
    for binary in [
        "postgres-single-user",
        "postgres-multi-user",
        "mysql-single-user",
        "mysql-multi-user",
        "api-key",
    ] {
        rotator_binary(binary);
    }
    let measured = survival::run(stack(), workload, mode, &settings()).await;
    eprintln!("{} / {}: {measured}", workload.name(), mode.name());
    assert!(
        measured.failed_rotations.is_empty(),
        "rotations failed: {:?}",
        measured.failed_rotations
    );
    assert_eq!(measured.rotations, ROTATIONS);
    measured
}

/// 0 failed requests through rotation-client, and at most 2 forced reads per rotation.
async fn survives(workload: Workload) {
    let measured = measure(workload, Mode::Client).await;
    assert!(measured.requests > 100, "the workers were busy: {measured}");
    assert_eq!(measured.failures, 0, "{measured}");
    assert!(
        measured.forced_reads <= 2 * ROTATIONS as u64,
        "at most 2 forced reads per rotation: {measured}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_single_user_with_sqlx_survives_every_rotation() {
    survives(Workload::PostgresSingleUser).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_multi_user_with_sqlx_survives_every_rotation() {
    survives(Workload::PostgresMultiUser).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_single_user_with_sqlx_survives_every_rotation() {
    survives(Workload::MariaDbSingleUser).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_multi_user_with_sqlx_survives_every_rotation() {
    survives(Workload::MariaDbMultiUser).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_single_user_with_deadpool_survives_every_rotation() {
    survives(Workload::PostgresSingleUserDeadpool).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_with_reqwest_survives_every_rotation() {
    survives(Workload::ApiKey).await;
}

/// The measurement can see a failure: the same load with credentials read once fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_naive_client_fails_once_a_single_user_rotation_changed_the_password() {
    let measured = measure(Workload::PostgresSingleUser, Mode::Naive).await;
    assert!(measured.failures > 0, "{measured}");
    let first = measured.first_failure.unwrap_or_default();
    assert!(
        first.contains("28P01") || first.contains("password authentication failed"),
        "{first}"
    );
}
