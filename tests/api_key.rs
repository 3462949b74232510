//! api-key, end to end: the real binary under the Lambda Runtime API, moto's Secrets Manager,
//! and a local key service over real HTTP (`rotation-keyservice`) that enforces
//! authentication, mints and revokes keys, and injects failures.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use rotation_e2e::*;
use rotation_keyservice::KeyService;
use rotation_local::{FaultProxy, RotationDriver};
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
        .create_secret(&unique("apikey-"), &secret.to_string())
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
        .run_steps(&function, &arn, &token, &rotation_local::ROTATION_STEPS)
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
        .run_steps(&function, &arn, &token, &rotation_local::ROTATION_STEPS)
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
    let admin = world
        .create_secret(&unique("admin-"), &service.admin_key())
        .await;
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
    for step in rotation_local::ROTATION_STEPS {
        for attempt in 1..=2 {
            let invocation = function
                .invoke(&RotationDriver::event(step, &arn, &token))
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
            .invoke(&RotationDriver::event("createSecret", "any", "any"))
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
        .invoke(&RotationDriver::event("createSecret", &arn, &token))
        .await;
    assert_error(
        &invocation,
        "TargetError",
        "no provider profile: put \"profile\" in the secret",
    );
}
