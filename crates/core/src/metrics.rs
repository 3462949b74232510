//! Metrics for free: the last log line of every step also carries CloudWatch's Embedded Metric
//! Format (EMF), so CloudWatch Logs extracts `StepDuration`, `StepSucceeded`, `StepFailed` and
//! `RotationDuration` from the logs the function writes anyway: no API call, no agent.
//!
//! The dimensions are `Rotator` (the binary's name, given to [`crate::lambda::serve`]) and
//! `Step` only. The secret and the token are properties of the line (its `span`), not
//! dimensions, so the number of metrics stays bounded however many secrets a function rotates.
//!
//! Each step line carries both `StepSucceeded` and `StepFailed` (1 and 0, or 0 and 1): their
//! `Sum` counts steps, their `Average` is a rate. `RotationDuration` is on finishSecret's line
//! when this process ran createSecret for the same secret and token (a warm process); else it
//! is left out, never guessed.
//!
//! `ROTATION_METRICS=false` turns it off; `ROTATION_METRICS_NAMESPACE` names the namespace
//! (default [`DEFAULT_NAMESPACE`]).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::config::{ConfigError, Environment, bool_var};
use crate::recent::Recent;
use crate::step::Step;

/// The namespace of the metrics unless `ROTATION_METRICS_NAMESPACE` says otherwise.
pub const DEFAULT_NAMESPACE: &str = "SecretsManagerRotation";

/// How many rotations the process remembers the start of: a function rotates one secret per
/// invocation, so a few are plenty; the oldest is forgotten first.
const STARTS_CAPACITY: usize = 16;

/// What the metrics are: on or off, and their namespace. Read once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Whether step lines carry EMF (`ROTATION_METRICS`, default true).
    pub enabled: bool,
    /// The CloudWatch namespace (`ROTATION_METRICS_NAMESPACE`).
    pub namespace: String,
}

impl MetricsSettings {
    /// Reads `ROTATION_METRICS` (a boolean, default true) and `ROTATION_METRICS_NAMESPACE`
    /// (CloudWatch's rules for a namespace: 1 to 255 characters among letters, digits and
    /// `. - _ / # :` and space, not starting with `AWS/`, which is AWS's own).
    pub fn from_env(env: &dyn Environment) -> Result<Self, ConfigError> {
        let enabled = bool_var(env, "ROTATION_METRICS", true)?;
        let namespace = match env.var("ROTATION_METRICS_NAMESPACE") {
            Some(raw) if !raw.trim().is_empty() => checked_namespace(raw.trim())?,
            _ => DEFAULT_NAMESPACE.to_owned(),
        };
        Ok(MetricsSettings { enabled, namespace })
    }
}

fn checked_namespace(namespace: &str) -> Result<String, ConfigError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c);
    let problem = if namespace.len() > 255 {
        Some("is longer than 255 characters")
    } else if !namespace.chars().all(allowed) {
        Some("may hold only letters, digits, spaces and . - _ / # :")
    } else if namespace.starts_with("AWS/") {
        Some("must not start with AWS/ (reserved for AWS's own metrics)")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(ConfigError::new(
            "ROTATION_METRICS_NAMESPACE",
            format!("{namespace:?} {problem}"),
        )),
        None => Ok(namespace.to_owned()),
    }
}

/// The metrics of one step, ready to go on its last log line.
#[derive(Debug, Clone, PartialEq)]
pub struct StepMetrics {
    /// The `Rotator` dimension.
    pub rotator: &'static str,
    /// The `Step` dimension.
    pub step: &'static str,
    /// `StepDuration`, in milliseconds.
    pub duration_ms: f64,
    /// `StepSucceeded` (1 or 0); `StepFailed` is its complement.
    pub succeeded: u8,
    /// `RotationDuration`, in milliseconds, when known.
    pub rotation_ms: Option<f64>,
    /// The `_aws` member: the metadata naming the metrics above, as JSON text. The log
    /// formatter ([`crate::logging`]) writes it as an object.
    pub aws: String,
}

/// The metrics of a rotator in this process: its name, the namespace, and when each rotation
/// seen here started (by secret id and token).
#[derive(Debug)]
pub struct Metrics {
    rotator: &'static str,
    namespace: String,
    starts: Recent<Instant>,
}

impl Metrics {
    /// Metrics for the rotator named `rotator` (its binary's name), or none when the settings
    /// turn them off.
    pub fn new(rotator: &'static str, settings: &MetricsSettings) -> Option<Self> {
        settings.enabled.then(|| Metrics {
            rotator,
            namespace: settings.namespace.clone(),
            starts: Recent::new(STARTS_CAPACITY),
        })
    }

    /// Notes that `step` of the rotation (`secret`, `token`) starts now: createSecret starts the
    /// rotation (a retry keeps the first start).
    pub fn step_starts(&self, secret: &str, token: &str, step: Step, now: Instant) {
        if step != Step::CreateSecret {
            return;
        }
        self.starts.put_if_absent(secret, token, now);
    }

    /// The metrics of a step that ended `now` after `duration_ms`. A finishSecret that
    /// succeeded ends the rotation: its start is forgotten and its duration reported.
    pub fn step_ends(
        &self,
        secret: &str,
        token: &str,
        step: Step,
        succeeded: bool,
        duration_ms: f64,
        now: Instant,
    ) -> StepMetrics {
        let rotation_ms = (succeeded && step == Step::FinishSecret)
            .then(|| self.starts.take(secret, token))
            .flatten()
            .map(|start| now.duration_since(start).as_secs_f64() * 1000.0);
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis());
        StepMetrics {
            rotator: self.rotator,
            step: step.as_str(),
            duration_ms,
            succeeded: u8::from(succeeded),
            rotation_ms,
            aws: metadata(&self.namespace, timestamp_ms, rotation_ms.is_some()).to_string(),
        }
    }
}

/// The `_aws` metadata object of a step line: one directive, one dimension set
/// (`Rotator`, `Step`), the step's metrics and, when known, `RotationDuration`.
fn metadata(namespace: &str, timestamp_ms: u128, with_rotation: bool) -> serde_json::Value {
    let mut metrics = vec![
        json!({"Name": "StepDuration", "Unit": "Milliseconds"}),
        json!({"Name": "StepSucceeded", "Unit": "Count"}),
        json!({"Name": "StepFailed", "Unit": "Count"}),
    ];
    if with_rotation {
        metrics.push(json!({"Name": "RotationDuration", "Unit": "Milliseconds"}));
    }
    json!({
        "Timestamp": u64::try_from(timestamp_ms).unwrap_or(u64::MAX),
        "CloudWatchMetrics": [{
            "Namespace": namespace,
            "Dimensions": [["Rotator", "Step"]],
            "Metrics": metrics,
        }],
    })
}

/// What breaks the Embedded Metric Format specification's rules in a log line (empty: a valid
/// EMF document). For tests, here and end to end, and for anyone checking a log by hand.
///
/// The rules checked: the line is a JSON object; `_aws` is an object with an integer
/// `Timestamp` (milliseconds since the epoch, so after 2001) and a non-empty `CloudWatchMetrics`
/// array of directives; each directive has only `Namespace` (1 to 255 characters),
/// `Dimensions` (an array of dimension sets, each an array of at most 30 names) and `Metrics`
/// (1 to 100 definitions of a `Name` and optional `Unit` among CloudWatch's units and
/// `StorageResolution` 1 or 60); every dimension named is a top-level string member (at most
/// 1024 characters) and every metric named a top-level number or array of at most 100 numbers.
pub fn emf_problems(line: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    const UNITS: [&str; 27] = [
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];
    let mut problems = Vec::new();
    let Some(root) = line.as_object() else {
        return vec!["the line is not a JSON object".to_owned()];
    };
    let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
        return vec!["_aws is missing or not an object".to_owned()];
    };
    match aws.get("Timestamp").and_then(Value::as_u64) {
        Some(ms) if ms > 978_307_200_000 => {}
        _ => problems.push("_aws.Timestamp is not an integer of epoch milliseconds".to_owned()),
    }
    let directives = aws.get("CloudWatchMetrics").and_then(Value::as_array);
    let Some(directives) = directives.filter(|list| !list.is_empty()) else {
        problems.push("_aws.CloudWatchMetrics is not a non-empty array".to_owned());
        return problems;
    };
    for directive in directives {
        let Some(directive) = directive.as_object() else {
            problems.push("a directive is not an object".to_owned());
            continue;
        };
        for key in directive.keys() {
            if !["Namespace", "Dimensions", "Metrics"].contains(&key.as_str()) {
                problems.push(format!("a directive has an unknown member {key}"));
            }
        }
        match directive.get("Namespace").and_then(Value::as_str) {
            Some(namespace) if (1..=255).contains(&namespace.len()) => {}
            _ => problems.push("Namespace is not a string of 1 to 255 characters".to_owned()),
        }
        let sets = directive.get("Dimensions").and_then(Value::as_array);
        for set in sets.into_iter().flatten() {
            let names = set.as_array().filter(|names| names.len() <= 30);
            let Some(names) = names else {
                problems.push("a dimension set is not an array of at most 30 names".to_owned());
                continue;
            };
            for name in names {
                let name = name.as_str().unwrap_or("(not a string)");
                match root.get(name).and_then(Value::as_str) {
                    Some(value) if (1..=1024).contains(&value.len()) => {}
                    _ => problems.push(format!("dimension {name} is not a top-level string")),
                }
            }
        }
        if sets.is_none() {
            problems.push("Dimensions is not an array".to_owned());
        }
        let metrics = directive.get("Metrics").and_then(Value::as_array);
        let Some(metrics) = metrics.filter(|list| (1..=100).contains(&list.len())) else {
            problems.push("Metrics is not an array of 1 to 100 definitions".to_owned());
            continue;
        };
        for metric in metrics {
            let name = metric.get("Name").and_then(Value::as_str);
            let Some(name) = name else {
                problems.push("a metric definition has no Name".to_owned());
                continue;
            };
            let unit = metric.get("Unit");
            if unit.is_some_and(|unit| !unit.as_str().is_some_and(|unit| UNITS.contains(&unit))) {
                problems.push(format!("metric {name} has an unknown Unit"));
            }
            let resolution = metric.get("StorageResolution").map(Value::as_u64);
            if resolution.is_some_and(|r| r != Some(1) && r != Some(60)) {
                problems.push(format!("metric {name} has a StorageResolution not 1 or 60"));
            }
            let numbers = match root.get(name) {
                Some(Value::Number(_)) => true,
                Some(Value::Array(values)) => {
                    values.len() <= 100 && values.iter().all(Value::is_number)
                }
                _ => false,
            };
            if !numbers {
                problems.push(format!("metric {name} is not a top-level number"));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn metrics() -> Metrics {
        Metrics::new("test-rotator", &MetricsSettings::from_env(&[]).unwrap()).unwrap()
    }

    #[test]
    fn settings_default_to_on_in_our_namespace() {
        let settings = MetricsSettings::from_env(&[]).unwrap();
        assert!(settings.enabled);
        assert_eq!(settings.namespace, DEFAULT_NAMESPACE);
        let named = MetricsSettings::from_env(&[("ROTATION_METRICS_NAMESPACE", " Team/Rotation ")]);
        assert_eq!(named.unwrap().namespace, "Team/Rotation");
    }

    #[test]
    fn the_variable_turns_metrics_off() {
        let off = MetricsSettings::from_env(&[("ROTATION_METRICS", "false")]).unwrap();
        assert!(Metrics::new("r", &off).is_none());
    }

    #[test]
    fn bad_values_name_their_variable() {
        let error = MetricsSettings::from_env(&[("ROTATION_METRICS", "of")]).unwrap_err();
        assert_eq!(error.variable, "ROTATION_METRICS");
        let long = "n".repeat(256);
        for bad in ["AWS/Lambda", "a\"b", "tab\there", long.as_str()] {
            let error =
                MetricsSettings::from_env(&[("ROTATION_METRICS_NAMESPACE", bad)]).unwrap_err();
            assert_eq!(error.variable, "ROTATION_METRICS_NAMESPACE", "{bad}");
        }
    }

    #[test]
    fn rotation_duration_runs_from_create_to_a_successful_finish() {
        let metrics = metrics();
        let start = Instant::now();
        metrics.step_starts("arn:s", "t1", Step::CreateSecret, start);
        // A retried createSecret keeps the first start; other steps start nothing.
        metrics.step_starts(
            "arn:s",
            "t1",
            Step::CreateSecret,
            start + Duration::from_secs(1),
        );
        metrics.step_starts("arn:s", "t2", Step::SetSecret, start);
        let end = start + Duration::from_secs(3);
        let failed = metrics.step_ends("arn:s", "t1", Step::FinishSecret, false, 1.0, end);
        assert_eq!(failed.rotation_ms, None);
        assert_eq!(failed.succeeded, 0);
        let done = metrics.step_ends("arn:s", "t1", Step::FinishSecret, true, 1.0, end);
        assert_eq!(done.rotation_ms, Some(3000.0));
        assert!(done.aws.contains("RotationDuration"));
        // Reported once: the start is forgotten.
        let again = metrics.step_ends("arn:s", "t1", Step::FinishSecret, true, 1.0, end);
        assert_eq!(again.rotation_ms, None);
        assert!(!again.aws.contains("RotationDuration"));
        // Unknown in this process (another token): omitted.
        let other = metrics.step_ends("arn:s", "t2", Step::FinishSecret, true, 1.0, end);
        assert_eq!(other.rotation_ms, None);
    }

    /// A change that breaks a valid line.
    type Change = dyn Fn(&mut serde_json::Value);

    #[test]
    fn the_validator_catches_what_the_specification_forbids() {
        let valid = json!({
            "Rotator": "r", "Step": "setSecret", "StepDuration": 1.5, "StepSucceeded": 1,
            "StepFailed": 0,
            "_aws": metadata(DEFAULT_NAMESPACE, 1_765_000_000_000, false),
        });
        assert_eq!(emf_problems(&valid), Vec::<String>::new());
        let broken = |change: &Change| {
            let mut line = valid.clone();
            change(&mut line);
            emf_problems(&line)
        };
        let cases: [(&str, &Change); 6] = [
            ("dimension Rotator", &|l| l["Rotator"] = json!(1)),
            ("metric StepDuration", &|l| l["StepDuration"] = json!("1.5")),
            ("metric StepFailed", &|l| {
                l.as_object_mut().unwrap().remove("StepFailed");
            }),
            ("Timestamp", &|l| {
                l["_aws"]["Timestamp"] = json!(1_765_000_000.5)
            }),
            ("unknown Unit", &|l| {
                l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("ms");
            }),
            ("unknown member", &|l| {
                l["_aws"]["CloudWatchMetrics"][0]["Extra"] = json!(1)
            }),
        ];
        for (expected, change) in cases {
            let problems = broken(change);
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected}: {problems:?}"
            );
        }
    }

    #[test]
    fn starts_are_bounded() {
        let metrics = metrics();
        let now = Instant::now();
        for n in 0..=STARTS_CAPACITY {
            metrics.step_starts("arn:s", &format!("t{n}"), Step::CreateSecret, now);
        }
        assert_eq!(metrics.starts.len(), STARTS_CAPACITY);
        let first = metrics.step_ends("arn:s", "t0", Step::FinishSecret, true, 1.0, now);
        assert_eq!(first.rotation_ms, None);
    }
}
