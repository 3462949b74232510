//! The HTTP API: routing, authentication, the key operations, and where faults replace answers.
//!
//! A request is first matched against the queued faults (see [`crate::faults`]); a `Fail`
//! fault answers at once, the others let the real work happen and then spoil its answer. The
//! real work routes first (an unknown route is 404 whoever asks), then authenticates the bearer
//! key, then reads the body. Every request is recorded as `METHOD path status`, never with a
//! header or a body, so nothing recorded or logged can hold a key.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::Shared;
use crate::faults::{FaultAnswer, take_fault};
use crate::store::{ADMIN_ID, Caller};
use rotation_local::serve::Reply;

/// The largest request body read; names are short.
const MAX_BODY: usize = 64 * 1024;
/// The longest key name, in characters.
const MAX_NAME_CHARS: usize = 200;
/// What a `malformed_next` fault answers: the start of a mint answer, cut off.
pub(crate) const MALFORMED_BODY: &str = r#"{"id": "key_"#;

/// Answers one request (`None`: close the connection without an answer) and records it.
pub(crate) async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Option<Reply> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let fault = take_fault(&mut crate::lock(&shared.faults), method.as_str(), &path);
    let (reply, outcome) = match fault {
        None => {
            let reply = answer(&shared, request).await;
            let outcome = reply.status().as_u16().to_string();
            (Some(reply), outcome)
        }
        Some(FaultAnswer::Fail {
            status,
            retry_after,
        }) => {
            let reply = injected_failure(status, retry_after);
            let outcome = format!("{} injected", reply.status().as_u16());
            (Some(reply), outcome)
        }
        Some(FaultAnswer::Malformed) => {
            let done = answer(&shared, request).await.status().as_u16();
            let mut reply = Response::new(Full::new(Bytes::from_static(MALFORMED_BODY.as_bytes())));
            reply
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            (Some(reply), format!("200 malformed after {done}"))
        }
        Some(FaultAnswer::DropAfterWork) => {
            let done = answer(&shared, request).await.status().as_u16();
            (None, format!("dropped after {done}"))
        }
    };
    tracing::debug!(%method, path, outcome, "key service answered");
    crate::lock(&shared.requests).push(format!("{method} {path} {outcome}"));
    reply
}

/// What the service has to do for `request`, done, as the answer it deserves.
async fn answer(shared: &Shared, request: Request<Incoming>) -> Reply {
    let Some(route) = Route::of(request.method(), request.uri().path()) else {
        return error(StatusCode::NOT_FOUND, "not found");
    };
    let caller = bearer(&request).and_then(|key| crate::lock(&shared.store).caller(key));
    let Some(caller) = caller else {
        return error(StatusCode::UNAUTHORIZED, "invalid or revoked key");
    };
    match route {
        Route::Create => {
            let name = match read_name(request.into_body()).await {
                Ok(name) => name,
                Err(message) => return error(StatusCode::BAD_REQUEST, message),
            };
            let (minted, created) = crate::lock(&shared.store).mint(&name);
            json_reply(
                StatusCode::CREATED,
                &json!({"id": minted.id, "name": minted.name, "key": minted.key, "created": created}),
            )
        }
        Route::List => {
            let keys: Vec<Value> = crate::lock(&shared.store)
                .alive()
                .iter()
                .map(|key| json!({"id": key.id, "name": key.name, "created": key.created}))
                .collect();
            json_reply(StatusCode::OK, &json!({ "keys": keys }))
        }
        Route::Get(id) => match crate::lock(&shared.store).get(&id) {
            Some(key) => json_reply(
                StatusCode::OK,
                &json!({"id": key.id, "name": key.name, "created": key.created}),
            ),
            None => error(StatusCode::NOT_FOUND, "no such key"),
        },
        Route::Revoke(id) if id == ADMIN_ID => error(
            StatusCode::FORBIDDEN,
            "the admin key cannot be revoked through the API",
        ),
        Route::Revoke(id) => {
            if crate::lock(&shared.store).revoke(&id) {
                let mut reply = Response::new(Full::new(Bytes::new()));
                *reply.status_mut() = StatusCode::NO_CONTENT;
                reply
            } else {
                error(StatusCode::NOT_FOUND, "no such key")
            }
        }
        Route::WhoAmI => {
            let (id, name) = match caller {
                Caller::Admin => (ADMIN_ID.to_owned(), ADMIN_ID.to_owned()),
                Caller::Key { id, name } => (id, name),
            };
            json_reply(StatusCode::OK, &json!({"id": id, "name": name}))
        }
    }
}

/// The operations of the API.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    /// `POST /v1/keys`
    Create,
    /// `GET /v1/keys`
    List,
    /// `GET /v1/keys/<id>`
    Get(String),
    /// `DELETE /v1/keys/<id>`
    Revoke(String),
    /// `GET /v1/whoami`
    WhoAmI,
}

impl Route {
    fn of(method: &Method, path: &str) -> Option<Route> {
        let id = path
            .strip_prefix("/v1/keys/")
            .filter(|id| !id.is_empty() && !id.contains('/'));
        match (method, path, id) {
            (&Method::POST, "/v1/keys", _) => Some(Route::Create),
            (&Method::GET, "/v1/keys", _) => Some(Route::List),
            (&Method::GET, "/v1/whoami", _) => Some(Route::WhoAmI),
            (&Method::GET, _, Some(id)) => Some(Route::Get(id.to_owned())),
            (&Method::DELETE, _, Some(id)) => Some(Route::Revoke(id.to_owned())),
            _ => None,
        }
    }
}

/// The key of `Authorization: Bearer <key>` (the scheme in any case).
fn bearer<B>(request: &Request<B>) -> Option<&str> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then_some(key)
}

/// The `name` of a `{"name": "<label>"}` body, or why the body is refused.
async fn read_name(body: Incoming) -> Result<String, &'static str> {
    let bytes = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|_| "the body could not be read or is larger than 64 KiB")?
        .to_bytes();
    parse_name(&bytes)
}

fn parse_name(body: &[u8]) -> Result<String, &'static str> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| r#"the body must be JSON like {"name": "<label>"}"#)?;
    let name = value
        .get("name")
        .and_then(Value::as_str)
        .ok_or(r#"the body needs "name", a string"#)?;
    if (1..=MAX_NAME_CHARS).contains(&name.chars().count()) {
        Ok(name.to_owned())
    } else {
        Err("name must be 1 to 200 characters")
    }
}

/// The answer of a `fail_next` fault; a status that is not one answers 500.
fn injected_failure(status: u16, retry_after: Option<u64>) -> Reply {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut reply = error(status, "injected");
    if let Some(seconds) = retry_after {
        reply
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    reply
}

fn error(status: StatusCode, message: &str) -> Reply {
    json_reply(status, &json!({ "error": message }))
}

fn json_reply(status: StatusCode, body: &Value) -> Reply {
    rotation_local::serve::json_reply(status.as_u16(), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let route = |method: Method, path: &str| Route::of(&method, path);
        assert_eq!(route(Method::POST, "/v1/keys"), Some(Route::Create));
        assert_eq!(route(Method::GET, "/v1/keys"), Some(Route::List));
        assert_eq!(route(Method::GET, "/v1/whoami"), Some(Route::WhoAmI));
        assert_eq!(
            route(Method::GET, "/v1/keys/key_1"),
            Some(Route::Get("key_1".into()))
        );
        assert_eq!(
            route(Method::DELETE, "/v1/keys/key_1"),
            Some(Route::Revoke("key_1".into()))
        );
        assert_eq!(route(Method::DELETE, "/v1/keys"), None);
        assert_eq!(route(Method::PUT, "/v1/keys"), None);
        assert_eq!(route(Method::GET, "/v1/keys/"), None);
        assert_eq!(route(Method::GET, "/v1/keys/a/b"), None);
        assert_eq!(route(Method::GET, "/"), None);
    }

    #[test]
    fn bearer_keys() {
        let with = |value: &str| {
            Request::builder()
                .header(AUTHORIZATION, value)
                .body(())
                .unwrap()
        };
        assert_eq!(bearer(&with("Bearer sk_1")), Some("sk_1"));
        assert_eq!(bearer(&with("bearer sk_1")), Some("sk_1"));
        assert_eq!(bearer(&with("Basic sk_1")), None);
        assert_eq!(bearer(&with("Bearer ")), None);
        assert_eq!(bearer(&Request::new(())), None);
    }

    #[test]
    fn names() {
        assert_eq!(parse_name(br#"{"name": "a"}"#), Ok("a".to_owned()));
        let longest = format!(r#"{{"name": "{}"}}"#, "é".repeat(200));
        assert!(parse_name(longest.as_bytes()).is_ok());
        let too_long = format!(r#"{{"name": "{}"}}"#, "a".repeat(201));
        assert!(parse_name(too_long.as_bytes()).is_err());
        assert!(parse_name(br#"{"name": ""}"#).is_err());
        assert!(parse_name(br#"{"name": 7}"#).is_err());
        assert!(parse_name(br#"{}"#).is_err());
        assert!(parse_name(b"name=a").is_err());
    }

    #[test]
    fn an_injected_failure_carries_retry_after() {
        let reply = injected_failure(429, Some(3));
        assert_eq!(reply.status(), 429);
        assert_eq!(reply.headers()[RETRY_AFTER], "3");
        assert_eq!(injected_failure(1000, None).status(), 500);
    }
}
