//! The secret store: the four Secrets Manager calls a rotation needs, behind a narrow trait.
//!
//! [`AwsSecretStore`] is the real one (aws-sdk-secretsmanager). It is built once per process,
//! outside the handler, with bounded retries (exponential backoff with jitter on throttling,
//! 5xx and transient network errors) and timeouts that fit a Lambda's deadline.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::config::{ConfigError, Environment, number_var};
use crate::deadline::Deadline;
use crate::event::{RotationToken, VersionToken};
use crate::secret::SecretString;
use crate::stage::{Stage, VersionStages};
use crate::validate::SecretMetadata;
use crate::versions::SecretVersion;

/// Which version of a secret to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRef {
    /// The version carrying a label.
    Stage(Stage),
    /// The pending version with this id (`VersionId=token`, `VersionStage=AWSPENDING`), as AWS's
    /// templates read it: a token that lost `AWSPENDING` is not read by mistake.
    Pending(VersionToken),
}

impl std::fmt::Display for VersionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionRef::Stage(stage) => stage.fmt(f),
            VersionRef::Pending(_) => Stage::Pending.fmt(f),
        }
    }
}

/// A failed Secrets Manager call: which call, on which secret, and what the service said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Secrets Manager {operation} on secret {secret} failed: {message}")]
pub struct StoreError {
    /// The API call (`DescribeSecret`, `GetSecretValue`, ...).
    pub operation: &'static str,
    /// The secret id as given.
    pub secret: String,
    /// The service's error code, when it sent one (e.g. `ThrottlingException`).
    pub code: Option<String>,
    /// The full error, with its causes.
    pub message: String,
}

impl StoreError {
    /// An error without a service error code: a call cut off by [`DeadlineStore`], a store
    /// that cannot answer, or (with [`StoreError::with_code`]) a store other than AWS's.
    pub fn new(operation: &'static str, secret: &str, message: impl Into<String>) -> Self {
        StoreError {
            operation,
            secret: secret.to_owned(),
            code: None,
            message: message.into(),
        }
    }

    /// The same error with the service's error code (e.g. `ResourceExistsException`), as a
    /// store other than [`AwsSecretStore`] reports Secrets Manager's answers.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }
}

/// The Secrets Manager calls a rotation makes.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// `DescribeSecret`.
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata, StoreError>;

    /// `GetSecretValue`: the value and its version id; `Ok(None)` when the version has no
    /// value (`ResourceNotFoundException`).
    async fn get_value(
        &self,
        secret_id: &str,
        version: &VersionRef,
    ) -> Result<Option<SecretVersion>, StoreError>;

    /// `PutSecretValue(ClientRequestToken=token, VersionStages=[AWSPENDING])`, passing the
    /// `RotationToken` when the event had one.
    async fn put_pending(
        &self,
        secret_id: &str,
        token: &VersionToken,
        value: &SecretString,
        rotation_token: Option<&RotationToken>,
    ) -> Result<(), StoreError>;

    /// `UpdateSecretVersionStage(AWSCURRENT, MoveToVersionId=token, RemoveFromVersionId=from)`.
    async fn move_current(
        &self,
        secret_id: &str,
        token: &VersionToken,
        from_version: Option<&str>,
    ) -> Result<(), StoreError>;

    /// The tags of a secret (`DescribeSecret`'s `Tags`, as key and value), such as the
    /// `aws:rds:primaryDBInstanceArn` tag RDS puts on the master secrets it manages. Stores
    /// that cannot read tags keep this default, an error.
    async fn tags(&self, secret_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        Err(StoreError::new(
            "DescribeSecret",
            secret_id,
            "this secret store does not read tags",
        ))
    }

    /// `PutSecretValue(ClientRequestToken=token, VersionStages=[AWSCURRENT])`: a new current
    /// value for another secret in one call (Secrets Manager moves `AWSPREVIOUS` itself). The
    /// same token with the same value is a no-op, so a retry stores nothing twice.
    async fn put_current(
        &self,
        secret_id: &str,
        token: &VersionToken,
        value: &SecretString,
    ) -> Result<(), StoreError>;
}

/// A store whose every call ends by the step's deadline.
///
/// The SDK's own timeouts (5 s an attempt, 20 s a call with its retries) are longer than many
/// rotation functions' timeouts. Without this bound a slow or unreachable Secrets Manager
/// lets Lambda kill the function, and the only trace is "Task timed out". Bounded, the step
/// fails a little before the deadline with an error that names the call and the secret.
pub struct DeadlineStore<'a> {
    inner: &'a dyn SecretStore,
    deadline: Deadline,
    budget: Duration,
}

impl<'a> DeadlineStore<'a> {
    /// `inner`, with every call cut off at `deadline`.
    pub fn new(inner: &'a dyn SecretStore, deadline: Deadline) -> Self {
        DeadlineStore {
            inner,
            deadline,
            budget: deadline.remaining(),
        }
    }

    /// The deadline every call ends by.
    pub fn deadline(&self) -> Deadline {
        self.deadline
    }

    async fn bounded<T>(
        &self,
        operation: &'static str,
        secret: &str,
        reading: Option<&VersionRef>,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout_at(self.deadline.instant(), call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::new(
                operation,
                secret,
                too_slow(reading, self.budget),
            )),
        }
    }
}

/// Why a call was cut off: what it was reading, and the time the whole invocation had.
fn too_slow(reading: Option<&VersionRef>, budget: Duration) -> String {
    let reading = reading.map_or(String::new(), |version| format!("reading {version}; "));
    format!(
        "did not answer before the Lambda deadline ({reading}the invocation had {} ms in all): \
         Secrets Manager is slow or out of reach from the function; check its network path (a \
         VPC endpoint or NAT gateway for a function in a VPC) or raise the function's timeout",
        budget.as_millis()
    )
}

#[async_trait]
impl SecretStore for DeadlineStore<'_> {
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata, StoreError> {
        self.bounded(
            "DescribeSecret",
            secret_id,
            None,
            self.inner.describe(secret_id),
        )
        .await
    }

    async fn get_value(
        &self,
        secret_id: &str,
        version: &VersionRef,
    ) -> Result<Option<SecretVersion>, StoreError> {
        self.bounded(
            "GetSecretValue",
            secret_id,
            Some(version),
            self.inner.get_value(secret_id, version),
        )
        .await
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &VersionToken,
        value: &SecretString,
        rotation_token: Option<&RotationToken>,
    ) -> Result<(), StoreError> {
        self.bounded(
            "PutSecretValue",
            secret_id,
            None,
            self.inner
                .put_pending(secret_id, token, value, rotation_token),
        )
        .await
    }

    async fn move_current(
        &self,
        secret_id: &str,
        token: &VersionToken,
        from_version: Option<&str>,
    ) -> Result<(), StoreError> {
        self.bounded(
            "UpdateSecretVersionStage",
            secret_id,
            None,
            self.inner.move_current(secret_id, token, from_version),
        )
        .await
    }

    async fn put_current(
        &self,
        secret_id: &str,
        token: &VersionToken,
        value: &SecretString,
    ) -> Result<(), StoreError> {
        self.bounded(
            "PutSecretValue",
            secret_id,
            None,
            self.inner.put_current(secret_id, token, value),
        )
        .await
    }

    // Forwarded, or the trait's default (an error) would hide the inner store's tags: the
    // RDS-form master secret is located through them.
    async fn tags(&self, secret_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.bounded(
            "DescribeSecret",
            secret_id,
            None,
            self.inner.tags(secret_id),
        )
        .await
    }
}

impl std::fmt::Debug for DeadlineStore<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadlineStore")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// The store over aws-sdk-secretsmanager.
#[derive(Debug, Clone)]
pub struct AwsSecretStore {
    client: Client,
}

/// Retry and timeout settings of [`AwsSecretStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// The endpoint from `SECRETS_MANAGER_ENDPOINT`, if set (AWS's templates' variable). The SDK's
    /// own `AWS_ENDPOINT_URL_SECRETS_MANAGER` and `AWS_ENDPOINT_URL` work without it.
    pub endpoint: Option<String>,
    /// Attempts per call, first included (`SECRETS_MANAGER_MAX_ATTEMPTS`, default 5).
    pub max_attempts: u32,
}

impl StoreSettings {
    /// Reads `SECRETS_MANAGER_ENDPOINT` and `SECRETS_MANAGER_MAX_ATTEMPTS`.
    pub fn from_env(env: &dyn Environment) -> Result<Self, ConfigError> {
        let endpoint = match env.var("SECRETS_MANAGER_ENDPOINT") {
            None => None,
            Some(url) if url.trim().is_empty() => None,
            Some(url) => {
                let url = url.trim().to_owned();
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(ConfigError::new(
                        "SECRETS_MANAGER_ENDPOINT",
                        format!(
                            "{url:?} is not a URL (expected e.g. https://secretsmanager.us-east-1.amazonaws.com)"
                        ),
                    ));
                }
                Some(url)
            }
        };
        let max_attempts = number_var(env, "SECRETS_MANAGER_MAX_ATTEMPTS", 5, 1, 10)? as u32;
        Ok(StoreSettings {
            endpoint,
            max_attempts,
        })
    }
}

impl AwsSecretStore {
    /// Builds the client from the SDK's usual sources (region, credentials, endpoint variables)
    /// and the settings.
    pub async fn new(settings: &StoreSettings) -> Self {
        let retry = RetryConfig::standard()
            .with_max_attempts(settings.max_attempts)
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_backoff(Duration::from_secs(2));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(5))
            .operation_timeout(Duration::from_secs(20))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry)
            .timeout_config(timeouts);
        if let Some(endpoint) = &settings.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        AwsSecretStore {
            client: Client::new(&loader.load().await),
        }
    }

    /// Wraps an existing client.
    pub fn from_client(client: Client) -> Self {
        AwsSecretStore { client }
    }
}

fn store_error<E, R>(operation: &'static str, secret: &str, error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError {
        operation,
        secret: secret.to_owned(),
        code: error.code().map(str::to_owned),
        message: DisplayErrorContext(&error).to_string(),
    }
}

#[async_trait]
impl SecretStore for AwsSecretStore {
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata, StoreError> {
        let output = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| store_error("DescribeSecret", secret_id, e))?;
        let mut versions = VersionStages::new();
        for (version, labels) in output.version_ids_to_stages().into_iter().flatten() {
            versions.insert(version.clone(), labels.iter().cloned());
        }
        Ok(SecretMetadata {
            arn: output.arn().unwrap_or(secret_id).to_owned(),
            rotation_enabled: output.rotation_enabled(),
            versions,
            rotation_lambda_arn: output.rotation_lambda_arn().map(str::to_owned),
        })
    }

    async fn tags(&self, secret_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        let output = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| store_error("DescribeSecret", secret_id, e))?;
        Ok(output
            .tags()
            .iter()
            .map(|tag| {
                (
                    tag.key().unwrap_or_default().to_owned(),
                    tag.value().unwrap_or_default().to_owned(),
                )
            })
            .collect())
    }

    async fn get_value(
        &self,
        secret_id: &str,
        version: &VersionRef,
    ) -> Result<Option<SecretVersion>, StoreError> {
        let request = self.client.get_secret_value().secret_id(secret_id);
        let request = match version {
            VersionRef::Stage(stage) => request.version_stage(stage.as_str()),
            VersionRef::Pending(token) => request
                .version_id(token.as_str())
                .version_stage(Stage::Pending.as_str()),
        };
        match request.send().await {
            Ok(output) => Ok(output.secret_string().map(|value| SecretVersion {
                version_id: output.version_id().unwrap_or_default().to_owned(),
                value: SecretString::new(value),
            })),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(error) => Err(store_error("GetSecretValue", secret_id, error)),
        }
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &VersionToken,
        value: &SecretString,
        rotation_token: Option<&RotationToken>,
    ) -> Result<(), StoreError> {
        self.client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token.as_str())
            .secret_string(value.expose())
            .version_stages(Stage::Pending.as_str())
            .set_rotation_token(rotation_token.map(|t| t.expose().to_owned()))
            .send()
            .await
            .map_err(|e| store_error("PutSecretValue", secret_id, e))?;
        Ok(())
    }

    async fn move_current(
        &self,
        secret_id: &str,
        token: &VersionToken,
        from_version: Option<&str>,
    ) -> Result<(), StoreError> {
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(Stage::Current.as_str())
            .move_to_version_id(token.as_str())
            .set_remove_from_version_id(from_version.map(str::to_owned))
            .send()
            .await
            .map_err(|e| store_error("UpdateSecretVersionStage", secret_id, e))?;
        Ok(())
    }

    async fn put_current(
        &self,
        secret_id: &str,
        token: &VersionToken,
        value: &SecretString,
    ) -> Result<(), StoreError> {
        self.client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token.as_str())
            .secret_string(value.expose())
            .version_stages(Stage::Current.as_str())
            .send()
            .await
            .map_err(|e| store_error("PutSecretValue", secret_id, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Secrets Manager that never answers.
    struct Silent;

    #[async_trait]
    impl SecretStore for Silent {
        async fn describe(&self, _: &str) -> Result<SecretMetadata, StoreError> {
            std::future::pending().await
        }
        async fn get_value(
            &self,
            _: &str,
            _: &VersionRef,
        ) -> Result<Option<SecretVersion>, StoreError> {
            std::future::pending().await
        }
        async fn put_pending(
            &self,
            _: &str,
            _: &VersionToken,
            _: &SecretString,
            _: Option<&RotationToken>,
        ) -> Result<(), StoreError> {
            std::future::pending().await
        }
        async fn move_current(
            &self,
            _: &str,
            _: &VersionToken,
            _: Option<&str>,
        ) -> Result<(), StoreError> {
            std::future::pending().await
        }
        async fn put_current(
            &self,
            _: &str,
            _: &VersionToken,
            _: &SecretString,
        ) -> Result<(), StoreError> {
            std::future::pending().await
        }
        async fn tags(&self, _: &str) -> Result<Vec<(String, String)>, StoreError> {
            Ok(vec![(
                "aws:rds:primaryDBInstanceArn".into(),
                "arn:db".into(),
            )])
        }
    }

    #[tokio::test]
    async fn tags_pass_through_the_deadline() {
        let store = DeadlineStore::new(&Silent, Deadline::after(Duration::from_secs(5)));
        let tags = store.tags("arn:secret").await.unwrap();
        assert_eq!(
            tags,
            [(
                "aws:rds:primaryDBInstanceArn".to_owned(),
                "arn:db".to_owned()
            )]
        );
    }

    #[tokio::test]
    async fn every_call_ends_at_the_deadline_naming_the_call_and_the_secret() {
        let store = DeadlineStore::new(&Silent, Deadline::after(Duration::from_millis(50)));
        let error = store.describe("arn:secret").await.unwrap_err();
        assert_eq!(error.operation, "DescribeSecret");
        assert_eq!(error.secret, "arn:secret");
        assert!(
            error
                .to_string()
                .contains("did not answer before the Lambda deadline"),
            "{error}"
        );
        // Past the deadline, a call ends at once.
        let error = store
            .get_value("arn:secret", &VersionRef::Stage(Stage::Previous))
            .await
            .unwrap_err();
        assert_eq!(error.operation, "GetSecretValue");
        assert!(error.message.contains("reading AWSPREVIOUS"), "{error}");
    }
}
