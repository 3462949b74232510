//! The error every step returns: one enum a caller can match on.

use crate::config::ConfigError;
use crate::event::EventError;
use crate::secret::SecretError;
use crate::stage::Stage;
use crate::step::Step;
use crate::store::StoreError;
use crate::validate::ValidationError;

/// Why a rotation step failed. No variant ever holds a secret value.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// The event could not be read.
    #[error("invalid rotation event: {0}")]
    Event(#[from] EventError),
    /// The event was rejected before any step (rotation disabled, unknown token, not pending,
    /// unknown step).
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// A Secrets Manager call failed (after its retries).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A secret value is malformed.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A setting is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A version the step needs has no value.
    #[error("secret {arn} has no {stage} value: {hint}")]
    MissingVersion {
        /// The secret.
        arn: String,
        /// The label.
        stage: Stage,
        /// What to do.
        hint: &'static str,
    },
    /// The target (database, API) refused or failed; the message says what and where.
    #[error("{message}")]
    Target {
        /// What failed, naming the secret, the host and the step.
        message: String,
    },
    /// The step did not finish before the Lambda's deadline.
    #[error(
        "{step} for secret {arn} did not finish before the Lambda deadline ({budget_ms} ms left at its start); raise the function timeout or check the network path"
    )]
    DeadlineExceeded {
        /// The step.
        step: Step,
        /// The secret.
        arn: String,
        /// The time the step had.
        budget_ms: u128,
    },
}

impl RotationError {
    /// A target error with a message (that must not contain a secret value).
    pub fn target(message: impl Into<String>) -> Self {
        RotationError::Target {
            message: message.into(),
        }
    }

    /// A short, stable name for the kind of error (the Lambda `errorType`).
    pub fn kind(&self) -> &'static str {
        match self {
            RotationError::Event(_) => "InvalidEvent",
            RotationError::Validation(ValidationError::RotationDisabled { .. }) => {
                "RotationDisabled"
            }
            RotationError::Validation(ValidationError::UnknownVersion { .. }) => "UnknownVersion",
            RotationError::Validation(ValidationError::NotPending { .. }) => "NotPending",
            RotationError::Validation(ValidationError::InvalidStep { .. }) => "InvalidStep",
            RotationError::Store(_) => "SecretsManagerError",
            RotationError::Secret(_) => "InvalidSecret",
            RotationError::Config(_) => "ConfigError",
            RotationError::MissingVersion { .. } => "MissingVersion",
            RotationError::Target { .. } => "TargetError",
            RotationError::DeadlineExceeded { .. } => "DeadlineExceeded",
        }
    }
}

impl From<RotationError> for lambda_runtime::Diagnostic {
    fn from(error: RotationError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: error.kind().to_owned(),
            error_message: error.to_string(),
        }
    }
}
