//! Talking to a provider: one request of a profile, with errors that name the profile and the
//! request and never carry a key or an answer's body.
//!
//! A request that may be repeated (list, test, revoke, identify) is retried on 429, 5xx and lost
//! answers, honouring `Retry-After`, within the step's deadline. A mint is not: an answer lost
//! after the provider acted may mean a key exists, so only answers that prove nothing was done
//! (429, a connection that never opened) are retried here, and the rotator looks the label up
//! before it mints again.
//!
//! Answers are bounded: a body larger than [`MAX_BODY`] is refused as soon as its
//! `Content-Length` says so or its bytes pass the cap, headers are capped by
//! [`MAX_HEADER_BYTES`], and the whole exchange by the step's deadline. A body is never parsed
//! whole (see [`crate::answer`]).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rotation_core::{Deadline, SecretString};
use tracing::{debug, warn};

use crate::answer::{self, Found};
use crate::endpoint::Endpoint;
use crate::profile::{Profile, Request, fill, fill_json, fill_path};

/// Attempts per request, the first included.
pub const ATTEMPTS: u32 = 5;
/// The first pause before a retry without `Retry-After`; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(200);
/// The longest pause chosen by us.
const MAX_PAUSE: Duration = Duration::from_secs(2);
/// One HTTP exchange may take at most this long (and never past the deadline).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer body read, in bytes: key APIs answer a few KiB, a long list some
/// hundreds; past this the answer is refused, so a provider cannot fill the function's memory.
pub const MAX_BODY: usize = 1024 * 1024;
/// The largest status line and headers read (hyper's read buffer).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

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
    /// The answer's body passed [`MAX_BODY`].
    #[error(
        "api-key profile {profile}: {request} answered {status} with a body larger than the cap \
         of {cap} bytes; refused without reading further"
    )]
    TooLarge {
        /// The profile's name.
        profile: String,
        /// `METHOD path`.
        request: String,
        /// The status.
        status: u16,
        /// The cap, in bytes.
        cap: usize,
    },
    /// The request was sent, but no whole answer came: reset, cut off, headers too large,
    /// timed out, or the deadline came first. The provider may have acted.
    #[error("api-key profile {profile}: {request} got no answer: {reason}")]
    NoAnswer {
        /// The profile's name.
        profile: String,
        /// `METHOD path`.
        request: String,
        /// Why.
        reason: String,
    },
    /// No connection could be opened: the request was never sent.
    #[error("api-key profile {profile}: {request} got no answer: cannot connect: {reason}")]
    Unreachable {
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

    /// Whether the provider may have done what was asked although the request failed: a 5xx
    /// answer, a success status the profile does not expect, a lost or cut answer, or one that
    /// could not be read. A 429, a refusal and a connection that never opened prove it did
    /// nothing.
    pub fn may_have_acted(&self) -> bool {
        match self {
            ProviderError::Status { status, .. } => *status >= 500 || (200..300).contains(status),
            ProviderError::Malformed { .. }
            | ProviderError::TooLarge { .. }
            | ProviderError::NoAnswer { .. } => true,
            ProviderError::Unreachable { .. } | ProviderError::Profile { .. } => false,
        }
    }
}

impl ProviderError {
    /// Whether trying again later may work: 429, 5xx, no answer, no connection. An answer the
    /// profile cannot read will be the same next time.
    pub fn is_transient(&self) -> bool {
        match self {
            ProviderError::Status { status, .. } => *status == 429 || *status >= 500,
            ProviderError::NoAnswer { .. } | ProviderError::Unreachable { .. } => true,
            ProviderError::Malformed { .. }
            | ProviderError::TooLarge { .. }
            | ProviderError::Profile { .. } => false,
        }
    }
}

/// Whether a request may be sent again when its answer is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Doing it twice is doing it once (list, test, revoke, identify): retried on 429, 5xx
    /// and lost answers.
    Freely,
    /// Doing it twice is not (a mint): retried only when the provider surely did nothing.
    OnlyIfNothingDone,
}

/// An answer the profile accepts: its status and body (at most [`MAX_BODY`] bytes).
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The value at a JSON pointer of the body; `Err` describes a body that is not JSON.
    pub fn at(&self, pointer: &str) -> Result<Found, String> {
        answer::scalar_at(&self.body, pointer)
    }
}

/// Pauses between attempts: 200 ms doubling up to 2 s, or what the
/// provider asked for with `Retry-After`. The one retry schedule of this crate.
#[derive(Debug, Clone)]
pub struct Backoff {
    pause: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { pause: FIRST_PAUSE }
    }
}

impl Backoff {
    /// The pause before the next attempt (`asked`: the provider's `Retry-After`).
    pub fn next(&mut self, asked: Option<Duration>) -> Duration {
        let pause = asked.unwrap_or(self.pause);
        self.pause = (self.pause * 2).min(MAX_PAUSE);
        pause
    }
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
            client: Client::builder(TokioExecutor::new())
                .http1_max_buf_size(MAX_HEADER_BYTES)
                .build(connector),
        }
    }

    /// Sends one request of `profile` to `endpoint` with `key` in the auth header and the
    /// placeholders filled (percent-encoded in the path), retrying as `repeat` allows before
    /// the deadline. Only a status the request accepts is `Ok`.
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &self,
        profile: &Profile,
        endpoint: &Endpoint,
        request: &Request,
        key: &SecretString,
        values: &[(&str, &str)],
        deadline: Deadline,
        repeat: Repeat,
    ) -> Result<Answer, ProviderError> {
        let prepared = Prepared::new(profile, endpoint, request, key, values)?;
        let described = &prepared.described;
        let mut backoff = Backoff::default();
        let mut attempt = 1;
        loop {
            let built = prepared.build(profile, request, values)?;
            let limit = deadline.cap(EXCHANGE_TIMEOUT);
            let outcome = tokio::time::timeout(limit, self.exchange(built, request)).await;
            let (after, failure) = match judge(outcome, profile, request, described, limit) {
                Ok((status, body)) => {
                    debug!(profile = %profile.name, request = %described, status, attempt, "provider answered");
                    return Ok(Answer { status, body });
                }
                Err(failed) => failed,
            };
            let wait = backoff.next(after);
            if !repeatable(&failure, repeat) || attempt >= ATTEMPTS || wait >= deadline.remaining()
            {
                return Err(failure);
            }
            warn!(profile = %profile.name, request = %described, attempt, wait_ms = wait.as_millis() as u64, error = %failure, "provider request failed; retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// One exchange: the accepted status and the body, read up to [`MAX_BODY`] bytes.
    async fn exchange(
        &self,
        built: http::Request<Full<Bytes>>,
        request: &Request,
    ) -> Result<(StatusCode, Bytes), Failure> {
        let response = self.client.request(built).await.map_err(|error| {
            if error.is_connect() {
                Failure::Unreachable(describe(&error))
            } else {
                Failure::Lost(describe(&error))
            }
        })?;
        let status = response.status();
        if !request.accepts(status.as_u16()) {
            // The body of a refusal is never read: it is neither needed nor trusted.
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map(|seconds| Duration::from_secs(seconds.min(MAX_RETRY_AFTER_SECONDS)));
            return Err(Failure::Refused {
                status,
                retry_after,
            });
        }
        let too_large = Failure::TooLarge(status.as_u16());
        let declared = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > MAX_BODY as u64) {
            return Err(too_large);
        }
        let mut body = response.into_body();
        let mut bytes = Vec::with_capacity(declared.map_or(0, |length| length as usize));
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|error| Failure::Lost(format!("the answer was cut off ({error})")))?;
            if let Some(data) = frame.data_ref() {
                if bytes.len() + data.len() > MAX_BODY {
                    return Err(too_large);
                }
                bytes.extend_from_slice(data);
            }
        }
        Ok((status, Bytes::from(bytes)))
    }
}

/// The longest `Retry-After` honoured, in seconds (the deadline caps it anyway).
const MAX_RETRY_AFTER_SECONDS: u64 = 60;

/// A request of a profile made ready to send: checked once, sent at every attempt.
struct Prepared {
    /// `METHOD /path`, for logs and errors.
    described: String,
    method: Method,
    url: http::Uri,
    body: Option<String>,
    auth_name: HeaderName,
    auth_value: HeaderValue,
}

impl Prepared {
    /// Fills the placeholders and checks the method, URL and auth header.
    fn new(
        profile: &Profile,
        endpoint: &Endpoint,
        request: &Request,
        key: &SecretString,
        values: &[(&str, &str)],
    ) -> Result<Prepared, ProviderError> {
        let path = fill_path(&request.path, values);
        let described = format!("{} {path}", request.method);
        let profile_error = |reason: String| profile_error(profile, &described, reason);
        let method = Method::from_bytes(request.method.as_bytes())
            .map_err(|_| profile_error(format!("{:?} is not an HTTP method", request.method)))?;
        let url = endpoint
            .url(&path)
            .map_err(|error| profile_error(error.to_string()))?;
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
        Ok(Prepared {
            described,
            method,
            url,
            body,
            auth_name,
            auth_value,
        })
    }

    /// The HTTP request of one attempt.
    fn build(
        &self,
        profile: &Profile,
        request: &Request,
        values: &[(&str, &str)],
    ) -> Result<http::Request<Full<Bytes>>, ProviderError> {
        let mut builder = http::Request::builder()
            .method(self.method.clone())
            .uri(self.url.clone())
            .header(self.auth_name.clone(), self.auth_value.clone())
            .header(http::header::ACCEPT, "application/json");
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), fill(value, values));
        }
        if self.body.is_some() {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
        }
        builder
            .body(Full::new(Bytes::from(
                self.body.clone().unwrap_or_default(),
            )))
            .map_err(|error| {
                profile_error(
                    profile,
                    &self.described,
                    format!("bad URL or header ({error})"),
                )
            })
    }
}

/// A request that the profile itself gets wrong.
fn profile_error(profile: &Profile, described: &str, reason: String) -> ProviderError {
    ProviderError::Profile {
        profile: profile.name.clone(),
        request: described.to_owned(),
        reason,
    }
}

/// What one attempt came to: the status and body of an answer the request accepts, or the
/// `Retry-After` asked for (if any) and the error.
fn judge(
    outcome: Result<Result<(StatusCode, Bytes), Failure>, tokio::time::error::Elapsed>,
    profile: &Profile,
    request: &Request,
    described: &str,
    limit: Duration,
) -> Result<(u16, Bytes), (Option<Duration>, ProviderError)> {
    let named = |failure: Failure| failure.named(&profile.name, described);
    match outcome {
        Ok(Ok((status, body))) => Ok((status.as_u16(), body)),
        Ok(Err(Failure::Refused {
            status,
            retry_after,
        })) => Err((
            retry_after,
            ProviderError::Status {
                profile: profile.name.clone(),
                request: described.to_owned(),
                status: status.as_u16(),
                hint: hint(status, request),
            },
        )),
        Ok(Err(failure)) => Err((None, named(failure))),
        Err(_) => Err((
            None,
            named(Failure::Lost(format!(
                "no answer within {} ms",
                limit.as_millis()
            ))),
        )),
    }
}

/// Whether a failed request may be sent again: throttling and an unreachable provider always
/// (nothing was done); other server errors and lost answers only when `repeat` allows.
fn repeatable(failure: &ProviderError, repeat: Repeat) -> bool {
    match (failure, repeat) {
        (ProviderError::Status { status: 429, .. }, _) => true,
        (ProviderError::Unreachable { .. }, _) => true,
        (error, Repeat::Freely) => {
            matches!(error, ProviderError::NoAnswer { .. })
                || matches!(error, ProviderError::Status { status, .. } if *status >= 500)
        }
        (_, Repeat::OnlyIfNothingDone) => false,
    }
}

/// How one exchange failed, before it is named after the profile and request.
enum Failure {
    /// A status the request does not accept.
    Refused {
        status: StatusCode,
        retry_after: Option<Duration>,
    },
    /// A body past [`MAX_BODY`], with the status.
    TooLarge(u16),
    /// Sent, but no whole answer.
    Lost(String),
    /// Never sent.
    Unreachable(String),
}

impl Failure {
    fn named(self, profile: &str, request: &str) -> ProviderError {
        let (profile, request) = (profile.to_owned(), request.to_owned());
        match self {
            Failure::Refused { status, .. } => ProviderError::Status {
                profile,
                request,
                status: status.as_u16(),
                hint: String::new(),
            },
            Failure::TooLarge(status) => ProviderError::TooLarge {
                profile,
                request,
                status,
                cap: MAX_BODY,
            },
            Failure::Lost(reason) => ProviderError::NoAnswer {
                profile,
                request,
                reason,
            },
            Failure::Unreachable(reason) => ProviderError::Unreachable {
                profile,
                request,
                reason,
            },
        }
    }
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
        code if (300..400).contains(&code) => {
            " (a redirect, never followed with a key: check the profile's baseUrl and path)"
                .to_owned()
        }
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
