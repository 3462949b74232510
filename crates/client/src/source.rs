//! Where secret values come from: AWS's caching client (`aws_secretsmanager_caching`), with a
//! TTL, a forced refresh, and a count of the forced reads (the price of surviving rotations).

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use aws_sdk_secretsmanager::error::SdkError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_secretsmanager_caching::SecretsManagerCachingClient;
use rotation_core::SecretString;

use crate::error::ClientError;

/// The label of the version applications use.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// The label of the version a rotation is putting in place.
pub const AWSPENDING: &str = "AWSPENDING";

/// How many secrets the cache holds (AWS's caching client needs a bound).
const CACHE_SIZE: usize = 1000;

/// Secret values through AWS's caching client: cached reads of `AWSCURRENT` for `ttl`, and
/// forced reads (`refresh_now`) of `AWSCURRENT` and `AWSPENDING` when a target refuses.
///
/// Cheap to clone; clones share the cache.
#[derive(Clone, Debug)]
pub struct SecretSource {
    cache: Arc<SecretsManagerCachingClient>,
    forced_reads: Arc<AtomicU64>,
}

/// One version as Secrets Manager returned it.
#[derive(Debug)]
pub struct RawVersion {
    /// The version id.
    pub version_id: String,
    /// The `SecretString`.
    pub text: SecretString,
    /// When the version was created, when Secrets Manager says.
    pub created: Option<SystemTime>,
}

impl SecretSource {
    /// A source over a Secrets Manager client (region, credentials and endpoint are the
    /// client's), caching each value for `ttl`. AWS's caching client serves a cached value
    /// when a refresh after the TTL meets a transient error.
    pub fn new(client: aws_sdk_secretsmanager::Client, ttl: Duration) -> SecretSource {
        let size = NonZeroUsize::new(CACHE_SIZE).unwrap_or(NonZeroUsize::MIN);
        SecretSource {
            cache: Arc::new(cache(client, size, ttl)),
            forced_reads: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A source over the default AWS configuration (`AWS_REGION`, the credential chain,
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER`, ...).
    pub async fn from_env(ttl: Duration) -> SecretSource {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        SecretSource::new(aws_sdk_secretsmanager::Client::new(&config), ttl)
    }

    /// `AWSCURRENT`, from the cache while it is younger than the TTL.
    pub async fn current(&self, secret_id: &str) -> Result<RawVersion, ClientError> {
        self.read(secret_id, AWSCURRENT, false)
            .await?
            .ok_or_else(|| not_found(secret_id, AWSCURRENT))
    }

    /// `AWSCURRENT`, read from Secrets Manager now (the cache is updated).
    pub async fn refresh_current(&self, secret_id: &str) -> Result<RawVersion, ClientError> {
        self.forced_reads.fetch_add(1, Ordering::Relaxed);
        self.read(secret_id, AWSCURRENT, true)
            .await?
            .ok_or_else(|| not_found(secret_id, AWSCURRENT))
    }

    /// `AWSPENDING`, read from Secrets Manager now; `None` when no version carries it with a
    /// value (no rotation under way).
    pub async fn pending(&self, secret_id: &str) -> Result<Option<RawVersion>, ClientError> {
        self.forced_reads.fetch_add(1, Ordering::Relaxed);
        self.read(secret_id, AWSPENDING, true).await
    }

    /// How many forced reads ([`SecretSource::refresh_current`], [`SecretSource::pending`])
    /// this source has made: the Secrets Manager calls that surviving rotations cost, beyond
    /// the cache's own TTL refreshes.
    pub fn forced_reads(&self) -> u64 {
        self.forced_reads.load(Ordering::Relaxed)
    }

    async fn read(
        &self,
        secret_id: &str,
        stage: &'static str,
        refresh_now: bool,
    ) -> Result<Option<RawVersion>, ClientError> {
        let output = match self
            .cache
            .get_secret_value(secret_id, None, Some(stage), refresh_now)
            .await
        {
            Ok(output) => output,
            Err(error) => {
                if error
                    .downcast_ref::<SdkError<GetSecretValueError>>()
                    .and_then(SdkError::as_service_error)
                    .is_some_and(GetSecretValueError::is_resource_not_found_exception)
                {
                    return Ok(None);
                }
                return Err(ClientError::SecretsManager {
                    secret_id: secret_id.to_owned(),
                    stage,
                    reason: describe(&*error),
                });
            }
        };
        let text = output.secret_string.map(SecretString::new).ok_or_else(|| {
            ClientError::NoSecretString {
                secret_id: secret_id.to_owned(),
                stage,
            }
        })?;
        Ok(Some(RawVersion {
            version_id: output.version_id.unwrap_or_default(),
            text,
            created: output.created_date,
        }))
    }
}

fn cache(
    client: aws_sdk_secretsmanager::Client,
    size: NonZeroUsize,
    ttl: Duration,
) -> SecretsManagerCachingClient {
    match SecretsManagerCachingClient::new(client, size, ttl, true) {
        Ok(cache) => cache,
        // The in-memory store's constructor has no failing path in 2.x.
        Err(error) => unreachable!("AWS's in-memory secret store cannot fail to start: {error}"),
    }
}

fn not_found(secret_id: &str, stage: &'static str) -> ClientError {
    ClientError::SecretsManager {
        secret_id: secret_id.to_owned(),
        stage,
        reason: "no version carries this label".to_owned(),
    }
}

/// The error and its sources, as the SDK's `DisplayErrorContext` does (SDK errors carry no
/// secret value).
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
