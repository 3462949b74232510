//! What the kit needs to know about a rotator and the system whose credentials it rotates.

use std::path::PathBuf;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;

/// Any error a [`Target`] reports; its text ends up in the contract failure.
pub type TargetError = Box<dyn std::error::Error + Send + Sync>;

/// What happens to the credentials a rotation replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterRotation {
    /// They stop working at once (single-user rotation: one account, a new password).
    PreviousRevoked,
    /// They keep working until the next rotation replaces them (alternating users, API keys
    /// kept for an overlap, dual passwords).
    PreviousKept,
}

/// A rotator under test and the system it rotates credentials for.
///
/// The kit runs [`Target::binary`] under an emulated Lambda Runtime API, with the Secrets
/// Manager endpoint pointed at moto, and asks the target to create accounts and to check
/// credentials. Implement it once per rotator in the rotator's tests; see the crate docs for a
/// complete example.
#[async_trait]
pub trait Target: Send + Sync {
    /// The rotator binary to run (built before the test runs, e.g. by `cargo build`).
    fn binary(&self) -> PathBuf;

    /// Extra environment variables for the rotator, besides the ones the kit sets
    /// (`SECRETS_MANAGER_ENDPOINT`, `AWS_ENDPOINT_URL`, region, test credentials and
    /// `RUST_LOG=trace`); these win over the kit's.
    fn env(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Creates a fresh account on the target that works right away, and returns the secret
    /// value (the `SecretString`) describing it. Called once per clause; each call must
    /// return an independent account. `setup` can create further secrets the value refers to
    /// (a master or admin secret).
    async fn new_account(&self, setup: &Setup) -> Result<String, TargetError>;

    /// Proves that the credentials in a secret value work on the target now (`Ok`), or says
    /// why they do not.
    async fn check(&self, secret: &str) -> Result<(), TargetError>;

    /// What happens to replaced credentials; [`AfterRotation::PreviousRevoked`] unless
    /// overridden.
    fn after_rotation(&self) -> AfterRotation {
        AfterRotation::PreviousRevoked
    }

    /// The parts of a secret value that must never appear in a log. The default is the
    /// `password` of a JSON object, or the whole value when it is not a JSON object. Strings
    /// shorter than 8 characters are not searched for (too likely to occur by chance).
    fn sensitive(&self, secret: &str) -> Vec<String> {
        default_sensitive(secret)
    }

    /// Makes the pending credentials fail their test. The kit calls it after `createSecret`
    /// when it skips `setSecret`, to prove that a failing `testSecret` keeps `AWSCURRENT`. The
    /// default does nothing: for most targets, pending credentials only work once `setSecret`
    /// has run. A target whose `createSecret` already makes working credentials (an API key
    /// minted by the provider) revokes them here.
    async fn spoil_pending(&self, pending: &str) -> Result<(), TargetError> {
        let _ = pending;
        Ok(())
    }

    /// What the target itself has logged so far (a database server's statement log, say),
    /// searched for secret values like the rotator's output. `None` (the default) when there
    /// is nothing to search.
    async fn target_log(&self) -> Result<Option<String>, TargetError> {
        Ok(None)
    }
}

/// What a [`Target`] may use while it creates an account: the Secrets Manager the rotator
/// talks to.
#[derive(Clone, Debug)]
pub struct Setup {
    client: Client,
}

impl Setup {
    pub(crate) fn new(client: Client) -> Setup {
        Setup { client }
    }

    /// The Secrets Manager client (moto).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates a secret with a unique name starting with `prefix` and returns its ARN.
    pub async fn create_secret(&self, prefix: &str, value: &str) -> Result<String, TargetError> {
        let created = self
            .client
            .create_secret()
            .name(unique(prefix))
            .secret_string(value)
            .send()
            .await
            .map_err(|error| {
                format!(
                    "CreateSecret: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(error)
                )
            })?;
        Ok(created
            .arn()
            .ok_or("CreateSecret returned no ARN")?
            .to_owned())
    }
}

/// `prefix` followed by 8 random hex digits.
pub(crate) fn unique(prefix: &str) -> String {
    format!("{prefix}{:08x}", rand::random::<u32>())
}

/// The default of [`Target::sensitive`].
pub fn default_sensitive(secret: &str) -> Vec<String> {
    match serde_json::from_str::<serde_json::Value>(secret) {
        Ok(serde_json::Value::Object(fields)) => fields
            .get("password")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .into_iter()
            .collect(),
        _ => vec![secret.to_owned()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_of_json_and_the_whole_of_anything_else_is_sensitive() {
        assert_eq!(
            default_sensitive(r#"{"username":"app","password":"s3cret-pass"}"#),
            ["s3cret-pass"]
        );
        assert!(default_sensitive(r#"{"username":"app"}"#).is_empty());
        assert_eq!(default_sensitive("sk_live_123456"), ["sk_live_123456"]);
        assert_eq!(default_sensitive("[1,2]"), ["[1,2]"]);
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique("a-"), unique("a-"));
        assert!(unique("a-").starts_with("a-"));
    }
}
