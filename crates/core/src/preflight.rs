//! The preflight: a read-only check of a secret, run by the rotation function itself (where
//! the rotation really runs: its network, its role, its variables), before rotation is turned
//! on or after it failed.
//!
//! The operator invokes the function with `{"preflight": {"SecretId": "<ARN or name>"}}`
//! (`aws lambda invoke`); the function changes nothing and answers a [`Report`], check by
//! check, each passed or failed with the fix. The framework checks Secrets Manager (reachable
//! from the function's network, the secret readable, no rotation left half-done); the rotator
//! adds its target's checks ([`crate::Rotator::preflight`]) through a context whose store
//! refuses every write ([`ReadOnlyStore`]).
//!
//! A report holds no secret value: a check's text comes from the same errors a rotation step
//! reports, which never contain one.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Value, json};

use crate::event::{EventError, RotationToken, VersionToken};
use crate::secret::SecretString;
use crate::stage::Stage;
use crate::store::{SecretStore, StoreError, VersionRef};
use crate::validate::SecretMetadata;
use crate::versions::SecretVersion;

/// The key of a preflight payload: `{"preflight": {"SecretId": "..."}}`.
pub const PREFLIGHT_KEY: &str = "preflight";

/// How long the Secrets Manager check waits for `DescribeSecret` before it says the service is
/// out of reach (the SDK's own retries would take 20 s).
const REACH_LIMIT: Duration = Duration::from_secs(8);

/// A preflight request: which secret to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightRequest {
    /// The secret's ARN or name, as the operator gave it.
    pub secret_id: String,
}

impl PreflightRequest {
    /// The request a payload holds: `None` when the payload is not a preflight (a rotation
    /// event), an error when it is one but malformed, or mixes a preflight with a rotation
    /// event's fields.
    pub fn from_payload(payload: &Value) -> Option<Result<PreflightRequest, EventError>> {
        let object = payload.as_object()?;
        let request = object.get(PREFLIGHT_KEY)?;
        Some(Self::parse(object, request))
    }

    fn parse(
        object: &serde_json::Map<String, Value>,
        request: &Value,
    ) -> Result<PreflightRequest, EventError> {
        if object.len() != 1 {
            return Err(EventError::Preflight(
                "a preflight payload holds only the \"preflight\" key, not a rotation event's \
                 fields",
            ));
        }
        match request.get("SecretId") {
            Some(Value::String(id)) if !id.trim().is_empty() => Ok(PreflightRequest {
                secret_id: id.trim().to_owned(),
            }),
            _ => Err(EventError::Preflight(
                "expected {\"preflight\": {\"SecretId\": \"<secret ARN or name>\"}}",
            )),
        }
    }

    /// The payload for this request.
    pub fn to_json(&self) -> Value {
        json!({ PREFLIGHT_KEY: { "SecretId": self.secret_id } })
    }
}

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The check passed.
    Pass,
    /// Not a failure, but worth the operator's attention (the detail says why).
    Warn,
    /// Rotation would fail: the fix says what to do.
    Fail,
    /// Not run: a check it depends on failed, or it does not apply.
    Skip,
}

/// One check of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// A stable name (`secrets-manager`, `secret-json`, `current-login`, ...).
    pub check: &'static str,
    /// How it ended.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do, for a failure or a warning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The checks of one preflight, in the order they ran.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    checks: Vec<Check>,
}

impl Report {
    /// Records a passed check.
    pub fn pass(&mut self, check: &'static str, detail: impl Into<String>) {
        self.push(check, Status::Pass, detail.into(), None);
    }

    /// Records a warning, with what to do about it.
    pub fn warn(&mut self, check: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.push(check, Status::Warn, detail.into(), Some(fix.into()));
    }

    /// Records a failed check, with its fix.
    pub fn fail(&mut self, check: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.push(check, Status::Fail, detail.into(), Some(fix.into()));
    }

    /// Records a check that did not run, and why.
    pub fn skip(&mut self, check: &'static str, why: impl Into<String>) {
        self.push(check, Status::Skip, why.into(), None);
    }

    fn push(&mut self, check: &'static str, status: Status, detail: String, fix: Option<String>) {
        self.checks.push(Check {
            check,
            status,
            detail,
            fix,
        });
    }

    /// The checks so far.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// The status of a named check (its last entry), if it ran.
    pub fn status_of(&self, check: &str) -> Option<Status> {
        self.checks
            .iter()
            .rev()
            .find(|entry| entry.check == check)
            .map(|entry| entry.status)
    }

    /// Whether no check failed.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|check| check.status != Status::Fail)
    }

    /// The JSON answer: `{"preflight": {"secret", "rotator", "ok", "checks": [...]}}`.
    pub fn to_json(&self, secret: &str, rotator: &str) -> Value {
        json!({
            PREFLIGHT_KEY: {
                "secret": secret,
                "rotator": rotator,
                "ok": self.ok(),
                "checks": self.checks,
            }
        })
    }
}

/// The framework's checks of Secrets Manager, before the rotator's: reachable, the secret
/// described, its rotation settings and labels sound, its current value readable. Returns the
/// secret's metadata and current value when the rotator's checks can run.
pub(crate) async fn secrets_manager_checks(
    store: &dyn SecretStore,
    request: &PreflightRequest,
    function_arn: Option<&str>,
    report: &mut Report,
) -> Option<(SecretMetadata, SecretVersion)> {
    let id = request.secret_id.as_str();
    let started = Instant::now();
    let described = tokio::time::timeout(REACH_LIMIT, store.describe(id)).await;
    let metadata = match described {
        Ok(Ok(metadata)) => metadata,
        Ok(Err(error)) => {
            report.fail("secrets-manager", error.to_string(), describe_fix(&error));
            return None;
        }
        Err(_) => {
            report.fail(
                "secrets-manager",
                format!(
                    "DescribeSecret of {id} did not answer within {} s",
                    REACH_LIMIT.as_secs()
                ),
                unreachable_fix(),
            );
            return None;
        }
    };
    report.pass(
        "secrets-manager",
        format!(
            "DescribeSecret answered in {} ms: {}",
            started.elapsed().as_millis(),
            metadata.arn
        ),
    );
    rotation_settings(&metadata, function_arn, report);
    unfinished_rotation(&metadata, report);
    let current = match store
        .get_value(&metadata.arn, &VersionRef::Stage(Stage::Current))
        .await
    {
        Ok(Some(current)) => current,
        Ok(None) => {
            report.fail(
                "current-value",
                format!("{} has no AWSCURRENT value", metadata.arn),
                format!(
                    "store the initial value first: aws secretsmanager put-secret-value \
                     --secret-id {} --secret-string file://secret.json",
                    metadata.arn
                ),
            );
            return None;
        }
        Err(error) => {
            let fix = read_fix(&error, &metadata.arn);
            report.fail("current-value", error.to_string(), fix);
            return None;
        }
    };
    report.pass(
        "current-value",
        format!("AWSCURRENT is version {}", current.version_id),
    );
    Some((metadata, current))
}

/// Whether rotation is on, and through which function.
fn rotation_settings(metadata: &SecretMetadata, function_arn: Option<&str>, report: &mut Report) {
    let arn = &metadata.arn;
    let configured = metadata.rotation_lambda_arn.as_deref();
    let this = function_arn.map(without_qualifier);
    match (metadata.rotation_enabled, configured, this) {
        (Some(true), Some(configured), Some(this)) if without_qualifier(configured) != this => {
            report.warn(
                "rotation",
                format!("rotation is on, through another function: {configured}"),
                format!(
                    "to rotate with this function: aws secretsmanager rotate-secret \
                     --secret-id {arn} --rotation-lambda-arn {this}"
                ),
            );
        }
        (Some(true), _, _) => report.pass("rotation", "rotation is on, through this function"),
        _ => report.pass(
            "rotation",
            format!(
                "rotation is off; once every check passes, turn it on: aws secretsmanager \
                 rotate-secret --secret-id {arn} --rotation-lambda-arn {} \
                 --rotation-rules AutomaticallyAfterDays=30",
                this.unwrap_or("<this function's ARN>")
            ),
        ),
    }
}

/// A function ARN without its version or alias (`...:function:name:$LATEST`).
fn without_qualifier(arn: &str) -> &str {
    let parts: Vec<&str> = arn.splitn(8, ':').collect();
    if parts.len() == 8 && parts[5] == "function" {
        &arn[..arn.len() - parts[7].len() - 1]
    } else {
        arn
    }
}

/// A version labelled `AWSPENDING` but not `AWSCURRENT`: a rotation running, or one that
/// stopped half-way (Secrets Manager starts no new rotation while it is there).
fn unfinished_rotation(metadata: &SecretMetadata, report: &mut Report) {
    let pending: Vec<&str> = metadata
        .versions
        .iter()
        .filter(|(_, labels)| {
            let has = |stage: Stage| labels.iter().any(|label| label == stage.as_str());
            has(Stage::Pending) && !has(Stage::Current)
        })
        .map(|(version, _)| version)
        .collect();
    let arn = &metadata.arn;
    match pending.as_slice() {
        [] => report.pass("pending-version", "no rotation is in progress"),
        [version, ..] => report.fail(
            "pending-version",
            format!(
                "version {version} holds AWSPENDING but not AWSCURRENT: a rotation is running, \
                 or one stopped half-way (a new rotation cannot start while it is there)"
            ),
            format!(
                "if no rotation is running, see the function's log for the step that failed \
                 and fix its cause, then either retry the same rotation (aws secretsmanager \
                 rotate-secret --secret-id {arn}) or end it: aws secretsmanager \
                 cancel-rotate-secret --secret-id {arn} && aws secretsmanager \
                 update-secret-version-stage --secret-id {arn} --version-stage AWSPENDING \
                 --remove-from-version-id {version}"
            ),
        ),
    }
}

fn describe_fix(error: &StoreError) -> String {
    let id = &error.secret;
    match error.code.as_deref() {
        Some("AccessDeniedException") => format!(
            "the function's role needs secretsmanager:DescribeSecret on {id}; for a secret of \
             another account, its resource policy must also allow this role"
        ),
        Some("ResourceNotFoundException") => format!(
            "no secret {id} in this function's account and Region: give the secret's full \
             ARN (needed for a secret in another account)"
        ),
        Some(_) => "see the error code in Secrets Manager's documentation".to_owned(),
        None => unreachable_fix(),
    }
}

fn read_fix(error: &StoreError, arn: &str) -> String {
    match error.code.as_deref() {
        Some("AccessDeniedException") => format!(
            "the function's role needs secretsmanager:GetSecretValue on {arn} and kms:Decrypt \
             on the secret's KMS key (the key policy must allow it too, for a key of another \
             account)"
        ),
        Some("DecryptionFailure") => format!(
            "the function cannot use {arn}'s KMS key: allow kms:Decrypt to the function's role \
             in the key policy"
        ),
        _ => unreachable_fix(),
    }
}

fn unreachable_fix() -> String {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "<region>".to_owned());
    format!(
        "Secrets Manager is out of reach from the function's network. A function in a VPC \
         needs an interface VPC endpoint for com.amazonaws.{region}.secretsmanager (private \
         DNS on, in the function's subnets, its security group allowing HTTPS from the \
         function's) or a route to a NAT gateway"
    )
}

/// A store for the preflight: reads pass through, every write is refused, so no rotator's
/// preflight can change a secret.
pub struct ReadOnlyStore<'a>(pub &'a dyn SecretStore);

fn refused(operation: &'static str, secret_id: &str) -> StoreError {
    StoreError::new(operation, secret_id, "refused: a preflight changes nothing")
}

#[async_trait]
impl SecretStore for ReadOnlyStore<'_> {
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata, StoreError> {
        self.0.describe(secret_id).await
    }

    async fn get_value(
        &self,
        secret_id: &str,
        version: &VersionRef,
    ) -> Result<Option<SecretVersion>, StoreError> {
        self.0.get_value(secret_id, version).await
    }

    async fn tags(&self, secret_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.0.tags(secret_id).await
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        _token: &VersionToken,
        _value: &SecretString,
        _rotation_token: Option<&RotationToken>,
    ) -> Result<(), StoreError> {
        Err(refused("PutSecretValue", secret_id))
    }

    async fn move_current(
        &self,
        secret_id: &str,
        _token: &VersionToken,
        _from_version: Option<&str>,
    ) -> Result<(), StoreError> {
        Err(refused("UpdateSecretVersionStage", secret_id))
    }

    async fn put_current(
        &self,
        secret_id: &str,
        _token: &VersionToken,
        _value: &SecretString,
    ) -> Result<(), StoreError> {
        Err(refused("PutSecretValue", secret_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preflight_payload_is_told_from_a_rotation_event() {
        let event = json!({"Step": "createSecret", "SecretId": "s", "ClientRequestToken": "t"});
        assert!(PreflightRequest::from_payload(&event).is_none());
        let request = json!({"preflight": {"SecretId": " arn:aws:secretsmanager:r:1:secret:s "}});
        let parsed = PreflightRequest::from_payload(&request).unwrap().unwrap();
        assert_eq!(parsed.secret_id, "arn:aws:secretsmanager:r:1:secret:s");
        assert_eq!(
            PreflightRequest::from_payload(&parsed.to_json()),
            Some(Ok(parsed))
        );
        for bad in [
            json!({"preflight": {}}),
            json!({"preflight": {"SecretId": ""}}),
            json!({"preflight": "s"}),
            json!({"preflight": {"SecretId": "s"}, "Step": "setSecret"}),
        ] {
            let problem = PreflightRequest::from_payload(&bad).unwrap().unwrap_err();
            assert!(problem.to_string().contains("preflight"), "{problem}");
        }
    }

    #[test]
    fn a_report_is_ok_until_a_check_fails_and_says_each_status() {
        let mut report = Report::default();
        report.pass("a", "fine");
        report.warn("b", "odd", "look");
        report.skip("c", "needs a");
        assert!(report.ok());
        report.fail("d", "broken", "mend it");
        assert!(!report.ok());
        assert_eq!(report.status_of("b"), Some(Status::Warn));
        let json = report.to_json("arn", "rotator");
        assert_eq!(json["preflight"]["ok"], false);
        assert_eq!(json["preflight"]["checks"][3]["status"], "fail");
        assert_eq!(json["preflight"]["checks"][3]["fix"], "mend it");
        assert!(json["preflight"]["checks"][0].get("fix").is_none());
    }

    #[test]
    fn a_function_arn_loses_its_qualifier_only() {
        let bare = "arn:aws:lambda:us-east-1:123456789012:function:rotator";
        assert_eq!(without_qualifier(bare), bare);
        assert_eq!(without_qualifier(&format!("{bare}:$LATEST")), bare);
        assert_eq!(without_qualifier(&format!("{bare}:live")), bare);
    }
}
