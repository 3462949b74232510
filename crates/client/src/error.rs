//! What can go wrong reading credentials. No variant carries a secret value.

/// Why credentials could not be read, or were all refused.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A Secrets Manager call failed (after the SDK's own retries).
    #[error("reading {stage} of secret {secret_id} from Secrets Manager failed: {reason}")]
    SecretsManager {
        /// The secret.
        secret_id: String,
        /// The label read (`AWSCURRENT` or `AWSPENDING`).
        stage: &'static str,
        /// The SDK's error, without any value.
        reason: String,
    },
    /// The version has no `SecretString` (a binary secret).
    #[error("{stage} of secret {secret_id} has no SecretString")]
    NoSecretString {
        /// The secret.
        secret_id: String,
        /// The label read.
        stage: &'static str,
    },
    /// The value is not a JSON object.
    #[error("the value of secret {secret_id} is not a JSON object ({reason})")]
    NotJson {
        /// The secret.
        secret_id: String,
        /// Where the text stops being JSON (a position, never the text).
        reason: String,
    },
    /// A field of the value is missing or of the wrong type.
    #[error("the value of secret {secret_id} has a bad {field:?}: {problem}")]
    InvalidField {
        /// The secret.
        secret_id: String,
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Every version worth trying was refused by the target (the current one, a fresh read of
    /// `AWSCURRENT`, and `AWSPENDING` when there is one). New attempts within the cool-down are
    /// answered with this error without logging in again.
    #[error(
        "the target refused every version of secret {secret_id} tried ({tried}); check that the \
         secret holds the target's password (a rotation may have failed: see the runbook)"
    )]
    Refused {
        /// The secret.
        secret_id: String,
        /// The version ids tried, comma-separated.
        tried: String,
    },
}
