//! Secrets Manager's part of a rotation, played against moto.
//!
//! On AWS, `RotateSecret` creates the pending version and then invokes the rotation Lambda
//! once per step. moto stores secrets faithfully but cannot invoke a Lambda, so
//! [`SecretsManagerDriver`] asks moto for the first half and does the second half itself through a
//! [`LocalFunction`].
//!
//! # What moto 5.2.1 does, and how the driver copes
//!
//! Observed against `moto_server` 5.2.1:
//!
//! - `RotateSecret` with a `RotationLambdaARN` moto does not know first does its own part: it
//!   attaches `AWSPENDING` to a new version whose id is the `ClientRequestToken`, moves
//!   `AWSPENDING` off any other version, records the ARN and the rules, and sets
//!   `RotationEnabled` (only when `AutomaticallyAfterDays` is above zero, so the driver always
//!   sends 30). Then it fails to find the Lambda and answers `ResourceNotFoundException`
//!   ("Resource not found for ARN ..."). The driver treats that answer as success and checks
//!   the labels with `DescribeSecret` instead.
//! - The new version has no value only with `RotateImmediately=true` (the default). With
//!   `false`, moto copies the current value into it, and `createSecret` would then believe it
//!   had already run; the driver always sends `true`.
//! - `RotateSecret` refuses ("Previous rotation request is still in progress") while
//!   `AWSPENDING` shares a version with `AWSCURRENT`, which is how a finished rotation ends
//!   (AWS documents that state as valid and clears the label itself). The driver removes
//!   `AWSPENDING` from that version with `UpdateSecretVersionStage` first.
//!   moto inverts AWS's rule here: AWS refuses while `AWSPENDING` sits on a version *without*
//!   `AWSCURRENT` (an unfinished rotation), whereas moto then happily moves `AWSPENDING` to a
//!   new token, and even overwrites an existing version given the same token. The driver never
//!   asks it to: an unfinished rotation is resumed with its token, as AWS re-attempts it.
//! - `RotateSecret` *without* a Lambda ARN makes moto fake a whole rotation on its own (it
//!   copies the value and moves `AWSCURRENT`); the driver always sends the ARN.
//! - Versions that lost all their labels stay listed in `VersionIdsToStages` with an empty
//!   list; [`SecretsManagerDriver::labels`] leaves them out, as AWS's `DescribeSecret` does.
//! - moto does not check `RotationToken` on `PutSecretValue`; the driver's events carry none
//!   (AWS adds one, mainly for cross-account rotation).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_secretsmanager::error::{DisplayErrorContext, SdkError};
use aws_sdk_secretsmanager::types::RotationRulesType;
use rotation_core::Step;
use serde_json::{Value, json};

use crate::function::{DEFAULT_FUNCTION_NAME, Invocation, LocalFunction, function_arn};
use crate::{LocalError, REGION, new_uuid};

const AWSCURRENT: &str = "AWSCURRENT";
const AWSPENDING: &str = "AWSPENDING";

/// Plays Secrets Manager's rotation driver: starts rotations and sends the step events.
#[derive(Clone, Debug)]
pub struct SecretsManagerDriver {
    client: Client,
}

impl SecretsManagerDriver {
    /// A driver talking to `endpoint` (e.g. moto's `http://127.0.0.1:5123`) in `us-east-1`
    /// with static test credentials.
    pub async fn new(endpoint: &str) -> SecretsManagerDriver {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "rotation-local",
            ))
            .endpoint_url(endpoint)
            .load()
            .await;
        SecretsManagerDriver::from_client(Client::new(&config))
    }

    /// A driver using an existing client.
    pub fn from_client(client: Client) -> SecretsManagerDriver {
        SecretsManagerDriver { client }
    }

    /// The Secrets Manager client, for setting up and inspecting secrets.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Starts a rotation as Secrets Manager does and returns its token (the new version id).
    ///
    /// If a version carries `AWSPENDING` without `AWSCURRENT`, a rotation is unfinished and its
    /// token is returned, because Secrets Manager re-attempts the previous rotation rather than
    /// starting a new one. Otherwise `RotateSecret` creates a value-less `AWSPENDING` version
    /// (see the module docs for moto's quirks). The recorded Lambda ARN names the function
    /// `rotation-local`; [`SecretsManagerDriver::rotate`] uses the function's own name.
    pub async fn start_rotation(&self, secret_id: &str) -> Result<String, LocalError> {
        self.start_rotation_for(secret_id, DEFAULT_FUNCTION_NAME)
            .await
    }

    async fn start_rotation_for(
        &self,
        secret_id: &str,
        function_name: &str,
    ) -> Result<String, LocalError> {
        match pending(&self.labels(secret_id).await?) {
            Pending::Unfinished(token) => return Ok(token),
            Pending::OnCurrent(version) => self.clear_pending(secret_id, &version).await?,
            Pending::Absent => {}
        }
        let token = new_uuid();
        self.rotate_secret(secret_id, &token, function_name).await?;
        let labels = self.labels(secret_id).await?;
        match pending(&labels) {
            Pending::Unfinished(pending) if pending == token => Ok(token),
            _ => Err(LocalError::RotationNotStarted {
                secret_id: secret_id.to_owned(),
                token,
                labels: format!("{labels:?}"),
            }),
        }
    }

    /// The event Secrets Manager sends for `step` (a [`Step`], or any name, to send one that
    /// is not a step).
    pub fn event(step: impl AsRef<str>, secret_id: &str, token: &str) -> Value {
        json!({"Step": step.as_ref(), "SecretId": secret_id, "ClientRequestToken": token})
    }

    /// Starts (or resumes) a rotation and runs the four steps through `function`, stopping at
    /// the first step that fails.
    ///
    /// `Err` means the rotation could not be started; a failed step is in the report.
    pub async fn rotate(
        &self,
        function: &LocalFunction,
        secret_id: &str,
    ) -> Result<RotationReport, LocalError> {
        let token = self.start_rotation_for(secret_id, function.name()).await?;
        Ok(self
            .run_steps(function, secret_id, &token, &Step::ALL)
            .await)
    }

    /// Runs `steps` with a given token through `function`, stopping at the first that fails
    /// (to resume a rotation, or to replay a step as a retry would). The steps are [`Step`]s, or
    /// any names.
    pub async fn run_steps<S: AsRef<str>>(
        &self,
        function: &LocalFunction,
        secret_id: &str,
        token: &str,
        steps: &[S],
    ) -> RotationReport {
        let mut report = RotationReport {
            secret_id: secret_id.to_owned(),
            token: token.to_owned(),
            steps: Vec::with_capacity(steps.len()),
        };
        for step in steps {
            let invocation = function
                .invoke(&SecretsManagerDriver::event(step, secret_id, token))
                .await;
            let failed = !invocation.outcome.is_success();
            report.steps.push(StepReport {
                step: step.as_ref().to_owned(),
                invocation,
            });
            if failed {
                break;
            }
        }
        report
    }

    /// The secret's versions and their staging labels (sorted), leaving out versions without
    /// labels.
    pub async fn labels(
        &self,
        secret_id: &str,
    ) -> Result<BTreeMap<String, Vec<String>>, LocalError> {
        let described = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|error| sdk_error("DescribeSecret", secret_id, error))?;
        let labels = described
            .version_ids_to_stages()
            .into_iter()
            .flatten()
            .filter(|(_, stages)| !stages.is_empty())
            .map(|(version, stages)| {
                let mut stages = stages.clone();
                stages.sort();
                (version.clone(), stages)
            })
            .collect();
        Ok(labels)
    }

    async fn clear_pending(&self, secret_id: &str, version: &str) -> Result<(), LocalError> {
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(AWSPENDING)
            .remove_from_version_id(version)
            .send()
            .await
            .map_err(|error| sdk_error("UpdateSecretVersionStage", secret_id, error))?;
        Ok(())
    }

    async fn rotate_secret(
        &self,
        secret_id: &str,
        token: &str,
        function_name: &str,
    ) -> Result<(), LocalError> {
        let rules = RotationRulesType::builder()
            .automatically_after_days(30)
            .build();
        let rotated = self
            .client
            .rotate_secret()
            .secret_id(secret_id)
            .client_request_token(token)
            .rotation_lambda_arn(function_arn(function_name))
            .rotation_rules(rules)
            .rotate_immediately(true)
            .send()
            .await;
        match rotated {
            Ok(_) => Ok(()),
            // moto has done its part and then found no Lambda to invoke: expected.
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|error| error.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(error) => Err(sdk_error("RotateSecret", secret_id, error)),
        }
    }
}

/// Where `AWSPENDING` is, which decides how a rotation starts.
#[derive(Debug, PartialEq)]
enum Pending {
    /// Nowhere: a new rotation can start.
    Absent,
    /// With `AWSCURRENT` on this version: the last rotation finished.
    OnCurrent(String),
    /// Alone on this version: a rotation with this token is unfinished.
    Unfinished(String),
}

fn pending(labels: &BTreeMap<String, Vec<String>>) -> Pending {
    let has = |stages: &[String], label: &str| stages.iter().any(|stage| stage == label);
    match labels.iter().find(|(_, stages)| has(stages, AWSPENDING)) {
        None => Pending::Absent,
        Some((version, stages)) if has(stages, AWSCURRENT) => Pending::OnCurrent(version.clone()),
        Some((version, _)) => Pending::Unfinished(version.clone()),
    }
}

fn sdk_error<E, R>(operation: &'static str, secret_id: &str, error: SdkError<E, R>) -> LocalError
where
    E: std::error::Error + 'static,
    R: fmt::Debug,
{
    LocalError::SecretsManager {
        operation,
        secret_id: secret_id.to_owned(),
        message: DisplayErrorContext(&error).to_string(),
    }
}

/// What happened in one rotation: the token and every step that ran.
#[derive(Clone, Debug)]
pub struct RotationReport {
    /// The secret rotated.
    pub secret_id: String,
    /// The rotation's token (the pending version id).
    pub token: String,
    /// The steps that ran, in order; the last one failed if the rotation did not succeed.
    pub steps: Vec<StepReport>,
}

/// One step of a rotation and how its invocation went.
#[derive(Clone, Debug)]
pub struct StepReport {
    /// The step name, e.g. `createSecret`.
    pub step: String,
    /// The invocation that ran it.
    pub invocation: Invocation,
}

impl RotationReport {
    /// Whether steps ran and all of them succeeded.
    pub fn succeeded(&self) -> bool {
        !self.steps.is_empty() && self.failure().is_none()
    }

    /// The time all steps took together.
    pub fn total(&self) -> Duration {
        self.steps.iter().map(|step| step.invocation.duration).sum()
    }

    /// The step that failed, if one did.
    pub fn failure(&self) -> Option<&StepReport> {
        self.steps
            .iter()
            .find(|step| !step.invocation.outcome.is_success())
    }
}

impl fmt::Display for RotationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "rotation of {} with token {}",
            self.secret_id, self.token
        )?;
        writeln!(f, "  {:<14} {:>8}  outcome", "step", "ms")?;
        for step in &self.steps {
            writeln!(
                f,
                "  {:<14} {:>8}  {}",
                step.step,
                step.invocation.duration.as_millis(),
                step.invocation.outcome
            )?;
        }
        let verdict = match (self.succeeded(), self.failure()) {
            (true, _) => "succeeded".to_owned(),
            (false, Some(failed)) => format!("failed at {}", failed.step),
            (false, None) => "no step ran".to_owned(),
        };
        write!(
            f,
            "  {:<14} {:>8}  {verdict}",
            "total",
            self.total().as_millis()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;

    type Labels = BTreeMap<String, Vec<String>>;

    fn labels(entries: &[(&str, &[&str])]) -> Labels {
        entries
            .iter()
            .map(|(version, stages)| {
                (
                    (*version).to_owned(),
                    stages.iter().map(|stage| (*stage).to_owned()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn pending_decides_how_a_rotation_starts() {
        let cases: &[(&str, Labels, Pending)] = &[
            (
                "first rotation",
                labels(&[("v1", &["AWSCURRENT"])]),
                Pending::Absent,
            ),
            (
                "finished rotation keeps AWSPENDING on the current version",
                labels(&[
                    ("v1", &["AWSPREVIOUS"]),
                    ("v2", &["AWSCURRENT", "AWSPENDING"]),
                ]),
                Pending::OnCurrent("v2".into()),
            ),
            (
                "unfinished rotation",
                labels(&[("v1", &["AWSCURRENT"]), ("v2", &["AWSPENDING"])]),
                Pending::Unfinished("v2".into()),
            ),
        ];
        for (scenario, labels, expected) in cases {
            assert_eq!(&pending(labels), expected, "{scenario}");
        }
    }

    #[test]
    fn event_is_what_secrets_manager_sends() {
        assert_eq!(
            SecretsManagerDriver::event("setSecret", "my-secret", "tok"),
            json!({"Step": "setSecret", "SecretId": "my-secret", "ClientRequestToken": "tok"})
        );
    }

    fn step(name: &str, outcome: Outcome, ms: u64) -> StepReport {
        StepReport {
            step: name.into(),
            invocation: Invocation {
                outcome,
                duration: Duration::from_millis(ms),
            },
        }
    }

    #[test]
    fn report_names_the_failed_step_and_sums_durations() {
        let report = RotationReport {
            secret_id: "s".into(),
            token: "t".into(),
            steps: vec![
                step("createSecret", Outcome::Success(Value::Null), 10),
                step(
                    "setSecret",
                    Outcome::Error {
                        error_type: "DbDown".into(),
                        error_message: "connection refused".into(),
                    },
                    5,
                ),
            ],
        };
        assert!(!report.succeeded());
        assert_eq!(report.failure().map(|s| s.step.as_str()), Some("setSecret"));
        assert_eq!(report.total(), Duration::from_millis(15));
        let table = report.to_string();
        assert!(
            table.contains("error DbDown: connection refused"),
            "{table}"
        );
        assert!(table.contains("failed at setSecret"), "{table}");
    }

    #[test]
    fn an_empty_report_did_not_succeed() {
        let report = RotationReport {
            secret_id: "s".into(),
            token: "t".into(),
            steps: Vec::new(),
        };
        assert!(!report.succeeded());
        assert!(report.to_string().contains("no step ran"));
    }
}
