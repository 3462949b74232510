//! The preflight's framework checks, end to end (the real binary, moto): Secrets Manager out of
//! reach, a secret that does not exist or has no value, rotation through another function, a
//! malformed request. The database checks run for every database rotator in
//! `rotation_e2e::scenarios::preflight_reports_each_broken_check_with_its_fix`.

use rotation_e2e::scenarios::{assert_failed, checks, preflight};
use rotation_e2e::*;
use serde_json::json;

const BIN: &str = "postgres-single-user";

#[tokio::test]
async fn secrets_manager_problems_are_reported_with_their_fix() {
    let world = World::new().await;
    let function = world.function(BIN, &[]).await;

    // A secret that does not exist: every later check skipped.
    let report = preflight(&function, "no-such-secret").await;
    assert_failed(&report, "secrets-manager", "no-such-secret", "full ARN");
    assert_eq!(checks(&report, "target")[0]["status"], "skip", "{report:#}");

    // A secret without a value.
    let empty = world
        .client()
        .create_secret()
        .name(unique("empty-"))
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let report = preflight(&function, &empty).await;
    assert_failed(
        &report,
        "current-value",
        "no AWSCURRENT",
        "put-secret-value",
    );

    // Rotation on, through another function: a warning that says how to switch.
    let (arn, _, _) = world.user_with_secret("pfother").await;
    world.driver.start_rotation(&arn).await.unwrap();
    let report = preflight(&function, &arn).await;
    let rotation = &checks(&report, "rotation")[0];
    assert_eq!(rotation["status"], "warn", "{report:#}");
    assert!(
        rotation["fix"].as_str().unwrap().contains(&function.arn()),
        "{rotation}"
    );
    // ... and the rotation it started is unfinished.
    assert_failed(
        &report,
        "pending-version",
        "AWSPENDING",
        "cancel-rotate-secret",
    );

    // A request that is not one.
    let answer = function
        .invoke(&json!({"preflight": {"SecretId": arn}, "Step": "createSecret"}))
        .await;
    assert_error(&answer, "InvalidEvent", "preflight");
    function.stop().await;

    // Secrets Manager out of reach (an endpoint nothing listens on).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let cut_off = world.function_at(BIN, &endpoint, &[]).await;
    let report = preflight(&cut_off, &arn).await;
    assert_failed(&report, "secrets-manager", "DescribeSecret", "VPC endpoint");
}
