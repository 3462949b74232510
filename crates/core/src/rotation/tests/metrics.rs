//! The step's last log line as CloudWatch's Embedded Metric Format: captured through the
//! rotators' own JSON layer and checked against the specification's rules.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;

use super::*;
use crate::metrics::{Metrics, MetricsSettings, emf_problems};

/// Log output, shared with the subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
            .collect()
    }

    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Runs the steps through `handle` (the payload path, as under Lambda), capturing the logs.
async fn run_logged<R: Rotator>(fixture: &Fixture<R>, steps: &[Step]) -> Captured {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber =
        tracing_subscriber::registry().with(crate::logging::json_layer(move || writer.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);
    for step in steps {
        let payload = json!({
            "Step": step.as_str(),
            "SecretId": fixture.started.secret_id,
            "ClientRequestToken": fixture.started.token.as_str(),
            "RotationToken": fixture.started.rotation_token.expose(),
        });
        // A failure is logged like a success; the test looks at the lines.
        let _ = fixture.rotation.handle(&payload, deadline()).await;
    }
    captured
}

fn with_metrics<R: Rotator>(mut fixture: Fixture<R>, env: &[(&str, &str); 1]) -> Fixture<R> {
    let settings = MetricsSettings::from_env(env).unwrap();
    fixture.rotation = fixture
        .rotation
        .with_metrics(Metrics::new("test-rotator", &settings));
    fixture
}

fn step_lines(lines: &[Value]) -> Vec<&Value> {
    let last = |line: &&Value| {
        let message = line["message"].as_str();
        message == Some("step succeeded") || message == Some("step failed")
    };
    lines.iter().filter(last).collect()
}

#[tokio::test]
async fn every_step_line_is_a_valid_emf_document_without_secrets() {
    let fixture = with_metrics(single_user(), &[("ROTATION_METRICS_NAMESPACE", "Tests")]);
    let captured = run_logged(&fixture, &Step::ALL).await;
    fixture.assert_rotated();
    let lines = captured.lines();
    let steps = step_lines(&lines);
    assert_eq!(steps.len(), 4, "{}", captured.text());
    for (line, step) in steps.iter().zip(Step::ALL) {
        assert_eq!(emf_problems(line), Vec::<String>::new(), "{line}");
        assert_eq!(line["Rotator"], "test-rotator");
        assert_eq!(line["Step"], step.as_str());
        assert_eq!(line["StepSucceeded"], 1);
        assert_eq!(line["StepFailed"], 0);
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Tests");
        assert_eq!(directive["Dimensions"], json!([["Rotator", "Step"]]));
        // The secret and the token are properties (in the span), never dimensions.
        assert_eq!(line["span"]["secret"], fixture.started.secret_id.as_str());
        let with_rotation = step == Step::FinishSecret;
        assert_eq!(
            line["RotationDuration"].is_number(),
            with_rotation,
            "{line}"
        );
    }
    // Only the step's last line carries metrics.
    let with_aws = lines
        .iter()
        .filter(|line| line.get("_aws").is_some())
        .count();
    assert_eq!(with_aws, 4);
    let pending = fixture.holder(Stage::Current).unwrap().value.unwrap();
    for password in ["pw-0".to_owned(), password_of(&pending)] {
        assert!(
            !captured.text().contains(&password),
            "a password in the logs"
        );
    }
}

#[tokio::test]
async fn a_failed_step_counts_as_failed() {
    let fixture = with_metrics(single_user(), &[("ROTATION_METRICS", "true")]);
    run_logged(&fixture, first(2)).await;
    let _ = fixture.service.clone().with_user("app", "pw-0");
    let captured = run_logged(&fixture, &[Step::TestSecret]).await;
    let lines = captured.lines();
    let line = step_lines(&lines)[0];
    assert_eq!(emf_problems(line), Vec::<String>::new(), "{line}");
    assert_eq!(
        (&line["StepSucceeded"], &line["StepFailed"]),
        (&json!(0), &json!(1))
    );
    assert_eq!(line["Step"], "testSecret");
}

#[tokio::test]
async fn the_variable_turns_metrics_off() {
    let fixture = with_metrics(single_user(), &[("ROTATION_METRICS", "false")]);
    let captured = run_logged(&fixture, &Step::ALL).await;
    let lines = captured.lines();
    let steps = step_lines(&lines);
    assert_eq!(steps.len(), 4);
    for line in steps {
        for member in ["_aws", "Rotator", "Step", "StepDuration", "StepSucceeded"] {
            assert!(line.get(member).is_none(), "{member} in {line}");
        }
        assert!(line["duration_ms"].is_number());
    }
}
