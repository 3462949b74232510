//! The Lambda Runtime API, served to one function process.
//!
//! A function built on a Lambda runtime (such as `lambda_runtime`) loops on
//! `GET /2018-06-01/runtime/invocation/next`, a long poll answered with the next event, and
//! reports each result with `POST .../invocation/{id}/response` or `.../invocation/{id}/error`;
//! a failure before the first event goes to `POST .../init/error`. See
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>.
//!
//! Invocations are sequential, as on Lambda: one event is *awaited* at a time. Whatever is not
//! about that event (an event queued for an invocation that has since timed out, a late answer
//! for it) is ignored, so one stuck invocation cannot leak into the next.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Incoming;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

use crate::outcome::Outcome;
use crate::serve::{LocalServer, Reply, json_reply};

const PREFIX: &str = "/2018-06-01/runtime/";

/// One event on its way to the function, with what Lambda sends alongside it.
pub(crate) struct Event {
    /// The `Lambda-Runtime-Aws-Request-Id`; the function answers under this id.
    pub(crate) request_id: String,
    /// The JSON payload.
    pub(crate) payload: Bytes,
    /// Epoch milliseconds after which Lambda would stop the invocation.
    pub(crate) deadline_ms: u128,
    /// The ARN the function believes it was invoked as.
    pub(crate) function_arn: String,
}

/// What the function told the Runtime API outside of any invocation.
#[derive(Clone, Debug, Default)]
pub(crate) struct ApiStatus {
    /// When the function first asked for an event.
    pub(crate) first_poll: Option<Instant>,
    /// The `(errorType, errorMessage)` posted to `/runtime/init/error`.
    pub(crate) init_error: Option<(String, String)>,
}

/// The invocation whose answer is awaited.
struct Awaited {
    request_id: String,
    answer: oneshot::Sender<Outcome>,
}

struct Shared {
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Event>>,
    status: watch::Sender<ApiStatus>,
    awaited: Mutex<Option<Awaited>>,
}

impl Shared {
    fn awaited(&self) -> std::sync::MutexGuard<'_, Option<Awaited>> {
        self.awaited.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_awaited(&self, request_id: &str) -> bool {
        self.awaited()
            .as_ref()
            .is_some_and(|awaited| awaited.request_id == request_id)
    }

    /// Hands the function's answer to the waiting invocation; false if nobody waits for it.
    fn answer(&self, request_id: &str, outcome: Outcome) -> bool {
        let mut awaited = self.awaited();
        match awaited.take() {
            Some(current) if current.request_id == request_id => {
                // The invoker may have given up at this very moment; nothing left to tell.
                let _ = current.answer.send(outcome);
                true
            }
            other => {
                *awaited = other;
                false
            }
        }
    }
}

/// A Runtime API server for one function process; dropping it stops the server.
pub(crate) struct RuntimeApi {
    server: LocalServer,
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<Event>,
}

impl RuntimeApi {
    /// Starts the server on a free loopback port.
    pub(crate) async fn start() -> std::io::Result<RuntimeApi> {
        let (events, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: tokio::sync::Mutex::new(receiver),
            status: watch::Sender::new(ApiStatus::default()),
            awaited: Mutex::new(None),
        });
        let handler_state = Arc::clone(&shared);
        let server =
            LocalServer::start(move |request| route(Arc::clone(&handler_state), request)).await?;
        Ok(RuntimeApi {
            server,
            shared,
            events,
        })
    }

    /// The address to put in `AWS_LAMBDA_RUNTIME_API`.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Watches what the function reported outside of invocations.
    pub(crate) fn status(&self) -> watch::Receiver<ApiStatus> {
        self.shared.status.subscribe()
    }

    /// Queues `event` for the function's next poll; the receiver yields its answer.
    ///
    /// Replaces any invocation still awaited (the caller serialises invocations).
    pub(crate) fn submit(&self, event: Event) -> oneshot::Receiver<Outcome> {
        let (answer, receiver) = oneshot::channel();
        *self.shared.awaited() = Some(Awaited {
            request_id: event.request_id.clone(),
            answer,
        });
        // The receiver lives in `shared`, which we hold: sending cannot fail.
        let _ = self.events.send(event);
        receiver
    }

    /// Stops awaiting the current invocation: its queued event and any late answer are ignored.
    pub(crate) fn settle(&self) {
        self.shared.awaited().take();
    }
}

async fn route(shared: Arc<Shared>, request: Request<Incoming>) -> Reply {
    let path = request.uri().path().to_owned();
    let Some(route) = path.strip_prefix(PREFIX) else {
        return not_found(&path);
    };
    match (request.method(), route) {
        (&Method::GET, "invocation/next") => next_event(&shared).await,
        (&Method::POST, "init/error") => {
            let (error_type, error_message) = read_error(request).await;
            tracing::debug!(%error_type, "function reported an init error");
            shared.status.send_modify(|status| {
                status.init_error = Some((error_type, error_message));
            });
            accepted()
        }
        (&Method::POST, route) => match invocation_report(route) {
            Some((request_id, Report::Response)) => {
                let body = read_body(request).await;
                // Lambda passes any bytes through; keep non-JSON answers readable.
                let value = serde_json::from_slice(&body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
                answered(
                    shared.answer(request_id, Outcome::Success(value)),
                    request_id,
                )
            }
            Some((request_id, Report::Error)) => {
                let (error_type, error_message) = read_error(request).await;
                let outcome = Outcome::Error {
                    error_type,
                    error_message,
                };
                answered(shared.answer(request_id, outcome), request_id)
            }
            None => not_found(&path),
        },
        _ => not_found(&path),
    }
}

/// Answers the long poll with the awaited event, skipping events nobody waits for any more.
async fn next_event(shared: &Shared) -> Reply {
    shared.status.send_if_modified(|status| {
        let first = status.first_poll.is_none();
        if first {
            status.first_poll = Some(Instant::now());
        }
        first
    });
    let mut events = shared.events.lock().await;
    loop {
        let Some(event) = events.recv().await else {
            return json_reply(
                500,
                &json!({"errorType": "ServiceShuttingDown", "errorMessage": "the local function is stopping"}),
            );
        };
        if shared.is_awaited(&event.request_id) {
            return event_reply(event);
        }
    }
}

fn event_reply(event: Event) -> Reply {
    let reply = http::Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("Lambda-Runtime-Aws-Request-Id", &event.request_id)
        .header("Lambda-Runtime-Deadline-Ms", event.deadline_ms.to_string())
        .header("Lambda-Runtime-Invoked-Function-Arn", &event.function_arn)
        .header("Lambda-Runtime-Trace-Id", trace_id())
        .body(Full::new(event.payload));
    reply.unwrap_or_else(|error| {
        json_reply(
            500,
            &json!({"errorType": "InvalidEvent", "errorMessage": error.to_string()}),
        )
    })
}

/// An X-Ray trace header of the shape Lambda sends.
fn trace_id() -> String {
    let bits: u128 = rand::random();
    let epoch_seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    format!(
        "Root=1-{epoch_seconds:08x}-{:024x};Parent={:016x};Sampled=0",
        bits >> 32,
        bits as u64
    )
}

#[derive(Debug, PartialEq)]
enum Report {
    Response,
    Error,
}

/// Parses `invocation/{id}/response` or `invocation/{id}/error`.
fn invocation_report(route: &str) -> Option<(&str, Report)> {
    let rest = route.strip_prefix("invocation/")?;
    let (request_id, kind) = rest.rsplit_once('/')?;
    if request_id.is_empty() || request_id.contains('/') {
        return None;
    }
    match kind {
        "response" => Some((request_id, Report::Response)),
        "error" => Some((request_id, Report::Error)),
        _ => None,
    }
}

async fn read_body(request: Request<Incoming>) -> Bytes {
    match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            tracing::warn!(%error, "reading a request from the function failed");
            Bytes::new()
        }
    }
}

/// Reads `{"errorType", "errorMessage"}`, falling back on the error-type header and the raw body.
async fn read_error(request: Request<Incoming>) -> (String, String) {
    let header_type = request
        .headers()
        .get("Lambda-Runtime-Function-Error-Type")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = read_body(request).await;
    parse_error(header_type, &body)
}

fn parse_error(header_type: Option<String>, body: &[u8]) -> (String, String) {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let field = |name: &str| parsed.get(name).and_then(Value::as_str).map(str::to_owned);
    let error_type = field("errorType")
        .or(header_type)
        .unwrap_or_else(|| "Unhandled".to_owned());
    let error_message =
        field("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    (error_type, error_message)
}

fn accepted() -> Reply {
    json_reply(202, &json!({"status": "OK"}))
}

fn answered(known: bool, request_id: &str) -> Reply {
    if known {
        accepted()
    } else {
        json_reply(
            400,
            &json!({
                "errorType": "InvalidRequestID",
                "errorMessage": format!("no invocation {request_id} is awaiting an answer (timed out or unknown)"),
            }),
        )
    }
}

fn not_found(path: &str) -> Reply {
    json_reply(
        404,
        &json!({"errorType": "NotFound", "errorMessage": format!("no Runtime API route for {path}")}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_invocation_reports() {
        assert_eq!(
            invocation_report("invocation/abc-1/response"),
            Some(("abc-1", Report::Response))
        );
        assert_eq!(
            invocation_report("invocation/abc-1/error"),
            Some(("abc-1", Report::Error))
        );
        assert_eq!(invocation_report("invocation/next"), None);
        assert_eq!(invocation_report("invocation//response"), None);
        assert_eq!(invocation_report("invocation/a/b/response"), None);
        assert_eq!(invocation_report("invocation/abc/other"), None);
        assert_eq!(invocation_report("init/error"), None);
    }

    #[test]
    fn error_body_wins_over_header_and_raw_body_is_the_fallback() {
        let body = br#"{"errorType":"Boom","errorMessage":"it broke"}"#;
        assert_eq!(
            parse_error(Some("Header".into()), body),
            ("Boom".into(), "it broke".into())
        );
        assert_eq!(
            parse_error(Some("Header".into()), b"plain text"),
            ("Header".into(), "plain text".into())
        );
        assert_eq!(parse_error(None, b""), ("Unhandled".into(), String::new()));
    }

    #[test]
    fn trace_id_has_the_lambda_shape() {
        let id = trace_id();
        assert!(id.starts_with("Root=1-"), "{id}");
        assert!(id.contains(";Parent="), "{id}");
        assert!(id.ends_with(";Sampled=0"), "{id}");
    }
}
