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

/// With `ssl` absent a rotation would fall back to plaintext on a server without TLS; the
/// preflight (which can be pointed at any secret the function reads, a master secret too) says
/// so and never sends the credentials in plaintext.
#[tokio::test]
async fn no_password_goes_in_plaintext_to_a_server_without_tls() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let world = World::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // A PostgreSQL-like server that answers "no TLS" and records what comes next.
    let server = tokio::spawn(async move {
        let mut received = Vec::new();
        while let Ok(Ok((mut stream, _))) =
            tokio::time::timeout(std::time::Duration::from_secs(5), listener.accept()).await
        {
            let mut request = [0u8; 8];
            if stream.read_exact(&mut request).await.is_ok() {
                let _ = stream.write_all(b"N").await;
                let mut next = [0u8; 256];
                if let Ok(Ok(n)) =
                    tokio::time::timeout(std::time::Duration::from_secs(1), stream.read(&mut next))
                        .await
                {
                    received.extend_from_slice(&next[..n]);
                }
            }
        }
        received
    });
    let mut secret = secret_json(world.postgres(), "plain_user", "Plain-Pass-1");
    secret["port"] = json!(port);
    secret.as_object_mut().unwrap().remove("ssl");
    let arn = world
        .create_secret(&unique("plain-"), &secret.to_string())
        .await;
    let function = world.function(BIN, &[]).await;
    let report = preflight(&function, &arn).await;
    let output = function.stop().await;
    let tls = &checks(&report, "tls")[0];
    assert_eq!(tls["status"], "warn", "{report:#}");
    assert!(
        tls["detail"]
            .as_str()
            .unwrap()
            .contains("did not send the password"),
        "{tls}"
    );
    assert_eq!(checks(&report, "current-login")[0]["status"], "skip");
    let received = server.await.unwrap();
    let text = String::from_utf8_lossy(&received);
    assert!(
        !text.contains("plain_user") && !text.contains("Plain-Pass-1"),
        "the server received a login in plaintext: {text:?}"
    );
    assert!(!output.contains("Plain-Pass-1"));
}

/// A master secret the operator listed (`MASTER_SECRET_ARNS`) is not checked as a child.
#[tokio::test]
async fn a_listed_master_secret_is_not_logged_in_with_as_a_child() {
    let world = World::new().await;
    let master = world.master_secret().await;
    let function = world
        .function("postgres-multi-user", &[("MASTER_SECRET_ARNS", &master)])
        .await;
    let report = preflight(&function, &master).await;
    assert_failed(&report, "secret-json", "is a master secret", "masterarn");
    assert!(checks(&report, "current-login").is_empty(), "{report:#}");
}
