//! The rotation driver against a real `moto_server`, and a whole rotation through a real binary.

mod support;

use std::time::Duration;

use rotation_core::Step;
use rotation_local::{FunctionOptions, LocalFunction, Outcome, SecretsManagerDriver};

fn stages(labels: &[&str]) -> Vec<String> {
    labels.iter().map(|label| (*label).to_owned()).collect()
}

#[tokio::test]
async fn start_rotation_attaches_awspending_alone_to_a_new_valueless_version() {
    let Some(moto) = support::moto().await else {
        return;
    };
    let driver = SecretsManagerDriver::new(&moto.endpoint).await;
    support::create_secret(driver.client(), "first-rotation").await;
    let before = driver.labels("first-rotation").await.expect("labels");

    let token = driver
        .start_rotation("first-rotation")
        .await
        .expect("rotation starts");

    let labels = driver.labels("first-rotation").await.expect("labels");
    assert_eq!(
        labels.get(&token),
        Some(&stages(&["AWSPENDING"])),
        "{labels:?}"
    );
    assert_eq!(labels.len(), 2, "{labels:?}");
    for (version, current) in &before {
        assert_eq!(labels.get(version), Some(current), "AWSCURRENT stays put");
    }
    let pending_value = driver
        .client()
        .get_secret_value()
        .secret_id("first-rotation")
        .version_id(&token)
        .send()
        .await;
    assert!(
        pending_value.is_err(),
        "the pending version has no value yet"
    );
    let described = driver
        .client()
        .describe_secret()
        .secret_id("first-rotation")
        .send()
        .await
        .expect("DescribeSecret");
    assert_eq!(described.rotation_enabled(), Some(true));
    assert_eq!(
        described.rotation_lambda_arn(),
        Some("arn:aws:lambda:us-east-1:123456789012:function:rotation-local")
    );
}

#[tokio::test]
async fn an_unfinished_rotation_is_resumed_with_the_same_token() {
    let Some(moto) = support::moto().await else {
        return;
    };
    let driver = SecretsManagerDriver::new(&moto.endpoint).await;
    support::create_secret(driver.client(), "unfinished").await;

    let first = driver
        .start_rotation("unfinished")
        .await
        .expect("rotation starts");
    let second = driver
        .start_rotation("unfinished")
        .await
        .expect("rotation resumes");

    assert_eq!(first, second);
    let labels = driver.labels("unfinished").await.expect("labels");
    assert_eq!(labels.len(), 2, "no third version: {labels:?}");
}

#[tokio::test]
async fn a_finished_rotation_leaves_awspending_on_current_and_the_next_one_still_starts() {
    let Some(moto) = support::moto().await else {
        return;
    };
    let driver = SecretsManagerDriver::new(&moto.endpoint).await;
    let client = driver.client();
    support::create_secret(client, "finished").await;
    let old = driver.labels("finished").await.expect("labels");
    let old_version = old.keys().next().expect("one version").clone();

    // What a rotation function does in createSecret and finishSecret.
    let token = driver
        .start_rotation("finished")
        .await
        .expect("rotation starts");
    client
        .put_secret_value()
        .secret_id("finished")
        .client_request_token(&token)
        .secret_string(r#"{"username":"app","password":"rotated"}"#)
        .version_stages("AWSPENDING")
        .send()
        .await
        .expect("PutSecretValue");
    client
        .update_secret_version_stage()
        .secret_id("finished")
        .version_stage("AWSCURRENT")
        .move_to_version_id(&token)
        .remove_from_version_id(&old_version)
        .send()
        .await
        .expect("UpdateSecretVersionStage");
    let finished = driver.labels("finished").await.expect("labels");
    assert_eq!(finished[&token], stages(&["AWSCURRENT", "AWSPENDING"]));

    let next = driver
        .start_rotation("finished")
        .await
        .expect("next rotation starts");

    assert_ne!(next, token);
    let labels = driver.labels("finished").await.expect("labels");
    assert_eq!(labels[&token], stages(&["AWSCURRENT"]));
    assert_eq!(labels[&next], stages(&["AWSPENDING"]));
    assert_eq!(labels[&old_version], stages(&["AWSPREVIOUS"]));
}

#[tokio::test]
async fn a_missing_secret_is_a_clear_error() {
    let Some(moto) = support::moto().await else {
        return;
    };
    let driver = SecretsManagerDriver::new(&moto.endpoint).await;
    let error = driver
        .start_rotation("no-such-secret")
        .await
        .expect_err("nothing to rotate");
    let message = error.to_string();
    assert!(message.contains("DescribeSecret"), "{message}");
    assert!(message.contains("no-such-secret"), "{message}");
}

#[tokio::test]
async fn rotate_sends_the_four_events_in_order_through_the_function() {
    let Some(moto) = support::moto().await else {
        return;
    };
    let driver = SecretsManagerDriver::new(&moto.endpoint).await;
    support::create_secret(driver.client(), "echoed").await;
    let function = LocalFunction::start(
        support::echo_function(),
        FunctionOptions {
            name: "echo-rotator".into(),
            timeout: Duration::from_secs(10),
            ..FunctionOptions::default()
        },
    )
    .await
    .expect("echo_function starts");

    let report = driver
        .rotate(&function, "echoed")
        .await
        .expect("rotation starts");

    assert!(report.succeeded(), "{report}");
    let steps: Vec<&str> = report.steps.iter().map(|step| step.step.as_str()).collect();
    assert_eq!(steps, Step::ALL.map(Step::as_str));
    for step in &report.steps {
        // echo_function answers with the event it got.
        assert_eq!(
            step.invocation.outcome,
            Outcome::Success(SecretsManagerDriver::event(
                &step.step,
                "echoed",
                &report.token
            )),
        );
    }
    let table = report.to_string();
    assert!(
        table.contains("finishSecret") && table.contains("succeeded"),
        "{table}"
    );
    let described = driver
        .client()
        .describe_secret()
        .secret_id("echoed")
        .send()
        .await
        .expect("DescribeSecret");
    assert_eq!(
        described.rotation_lambda_arn(),
        Some(function.arn().as_str())
    );
    function.stop().await;
}

#[tokio::test]
async fn run_steps_stops_at_the_first_failed_step() {
    let Some(moto) = support::moto().await else {
        return;
    };
    let driver = SecretsManagerDriver::new(&moto.endpoint).await;
    support::create_secret(driver.client(), "crashing").await;
    let function = LocalFunction::start(support::echo_function(), FunctionOptions::default())
        .await
        .expect("echo_function starts");
    let token = driver
        .start_rotation("crashing")
        .await
        .expect("rotation starts");
    // The first event makes echo_function exit, as a crash in createSecret would.
    let crash = serde_json::json!({"exit": 7});
    assert_eq!(
        function.invoke(&crash).await.outcome,
        Outcome::Exited(Some(7))
    );

    let report = driver
        .run_steps(&function, "crashing", &token, &Step::ALL)
        .await;

    assert!(!report.succeeded());
    assert_eq!(report.steps.len(), 1, "{report}");
    assert_eq!(
        report.failure().map(|step| step.step.as_str()),
        Some("createSecret")
    );
    function.stop().await;
}
