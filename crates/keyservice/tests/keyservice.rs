//! The key service over real HTTP on 127.0.0.1, with hyper's client and a raw socket.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rotation_keyservice::KeyService;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One answer, fully read.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "not JSON ({error}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Sends one request as `key` (a bearer key), with a fresh client.
async fn send(
    service: &KeyService,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> Result<Answer, hyper_util::client::legacy::Error> {
    let authorization = key.map(|key| format!("Bearer {key}"));
    send_authorized(service, method, path, authorization, body).await
}

/// Sends one request with this `Authorization` header, with a fresh client (no pooled
/// connection carries over between calls).
async fn send_authorized(
    service: &KeyService,
    method: Method,
    path: &str,
    authorization: Option<String>,
    body: Option<&str>,
) -> Result<Answer, hyper_util::client::legacy::Error> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::builder()
        .method(method)
        .uri(format!("{}{path}", service.base_url()));
    if let Some(authorization) = authorization {
        request = request.header(AUTHORIZATION, authorization);
    }
    if body.is_some() {
        request = request.header(CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
        .unwrap();
    let answer = client.request(request).await?;
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let body = answer.into_body().collect().await.unwrap().to_bytes();
    Ok(Answer {
        status,
        headers,
        body,
    })
}

async fn call(
    service: &KeyService,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> Answer {
    send(service, method, path, key, body)
        .await
        .unwrap_or_else(|error| panic!("no answer to {path}: {error:?}"))
}

/// Sends one request as user `name` with `password` (Basic authentication).
async fn call_as_user(
    service: &KeyService,
    method: Method,
    path: &str,
    (name, password): (&str, &str),
    body: Option<&str>,
) -> Answer {
    let authorization = format!("Basic {}", BASE64.encode(format!("{name}:{password}")));
    send_authorized(service, method, path, Some(authorization), body)
        .await
        .unwrap_or_else(|error| panic!("no answer to {path}: {error:?}"))
}

/// `PUT /v1/users/<name>/password` with `new`, as user `as_user`.
async fn change_password(
    service: &KeyService,
    name: &str,
    as_user: (&str, &str),
    new: &str,
) -> Answer {
    let path = format!("/v1/users/{name}/password");
    let body = json!({ "password": new }).to_string();
    call_as_user(service, Method::PUT, &path, as_user, Some(&body)).await
}

/// `POST /v1/keys` with `name`, as `key`.
async fn mint(service: &KeyService, key: &str, name: &str) -> Answer {
    let body = json!({ "name": name }).to_string();
    call(service, Method::POST, "/v1/keys", Some(key), Some(&body)).await
}

fn str_of<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {value}"))
}

#[tokio::test]
async fn the_admin_key_mints_and_lists_without_secrets() {
    let service = KeyService::start().await.unwrap();
    assert!(service.base_url().starts_with("http://127.0.0.1:"));
    let admin = service.admin_key();

    let answer = mint(&service, &admin, "ci deploys").await;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.headers[CONTENT_TYPE], "application/json");
    let minted = answer.json();
    let id = str_of(&minted, "id").to_owned();
    let key = str_of(&minted, "key").to_owned();
    assert_eq!(minted["name"], "ci deploys");
    assert!(id.starts_with("key_") && id.len() == 20, "{id}");
    assert!(key.starts_with("sk_live_") && key.len() == 48);
    assert!(minted["created"].as_u64().unwrap() > 1_600_000_000);
    assert!(service.is_alive_key(&key));

    let second = service.mint("seeded");
    let answer = call(&service, Method::GET, "/v1/keys", Some(&admin), None).await;
    assert_eq!(answer.status, 200);
    let listed = answer.json();
    let keys = listed["keys"].as_array().unwrap();
    let ids: Vec<&str> = keys.iter().map(|k| str_of(k, "id")).collect();
    assert_eq!(
        ids,
        [id.as_str(), second.id.as_str()],
        "oldest first, admin not listed"
    );
    for listed_key in keys {
        let fields: Vec<&String> = listed_key.as_object().unwrap().keys().collect();
        assert_eq!(fields, ["id", "name", "created"]);
    }
    let text = String::from_utf8_lossy(&answer.body);
    assert!(!text.contains(&key) && !text.contains(&second.key) && !text.contains(&admin));

    let answer = call(
        &service,
        Method::GET,
        &format!("/v1/keys/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), keys[0]);
    let answer = call(
        &service,
        Method::GET,
        "/v1/keys/key_0000000000000000",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json(), json!({"error": "no such key"}));

    let alive = service.alive();
    assert_eq!(alive.len(), 2);
    assert_eq!(
        (alive[0].id.as_str(), alive[0].name.as_str()),
        (id.as_str(), "ci deploys")
    );

    let requests = service.requests();
    assert_eq!(
        requests,
        [
            "POST /v1/keys 201",
            "GET /v1/keys 200",
            format!("GET /v1/keys/{id} 200").as_str(),
            "GET /v1/keys/key_0000000000000000 404",
        ]
    );
    service.clear_requests();
    assert!(service.requests().is_empty());
}

#[tokio::test]
async fn whoami_names_the_calling_key() {
    let service = KeyService::start().await.unwrap();
    let minted = mint(&service, &service.admin_key(), "mine").await.json();
    let answer = call(
        &service,
        Method::GET,
        "/v1/whoami",
        Some(str_of(&minted, "key")),
        None,
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), json!({"id": minted["id"], "name": "mine"}));
    let answer = call(
        &service,
        Method::GET,
        "/v1/whoami",
        Some(&service.admin_key()),
        None,
    )
    .await;
    assert_eq!(answer.json(), json!({"id": "admin", "name": "admin"}));
}

#[tokio::test]
async fn a_minted_key_manages_keys_and_a_revoked_key_is_refused() {
    let service = KeyService::start().await.unwrap();
    let first = service.mint("first");

    // Self-managing: the first key mints its successor.
    let answer = mint(&service, &first.key, "second").await;
    assert_eq!(answer.status, 201);
    let second = answer.json();
    let (second_id, second_key) = (str_of(&second, "id"), str_of(&second, "key"));

    // The successor revokes the first key.
    let path = format!("/v1/keys/{}", first.id);
    let answer = call(&service, Method::DELETE, &path, Some(second_key), None).await;
    assert_eq!(answer.status, 204);
    assert!(answer.body.is_empty());
    assert!(!service.is_alive_key(&first.key));
    assert_eq!(
        service
            .alive()
            .iter()
            .map(|k| k.id.as_str())
            .collect::<Vec<_>>(),
        [second_id]
    );

    // The revoked key is refused everywhere.
    for (method, path) in [(Method::GET, "/v1/whoami"), (Method::GET, "/v1/keys")] {
        let answer = call(&service, method, path, Some(&first.key), None).await;
        assert_eq!(answer.status, 401, "{path}");
        assert_eq!(answer.json(), json!({"error": "invalid or revoked key"}));
    }
    assert_eq!(mint(&service, &first.key, "again").await.status, 401);

    // Revoking it twice is 404, and so is an id that never existed.
    let answer = call(&service, Method::DELETE, &path, Some(second_key), None).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json(), json!({"error": "no such key"}));
    let answer = call(
        &service,
        Method::DELETE,
        "/v1/keys/key_nope",
        Some(second_key),
        None,
    )
    .await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json(), json!({"error": "no such key"}));

    // Direct revocation.
    assert!(service.revoke(second_id));
    assert!(!service.revoke(second_id));
    assert!(service.alive().is_empty());
}

#[tokio::test]
async fn missing_and_unknown_keys_are_401() {
    let service = KeyService::start().await.unwrap();
    let answer = call(&service, Method::GET, "/v1/keys", None, None).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json(), json!({"error": "invalid or revoked key"}));
    let answer = call(
        &service,
        Method::GET,
        "/v1/keys",
        Some("sk_live_made_up"),
        None,
    )
    .await;
    assert_eq!(answer.status, 401);
    assert!(service.alive().is_empty());
}

#[tokio::test]
async fn the_admin_key_cannot_be_revoked_through_the_api_only_directly() {
    let service = KeyService::start().await.unwrap();
    let admin = service.admin_key();
    let minted = service.mint("other");
    for key in [&admin, &minted.key] {
        let answer = call(&service, Method::DELETE, "/v1/keys/admin", Some(key), None).await;
        assert_eq!(answer.status, 403);
        assert!(answer.json()["error"].is_string());
    }
    assert!(service.is_alive_key(&admin));
    assert_eq!(
        call(&service, Method::GET, "/v1/whoami", Some(&admin), None)
            .await
            .status,
        200
    );

    service.revoke_admin_key();
    assert!(!service.is_alive_key(&admin));
    assert_eq!(service.admin_key(), admin);
    let answer = call(&service, Method::GET, "/v1/whoami", Some(&admin), None).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json(), json!({"error": "invalid or revoked key"}));
    assert_eq!(mint(&service, &admin, "x").await.status, 401);
    // Other keys keep working.
    assert_eq!(mint(&service, &minted.key, "x").await.status, 201);
}

#[tokio::test]
async fn fail_next_answers_the_status_with_retry_after_and_does_nothing() {
    let service = KeyService::start().await.unwrap();
    let admin = service.admin_key();
    service.fail_next(1, 429, Some(7), Some("POST"), Some("/v1/keys"));
    service.fail_next(1, 503, None, None, None);

    // A GET does not match the first rule, so it meets the second.
    let answer = call(&service, Method::GET, "/v1/whoami", Some(&admin), None).await;
    assert_eq!(answer.status, 503);
    assert!(answer.headers.get(RETRY_AFTER).is_none());

    let answer = mint(&service, &admin, "throttled").await;
    assert_eq!(answer.status, 429);
    assert_eq!(answer.headers[RETRY_AFTER], "7");
    assert_eq!(answer.json(), json!({"error": "injected"}));
    assert!(service.alive().is_empty(), "a failed request mints nothing");

    // The faults are used up.
    assert_eq!(mint(&service, &admin, "ok").await.status, 201);
    assert_eq!(service.alive().len(), 1);
    assert_eq!(
        service.requests(),
        [
            "GET /v1/whoami 503 injected",
            "POST /v1/keys 429 injected",
            "POST /v1/keys 201"
        ]
    );
}

#[tokio::test]
async fn malformed_next_mints_but_answers_a_truncated_body() {
    let service = KeyService::start().await.unwrap();
    let admin = service.admin_key();
    service.malformed_next(1, Some("POST"), None);

    // Not a POST: untouched.
    assert_eq!(
        call(&service, Method::GET, "/v1/keys", Some(&admin), None)
            .await
            .status,
        200
    );

    let answer = mint(&service, &admin, "lost").await;
    assert_eq!(answer.status, 200);
    assert_eq!(&answer.body[..], br#"{"id": "key_"#);
    assert!(serde_json::from_slice::<Value>(&answer.body).is_err());
    let alive = service.alive();
    assert_eq!(alive.len(), 1, "the key was minted");
    assert_eq!(alive[0].name, "lost");

    assert_eq!(mint(&service, &admin, "found").await.status, 201);
    assert_eq!(service.alive().len(), 2);
    assert_eq!(
        service.requests(),
        [
            "GET /v1/keys 200",
            "POST /v1/keys 200 malformed after 201",
            "POST /v1/keys 201"
        ]
    );
}

#[tokio::test]
async fn fail_after_work_next_mints_then_answers_the_failure() {
    let service = KeyService::start().await.unwrap();
    let admin = service.admin_key();
    service.fail_after_work_next(1, 502, Some("POST"), Some("/v1/keys"));

    let answer = mint(&service, &admin, "gateway").await;
    assert_eq!(answer.status, 502);
    assert_eq!(
        serde_json::from_slice::<Value>(&answer.body).unwrap(),
        json!({"error": "injected"})
    );
    let alive = service.alive();
    assert_eq!(alive.len(), 1, "the key was minted");
    assert_eq!(alive[0].name, "gateway");

    assert_eq!(mint(&service, &admin, "next").await.status, 201);
    assert_eq!(
        service.requests(),
        ["POST /v1/keys 502 injected after 201", "POST /v1/keys 201"]
    );
}

#[tokio::test]
async fn delay_after_work_next_mints_at_once_and_answers_late() {
    let service = std::sync::Arc::new(KeyService::start().await.unwrap());
    let admin = service.admin_key();
    service.delay_after_work_next(
        1,
        std::time::Duration::from_millis(500),
        Some("POST"),
        Some("/v1/keys"),
    );
    let started = std::time::Instant::now();
    let minting = {
        let service = std::sync::Arc::clone(&service);
        let admin = admin.clone();
        tokio::spawn(async move { mint(&service, &admin, "slow").await.status })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(service.alive().len(), 1, "the key exists before the answer");
    assert_eq!(minting.await.unwrap(), 201);
    assert!(started.elapsed() >= std::time::Duration::from_millis(500));
    assert_eq!(service.requests(), ["POST /v1/keys 201 delayed"]);
}

#[tokio::test]
async fn drop_after_work_next_mints_then_closes_the_connection() {
    let service = KeyService::start().await.unwrap();
    let admin = service.admin_key();
    service.drop_after_work_next(2, Some("POST"), Some("/v1/keys"));

    // hyper's client sees the connection closed before any answer.
    let body = json!({"name": "crashed"}).to_string();
    let error = match send(
        &service,
        Method::POST,
        "/v1/keys",
        Some(&admin),
        Some(&body),
    )
    .await
    {
        Ok(answer) => panic!("expected no answer, got {}", answer.status),
        Err(error) => error,
    };
    assert!(!error.is_connect(), "{error:?}");
    assert_eq!(service.alive().len(), 1, "the key was minted, once");

    // At the socket: not a single byte comes back.
    let address = service.base_url().replace("http://", "");
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "POST /v1/keys HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {admin}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    assert_eq!(service.alive().len(), 2);

    assert_eq!(mint(&service, &admin, "fine").await.status, 201);
    assert_eq!(
        service.requests(),
        [
            "POST /v1/keys dropped after 201",
            "POST /v1/keys dropped after 201",
            "POST /v1/keys 201"
        ]
    );
}

#[tokio::test]
async fn unknown_routes_are_404_and_bad_bodies_400() {
    let service = KeyService::start().await.unwrap();
    let admin = service.admin_key();
    for (method, path) in [
        (Method::GET, "/"),
        (Method::GET, "/v2/keys"),
        (Method::PUT, "/v1/keys"),
        (Method::DELETE, "/v1/keys"),
        (Method::POST, "/v1/whoami"),
        (Method::GET, "/v1/keys/a/b"),
    ] {
        for key in [Some(admin.as_str()), None] {
            let answer = call(&service, method.clone(), path, key, None).await;
            assert_eq!(answer.status, 404, "{method} {path}");
            assert!(answer.json()["error"].is_string());
        }
    }

    let too_long = json!({ "name": "n".repeat(201) }).to_string();
    for body in [
        "",
        "not json",
        "[]",
        r#"{"label": "x"}"#,
        r#"{"name": 7}"#,
        r#"{"name": ""}"#,
        too_long.as_str(),
    ] {
        let answer = call(&service, Method::POST, "/v1/keys", Some(&admin), Some(body)).await;
        assert_eq!(answer.status, 400, "{body}");
        assert!(answer.json()["error"].is_string());
    }
    assert!(service.alive().is_empty());
    let longest = json!({ "name": "n".repeat(200) }).to_string();
    let answer = call(
        &service,
        Method::POST,
        "/v1/keys",
        Some(&admin),
        Some(&longest),
    )
    .await;
    assert_eq!(answer.status, 201);
}

#[tokio::test]
async fn nothing_recorded_holds_a_key_and_dropping_stops_the_service() {
    let service = KeyService::start().await.unwrap();
    let admin = service.admin_key();
    let minted = mint(&service, &admin, "k").await.json();
    let key = str_of(&minted, "key").to_owned();
    call(&service, Method::GET, "/v1/whoami", Some(&key), None).await;
    let log = service.requests().join("\n");
    assert!(!log.contains(&key) && !log.contains(&admin), "{log}");
    let debug = format!("{service:?} {:?}", service.mint("debug"));
    assert!(!debug.contains("sk_"), "{debug}");

    let address = service.base_url().replace("http://", "");
    drop(service);
    // The server task is cancelled the next time the runtime gets to it.
    let mut refused = false;
    for _ in 0..100 {
        if TcpStream::connect(&address).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(refused, "the service still listens after being dropped");
}

#[tokio::test]
async fn the_admin_key_creates_users_once_and_other_keys_may_not() {
    let service = KeyService::start().await.unwrap();
    let admin = service.admin_key();
    let body = json!({"name": "app.svc_1-a", "password": "First-Password-1"}).to_string();
    let answer = call(
        &service,
        Method::POST,
        "/v1/users",
        Some(&admin),
        Some(&body),
    )
    .await;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.json(), json!({"name": "app.svc_1-a"}));
    assert!(service.is_user_password("app.svc_1-a", "First-Password-1"));

    let again = json!({"name": "app.svc_1-a", "password": "Other-Password-2"}).to_string();
    let answer = call(
        &service,
        Method::POST,
        "/v1/users",
        Some(&admin),
        Some(&again),
    )
    .await;
    assert_eq!(answer.status, 409);
    assert!(answer.json()["error"].is_string());
    assert!(service.is_user_password("app.svc_1-a", "First-Password-1"));

    let minted = service.mint("not admin");
    let other = json!({"name": "other", "password": "First-Password-1"}).to_string();
    let answer = call(
        &service,
        Method::POST,
        "/v1/users",
        Some(&minted.key),
        Some(&other),
    )
    .await;
    assert_eq!(answer.status, 403);
    for key in [None, Some("sk_live_made_up")] {
        let answer = call(&service, Method::POST, "/v1/users", key, Some(&other)).await;
        assert_eq!(answer.status, 401);
    }
    assert!(!service.is_user_password("other", "First-Password-1"));

    // A user's own credentials are not a key.
    let basic = ("app.svc_1-a", "First-Password-1");
    let answer = call_as_user(&service, Method::POST, "/v1/users", basic, Some(&other)).await;
    assert_eq!(answer.status, 401);
}

#[tokio::test]
async fn bad_user_bodies_are_400_without_quoting_them() {
    let service = KeyService::start().await.unwrap();
    let admin = service.admin_key();
    let long_name = json!({"name": "n".repeat(65), "password": "Password-123"}).to_string();
    let long_password = json!({"name": "app", "password": "p".repeat(257)}).to_string();
    for body in [
        "",
        "not json",
        r#"{"name": "app"}"#,
        r#"{"name": "", "password": "Password-123"}"#,
        r#"{"name": "a/b", "password": "Password-123"}"#,
        r#"{"name": "app", "password": "Pass-12"}"#,
        r#"{"name": "app", "password": 12345678}"#,
        long_name.as_str(),
        long_password.as_str(),
    ] {
        let answer = call(
            &service,
            Method::POST,
            "/v1/users",
            Some(&admin),
            Some(body),
        )
        .await;
        assert_eq!(answer.status, 400, "{body}");
        let message = answer.json()["error"].as_str().unwrap().to_owned();
        assert!(
            !message.contains("Password-123") && !message.contains("Pass-12"),
            "{message}"
        );
    }
    let longest = json!({"name": "n".repeat(64), "password": "p".repeat(256)}).to_string();
    let answer = call(
        &service,
        Method::POST,
        "/v1/users",
        Some(&admin),
        Some(&longest),
    )
    .await;
    assert_eq!(answer.status, 201);

    assert!(service.add_user("app", "Password-123"));
    for body in [
        "",
        "[]",
        r#"{"password": "short"}"#,
        r#"{"new": "Password-456"}"#,
    ] {
        let answer = change_password_raw(&service, "app", ("app", "Password-123"), body).await;
        assert_eq!(answer.status, 400, "{body}");
    }
    assert!(service.is_user_password("app", "Password-123"));
}

/// `PUT /v1/users/<name>/password` with a body as it is.
async fn change_password_raw(
    service: &KeyService,
    name: &str,
    as_user: (&str, &str),
    body: &str,
) -> Answer {
    let path = format!("/v1/users/{name}/password");
    call_as_user(service, Method::PUT, &path, as_user, Some(body)).await
}

#[tokio::test]
async fn a_user_changes_its_own_password_and_the_old_one_stops_working() {
    let service = KeyService::start().await.unwrap();
    assert!(service.add_user("app", "First-Password-1"));
    assert!(
        !service.add_user("app", "Other-Password-2"),
        "the name is taken"
    );

    let answer = call_as_user(
        &service,
        Method::GET,
        "/v1/users/me",
        ("app", "First-Password-1"),
        None,
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), json!({"name": "app"}));

    let answer = change_password(
        &service,
        "app",
        ("app", "First-Password-1"),
        "Second:Password-2",
    )
    .await;
    assert_eq!(answer.status, 204);
    assert!(answer.body.is_empty());
    assert!(service.is_user_password("app", "Second:Password-2"));
    assert!(!service.is_user_password("app", "First-Password-1"));

    // The old password is refused everywhere; the new one (with a colon) logs in.
    let answer = call_as_user(
        &service,
        Method::GET,
        "/v1/users/me",
        ("app", "First-Password-1"),
        None,
    )
    .await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.headers[WWW_AUTHENTICATE],
        r#"Basic realm="rotation-keyservice""#
    );
    assert_eq!(
        answer.json(),
        json!({"error": "invalid user name or password"})
    );
    let answer = change_password(
        &service,
        "app",
        ("app", "First-Password-1"),
        "Third-Password-3",
    )
    .await;
    assert_eq!(answer.status, 401);
    let answer = call_as_user(
        &service,
        Method::GET,
        "/v1/users/me",
        ("app", "Second:Password-2"),
        None,
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(service.is_user_password("app", "Second:Password-2"));

    assert_eq!(
        service.requests(),
        [
            "GET /v1/users/me 200",
            "PUT /v1/users/app/password 204",
            "GET /v1/users/me 401",
            "PUT /v1/users/app/password 401",
            "GET /v1/users/me 200",
        ]
    );
}

#[tokio::test]
async fn wrong_missing_or_bearer_credentials_are_401_and_another_user_is_403() {
    let service = KeyService::start().await.unwrap();
    assert!(service.add_user("app", "App-Password-1"));
    assert!(service.add_user("other", "Other-Password-2"));

    for credentials in [
        ("app", "wrong-password"),
        ("nobody", "App-Password-1"),
        ("", ""),
    ] {
        let answer = call_as_user(&service, Method::GET, "/v1/users/me", credentials, None).await;
        assert_eq!(answer.status, 401, "{credentials:?}");
        let answer = change_password(&service, "app", credentials, "New-Password-3").await;
        assert_eq!(answer.status, 401, "{credentials:?}");
    }
    let admin = service.admin_key();
    for key in [None, Some(admin.as_str())] {
        let answer = call(&service, Method::GET, "/v1/users/me", key, None).await;
        assert_eq!(answer.status, 401);
        let body = json!({"password": "New-Password-3"}).to_string();
        let answer = call(
            &service,
            Method::PUT,
            "/v1/users/app/password",
            key,
            Some(&body),
        )
        .await;
        assert_eq!(answer.status, 401);
    }

    // Authenticated, but as someone else: refused before the body is read, nothing changed.
    let answer = change_password(
        &service,
        "app",
        ("other", "Other-Password-2"),
        "New-Password-3",
    )
    .await;
    assert_eq!(answer.status, 403);
    assert!(answer.json()["error"].is_string());
    let answer = change_password_raw(&service, "nobody", ("other", "Other-Password-2"), "").await;
    assert_eq!(answer.status, 403);
    assert!(service.is_user_password("app", "App-Password-1"));
    assert!(service.is_user_password("other", "Other-Password-2"));
}

#[tokio::test]
async fn faults_apply_to_user_routes_and_nothing_recorded_holds_a_password() {
    let service = KeyService::start().await.unwrap();
    assert!(service.add_user("app", "App-Password-1"));
    service.fail_next(1, 503, None, Some("PUT"), Some("/v1/users/"));
    service.drop_after_work_next(1, Some("PUT"), Some("/v1/users/app/password"));

    let answer =
        change_password(&service, "app", ("app", "App-Password-1"), "New-Password-2").await;
    assert_eq!(answer.status, 503);
    assert!(
        service.is_user_password("app", "App-Password-1"),
        "a failed request changes nothing"
    );

    let authorization = format!("Basic {}", BASE64.encode("app:App-Password-1"));
    let body = json!({"password": "New-Password-2"}).to_string();
    let dropped = send_authorized(
        &service,
        Method::PUT,
        "/v1/users/app/password",
        Some(authorization),
        Some(&body),
    )
    .await;
    assert!(dropped.is_err(), "expected no answer");
    assert!(
        service.is_user_password("app", "New-Password-2"),
        "the change was made"
    );

    let answer = call_as_user(
        &service,
        Method::GET,
        "/v1/users/me",
        ("app", "New-Password-2"),
        None,
    )
    .await;
    assert_eq!(answer.status, 200);
    let log = service.requests().join("\n");
    assert_eq!(
        log,
        "PUT /v1/users/app/password 503 injected\n\
         PUT /v1/users/app/password dropped after 204\n\
         GET /v1/users/me 200"
    );
    assert!(!log.contains("Password") && !format!("{service:?}").contains("Password"));
}
