//! The HTTP API: routing, authentication, the key and user operations, and where faults
//! replace answers.
//!
//! A request is first matched against the queued faults (see [`crate::faults`]); a `Fail`
//! fault answers at once, the others let the real work happen and then spoil its answer. The
//! real work routes first (an unknown route is 404 whoever asks), then authenticates (a bearer
//! key, or for a user acting on itself, Basic credentials), then checks what the caller may do,
//! then reads the body. Every request is recorded as `METHOD path status`, never with a header
//! or a body, so nothing recorded or logged can hold a key or a password.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::Shared;
use crate::faults::{FaultAnswer, take_fault};
use crate::store::{ADMIN_ID, Caller};
use rotation_local::serve::Reply;

/// The largest request body read; names and passwords are short.
const MAX_BODY: usize = 64 * 1024;
/// The longest key name, in characters.
const MAX_NAME_CHARS: usize = 200;
/// The longest user name, in characters (of `A-Z a-z 0-9 _ . -`).
const MAX_USER_CHARS: usize = 64;
/// The shortest and longest user password, in characters.
const USER_PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=256;
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
        Some(FaultAnswer::DelayAfterWork { delay }) => {
            let reply = answer(&shared, request).await;
            let outcome = format!("{} delayed", reply.status().as_u16());
            tokio::time::sleep(delay).await;
            (Some(reply), outcome)
        }
        Some(FaultAnswer::FailAfterWork { status }) => {
            let done = answer(&shared, request).await.status().as_u16();
            let reply = injected_failure(status, None);
            let outcome = format!("{} injected after {done}", reply.status().as_u16());
            (Some(reply), outcome)
        }
    };
    tracing::debug!(%method, path, outcome, "key service answered");
    crate::lock(&shared.requests).push(format!("{method} {path} {outcome}"));
    reply
}

/// What the service has to do for `request`, done, as the answer it deserves.
async fn answer(shared: &Shared, request: Request<Incoming>) -> Reply {
    match Route::of(request.method(), request.uri().path()) {
        None => error(StatusCode::NOT_FOUND, "not found"),
        Some(Route::Bearer(route)) => answer_key_holder(shared, route, request).await,
        Some(Route::Basic(route)) => answer_user(shared, route, request).await,
    }
}

/// A request authenticated with a bearer key.
async fn answer_key_holder(
    shared: &Shared,
    route: BearerRoute,
    request: Request<Incoming>,
) -> Reply {
    let caller = bearer(&request).and_then(|key| crate::lock(&shared.store).caller(key));
    let Some(caller) = caller else {
        return error(StatusCode::UNAUTHORIZED, "invalid or revoked key");
    };
    match route {
        BearerRoute::Create => {
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
        BearerRoute::List => {
            let keys: Vec<Value> = crate::lock(&shared.store)
                .alive()
                .iter()
                .map(|key| json!({"id": key.id, "name": key.name, "created": key.created}))
                .collect();
            json_reply(StatusCode::OK, &json!({ "keys": keys }))
        }
        BearerRoute::Get(id) => match crate::lock(&shared.store).get(&id) {
            Some(key) => json_reply(
                StatusCode::OK,
                &json!({"id": key.id, "name": key.name, "created": key.created}),
            ),
            None => error(StatusCode::NOT_FOUND, "no such key"),
        },
        BearerRoute::Revoke(id) if id == ADMIN_ID => error(
            StatusCode::FORBIDDEN,
            "the admin key cannot be revoked through the API",
        ),
        BearerRoute::Revoke(id) => {
            if crate::lock(&shared.store).revoke(&id) {
                no_content()
            } else {
                error(StatusCode::NOT_FOUND, "no such key")
            }
        }
        BearerRoute::WhoAmI => {
            let (id, name) = match caller {
                Caller::Admin => (ADMIN_ID.to_owned(), ADMIN_ID.to_owned()),
                Caller::Key { id, name } => (id, name),
            };
            json_reply(StatusCode::OK, &json!({"id": id, "name": name}))
        }
        BearerRoute::CreateUser => {
            if caller != Caller::Admin {
                return error(StatusCode::FORBIDDEN, "only the admin key may create users");
            }
            let body = read_body(request.into_body()).await;
            let (name, password) = match body.and_then(|body| parse_new_user(&body)) {
                Ok(user) => user,
                Err(message) => return error(StatusCode::BAD_REQUEST, message),
            };
            if crate::lock(&shared.store).add_user(&name, &password) {
                json_reply(StatusCode::CREATED, &json!({ "name": name }))
            } else {
                error(StatusCode::CONFLICT, "a user with this name exists")
            }
        }
    }
}

/// A request of a user about itself, authenticated with Basic credentials.
async fn answer_user(shared: &Shared, route: BasicRoute, request: Request<Incoming>) -> Reply {
    let credentials = basic(&request)
        .filter(|(name, password)| crate::lock(&shared.store).is_user_password(name, password));
    let Some((caller, password)) = credentials else {
        return unauthorized_user();
    };
    match route {
        BasicRoute::Me => json_reply(StatusCode::OK, &json!({ "name": caller })),
        BasicRoute::SetPassword(name) => {
            if name != caller {
                return error(
                    StatusCode::FORBIDDEN,
                    "a user may only change its own password",
                );
            }
            let body = read_body(request.into_body()).await;
            let new = match body.and_then(|body| parse_new_password(&body)) {
                Ok(new) => new,
                Err(message) => return error(StatusCode::BAD_REQUEST, message),
            };
            // Checked again with the change: another request may have changed it meanwhile.
            if crate::lock(&shared.store).change_user_password(&caller, &password, &new) {
                no_content()
            } else {
                unauthorized_user()
            }
        }
    }
}

/// The operations of the API, by how the caller authenticates.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    /// Authenticated with `Authorization: Bearer <key>`.
    Bearer(BearerRoute),
    /// A user acting on itself, authenticated with `Authorization: Basic <name:password>`.
    Basic(BasicRoute),
}

/// The operations of a key holder.
#[derive(Clone, Debug, PartialEq, Eq)]
enum BearerRoute {
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
    /// `POST /v1/users` (the admin key only)
    CreateUser,
}

/// The operations of a user on itself.
#[derive(Clone, Debug, PartialEq, Eq)]
enum BasicRoute {
    /// `PUT /v1/users/<name>/password`
    SetPassword(String),
    /// `GET /v1/users/me`
    Me,
}

impl Route {
    fn of(method: &Method, path: &str) -> Option<Route> {
        let key_id = segment(path, "/v1/keys/", "");
        let user = segment(path, "/v1/users/", "/password");
        Some(match (method, path) {
            (&Method::POST, "/v1/keys") => Route::Bearer(BearerRoute::Create),
            (&Method::GET, "/v1/keys") => Route::Bearer(BearerRoute::List),
            (&Method::GET, "/v1/whoami") => Route::Bearer(BearerRoute::WhoAmI),
            (&Method::POST, "/v1/users") => Route::Bearer(BearerRoute::CreateUser),
            (&Method::GET, "/v1/users/me") => Route::Basic(BasicRoute::Me),
            (&Method::GET, _) => Route::Bearer(BearerRoute::Get(key_id?)),
            (&Method::DELETE, _) => Route::Bearer(BearerRoute::Revoke(key_id?)),
            (&Method::PUT, _) => Route::Basic(BasicRoute::SetPassword(user?)),
            _ => return None,
        })
    }
}

/// The one non-empty path segment between `prefix` and `suffix`, if `path` is just that.
fn segment(path: &str, prefix: &str, suffix: &str) -> Option<String> {
    path.strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(suffix))
        .filter(|segment| !segment.is_empty() && !segment.contains('/'))
        .map(str::to_owned)
}

/// The key of `Authorization: Bearer <key>` (the scheme in any case).
fn bearer<B>(request: &Request<B>) -> Option<&str> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then_some(key)
}

/// The user name and password of `Authorization: Basic <base64(name:password)>` (the scheme
/// in any case).
fn basic<B>(request: &Request<B>) -> Option<(String, String)> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(BASE64.decode(encoded.trim()).ok()?).ok()?;
    let (name, password) = decoded.split_once(':')?;
    Some((name.to_owned(), password.to_owned()))
}

/// The whole body, up to [`MAX_BODY`].
async fn read_body(body: Incoming) -> Result<Bytes, &'static str> {
    Ok(Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|_| "the body could not be read or is larger than 64 KiB")?
        .to_bytes())
}

/// The `name` of a `{"name": "<label>"}` body, or why the body is refused.
async fn read_name(body: Incoming) -> Result<String, &'static str> {
    parse_name(&read_body(body).await?)
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

/// The name and password of a `{"name": "<user>", "password": "<password>"}` body, or why
/// the body is refused (never quoting it).
fn parse_new_user(body: &[u8]) -> Result<(String, String), &'static str> {
    let value: Value = serde_json::from_slice(body).map_err(
        |_| r#"the body must be JSON like {"name": "<user>", "password": "<password>"}"#,
    )?;
    let name = value
        .get("name")
        .and_then(Value::as_str)
        .ok_or(r#"the body needs "name", a string"#)?;
    let valid_name = (1..=MAX_USER_CHARS).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid_name {
        return Err("name must be 1 to 64 characters of A-Z, a-z, 0-9, _, . and -");
    }
    Ok((name.to_owned(), password_of(&value)?))
}

/// The password of a `{"password": "<new password>"}` body, or why the body is refused.
fn parse_new_password(body: &[u8]) -> Result<String, &'static str> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| r#"the body must be JSON like {"password": "<new password>"}"#)?;
    password_of(&value)
}

fn password_of(value: &Value) -> Result<String, &'static str> {
    let password = value
        .get("password")
        .and_then(Value::as_str)
        .ok_or(r#"the body needs "password", a string"#)?;
    if USER_PASSWORD_CHARS.contains(&password.chars().count()) {
        Ok(password.to_owned())
    } else {
        Err("password must be 8 to 256 characters")
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

/// `401` for Basic credentials that are missing or wrong, with the challenge a client expects.
fn unauthorized_user() -> Reply {
    let mut reply = error(StatusCode::UNAUTHORIZED, "invalid user name or password");
    reply.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Basic realm="rotation-keyservice""#),
    );
    reply
}

fn no_content() -> Reply {
    let mut reply = Response::new(Full::new(Bytes::new()));
    *reply.status_mut() = StatusCode::NO_CONTENT;
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
        let bearer = |route: BearerRoute| Some(Route::Bearer(route));
        let basic = |route: BasicRoute| Some(Route::Basic(route));
        assert_eq!(route(Method::POST, "/v1/keys"), bearer(BearerRoute::Create));
        assert_eq!(route(Method::GET, "/v1/keys"), bearer(BearerRoute::List));
        assert_eq!(
            route(Method::GET, "/v1/whoami"),
            bearer(BearerRoute::WhoAmI)
        );
        assert_eq!(
            route(Method::GET, "/v1/keys/key_1"),
            bearer(BearerRoute::Get("key_1".into()))
        );
        assert_eq!(
            route(Method::DELETE, "/v1/keys/key_1"),
            bearer(BearerRoute::Revoke("key_1".into()))
        );
        assert_eq!(
            route(Method::POST, "/v1/users"),
            bearer(BearerRoute::CreateUser)
        );
        assert_eq!(route(Method::GET, "/v1/users/me"), basic(BasicRoute::Me));
        assert_eq!(
            route(Method::PUT, "/v1/users/app/password"),
            basic(BasicRoute::SetPassword("app".into()))
        );
        assert_eq!(
            route(Method::PUT, "/v1/users/me/password"),
            basic(BasicRoute::SetPassword("me".into()))
        );
        assert_eq!(route(Method::DELETE, "/v1/keys"), None);
        assert_eq!(route(Method::PUT, "/v1/keys"), None);
        assert_eq!(route(Method::GET, "/v1/keys/"), None);
        assert_eq!(route(Method::GET, "/v1/keys/a/b"), None);
        assert_eq!(route(Method::GET, "/"), None);
        assert_eq!(route(Method::GET, "/v1/users"), None);
        assert_eq!(route(Method::POST, "/v1/users/me"), None);
        assert_eq!(route(Method::PUT, "/v1/users//password"), None);
        assert_eq!(route(Method::PUT, "/v1/users/a/b/password"), None);
        assert_eq!(route(Method::POST, "/v1/users/app/password"), None);
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
    fn basic_credentials() {
        let with = |value: &str| {
            Request::builder()
                .header(AUTHORIZATION, value)
                .body(())
                .unwrap()
        };
        let encoded = |text: &str| format!("Basic {}", BASE64.encode(text));
        let pair = |name: &str, password: &str| Some((name.to_owned(), password.to_owned()));
        assert_eq!(
            basic(&with(&encoded("app:pass:word"))),
            pair("app", "pass:word")
        );
        assert_eq!(
            basic(&with(&encoded("app:pw").replace("Basic", "basic"))),
            pair("app", "pw")
        );
        assert_eq!(basic(&with(&encoded("no colon"))), None);
        assert_eq!(basic(&with("Basic !!not base64!!")), None);
        assert_eq!(
            basic(&with(&format!("Bearer {}", BASE64.encode("a:b")))),
            None
        );
        assert_eq!(basic(&Request::new(())), None);
    }

    #[test]
    fn user_bodies() {
        assert_eq!(
            parse_new_user(br#"{"name": "app_1.x-y", "password": "12345678"}"#),
            Ok(("app_1.x-y".to_owned(), "12345678".to_owned()))
        );
        let longest = format!(
            r#"{{"name": "{}", "password": "{}"}}"#,
            "n".repeat(64),
            "p".repeat(256)
        );
        assert!(parse_new_user(longest.as_bytes()).is_ok());
        for body in [
            r#"{"name": "", "password": "12345678"}"#.to_owned(),
            format!(
                r#"{{"name": "{}", "password": "12345678"}}"#,
                "n".repeat(65)
            ),
            r#"{"name": "a b", "password": "12345678"}"#.to_owned(),
            r#"{"name": "é", "password": "12345678"}"#.to_owned(),
            r#"{"name": "app", "password": "1234567"}"#.to_owned(),
            format!(r#"{{"name": "app", "password": "{}"}}"#, "p".repeat(257)),
            r#"{"name": "app"}"#.to_owned(),
            r#"{"password": "12345678"}"#.to_owned(),
            "name=app".to_owned(),
        ] {
            let refused = parse_new_user(body.as_bytes()).unwrap_err();
            assert!(!refused.contains("12345678"), "{refused}");
        }
        assert_eq!(
            parse_new_password(br#"{"password": "new-password"}"#),
            Ok("new-password".to_owned())
        );
        assert!(parse_new_password(br#"{"password": "short"}"#).is_err());
        assert!(parse_new_password(br#"{"password": 12345678}"#).is_err());
        assert!(parse_new_password(b"").is_err());
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
