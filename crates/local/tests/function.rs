//! A real Lambda binary (examples/echo_function.rs, built on `lambda_runtime`) under the
//! emulated Runtime API.

mod support;

use std::time::Duration;

use rotation_local::{FunctionOptions, LocalError, LocalFunction, Outcome};
use serde_json::json;

async fn echo(options: FunctionOptions) -> LocalFunction {
    LocalFunction::start(support::echo_function(), options)
        .await
        .expect("echo_function starts")
}

fn quick() -> FunctionOptions {
    FunctionOptions {
        name: "echo".into(),
        timeout: Duration::from_secs(10),
        ..FunctionOptions::default()
    }
}

#[tokio::test]
async fn a_successful_invocation_returns_the_answer() {
    let function = echo(quick()).await;
    let ready = function
        .ready()
        .await
        .expect("echo_function polls for an event");
    assert!(ready < Duration::from_secs(10), "{ready:?}");
    assert!(function.pid().is_some());
    assert!(function.peak_rss_kib().is_some_and(|kib| kib > 0));

    let event = json!({"Step": "createSecret", "n": 1});
    let first = function.invoke(&event).await;
    assert_eq!(first.outcome, Outcome::Success(event.clone()));
    assert!(first.outcome.is_success());
    // The same process serves the next event, as a warm Lambda does.
    let second = function.invoke(&json!({"n": 2})).await;
    assert_eq!(second.outcome, Outcome::Success(json!({"n": 2})));

    let output = function.stop().await;
    assert!(output.contains("echo_function starting"), "{output}");
    assert_eq!(
        output.matches("echo_function handling").count(),
        2,
        "{output}"
    );
}

#[tokio::test]
async fn a_function_error_is_reported_with_its_type_and_message() {
    let function = echo(quick()).await;
    let failed = function.invoke(&json!({"fail": true})).await;
    assert_eq!(
        failed.outcome,
        Outcome::Error {
            error_type: "EchoFailed".into(),
            error_message: "asked to fail".into()
        }
    );
    // An error does not end the function.
    let next = function.invoke(&json!({"after": "error"})).await;
    assert!(next.outcome.is_success(), "{:?}", next.outcome);
    function.stop().await;
}

#[tokio::test]
async fn a_crash_is_reported_as_an_exit_and_stays_so() {
    let function = echo(quick()).await;
    let crashed = function.invoke(&json!({"exit": true})).await;
    assert_eq!(crashed.outcome, Outcome::Exited(Some(3)));
    assert!(crashed.duration < Duration::from_secs(10));
    assert_eq!(function.pid(), None);
    let after = function.invoke(&json!({})).await;
    assert_eq!(after.outcome, Outcome::Exited(Some(3)));
    function.stop().await;
}

#[tokio::test]
async fn an_invocation_past_its_deadline_times_out_and_ends_the_process() {
    let function = echo(FunctionOptions {
        timeout: Duration::from_millis(1500),
        ..quick()
    })
    .await;
    function.ready().await.expect("ready");
    let slow = function.invoke(&json!({"sleep_ms": 60_000})).await;
    assert_eq!(slow.outcome, Outcome::TimedOut);
    assert!(
        slow.duration < Duration::from_secs(5),
        "{:?}",
        slow.duration
    );
    let after = function.invoke(&json!({})).await;
    assert!(
        matches!(after.outcome, Outcome::Exited(_)),
        "{:?}",
        after.outcome
    );
    function.stop().await;
}

#[tokio::test]
async fn an_init_error_is_the_outcome_and_fails_ready() {
    let function = echo(FunctionOptions {
        env: vec![("ECHO_INIT_ERROR".into(), "1".into())],
        ..quick()
    })
    .await;
    match function.ready().await {
        Err(LocalError::InitFailed {
            error_type,
            error_message,
            ..
        }) => {
            assert_eq!(error_type, "EchoInitFailed");
            assert_eq!(error_message, "ECHO_INIT_ERROR is set");
        }
        other => panic!("expected InitFailed, got {other:?}"),
    }
    let invocation = function.invoke(&json!({})).await;
    assert_eq!(
        invocation.outcome,
        Outcome::InitError {
            error_type: "EchoInitFailed".into(),
            error_message: "ECHO_INIT_ERROR is set".into()
        }
    );
    function.stop().await;
}

#[tokio::test]
async fn a_binary_that_exits_before_polling_is_not_ready() {
    let Ok(function) = LocalFunction::start("sleep", quick()).await else {
        eprintln!("SKIPPED: no `sleep` binary on PATH");
        return;
    };
    // `sleep` without arguments exits at once with a usage message.
    let error = function.ready().await.expect_err("sleep never polls");
    assert!(
        matches!(error, LocalError::ExitedBeforeReady { code: Some(_), .. }),
        "{error}"
    );
    let output = function.stop().await;
    assert!(!output.is_empty(), "sleep's usage message is captured");
}

#[tokio::test]
async fn a_function_slower_to_start_than_the_timeout_is_not_ready() {
    let function = echo(FunctionOptions {
        timeout: Duration::from_millis(500),
        env: vec![("ECHO_INIT_DELAY_MS".into(), "30000".into())],
        ..quick()
    })
    .await;
    let error = function.ready().await.expect_err("still initialising");
    assert!(matches!(error, LocalError::NotReady { .. }), "{error}");
    let timed_out = function.invoke(&json!({})).await;
    assert_eq!(timed_out.outcome, Outcome::TimedOut);
    function.stop().await;
}

#[tokio::test]
async fn a_missing_binary_is_a_clear_error() {
    let error = LocalFunction::start("/nonexistent/rotator", quick())
        .await
        .expect_err("no such binary");
    assert!(matches!(error, LocalError::Spawn { .. }), "{error}");
    assert!(
        error.to_string().contains("/nonexistent/rotator"),
        "{error}"
    );
}

#[tokio::test]
async fn the_function_sees_the_lambda_environment() {
    let function = echo(FunctionOptions {
        env: vec![("CUSTOM".into(), "yes".into())],
        ..quick()
    })
    .await;
    function.ready().await.expect("ready");
    let pid = function.pid().expect("running");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ readable");
    let environ = String::from_utf8_lossy(&environ);
    let vars: Vec<&str> = environ.split('\0').collect();
    let api = format!("AWS_LAMBDA_RUNTIME_API={}", function.runtime_api_addr());
    for expected in [
        api.as_str(),
        "AWS_LAMBDA_FUNCTION_NAME=echo",
        "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
        "AWS_REGION=us-east-1",
        "CUSTOM=yes",
    ] {
        assert!(vars.contains(&expected), "{expected} missing from {vars:?}");
    }
    function.stop().await;
}
