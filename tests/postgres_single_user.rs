//! postgres-single-user, end to end: the real binary under the Lambda Runtime API, moto's
//! Secrets Manager, and a real PostgreSQL that logs every statement.
//!
//! The rotation contract (`rotation-testkit`) and the database scenarios every rotator shares
//! (`rotation_e2e::scenarios`) run here through `database_scenarios!` at the end; the tests
//! written out below are the ones particular to this rotator.

use rotation_e2e::*;
use serde_json::json;

const BIN: &str = "postgres-single-user";

#[tokio::test]
async fn no_password_reaches_the_rotator_output_or_the_database_log() {
    let world = World::new().await;
    let pg = world.postgres();
    let (arn, role, old_password) = world.user_with_secret("nolog").await;
    let function = world.function(BIN, &[("RUST_LOG", "trace")]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let new_password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
    let output = function.stop().await;
    let server_log = std::fs::read_to_string(pg.log_path()).unwrap();
    assert!(
        server_log.contains(&format!(
            "ALTER ROLE \"{role}\" PASSWORD 'SCRAM-SHA-256$4096:"
        )),
        "the server log should show the verifier statement"
    );
    for (name, text) in [("rotator output", &output), ("PostgreSQL log", &server_log)] {
        assert!(!text.contains(&new_password), "new password in the {name}");
        assert!(!text.contains(&old_password), "old password in the {name}");
    }
    // The output is JSON lines that carry the secret, token and step.
    let step_line = output
        .lines()
        .find(|line| line.contains("step succeeded") && line.contains("setSecret"))
        .expect("a completion line for setSecret");
    let parsed: serde_json::Value = serde_json::from_str(step_line).unwrap();
    assert_eq!(parsed["span"]["secret"], json!(arn));
    assert_eq!(parsed["span"]["token"], json!(report.token));
    assert!(parsed["duration_ms"].is_number(), "{step_line}");
    // Each step's last line is also a CloudWatch EMF document, named by the binary; the
    // rotation ran in one process, so finishSecret knows how long the whole rotation took.
    let step_lines: Vec<serde_json::Value> = output
        .lines()
        .filter(|line| line.contains("\"step succeeded\""))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let steps: Vec<&str> = step_lines
        .iter()
        .filter_map(|l| l["Step"].as_str())
        .collect();
    assert_eq!(
        steps,
        ["createSecret", "setSecret", "testSecret", "finishSecret"]
    );
    for line in &step_lines {
        let problems = rotation_core::metrics::emf_problems(line);
        assert!(problems.is_empty(), "{problems:?} in {line}");
        assert_eq!(line["Rotator"], json!(BIN));
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], json!("SecretsManagerRotation"));
        assert_eq!(directive["Dimensions"], json!([["Rotator", "Step"]]));
    }
    assert!(
        step_lines[3]["RotationDuration"].is_number(),
        "{}",
        step_lines[3]
    );
}

rotation_e2e::database_scenarios!(Rotator::PostgresSingleUser);
