//! An HTTP proxy in front of moto that answers chosen requests with Secrets Manager faults.
//!
//! Secrets Manager throttles (`ThrottlingException`, HTTP 400) and occasionally fails
//! (`InternalServiceError`, HTTP 500 or 503); a rotation function has to ride through both,
//! usually with the SDK's retries. moto never does either, so this proxy forwards every
//! request unchanged to moto and replaces the answer to the next few requests, optionally only
//! those of one operation, with the fault. It also records which operations were called, so a
//! test can see the retries. A slow service (an overloaded endpoint, a NAT path that drops
//! packets) is a fault too: [`FaultProxy::delay_next`] holds chosen requests back before
//! forwarding them, so a test can see a function give up cleanly before its deadline.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use crate::serve::{LocalServer, Reply, json_reply};
use crate::{LocalError, new_uuid};

/// A fault-injecting proxy for the Secrets Manager API; dropping it stops it.
pub struct FaultProxy {
    server: LocalServer,
    state: Arc<ProxyState>,
}

struct ProxyState {
    scheme: Scheme,
    authority: Authority,
    client: Client<HttpConnector, Full<Bytes>>,
    faults: Mutex<Vec<Fault>>,
    calls: Mutex<Vec<String>>,
    /// Operation and JSON body of every forwarded request (they may hold secret values: kept in
    /// memory for the test that asks, never logged).
    bodies: Mutex<Vec<(String, Bytes)>>,
}

/// A rule: answer the next `remaining` matching requests with `answer`.
#[derive(Clone, Debug, PartialEq)]
struct Fault {
    remaining: usize,
    operation: Option<String>,
    answer: FaultAnswer,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum FaultAnswer {
    /// Answer with this error instead of forwarding.
    Error(ErrorAnswer),
    /// Forward the request, but only after this long.
    Delay(Duration),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ErrorAnswer {
    Throttle,
    ServerError(u16),
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards every request to `upstream`
    /// (e.g. `http://127.0.0.1:5123`), returning its answer unchanged.
    pub async fn start(upstream: &str) -> Result<FaultProxy, LocalError> {
        let (scheme, authority) = parse_upstream(upstream)?;
        let state = Arc::new(ProxyState {
            scheme,
            authority,
            client: Client::builder(TokioExecutor::new()).build_http(),
            faults: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
            bodies: Mutex::new(Vec::new()),
        });
        let handler_state = Arc::clone(&state);
        let server = LocalServer::start(move |request| handle(Arc::clone(&handler_state), request))
            .await
            .map_err(|source| LocalError::Listen {
                what: "fault proxy",
                source,
            })?;
        Ok(FaultProxy { server, state })
    }

    /// The URL to use as the Secrets Manager endpoint, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// Answers the next `n` requests (only those of `operation`, e.g. `"GetSecretValue"`, if
    /// given) with Secrets Manager's throttling error: HTTP 400, `ThrottlingException`,
    /// "Rate exceeded". The SDK retries these.
    pub fn throttle_next(&self, n: usize, operation: Option<&str>) {
        self.add(n, operation, FaultAnswer::Error(ErrorAnswer::Throttle));
    }

    /// Answers the next `n` requests (only those of `operation`, if given) with
    /// `InternalServiceError` and HTTP `status` (500 or 503 are what Secrets Manager sends; the
    /// SDK retries both).
    pub fn fail_next(&self, n: usize, status: u16, operation: Option<&str>) {
        self.add(
            n,
            operation,
            FaultAnswer::Error(ErrorAnswer::ServerError(status)),
        );
    }

    /// The operation of every request received so far, in order, faulted or not
    /// (`secretsmanager.GetSecretValue` is recorded as `GetSecretValue`; a request without
    /// `X-Amz-Target` as its method and path).
    pub fn calls(&self) -> Vec<String> {
        lock(&self.state.calls).clone()
    }

    /// Forgets the recorded calls and request bodies.
    pub fn clear_calls(&self) {
        lock(&self.state.calls).clear();
        lock(&self.state.bodies).clear();
    }

    /// The JSON bodies of the forwarded (not faulted) requests of one operation, in order: what
    /// the client really sent, e.g. to check that `PutSecretValue` carried a `RotationToken`.
    pub fn request_bodies(&self, operation: &str) -> Vec<serde_json::Value> {
        lock(&self.state.bodies)
            .iter()
            .filter(|(name, _)| name == operation)
            .map(|(_, body)| serde_json::from_slice(body).unwrap_or(serde_json::Value::Null))
            .collect()
    }

    /// Holds the next `n` requests (only those of `operation`, if given) back for `delay`
    /// before forwarding them: a slow Secrets Manager. The client sees no error, only time
    /// passing (and gives up on its own timeouts).
    pub fn delay_next(&self, n: usize, operation: Option<&str>, delay: Duration) {
        self.add(n, operation, FaultAnswer::Delay(delay));
    }

    fn add(&self, n: usize, operation: Option<&str>, answer: FaultAnswer) {
        if n == 0 {
            return;
        }
        lock(&self.state.faults).push(Fault {
            remaining: n,
            operation: operation.map(str::to_owned),
            answer,
        });
    }
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("endpoint", &self.endpoint())
            .field("upstream", &self.state.authority)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn parse_upstream(upstream: &str) -> Result<(Scheme, Authority), LocalError> {
    let bad = |reason: &str| LocalError::BadUpstream {
        upstream: upstream.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = upstream
        .parse()
        .map_err(|_| bad("it does not parse as a URL"))?;
    let parts = uri.into_parts();
    match (parts.scheme, parts.authority) {
        (Some(scheme), Some(authority)) if scheme == Scheme::HTTP => Ok((scheme, authority)),
        (Some(_), Some(_)) => Err(bad(
            "only plain http is supported (moto_server speaks http)",
        )),
        _ => Err(bad(
            "it needs a scheme and a host, e.g. http://127.0.0.1:5123",
        )),
    }
}

async fn handle(state: Arc<ProxyState>, request: Request<Incoming>) -> Reply {
    let operation = operation_of(&request);
    let fault = take_fault(&mut lock(&state.faults), &operation);
    lock(&state.calls).push(operation.clone());
    match fault {
        Some(FaultAnswer::Delay(delay)) => {
            tracing::debug!(%operation, ?delay, "fault proxy holds a request back");
            tokio::time::sleep(delay).await;
            forward(&state, &operation, request).await
        }
        Some(FaultAnswer::Error(answer)) => {
            tracing::debug!(%operation, ?answer, "fault proxy injects a fault");
            fault_reply(answer)
        }
        None => forward(&state, &operation, request).await,
    }
}

/// `secretsmanager.GetSecretValue` -> `GetSecretValue`; without the header, `POST /path`.
fn operation_of<B>(request: &Request<B>) -> String {
    match request
        .headers()
        .get("x-amz-target")
        .and_then(|target| target.to_str().ok())
    {
        Some(target) => target
            .rsplit_once('.')
            .map_or(target, |(_, operation)| operation)
            .to_owned(),
        None => format!("{} {}", request.method(), request.uri().path()),
    }
}

/// Consumes one use of the first rule that applies to `operation`.
fn take_fault(faults: &mut Vec<Fault>, operation: &str) -> Option<FaultAnswer> {
    let index = faults.iter().position(|fault| {
        fault
            .operation
            .as_deref()
            .is_none_or(|wanted| wanted == operation)
    })?;
    let fault = &mut faults[index];
    let answer = fault.answer;
    fault.remaining -= 1;
    if fault.remaining == 0 {
        faults.remove(index);
    }
    Some(answer)
}

fn fault_reply(answer: ErrorAnswer) -> Reply {
    let (status, error_type, message) = match answer {
        ErrorAnswer::Throttle => (400, "ThrottlingException", "Rate exceeded"),
        ErrorAnswer::ServerError(status) => (
            status,
            "InternalServiceError",
            "An error occurred on the server side (injected by rotation-local's FaultProxy).",
        ),
    };
    let mut reply = json_reply(status, &json!({"__type": error_type, "message": message}));
    let headers = reply.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    headers.insert("x-amzn-ErrorType", HeaderValue::from_static(error_type));
    if let Ok(request_id) = HeaderValue::try_from(new_uuid()) {
        headers.insert("x-amzn-RequestId", request_id);
    }
    reply
}

async fn forward(state: &ProxyState, operation: &str, request: Request<Incoming>) -> Reply {
    let (mut parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(body) => body.to_bytes(),
        Err(error) => return bad_gateway(&format!("reading the request failed: {error}")),
    };
    lock(&state.bodies).push((operation.to_owned(), body.clone()));
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |path| path.as_str())
        .to_owned();
    parts.uri = match Uri::builder()
        .scheme(state.scheme.clone())
        .authority(state.authority.clone())
        .path_and_query(path)
        .build()
    {
        Ok(uri) => uri,
        Err(error) => return bad_gateway(&format!("building the upstream URL failed: {error}")),
    };
    let answer = match state
        .client
        .request(Request::from_parts(parts, Full::new(body)))
        .await
    {
        Ok(answer) => answer,
        Err(error) => {
            return bad_gateway(&format!(
                "upstream {} did not answer: {error}; is moto_server running?",
                state.authority
            ));
        }
    };
    let (parts, body) = answer.into_parts();
    match body.collect().await {
        Ok(body) => Reply::from_parts(parts, Full::new(body.to_bytes())),
        Err(error) => bad_gateway(&format!("reading the upstream answer failed: {error}")),
    }
}

fn bad_gateway(message: &str) -> Reply {
    tracing::warn!(message, "fault proxy could not forward a request");
    json_reply(
        StatusCode::BAD_GATEWAY.as_u16(),
        &json!({"__type": "BadGateway", "message": message}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(remaining: usize, operation: Option<&str>) -> Fault {
        Fault {
            remaining,
            operation: operation.map(str::to_owned),
            answer: FaultAnswer::Error(ErrorAnswer::Throttle),
        }
    }

    #[test]
    fn a_rule_for_any_operation_is_used_up_then_removed() {
        let mut faults = vec![fault(2, None)];
        assert_eq!(
            take_fault(&mut faults, "GetSecretValue"),
            Some(FaultAnswer::Error(ErrorAnswer::Throttle))
        );
        assert_eq!(
            take_fault(&mut faults, "PutSecretValue"),
            Some(FaultAnswer::Error(ErrorAnswer::Throttle))
        );
        assert_eq!(take_fault(&mut faults, "GetSecretValue"), None);
        assert!(faults.is_empty());
    }

    #[test]
    fn a_rule_for_one_operation_lets_others_through() {
        let mut faults = vec![fault(1, Some("GetSecretValue"))];
        assert_eq!(take_fault(&mut faults, "DescribeSecret"), None);
        assert_eq!(take_fault(&mut faults, "BatchGetSecretValue"), None);
        assert_eq!(
            take_fault(&mut faults, "GetSecretValue"),
            Some(FaultAnswer::Error(ErrorAnswer::Throttle))
        );
        assert!(faults.is_empty());
    }

    #[test]
    fn operation_comes_from_the_target_header() {
        let request = Request::builder()
            .method("POST")
            .uri("/")
            .header("X-Amz-Target", "secretsmanager.GetSecretValue")
            .body(())
            .unwrap();
        assert_eq!(operation_of(&request), "GetSecretValue");
        let plain = Request::builder().uri("/health").body(()).unwrap();
        assert_eq!(operation_of(&plain), "GET /health");
    }

    #[test]
    fn throttling_reply_is_what_secrets_manager_sends() {
        let reply = fault_reply(ErrorAnswer::Throttle);
        assert_eq!(reply.status(), 400);
        assert_eq!(
            reply.headers()["content-type"],
            "application/x-amz-json-1.1"
        );
        assert_eq!(reply.headers()["x-amzn-errortype"], "ThrottlingException");
        let reply = fault_reply(ErrorAnswer::ServerError(503));
        assert_eq!(reply.status(), 503);
        assert_eq!(reply.headers()["x-amzn-errortype"], "InternalServiceError");
    }

    #[test]
    fn upstream_must_be_plain_http_with_a_host() {
        assert!(parse_upstream("http://127.0.0.1:5123").is_ok());
        assert!(parse_upstream("https://127.0.0.1:5123").is_err());
        assert!(parse_upstream("127.0.0.1:5123").is_err());
        assert!(parse_upstream("not a url").is_err());
    }
}
