//! Validation before any step, in AWS's order (pure: decided from `DescribeSecret` alone).
//!
//! 1. rotation must not be disabled (`RotationEnabled` present and false is an error);
//! 2. the token must be a version of the secret;
//! 3. a token that already carries `AWSCURRENT` is a quiet success for every step;
//! 4. the token must carry `AWSPENDING`;
//! 5. only then is the step name checked.

use crate::event::{RequestedStep, VersionToken};
use crate::stage::{Stage, VersionStages};
use crate::step::Step;

/// What `DescribeSecret` says about a secret, as far as rotation cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMetadata {
    /// The secret's ARN (errors and logs name it).
    pub arn: String,
    /// `RotationEnabled`, when the service reports it.
    pub rotation_enabled: Option<bool>,
    /// `VersionIdsToStages`.
    pub versions: VersionStages,
    /// `RotationLambdaARN`, when the service reports it.
    pub rotation_lambda_arn: Option<String>,
}

/// What the framework must do with an event that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The token is already `AWSCURRENT`: succeed without doing anything.
    AlreadyCurrent,
    /// Run the step.
    Run(Step),
}

/// Why an event was rejected before any step ran. The messages are AWS's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// `RotationEnabled` is false.
    #[error("Secret {arn} is not enabled for rotation")]
    RotationDisabled {
        /// The secret.
        arn: String,
    },
    /// The token is not a version of the secret.
    #[error("Secret version {token} has no stage for rotation of secret {arn}.")]
    UnknownVersion {
        /// The secret.
        arn: String,
        /// The event's token.
        token: VersionToken,
    },
    /// The token is a version, but not the pending one.
    #[error("Secret version {token} not set as AWSPENDING for rotation of secret {arn}.")]
    NotPending {
        /// The secret.
        arn: String,
        /// The event's token.
        token: VersionToken,
    },
    /// The step name is not one of the four.
    #[error(
        "Invalid step parameter {step} for secret {arn} (expected createSecret, setSecret, testSecret or finishSecret)"
    )]
    InvalidStep {
        /// The secret.
        arn: String,
        /// The name received.
        step: String,
    },
}

/// Decides what to do with an event, in AWS's order.
pub fn validate(
    metadata: &SecretMetadata,
    token: &VersionToken,
    step: &RequestedStep,
) -> Result<Decision, ValidationError> {
    let arn = || metadata.arn.clone();
    if metadata.rotation_enabled == Some(false) {
        return Err(ValidationError::RotationDisabled { arn: arn() });
    }
    if metadata.versions.labels_of(token).is_none() {
        return Err(ValidationError::UnknownVersion {
            arn: arn(),
            token: token.clone(),
        });
    }
    if metadata.versions.has(token, Stage::Current) {
        return Ok(Decision::AlreadyCurrent);
    }
    if !metadata.versions.has(token, Stage::Pending) {
        return Err(ValidationError::NotPending {
            arn: arn(),
            token: token.clone(),
        });
    }
    match step {
        RequestedStep::Known(step) => Ok(Decision::Run(*step)),
        RequestedStep::Unknown(name) => Err(ValidationError::InvalidStep {
            arn: arn(),
            step: name.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(enabled: Option<bool>, versions: VersionStages) -> SecretMetadata {
        SecretMetadata {
            arn: "arn:secret".into(),
            rotation_enabled: enabled,
            versions,
            rotation_lambda_arn: None,
        }
    }

    fn rotating() -> VersionStages {
        VersionStages::new()
            .with("old", &["AWSPREVIOUS"])
            .with("cur", &["AWSCURRENT"])
            .with("new", &["AWSPENDING"])
    }

    fn known(step: Step) -> RequestedStep {
        RequestedStep::Known(step)
    }

    #[test]
    fn validation_table() {
        use Decision::*;
        let unknown = RequestedStep::Unknown("bogus".into());
        let finished = VersionStages::new()
            .with("cur", &["AWSPREVIOUS"])
            .with("new", &["AWSCURRENT", "AWSPENDING"]);
        type Expected = Result<Decision, fn(&ValidationError) -> bool>;
        let table: Vec<(&str, SecretMetadata, &str, RequestedStep, Expected)> = vec![
            (
                "pending token runs the step",
                metadata(Some(true), rotating()),
                "new",
                known(Step::CreateSecret),
                Ok(Run(Step::CreateSecret)),
            ),
            (
                "absent RotationEnabled is fine",
                metadata(None, rotating()),
                "new",
                known(Step::SetSecret),
                Ok(Run(Step::SetSecret)),
            ),
            (
                "rotation disabled",
                metadata(Some(false), rotating()),
                "new",
                known(Step::CreateSecret),
                Err(|e| matches!(e, ValidationError::RotationDisabled { .. })),
            ),
            (
                "disabled wins over current",
                metadata(Some(false), rotating()),
                "cur",
                known(Step::CreateSecret),
                Err(|e| matches!(e, ValidationError::RotationDisabled { .. })),
            ),
            (
                "unknown token",
                metadata(Some(true), rotating()),
                "nope",
                known(Step::TestSecret),
                Err(|e| matches!(e, ValidationError::UnknownVersion { .. })),
            ),
            (
                "current token is a no-op",
                metadata(Some(true), rotating()),
                "cur",
                known(Step::FinishSecret),
                Ok(AlreadyCurrent),
            ),
            (
                "current and pending is a no-op",
                metadata(Some(true), finished.clone()),
                "new",
                known(Step::CreateSecret),
                Ok(AlreadyCurrent),
            ),
            (
                "current token with unknown step is a no-op",
                metadata(Some(true), rotating()),
                "cur",
                unknown.clone(),
                Ok(AlreadyCurrent),
            ),
            (
                "previous token is not pending",
                metadata(Some(true), rotating()),
                "old",
                known(Step::SetSecret),
                Err(|e| matches!(e, ValidationError::NotPending { .. })),
            ),
            (
                "unknown token beats unknown step",
                metadata(Some(true), rotating()),
                "nope",
                unknown.clone(),
                Err(|e| matches!(e, ValidationError::UnknownVersion { .. })),
            ),
            (
                "unknown step on pending token",
                metadata(Some(true), rotating()),
                "new",
                unknown,
                Err(|e| matches!(e, ValidationError::InvalidStep { .. })),
            ),
        ];
        for (name, metadata, token, step, expected) in table {
            let got = validate(&metadata, &VersionToken::new(token), &step);
            match (got, expected) {
                (Ok(got), Ok(expected)) => assert_eq!(got, expected, "{name}"),
                (Err(got), Err(check)) => assert!(check(&got), "{name}: {got:?}"),
                (got, _) => panic!("{name}: unexpected {got:?}"),
            }
        }
    }

    #[test]
    fn messages_match_aws() {
        let token = VersionToken::new("t");
        let m = metadata(Some(false), rotating());
        assert_eq!(
            validate(&m, &token, &known(Step::CreateSecret))
                .unwrap_err()
                .to_string(),
            "Secret arn:secret is not enabled for rotation"
        );
        let m = metadata(Some(true), rotating());
        assert_eq!(
            validate(&m, &token, &known(Step::CreateSecret))
                .unwrap_err()
                .to_string(),
            "Secret version t has no stage for rotation of secret arn:secret."
        );
        assert_eq!(
            validate(&m, &VersionToken::new("old"), &known(Step::CreateSecret))
                .unwrap_err()
                .to_string(),
            "Secret version old not set as AWSPENDING for rotation of secret arn:secret."
        );
    }
}
