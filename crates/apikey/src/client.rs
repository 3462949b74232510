//! Talking to a provider: one request of a profile, retried on 429 and 5xx (honouring
//! `Retry-After`) within the step's deadline, with errors that name the profile and the
//! request and never carry a key or an answer's body.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rotation_core::{Deadline, SecretString};
use serde_json::Value;
use tracing::{debug, warn};

use crate::profile::{Profile, Request, fill, fill_json};

/// Attempts per request, the first included.
const ATTEMPTS: u32 = 5;
/// The first pause before a retry without `Retry-After`; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(200);
/// The longest pause chosen by us.
const MAX_PAUSE: Duration = Duration::from_secs(2);
/// One HTTP exchange may take at most this long (and never past the deadline).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a provider request failed. Names the profile and the request; never a key or a body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider answered with a status the profile does not accept.
    #[error("api-key profile {profile}: {request} answered {status}{hint}")]
    Status {
        /// The profile's name.
        profile: String,
        /// `METHOD path`.
        request: String,
        /// The status.
        status: u16,
        /// What it probably means.
        hint: String,
    },
    /// The answer was not what the profile describes.
    #[error("api-key profile {profile}: {request} answered {status} but {problem}")]
    Malformed {
        /// The profile's name.
        profile: String,
        /// `METHOD path`.
        request: String,
        /// The status.
        status: u16,
        /// What is wrong with the answer.
        problem: String,
    },
    /// No answer: connection refused, reset, timed out, or the deadline came first.
    #[error("api-key profile {profile}: {request} got no answer: {reason}")]
    NoAnswer {
        /// The profile's name.
        profile: String,
        /// `METHOD path`.
        request: String,
        /// Why.
        reason: String,
    },
    /// The profile cannot make this request (bad method, URL or header).
    #[error("api-key profile {profile}: {request} cannot be sent: {reason}")]
    Profile {
        /// The profile's name.
        profile: String,
        /// `METHOD path`.
        request: String,
        /// What is wrong in the profile.
        reason: String,
    },
}

impl ProviderError {
    /// Whether the provider refused the managing credential (401 or 403).
    pub fn is_auth_refusal(&self) -> bool {
        matches!(
            self,
            ProviderError::Status {
                status: 401 | 403,
                ..
            }
        )
    }
}

/// An answer the profile accepts: its status and JSON body (`Null` when empty or absent).
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// The body; `Err` with a description when it is not JSON.
    pub json: Result<Value, String>,
}

/// An HTTP(S) client for profiles (one per process, connections kept alive).
#[derive(Clone)]
pub struct ProviderClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for ProviderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderClient").finish_non_exhaustive()
    }
}

impl Default for ProviderClient {
    fn default() -> Self {
        ProviderClient::new()
    }
}

impl ProviderClient {
    /// A client that trusts the Mozilla roots, over HTTPS or plain HTTP (for a local service).
    pub fn new() -> ProviderClient {
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
        .unwrap_or_else(|_| {
            // The defaults of the built-in provider are always valid.
            unreachable!("aws-lc-rs supports rustls' default protocol versions")
        });
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        ProviderClient {
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// Sends one request of `profile` with `key` in the auth header and the placeholders
    /// filled, retrying 429 and 5xx answers and lost connections before the deadline. Only a
    /// status the request accepts is `Ok`.
    pub async fn send(
        &self,
        profile: &Profile,
        base_url: &str,
        request: &Request,
        key: &SecretString,
        values: &[(&str, &str)],
        deadline: Deadline,
    ) -> Result<Answer, ProviderError> {
        let path = fill(&request.path, values);
        let described = format!("{} {path}", request.method);
        let profile_error = |reason: String| ProviderError::Profile {
            profile: profile.name.clone(),
            request: described.clone(),
            reason,
        };
        let method = Method::from_bytes(request.method.as_bytes())
            .map_err(|_| profile_error(format!("{:?} is not an HTTP method", request.method)))?;
        let url = format!("{}{path}", base_url.trim_end_matches('/'));
        let body = request
            .body
            .as_ref()
            .map(|template| fill_json(template, values).to_string());
        let auth_name = HeaderName::from_bytes(profile.auth.header.as_bytes()).map_err(|_| {
            profile_error(format!("{:?} is not a header name", profile.auth.header))
        })?;
        let mut auth_value =
            HeaderValue::from_str(&fill(&profile.auth.value, &[("key", key.expose())]))
                .map_err(|_| profile_error("the key does not fit in the auth header".to_owned()))?;
        auth_value.set_sensitive(true);

        let mut pause = FIRST_PAUSE;
        let mut attempt = 1;
        loop {
            let mut builder = http::Request::builder()
                .method(method.clone())
                .uri(&url)
                .header(auth_name.clone(), auth_value.clone())
                .header(http::header::ACCEPT, "application/json");
            for (name, value) in &request.headers {
                builder = builder.header(name.as_str(), fill(value, values));
            }
            if body.is_some() {
                builder = builder.header(http::header::CONTENT_TYPE, "application/json");
            }
            let built = builder
                .body(Full::new(Bytes::from(body.clone().unwrap_or_default())))
                .map_err(|error| profile_error(format!("bad URL or header ({error})")))?;
            let limit = deadline.cap(EXCHANGE_TIMEOUT);
            let outcome = tokio::time::timeout(limit, self.exchange(built)).await;
            let (retry, after, failure) = match outcome {
                Ok(Ok((status, retry_after, bytes))) => {
                    debug!(profile = %profile.name, request = %described, status = status.as_u16(), attempt, "provider answered");
                    if request.accepts(status.as_u16()) {
                        return Ok(Answer {
                            status: status.as_u16(),
                            json: parse_json(&bytes),
                        });
                    }
                    let retryable =
                        status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    let error = ProviderError::Status {
                        profile: profile.name.clone(),
                        request: described.clone(),
                        status: status.as_u16(),
                        hint: hint(status, request),
                    };
                    (retryable, retry_after, error)
                }
                Ok(Err(reason)) => (
                    true,
                    None,
                    ProviderError::NoAnswer {
                        profile: profile.name.clone(),
                        request: described.clone(),
                        reason,
                    },
                ),
                Err(_) => (
                    true,
                    None,
                    ProviderError::NoAnswer {
                        profile: profile.name.clone(),
                        request: described.clone(),
                        reason: format!("no answer within {} ms", limit.as_millis()),
                    },
                ),
            };
            let wait = after.unwrap_or(pause);
            if !retry || attempt >= ATTEMPTS || wait >= deadline.remaining() {
                return Err(failure);
            }
            warn!(profile = %profile.name, request = %described, attempt, wait_ms = wait.as_millis() as u64, error = %failure, "provider request failed; retrying");
            tokio::time::sleep(wait).await;
            pause = (pause * 2).min(MAX_PAUSE);
            attempt += 1;
        }
    }

    async fn exchange(
        &self,
        request: http::Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Option<Duration>, Bytes), String> {
        let response = self
            .client
            .request(request)
            .await
            .map_err(|error| describe(&error))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|error| format!("the answer was cut off ({error})"))?
            .to_bytes();
        Ok((status, retry_after, bytes))
    }
}

fn parse_json(bytes: &Bytes) -> Result<Value, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|error| {
        format!(
            "the answer is not JSON ({} at line {} column {})",
            match error.classify() {
                serde_json::error::Category::Eof => "it ends early",
                serde_json::error::Category::Syntax => "syntax error",
                _ => "unexpected data",
            },
            error.line(),
            error.column()
        )
    })
}

fn hint(status: StatusCode, request: &Request) -> String {
    match status.as_u16() {
        code if (200..300).contains(&code) => format!(
            " (the profile expects {}: has the provider's API changed?)",
            request
                .expect_status
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        ),
        401 | 403 => " (the managing credential was refused: is it revoked, or lacking the right to manage keys?)".to_owned(),
        404 => " (check the profile's baseUrl and path)".to_owned(),
        429 => " (rate limited, still after retries)".to_owned(),
        code if code >= 500 => " (the provider failed, still after retries)".to_owned(),
        _ => String::new(),
    }
}

/// A client error with its causes, which describe connections, never bodies or headers.
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
