//! An HTTP client that sends a secret's current API key and follows a rotation on 401/403.

use std::sync::Arc;

use reqwest::{RequestBuilder, Response, StatusCode};

use crate::credentials::{ConnectError, RotatingCredentials};
use crate::error::ClientError;
use crate::secret::ApiKeySecret;

/// Sends requests with `Authorization: Bearer <current key>` (reqwest marks the header
/// sensitive). On 401 or 403 it refreshes the key and sends the request again, with a key not
/// tried yet: a fresh `AWSCURRENT`, then `AWSPENDING` (a key minted by a rotation under way),
/// so at most two retries, each with a different key (see [`RotatingCredentials`]).
#[derive(Clone, Debug)]
pub struct ApiKeyClient {
    http: reqwest::Client,
    credentials: Arc<RotatingCredentials<ApiKeySecret>>,
}

/// Why [`ApiKeyClient::send`] failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The secret could not be read, or every key was refused (the error names the secret
    /// and the versions, never a key).
    #[error(transparent)]
    Credentials(#[from] ClientError),
    /// reqwest's own error (unreachable, timed out, ...).
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// The request's body is a stream, which cannot be sent twice.
    #[error("the request cannot be retried (its body is a stream)")]
    NotRetryable,
}

/// A key's refusal (401/403) or a failure to send.
enum Attempt {
    Refused(Response),
    Failed(HttpError),
}

impl ApiKeyClient {
    /// Sends through `http` with the keys of `credentials`.
    pub fn new(http: reqwest::Client, credentials: Arc<RotatingCredentials<ApiKeySecret>>) -> Self {
        ApiKeyClient { http, credentials }
    }

    /// The reqwest client, to build requests with (`client.http().get(url)`).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The key's `baseUrl`, when the secret has one.
    pub async fn base_url(&self) -> Result<Option<String>, ClientError> {
        Ok(self.credentials.current().await?.value.base_url.clone())
    }

    /// Sends `request` with the current key. A 401 or 403 that survives every key worth
    /// trying is returned as the provider's `Response` (the application decides what it
    /// means); the keys tried are logged at `warn`, by version id.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, HttpError> {
        let attempt = |version: Arc<crate::secret::Versioned<ApiKeySecret>>| {
            let request = request.try_clone();
            async move {
                let Some(request) = request else {
                    return Err(Attempt::Failed(HttpError::NotRetryable));
                };
                let response = request
                    .bearer_auth(version.value.key.expose())
                    .send()
                    .await
                    .map_err(|error| Attempt::Failed(HttpError::Http(error)))?;
                match response.status() {
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                        Err(Attempt::Refused(response))
                    }
                    _ => Ok(response),
                }
            }
        };
        let refused = |attempt: &Attempt| matches!(attempt, Attempt::Refused(_));
        match self.credentials.connect(refused, attempt).await {
            Ok((response, _)) => Ok(response),
            Err(ConnectError::Refused {
                last: Some(Attempt::Refused(response)),
                ..
            }) => Ok(response),
            Err(ConnectError::Credentials(error) | ConnectError::Refused { error, .. }) => {
                Err(HttpError::Credentials(error))
            }
            Err(ConnectError::Failed(Attempt::Failed(error))) => Err(error),
            Err(ConnectError::Failed(Attempt::Refused(response))) => Ok(response),
        }
    }
}
