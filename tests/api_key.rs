//! api-key, end to end: the real binary under the Lambda Runtime API, moto's Secrets Manager,
//! and a local key service over real HTTP (`rotation-keyservice`) that enforces
//! authentication, mints and revokes keys, and injects failures.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use rotation_core::Step;
use rotation_e2e::*;
use rotation_keyservice::KeyService;
use rotation_local::{FaultProxy, SecretsManagerDriver};
use rotation_testkit::{AfterRotation, Contract, Setup, Target, TargetError, async_trait};
use serde_json::{Value, json};

const BIN: &str = "api-key";

/// A key service seeded with one key, and that key's secret (JSON, self-managing).
async fn seeded(world: &World) -> (KeyService, String, String) {
    let service = KeyService::start().await.unwrap();
    let first = service.mint("first key");
    let secret = json!({
        "apiKey": first.key, "apiKeyId": first.id, "profile": "rotation-keyservice",
        "baseUrl": service.base_url(), "team": {"owner": "payments"},
    });
    let arn = world
        .create_secret(&unique("apikey-"), &with_exact_numbers(&secret))
        .await;
    (service, arn, first.key)
}

fn key_of(value: &Value) -> String {
    value["apiKey"].as_str().expect("apiKey").to_owned()
}

fn alive_ids(service: &KeyService) -> BTreeSet<String> {
    service.alive().into_iter().map(|k| k.id).collect()
}

/// The key service as a target of the rotation contract: a key works when the service says
/// it is alive.
struct KeyServiceTarget {
    service: Arc<KeyService>,
}

#[async_trait]
impl Target for KeyServiceTarget {
    fn binary(&self) -> PathBuf {
        rotator_binary(BIN)
    }

    async fn new_account(&self, _: &Setup) -> Result<String, TargetError> {
        let key = self.service.mint("contract");
        Ok(
            json!({"apiKey": key.key, "apiKeyId": key.id, "profile": "rotation-keyservice",
            "baseUrl": self.service.base_url()})
            .to_string(),
        )
    }

    async fn check(&self, secret: &str) -> Result<(), TargetError> {
        let value: Value = serde_json::from_str(secret)?;
        let key = value["apiKey"].as_str().ok_or("no apiKey")?;
        if self.service.is_alive_key(key) {
            Ok(())
        } else {
            Err("the key is not alive at the provider".into())
        }
    }

    fn after_rotation(&self) -> AfterRotation {
        AfterRotation::PreviousKept
    }

    fn sensitive(&self, secret: &str) -> Vec<String> {
        serde_json::from_str::<Value>(secret)
            .ok()
            .and_then(|value| value["apiKey"].as_str().map(str::to_owned))
            .into_iter()
            .collect()
    }

    /// A minted key works at once; the contract's failing-test clause revokes it.
    async fn spoil_pending(&self, pending: &str) -> Result<(), TargetError> {
        let value: Value = serde_json::from_str(pending)?;
        let id = value["apiKeyId"].as_str().ok_or("no apiKeyId")?;
        self.service.revoke(id);
        Ok(())
    }
}

#[tokio::test]
async fn the_rotation_contract_holds() {
    let _ = stack();
    let target = KeyServiceTarget {
        service: Arc::new(KeyService::start().await.unwrap()),
    };
    let contract = Contract::with_endpoint(&stack().moto.endpoint()).await;
    if let Err(failure) = contract.run(&target).await {
        panic!("{failure}");
    }
}

#[tokio::test]
async fn a_rotation_mints_tests_and_keeps_every_other_field() {
    let world = World::new().await;
    let (service, arn, first) = seeded(&world).await;
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}\n{}", function.output());
    let current = world.value(&arn, "AWSCURRENT").await.unwrap();
    let key = key_of(&current);
    assert_ne!(key, first);
    assert!(service.is_alive_key(&key));
    assert!(
        service.is_alive_key(&first),
        "the previous key stays valid until the next rotation"
    );
    assert_eq!(current["team"], json!({"owner": "payments"}));
    world.assert_exact_numbers_kept(&arn).await;
    let minted = service
        .alive()
        .into_iter()
        .find(|k| Some(k.id.as_str()) == current["apiKeyId"].as_str())
        .expect("apiKeyId names the new key");
    assert_eq!(minted.name, format!("rotation-{}", report.token));
}

#[tokio::test]
async fn after_many_rotations_exactly_the_current_and_previous_keys_are_alive() {
    let world = World::new().await;
    let (service, arn, _) = seeded(&world).await;
    let function = world.function(BIN, &[]).await;
    for round in 1..=5 {
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        assert!(
            report.succeeded(),
            "round {round}: {report}\n{}",
            function.output()
        );
        let current = world.value(&arn, "AWSCURRENT").await.unwrap();
        let previous = world.value(&arn, "AWSPREVIOUS").await.unwrap();
        let expected: BTreeSet<String> = [&current, &previous]
            .iter()
            .map(|v| v["apiKeyId"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(alive_ids(&service), expected, "round {round}");
    }
}

#[tokio::test]
async fn revoke_at_once_leaves_only_the_current_key() {
    let world = World::new().await;
    let (service, arn, first) = seeded(&world).await;
    let function = world
        .function(BIN, &[("API_KEY_REVOKE_AT_ONCE", "true")])
        .await;
    for _ in 0..2 {
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        assert!(report.succeeded(), "{report}\n{}", function.output());
    }
    let current = world.value(&arn, "AWSCURRENT").await.unwrap();
    assert_eq!(
        alive_ids(&service),
        BTreeSet::from([current["apiKeyId"].as_str().unwrap().to_owned()])
    );
    assert!(!service.is_alive_key(&first));
}

#[tokio::test]
async fn a_crash_between_minting_and_storing_leaves_no_orphan_key() {
    let world = World::new().await;
    let (service, arn, first) = seeded(&world).await;
    let proxy = FaultProxy::start(&stack().moto.endpoint()).await.unwrap();
    let function = world
        .function_at(
            BIN,
            &proxy.endpoint(),
            &[("SECRETS_MANAGER_MAX_ATTEMPTS", "1")],
        )
        .await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    // The provider mints the key, then Secrets Manager refuses to store it.
    proxy.fail_next(1, 500, Some("PutSecretValue"));
    let report = world
        .driver
        .run_steps(&function, &arn, &token, &["createSecret"])
        .await;
    assert!(
        !report.succeeded(),
        "createSecret must fail when the store call fails"
    );
    assert_eq!(
        service.alive().len(),
        2,
        "the minted key exists at the provider"
    );

    // Secrets Manager retries the rotation with the same token.
    let report = world
        .driver
        .run_steps(&function, &arn, &token, &Step::ALL)
        .await;
    assert!(report.succeeded(), "{report}\n{}", function.output());
    let current = world.value(&arn, "AWSCURRENT").await.unwrap();
    let expected = BTreeSet::from([
        current["apiKeyId"].as_str().unwrap().to_owned(),
        world.value(&arn, "AWSPREVIOUS").await.unwrap()["apiKeyId"]
            .as_str()
            .unwrap()
            .to_owned(),
    ]);
    assert_eq!(alive_ids(&service), expected, "the orphan was revoked");
    assert!(service.is_alive_key(&first));
    assert!(
        function
            .output()
            .contains("revoked a key an earlier attempt"),
        "{}",
        function.output()
    );
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_honouring_retry_after() {
    let world = World::new().await;
    let (service, arn, _) = seeded(&world).await;
    service.fail_next(1, 429, Some(1), Some("POST"), Some("/v1/keys"));
    service.fail_next(1, 500, None, Some("POST"), Some("/v1/keys"));
    service.fail_next(1, 503, None, Some("GET"), Some("/v1/whoami"));
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}\n{}", function.output());
    let create = &report.steps[0];
    assert!(
        create.invocation.duration >= std::time::Duration::from_millis(900),
        "Retry-After: 1 was not honoured: {:?}",
        create.invocation.duration
    );
    let requests = service.requests();
    assert!(
        requests.iter().any(|r| r.starts_with("POST /v1/keys 429")),
        "{requests:?}"
    );
    assert!(
        requests.iter().any(|r| r.starts_with("POST /v1/keys 201")),
        "{requests:?}"
    );
}

#[tokio::test]
async fn a_malformed_answer_is_a_clear_error_and_the_retry_cleans_up() {
    let world = World::new().await;
    let (service, arn, first) = seeded(&world).await;
    service.malformed_next(1, Some("POST"), Some("/v1/keys"));
    let function = world.function(BIN, &[]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let report = world
        .driver
        .run_steps(&function, &arn, &token, &["createSecret"])
        .await;
    let failure = report.failure().expect("createSecret must fail");
    assert_error(
        &failure.invocation,
        "TargetError",
        "api-key profile rotation-keyservice: POST /v1/keys answered 200 (the profile expects 201",
    );
    assert_eq!(world.value_of_version(&arn, &token).await, None);
    let report = world
        .driver
        .run_steps(&function, &arn, &token, &Step::ALL)
        .await;
    assert!(report.succeeded(), "{report}\n{}", function.output());
    assert_eq!(service.alive().len(), 2, "{:?}", service.alive());
    assert!(service.is_alive_key(&first));
}

#[tokio::test]
async fn an_answer_that_is_not_json_names_the_profile_and_request() {
    let world = World::new().await;
    let service = KeyService::start().await.unwrap();
    let first = service.mint("first key");
    // A profile (inline in the secret) that accepts 200 for a mint, so the body is read.
    let mut profile: Value = serde_json::from_str(include_str!(
        "../crates/apikey/profiles/rotation-keyservice.json"
    ))
    .unwrap();
    profile["name"] = json!("inline-example");
    profile["create"]["expectStatus"] = json!([200, 201]);
    let secret = json!({"apiKey": first.key, "apiKeyId": first.id, "profile": profile,
        "baseUrl": service.base_url()});
    let arn = world
        .create_secret(&unique("apikey-"), &secret.to_string())
        .await;
    service.malformed_next(1, Some("POST"), Some("/v1/keys"));
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    let failure = report.failure().expect("createSecret must fail");
    assert_error(
        &failure.invocation,
        "TargetError",
        "api-key profile inline-example: POST /v1/keys answered 200 but the answer is not JSON",
    );
    assert!(!format!("{:?}", failure.invocation.outcome).contains("sk_"));
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}\n{}", function.output());
    assert_eq!(service.alive().len(), 2, "the half-minted key was revoked");
}

#[tokio::test]
async fn a_revoked_admin_credential_is_a_clear_error_naming_adminarn() {
    let world = World::new().await;
    let service = KeyService::start().await.unwrap();
    // The operator's admin secret names the provider; the rotated secret may repeat it.
    let admin = admin_secret(&world, &service).await;
    let first = service.mint("first key");
    let secret = json!({"apiKey": first.key, "apiKeyId": first.id, "profile": "rotation-keyservice",
        "baseUrl": service.base_url(), "adminarn": admin});
    let arn = world
        .create_secret(&unique("apikey-"), &secret.to_string())
        .await;
    let function = world.function(BIN, &[]).await;
    // With the admin key alive, the rotation works through it.
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}\n{}", function.output());
    service.revoke_admin_key();
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    let failure = report.failure().expect("createSecret must fail");
    assert_eq!(failure.step, "createSecret");
    assert_error(
        &failure.invocation,
        "TargetError",
        "answered 401 (the managing credential was refused",
    );
    assert_error(
        &failure.invocation,
        "TargetError",
        &format!("admin secret {admin} (adminarn)"),
    );
}

#[tokio::test]
async fn plain_string_secrets_rotate_with_the_profile_from_a_file() {
    let world = World::new().await;
    let service = KeyService::start().await.unwrap();
    let first = service.mint("first key");
    let arn = world.create_secret(&unique("plain-"), &first.key).await;
    let mut profile: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../crates/apikey/profiles/rotation-keyservice.json"),
        )
        .unwrap(),
    )
    .unwrap();
    profile["baseUrl"] = json!(service.base_url());
    let file = std::env::temp_dir().join(format!("{}.json", unique("profile-")));
    std::fs::write(&file, profile.to_string()).unwrap();
    let function = world
        .function(BIN, &[("API_KEY_PROFILE_FILE", file.to_str().unwrap())])
        .await;
    for _ in 0..3 {
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        assert!(report.succeeded(), "{report}\n{}", function.output());
    }
    let current = world
        .client()
        .get_secret_value()
        .secret_id(&arn)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap();
    let key = current.secret_string().unwrap().to_owned();
    assert!(key.starts_with("sk_"), "the secret stays a bare key");
    assert!(service.is_alive_key(&key));
    // The keys fell out of use were found by asking the provider who they are.
    assert_eq!(service.alive().len(), 2, "{:?}", service.alive());
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn every_step_twice_mints_once() {
    let world = World::new().await;
    let (service, arn, _) = seeded(&world).await;
    let function = world.function(BIN, &[]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    for step in Step::ALL {
        for attempt in 1..=2 {
            let invocation = function
                .invoke(&SecretsManagerDriver::event(step, &arn, &token))
                .await;
            assert!(
                invocation.outcome.is_success(),
                "{step} {attempt}: {:?}",
                invocation.outcome
            );
        }
    }
    assert_eq!(service.alive().len(), 2, "{:?}", service.alive());
    let minted = service
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST /v1/keys 201"))
        .count();
    assert_eq!(minted, 1);
}

#[tokio::test]
async fn no_key_reaches_any_log_line() {
    let world = World::new().await;
    let (service, arn, first) = seeded(&world).await;
    let function = world.function(BIN, &[("RUST_LOG", "trace")]).await;
    for _ in 0..2 {
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        assert!(report.succeeded(), "{report}");
    }
    let output = function.stop().await;
    let mut keys = vec![first];
    keys.push(key_of(&world.value(&arn, "AWSCURRENT").await.unwrap()));
    keys.push(key_of(&world.value(&arn, "AWSPREVIOUS").await.unwrap()));
    for key in &keys {
        assert!(!output.contains(key.as_str()), "a key is in the output");
        assert!(!service.requests().join("\n").contains(key.as_str()));
    }
    assert!(!output.contains(&service.admin_key()));
}

#[tokio::test]
async fn bad_variables_and_profiles_are_clear_errors() {
    let world = World::new().await;
    for (variable, value) in [
        ("API_KEY_PROFILE", "no-such-provider"),
        ("API_KEY_PROFILE_FILE", "/nonexistent/profile.json"),
        ("API_KEY_REVOKE_AT_ONCE", "sometimes"),
    ] {
        let function = world.function(BIN, &[(variable, value)]).await;
        let invocation = function
            .invoke(&SecretsManagerDriver::event("createSecret", "any", "any"))
            .await;
        match &invocation.outcome {
            Outcome::InitError { error_message, .. } => {
                assert!(error_message.starts_with(variable), "{error_message}")
            }
            other => panic!("{variable}={value}: expected an init error, got {other:?}"),
        }
    }
    // A secret without a profile, with none configured.
    let arn = world
        .create_secret(
            &unique("noprofile-"),
            &json!({"apiKey": "sk_x_1234567890"}).to_string(),
        )
        .await;
    let function = world.function(BIN, &[]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let invocation = function
        .invoke(&SecretsManagerDriver::event("createSecret", &arn, &token))
        .await;
    assert_error(
        &invocation,
        "TargetError",
        "no provider profile: put \"profile\" in the secret",
    );
}

/// A hostile HTTP server on 127.0.0.1, written on raw TCP so that it can do what no
/// well-behaved server library lets it: record every request's head (where a leaked key
/// would be) and answer with redirects, bodies of any size, endless chunked bodies and
/// endless headers.
mod hostile {
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinHandle;

    /// How the server answers every request.
    #[derive(Clone, Debug)]
    pub enum Answer {
        /// `401`, as a provider that does not know the key.
        Unauthorized,
        /// `307` to this URL.
        RedirectTo(String),
        /// `200` with a `Content-Length` of this many bytes, all of them sent.
        Huge(u64),
        /// `200`, chunked, never ending (about 32 MB/s, so that a client that keeps it all
        /// grows fast but cannot take the machine down within a step).
        EndlessChunked,
        /// `200`, then header lines forever.
        EndlessHeaders,
        /// `200` with this JSON body.
        Json(String),
        /// `200` with a `Content-Length` of 1000, then one byte every 100 ms.
        Drip,
    }

    /// The running server; dropping it stops it.
    pub struct Hostile {
        addr: SocketAddr,
        heads: Arc<Mutex<Vec<String>>>,
        task: JoinHandle<()>,
    }

    impl Drop for Hostile {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl Hostile {
        pub async fn start(answer: Answer) -> Hostile {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let heads = Arc::new(Mutex::new(Vec::new()));
            let recorded = Arc::clone(&heads);
            let task = tokio::spawn(async move {
                let mut connections = tokio::task::JoinSet::new();
                while let Ok((stream, _)) = listener.accept().await {
                    connections.spawn(serve(stream, answer.clone(), Arc::clone(&recorded)));
                }
            });
            Hostile { addr, heads, task }
        }

        pub fn base_url(&self) -> String {
            format!("http://{}", self.addr)
        }

        /// Every request head received (request line and headers), in arrival order.
        pub fn heads(&self) -> Vec<String> {
            self.heads.lock().unwrap().clone()
        }
    }

    async fn serve(mut stream: TcpStream, answer: Answer, heads: Arc<Mutex<Vec<String>>>) {
        let mut head = Vec::new();
        let mut buffer = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
        }
        heads
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&head).into_owned());
        let _ = answer_with(&mut stream, &answer).await;
    }

    async fn answer_with(stream: &mut TcpStream, answer: &Answer) -> std::io::Result<()> {
        let chunk = vec![b' '; 64 * 1024];
        match answer {
            Answer::Unauthorized => {
                let body = r#"{"error":"invalid key"}"#;
                stream
                    .write_all(
                        format!(
                            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await
            }
            Answer::RedirectTo(url) => {
                stream
                    .write_all(
                        format!(
                            "HTTP/1.1 307 Temporary Redirect\r\nLocation: {url}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .await
            }
            Answer::Json(body) => {
                stream
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await?;
                stream.write_all(body.as_bytes()).await
            }
            Answer::Huge(length) => {
                stream
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .await?;
                let mut left = *length;
                while left > 0 {
                    let n = left.min(chunk.len() as u64) as usize;
                    stream.write_all(&chunk[..n]).await?;
                    left -= n as u64;
                }
                Ok(())
            }
            Answer::EndlessChunked => {
                stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                    )
                    .await?;
                loop {
                    stream
                        .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                        .await?;
                    stream.write_all(&chunk).await?;
                    stream.write_all(b"\r\n").await?;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            Answer::Drip => {
                stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
                    )
                    .await?;
                loop {
                    stream.write_all(b" ").await?;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Answer::EndlessHeaders => {
                stream.write_all(b"HTTP/1.1 200 OK\r\n").await?;
                let line = format!("X-Padding: {}\r\n", "a".repeat(1000));
                loop {
                    stream.write_all(line.as_bytes()).await?;
                    tokio::time::sleep(Duration::from_micros(100)).await;
                }
            }
        }
    }
}

use hostile::{Answer, Hostile};

/// An admin secret as the operator writes it: the admin key with the endpoint it belongs to.
async fn admin_secret(world: &World, service: &KeyService) -> String {
    world
        .create_secret(
            &unique("admin-"),
            &json!({"apiKey": service.admin_key(), "profile": "rotation-keyservice",
                "baseUrl": service.base_url()})
            .to_string(),
        )
        .await
}

fn assert_no_admin_key(attacker: &Hostile, service: &KeyService) {
    let heads = attacker.heads();
    assert!(
        !heads.join("\n").contains(&service.admin_key()),
        "the admin key reached a server the rotated secret named: {} requests",
        heads.len()
    );
    assert!(
        heads.is_empty(),
        "the rotator talked to a server the rotated secret named: {:?}",
        heads
            .iter()
            .map(|h| h.lines().next().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn the_admin_key_never_goes_where_the_rotated_secret_says() {
    let world = World::new().await;
    let service = KeyService::start().await.unwrap();
    let admin = admin_secret(&world, &service).await;
    let attacker = Hostile::start(Answer::Unauthorized).await;
    let function = world.function(BIN, &[]).await;

    let mut leaky_profile: Value = serde_json::from_str(include_str!(
        "../crates/apikey/profiles/rotation-keyservice.json"
    ))
    .unwrap();
    leaky_profile["baseUrl"] = json!(attacker.base_url());
    let mut header_profile: Value = serde_json::from_str(include_str!(
        "../crates/apikey/profiles/rotation-keyservice.json"
    ))
    .unwrap();
    header_profile["baseUrl"] = json!(service.base_url());
    header_profile["auth"] = json!({"header": "X-Forward-To", "value": "{key}"});
    let cases = [
        (
            "baseUrl",
            json!({"profile": "rotation-keyservice", "baseUrl": attacker.base_url()}),
        ),
        ("profile", json!({"profile": leaky_profile})),
        ("profile", json!({"profile": header_profile})),
    ];
    for (field, fields) in cases {
        let first = service.mint("first key");
        let mut secret = json!({"apiKey": first.key, "apiKeyId": first.id, "adminarn": admin});
        for (name, value) in fields.as_object().unwrap() {
            secret[name] = value.clone();
        }
        let arn = world
            .create_secret(&unique("apikey-"), &secret.to_string())
            .await;
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        assert_no_admin_key(&attacker, &service);
        let failure = report
            .failure()
            .unwrap_or_else(|| panic!("{field}: the rotation must fail\n{report}"));
        assert_eq!(failure.step, "createSecret");
        assert_error(&failure.invocation, "TargetError", field);
        assert_error(&failure.invocation, "TargetError", "adminarn");
    }
}

#[tokio::test]
async fn a_previous_version_cannot_send_the_admin_key_elsewhere() {
    let world = World::new().await;
    let service = KeyService::start().await.unwrap();
    let admin = admin_secret(&world, &service).await;
    let attacker = Hostile::start(Answer::Unauthorized).await;
    let first = service.mint("first key");
    let arn = world
        .create_secret(
            &unique("apikey-"),
            &json!({"apiKey": first.key, "apiKeyId": first.id, "adminarn": admin,
                "profile": "rotation-keyservice", "baseUrl": service.base_url()})
            .to_string(),
        )
        .await;
    // The application team writes a version of its own secret and labels it AWSPREVIOUS: the
    // key finishSecret revokes, at an endpoint of its choosing.
    world
        .client()
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(
            json!({"apiKey": "sk_old", "apiKeyId": "key_old", "adminarn": admin,
                "profile": "rotation-keyservice", "baseUrl": attacker.base_url()})
            .to_string(),
        )
        .version_stages("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert_no_admin_key(&attacker, &service);
    assert!(report.succeeded(), "{report}\n{}", function.output());
}

#[tokio::test]
async fn plain_http_goes_only_to_loopback_unless_allowed() {
    let world = World::new().await;
    let first = "sk_live_plain_http_1234567890";
    let arn = world
        .create_secret(
            &unique("apikey-"),
            &json!({"apiKey": first, "profile": "rotation-keyservice",
                "baseUrl": "http://provider.invalid:8080"})
            .to_string(),
        )
        .await;
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    let failure = report.failure().expect("the rotation must fail");
    assert_error(&failure.invocation, "TargetError", "baseUrl");
    assert_error(&failure.invocation, "TargetError", "API_KEY_ALLOW_HTTP");

    // Allowed: the request is made (and fails, as nothing answers for that name).
    let function = world.function(BIN, &[("API_KEY_ALLOW_HTTP", "true")]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    let failure = report.failure().expect("the rotation must fail");
    assert_error(&failure.invocation, "TargetError", "got no answer");

    let function = world
        .function(BIN, &[("API_KEY_ALLOW_HTTP", "maybe")])
        .await;
    let invocation = function
        .invoke(&SecretsManagerDriver::event("createSecret", &arn, "any"))
        .await;
    match &invocation.outcome {
        Outcome::InitError { error_message, .. } => {
            assert!(
                error_message.starts_with("API_KEY_ALLOW_HTTP"),
                "{error_message}"
            )
        }
        other => panic!("expected an init error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_redirect_is_never_followed_with_a_key() {
    let world = World::new().await;
    let elsewhere = Hostile::start(Answer::Unauthorized).await;
    let redirector = Hostile::start(Answer::RedirectTo(format!(
        "{}/v1/keys",
        elsewhere.base_url()
    )))
    .await;
    let arn = world
        .create_secret(
            &unique("apikey-"),
            &json!({"apiKey": "sk_live_redirected_1234567890", "profile": "rotation-keyservice",
                "baseUrl": redirector.base_url()})
            .to_string(),
        )
        .await;
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    let failure = report.failure().expect("the rotation must fail");
    assert_error(
        &failure.invocation,
        "TargetError",
        "answered 307 (a redirect, never followed",
    );
    assert_eq!(redirector.heads().len(), 1);
    assert!(elsewhere.heads().is_empty(), "a redirect was followed");
}

/// The keys alive at the service that carry the label of this rotation.
fn labelled(service: &KeyService, token: &str) -> Vec<String> {
    service
        .alive()
        .into_iter()
        .filter(|key| key.name == format!("rotation-{token}"))
        .map(|key| key.id)
        .collect()
}

#[tokio::test]
async fn a_mint_that_failed_after_minting_leaves_exactly_the_recorded_key() {
    let world = World::new().await;
    let function = world.function(BIN, &[]).await;
    for fault in [
        "502 after work",
        "dropped after work",
        "answered after the timeout",
    ] {
        let (service, arn, first) = seeded(&world).await;
        match fault {
            "502 after work" => {
                service.fail_after_work_next(1, 502, Some("POST"), Some("/v1/keys"))
            }
            "dropped after work" => service.drop_after_work_next(1, Some("POST"), Some("/v1/keys")),
            // The client gives up on an exchange after 10 s.
            _ => service.delay_after_work_next(
                1,
                std::time::Duration::from_secs(12),
                Some("POST"),
                Some("/v1/keys"),
            ),
        }
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        assert!(
            report.succeeded(),
            "{fault}: {report}\n{}",
            function.output()
        );
        let current = world.value(&arn, "AWSCURRENT").await.unwrap();
        assert_eq!(
            labelled(&service, &report.token),
            vec![current["apiKeyId"].as_str().unwrap().to_owned()],
            "{fault}: exactly the recorded key of this rotation is alive; requests: {:?}",
            service.requests()
        );
        let expected = BTreeSet::from([
            current["apiKeyId"].as_str().unwrap().to_owned(),
            world.value(&arn, "AWSPREVIOUS").await.unwrap()["apiKeyId"]
                .as_str()
                .unwrap()
                .to_owned(),
        ]);
        assert_eq!(alive_ids(&service), expected, "{fault}");
        assert!(service.is_alive_key(&first));
    }
}

#[tokio::test]
async fn revoke_at_once_revokes_the_replaced_key_on_the_first_rotation() {
    let world = World::new().await;
    let (service, arn, first) = seeded(&world).await;
    let function = world
        .function(BIN, &[("API_KEY_REVOKE_AT_ONCE", "true")])
        .await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}\n{}", function.output());
    let current = world.value(&arn, "AWSCURRENT").await.unwrap();
    assert!(!service.is_alive_key(&first), "the replaced key is alive");
    assert_eq!(
        alive_ids(&service),
        BTreeSet::from([current["apiKeyId"].as_str().unwrap().to_owned()])
    );
}

#[tokio::test]
async fn a_revoke_answered_404_by_a_wrong_path_is_an_error() {
    let world = World::new().await;
    let service = KeyService::start().await.unwrap();
    let first = service.mint("first key");
    let arn = world
        .create_secret(
            &unique("apikey-"),
            &json!({"apiKey": first.key, "apiKeyId": first.id}).to_string(),
        )
        .await;
    let mut profile: Value = serde_json::from_str(include_str!(
        "../crates/apikey/profiles/rotation-keyservice.json"
    ))
    .unwrap();
    profile["baseUrl"] = json!(service.base_url());
    // A typo: the service answers 404 "not found" for this route, whatever the id.
    profile["revoke"]["path"] = json!("/v1/key/{id}");
    let file = std::env::temp_dir().join(format!("{}.json", unique("profile-")));
    std::fs::write(&file, profile.to_string()).unwrap();
    let function = world
        .function(BIN, &[("API_KEY_PROFILE_FILE", file.to_str().unwrap())])
        .await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}\n{}", function.output());
    // The second rotation revokes the first key, at the wrong path.
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    let _ = std::fs::remove_file(file);
    let failure = report
        .failure()
        .unwrap_or_else(|| panic!("a revoke at a wrong path must fail: {:?}", service.alive()));
    assert_eq!(failure.step, "finishSecret");
    assert_error(&failure.invocation, "TargetError", "DELETE /v1/key/");
    assert_error(&failure.invocation, "TargetError", "404");
    assert!(service.is_alive_key(&first.key));
}

/// Starts a rotation against a hostile provider and returns the function's peak memory (MB)
/// and the createSecret failure.
async fn rotate_against(world: &World, answer: Answer) -> (u64, Invocation) {
    let server = Hostile::start(answer).await;
    let arn = world
        .create_secret(
            &unique("apikey-"),
            &json!({"apiKey": "sk_live_memory_1234567890", "profile": "rotation-keyservice",
                "baseUrl": server.base_url()})
            .to_string(),
        )
        .await;
    let function = world
        .function_with(
            BIN,
            &stack().moto.endpoint(),
            std::time::Duration::from_secs(8),
            &[],
        )
        .await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let invocation = function
        .invoke(&SecretsManagerDriver::event("createSecret", &arn, &token))
        .await;
    let peak_kib = function.peak_rss_kib().expect("the function runs");
    (peak_kib / 1024, invocation)
}

#[tokio::test]
async fn a_huge_answer_is_refused_and_memory_stays_bounded() {
    let world = World::new().await;
    // A list of 1.5 MiB of tiny objects: small on the wire, large once parsed as a tree.
    let mut dense = String::from(r#"{"keys":["#);
    while dense.len() < 900 * 1024 {
        dense.push_str(r#"{"a":{}},"#);
    }
    dense.push_str(r#"{"a":{}}]}"#);
    let mut failures = Vec::new();
    for (answer, needle) in [
        (Answer::Huge(200 * 1024 * 1024), "larger than the cap"),
        (Answer::EndlessChunked, "larger than the cap"),
        (Answer::EndlessHeaders, "GET /v1/keys"),
        (Answer::Json(dense), ""),
        (Answer::Drip, "GET /v1/keys got no answer: no answer within"),
    ] {
        let described = format!("{answer:?}").chars().take(30).collect::<String>();
        let (peak_mb, invocation) = rotate_against(&world, answer).await;
        if peak_mb >= 64 {
            failures.push(format!("{described}: peak memory {peak_mb} MB"));
        }
        let message = match &invocation.outcome {
            Outcome::Error { error_message, .. } => error_message.clone(),
            other => format!("{other:?}"),
        };
        eprintln!(
            "{described}: peak memory {peak_mb} MB, {:?}: {message}",
            invocation.duration
        );
        if !message.contains(needle) {
            failures.push(format!("{described}: expected {needle:?} in {message:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn a_written_version_cannot_make_the_admin_key_revoke_another_teams_key() {
    let world = World::new().await;
    let service = KeyService::start().await.unwrap();
    let admin = admin_secret(&world, &service).await;
    let victim = service.mint("another team's key");
    let first = service.mint("first key");
    let arn = world
        .create_secret(
            &unique("apikey-"),
            &json!({"apiKey": first.key, "apiKeyId": first.id, "adminarn": admin}).to_string(),
        )
        .await;
    // The application team labels a version of its own secret AWSPREVIOUS, with the id of a
    // key that is not theirs: finishSecret revokes "the previous key" with the admin key.
    world
        .client()
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(
            json!({"apiKey": "sk_live_not_the_victims_key", "apiKeyId": victim.id,
                "adminarn": admin})
            .to_string(),
        )
        .version_stages("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}\n{}", function.output());
    assert!(
        service.is_alive_key(&victim.key),
        "the admin key revoked a key the secret never held"
    );
    assert!(service.is_alive_key(&first.key));
}

// ---- fix-admin: which secret may be the admin secret, and which ids the admin key revokes ----

/// A rotated secret with a fresh key at `service`, managed by the admin secret `admin`.
async fn managed_secret(world: &World, service: &KeyService, admin: &str) -> (String, String) {
    let first = service.mint("first key");
    let arn = world
        .create_secret(
            &unique("apikey-"),
            &json!({"apiKey": first.key, "apiKeyId": first.id, "adminarn": admin}).to_string(),
        )
        .await;
    (arn, first.key)
}

#[tokio::test]
async fn another_teams_rotated_secret_is_never_an_admin_secret() {
    let world = World::new().await;
    let service = KeyService::start().await.unwrap();
    let function = world.function(BIN, &[]).await;
    // Team B's secret, rotated by this same function: the function may read it.
    let first = service.mint("team B's key");
    let victim = world
        .create_secret(
            &unique("apikey-b-"),
            &json!({"apiKey": first.key, "apiKeyId": first.id, "profile": "rotation-keyservice",
                "baseUrl": service.base_url()})
            .to_string(),
        )
        .await;
    let report = world.driver.rotate(&function, &victim).await.unwrap();
    assert!(report.succeeded(), "{report}\n{}", function.output());

    // Team A names it as its admin secret.
    let (arn, _) = managed_secret(&world, &service, &victim).await;
    let before = alive_ids(&service);
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    let failure = report
        .failure()
        .unwrap_or_else(|| panic!("team B's key minted a key for team A\n{report}"));
    assert_eq!(failure.step, "createSecret");
    assert_error(&failure.invocation, "TargetError", "adminarn");
    assert_error(
        &failure.invocation,
        "TargetError",
        "is rotated by this function",
    );
    assert_eq!(alive_ids(&service), before, "no key was minted");

    // A secret that names itself.
    let (own, _) = managed_secret(&world, &service, "placeholder").await;
    world
        .client()
        .put_secret_value()
        .secret_id(&own)
        .secret_string(
            json!({"apiKey": first.key, "apiKeyId": first.id, "adminarn": own,
                "profile": "rotation-keyservice", "baseUrl": service.base_url()})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let before = alive_ids(&service);
    let report = world.driver.rotate(&function, &own).await.unwrap();
    let failure = report
        .failure()
        .unwrap_or_else(|| panic!("a secret managed itself as its admin\n{report}"));
    assert_error(
        &failure.invocation,
        "TargetError",
        "the rotated secret itself",
    );
    assert_eq!(alive_ids(&service), before, "no key was minted");
}

#[tokio::test]
async fn master_secret_arns_pins_the_admin_secret() {
    let world = World::new().await;
    let service = KeyService::start().await.unwrap();
    let allowed = admin_secret(&world, &service).await;
    let other = admin_secret(&world, &service).await;
    let function = world
        .function(BIN, &[("MASTER_SECRET_ARNS", &format!(" {allowed} ,"))])
        .await;

    let (arn, _) = managed_secret(&world, &service, &other).await;
    let before = alive_ids(&service);
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    let failure = report
        .failure()
        .unwrap_or_else(|| panic!("an admin secret outside MASTER_SECRET_ARNS was used\n{report}"));
    assert_eq!(failure.step, "createSecret");
    assert_error(&failure.invocation, "TargetError", "adminarn");
    assert_error(&failure.invocation, "TargetError", "MASTER_SECRET_ARNS");
    assert_eq!(alive_ids(&service), before, "no key was minted");

    let (arn, _) = managed_secret(&world, &service, &allowed).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}\n{}", function.output());

    let function = world
        .function(BIN, &[("MASTER_SECRET_ARNS", "admin-secret-name")])
        .await;
    let invocation = function
        .invoke(&SecretsManagerDriver::event("createSecret", "any", "any"))
        .await;
    match &invocation.outcome {
        Outcome::InitError { error_message, .. } => {
            assert!(
                error_message.starts_with("MASTER_SECRET_ARNS"),
                "{error_message}"
            )
        }
        other => panic!("expected an init error, got {other:?}"),
    }
}

#[tokio::test]
async fn without_identify_the_admin_key_revokes_only_keys_this_rotator_labelled() {
    let world = World::new().await;
    let service = KeyService::start().await.unwrap();
    // The operator's profile cannot ask the provider who a key is.
    let mut profile: Value = serde_json::from_str(include_str!(
        "../crates/apikey/profiles/rotation-keyservice.json"
    ))
    .unwrap();
    profile["name"] = json!("keyservice-without-identify");
    profile.as_object_mut().unwrap().remove("identify");
    profile["baseUrl"] = json!(service.base_url());
    let admin = world
        .create_secret(
            &unique("admin-"),
            &json!({"apiKey": service.admin_key(), "profile": profile}).to_string(),
        )
        .await;
    let victim = service.mint("another team's key");
    let (arn, first) = managed_secret(&world, &service, &admin).await;
    // The application team labels a version of its own secret AWSPREVIOUS with the id of a
    // key that is not theirs.
    world
        .client()
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(
            json!({"apiKey": "sk_live_not_the_victims_key", "apiKeyId": victim.id,
                "adminarn": admin})
            .to_string(),
        )
        .version_stages("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}\n{}", function.output());
    assert!(
        service.is_alive_key(&victim.key),
        "the admin key revoked a key by an id the team wrote"
    );
    assert!(
        function.output().contains("not revoking"),
        "no WARN about the skipped revoke:\n{}",
        function.output()
    );
    assert!(!function.output().contains(&victim.key));

    // Keys this rotator minted (labelled rotation-<token>) are still revoked by their id.
    let minted = key_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
    for _ in 0..2 {
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        assert!(report.succeeded(), "{report}\n{}", function.output());
    }
    assert!(
        !service.is_alive_key(&minted),
        "a key this rotator minted was not revoked when it fell out of use"
    );
    assert!(
        service.is_alive_key(&first),
        "the team's own first key has no rotation label: left to the team"
    );
    assert!(service.is_alive_key(&victim.key));
}
