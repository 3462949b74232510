//! postgres-single-user, end to end: the real binary under the Lambda Runtime API, moto's
//! Secrets Manager, and a real PostgreSQL that logs every statement.

use std::time::{Duration, Instant};

use rotation_e2e::*;
use rotation_local::{FaultProxy, RotationDriver};
use rotation_stack::{Lifetime, PostgresServer};
use serde_json::json;

const BIN: &str = "postgres-single-user";
const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

#[tokio::test]
async fn happy_path_rotates_the_password_and_keeps_every_other_field() {
    let world = World::new().await;
    let pg = world.postgres();
    let role = unique("happy_");
    create_role(pg, &role, "Old-Pass-1").await;
    // port as a string and an unknown key: both must survive untouched.
    let secret = json!({
        "engine": "postgres", "host": pg.host(), "port": pg.port().to_string(),
        "username": role, "password": "Old-Pass-1", "dbname": "postgres",
        "team": {"owner": "payments", "tags": [1, 2]},
    });
    let arn = world
        .create_secret(&unique("happy-"), &secret.to_string())
        .await;
    let old_version = world.version_with(&arn, "AWSCURRENT").await.unwrap();

    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");

    let labels = world.labels(&arn).await;
    assert!(
        labels[&report.token].contains(&"AWSCURRENT".to_string()),
        "{labels:?}"
    );
    assert!(
        labels[&old_version].contains(&"AWSPREVIOUS".to_string()),
        "{labels:?}"
    );
    let current = world.value(&arn, "AWSCURRENT").await.unwrap();
    let new_password = password_of(&current);
    assert_ne!(new_password, "Old-Pass-1");
    login(pg.port(), &role, &new_password).await.unwrap();
    assert!(
        login(pg.port(), &role, "Old-Pass-1").await.is_err(),
        "the old password still works"
    );
    let mut expected = secret.clone();
    expected["password"] = json!(new_password);
    assert_eq!(current, expected, "only the password may change");
    assert_eq!(
        current["port"],
        json!(pg.port().to_string()),
        "port stays a string"
    );
}

#[tokio::test]
async fn three_rotations_in_a_row() {
    let world = World::new().await;
    let pg = world.postgres();
    let (arn, role, mut password) = world.user_with_secret("three").await;
    let function = world.function(BIN, &[]).await;
    for round in 1..=3 {
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        assert!(report.succeeded(), "round {round}: {report}");
        let new_password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
        assert_ne!(new_password, password);
        login(pg.port(), &role, &new_password).await.unwrap();
        assert!(login(pg.port(), &role, &password).await.is_err());
        let previous = password_of(&world.value(&arn, "AWSPREVIOUS").await.unwrap());
        assert_eq!(
            previous, password,
            "round {round}: AWSPREVIOUS holds the last password"
        );
        password = new_password;
    }
}

#[tokio::test]
async fn every_step_run_twice_is_harmless() {
    let world = World::new().await;
    let pg = world.postgres();
    let (arn, role, _) = world.user_with_secret("twice").await;
    let function = world.function(BIN, &[]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let mut pending_value = None;
    for step in STEPS {
        for attempt in 1..=2 {
            let report = world
                .driver
                .run_steps(&function, &arn, &token, &[step])
                .await;
            assert!(report.succeeded(), "{step} attempt {attempt}: {report}");
            if step == "createSecret" {
                let value = world.value_of_version(&arn, &token).await.unwrap();
                match &pending_value {
                    None => pending_value = Some(value),
                    Some(first) => assert_eq!(first, &value, "createSecret generated twice"),
                }
            }
        }
    }
    let current = world.value(&arn, "AWSCURRENT").await.unwrap();
    assert_eq!(
        Some(current.to_string()),
        pending_value.map(|v| serde_json::from_str::<serde_json::Value>(&v)
            .unwrap()
            .to_string())
    );
    login(pg.port(), &role, &password_of(&current))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_rotation_cut_after_set_secret_is_resumed_by_a_new_process() {
    let world = World::new().await;
    let pg = world.postgres();
    let (arn, role, old_password) = world.user_with_secret("resume").await;
    let first = world.function(BIN, &[]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let report = world
        .driver
        .run_steps(&first, &arn, &token, &["createSecret", "setSecret"])
        .await;
    assert!(report.succeeded(), "{report}");
    drop(first.stop().await);

    // Secrets Manager retries the whole rotation with the same token, in a new process.
    let again = world.driver.start_rotation(&arn).await.unwrap();
    assert_eq!(again, token, "the unfinished rotation is re-attempted");
    let second = world.function(BIN, &[]).await;
    let report = world.driver.run_steps(&second, &arn, &token, &STEPS).await;
    assert!(report.succeeded(), "{report}");
    let output = second.output();
    assert!(
        output.contains("already"),
        "the retry should find the work done: {output}"
    );
    let current = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
    login(pg.port(), &role, &current).await.unwrap();
    assert!(login(pg.port(), &role, &old_password).await.is_err());
}

#[tokio::test]
async fn a_token_already_current_is_a_no_op_for_every_step() {
    let world = World::new().await;
    let (arn, _, _) = world.user_with_secret("noop").await;
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let before = world.labels(&arn).await;
    let value_before = world.value(&arn, "AWSCURRENT").await;
    for step in STEPS.iter().chain(&["notAStep"]) {
        let invocation = function
            .invoke(&RotationDriver::event(step, &arn, &report.token))
            .await;
        assert!(
            invocation.outcome.is_success(),
            "{step}: {:?}",
            invocation.outcome
        );
    }
    assert_eq!(world.labels(&arn).await, before);
    assert_eq!(world.value(&arn, "AWSCURRENT").await, value_before);
}

#[tokio::test]
async fn unknown_tokens_and_tokens_without_pending_are_rejected_with_state_unchanged() {
    let world = World::new().await;
    let (arn, _, _) = world.user_with_secret("tokens").await;
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let previous = world.version_with(&arn, "AWSPREVIOUS").await.unwrap();
    let before = world.labels(&arn).await;
    for step in STEPS {
        let unknown = function
            .invoke(&RotationDriver::event(
                step,
                &arn,
                "00000000-0000-4000-8000-000000000000",
            ))
            .await;
        assert_error(
            &unknown,
            "UnknownVersion",
            "has no stage for rotation of secret",
        );
        let not_pending = function
            .invoke(&RotationDriver::event(step, &arn, &previous))
            .await;
        assert_error(
            &not_pending,
            "NotPending",
            "not set as AWSPENDING for rotation of secret",
        );
    }
    assert_eq!(world.labels(&arn).await, before);
}

#[tokio::test]
async fn a_secret_with_rotation_disabled_is_refused() {
    let world = World::new().await;
    let (arn, _, _) = world.user_with_secret("disabled").await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    world
        .client()
        .cancel_rotate_secret()
        .secret_id(&arn)
        .send()
        .await
        .unwrap();
    let function = world.function(BIN, &[]).await;
    let invocation = function
        .invoke(&RotationDriver::event("createSecret", &arn, &token))
        .await;
    assert_error(
        &invocation,
        "RotationDisabled",
        "is not enabled for rotation",
    );
}

#[tokio::test]
async fn unknown_steps_and_malformed_events_are_clear_errors() {
    let world = World::new().await;
    let (arn, _, _) = world.user_with_secret("events").await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let function = world.function(BIN, &[]).await;
    let invocation = function
        .invoke(&RotationDriver::event("rotateEverything", &arn, &token))
        .await;
    assert_error(
        &invocation,
        "InvalidStep",
        "Invalid step parameter rotateEverything",
    );

    let missing = function
        .invoke(&json!({"Step": "createSecret", "SecretId": arn}))
        .await;
    assert_error(&missing, "InvalidEvent", "ClientRequestToken");
    let not_an_object = function.invoke(&json!(["createSecret"])).await;
    assert_error(&not_an_object, "InvalidEvent", "not a JSON object");
    // Nothing was written.
    assert_eq!(world.value_of_version(&arn, &token).await, None);
}

#[tokio::test]
async fn malformed_secrets_fail_create_secret_naming_the_field() {
    let world = World::new().await;
    let pg = world.postgres();
    let function = world.function(BIN, &[]).await;
    let cases = [
        ("not json at all, password=hunter2".to_string(), "is not valid JSON"),
        (json!({"engine": "postgres", "port": 5432, "username": "u", "password": "hunter2"}).to_string(), "host key is missing from secret JSON"),
        (json!({"engine": "mysql", "host": pg.host(), "username": "u", "password": "hunter2"}).to_string(), "Database engine must be set to 'postgres'"),
        (json!({"engine": "postgres", "host": pg.host(), "username": "u", "password": "hunter2", "port": "fifty"}).to_string(), "port key in secret JSON"),
    ];
    for (value, needle) in cases {
        let arn = world.create_secret(&unique("malformed-"), &value).await;
        let token = world.driver.start_rotation(&arn).await.unwrap();
        let invocation = function
            .invoke(&RotationDriver::event("createSecret", &arn, &token))
            .await;
        assert_error(&invocation, "InvalidSecret", needle);
        if let Outcome::Error { error_message, .. } = &invocation.outcome {
            assert!(!error_message.contains("hunter2"), "{error_message}");
        }
        assert_eq!(world.value_of_version(&arn, &token).await, None, "{needle}");
    }
    assert!(!function.output().contains("hunter2"));
}

#[tokio::test]
async fn hostile_role_names_rotate() {
    let world = World::new().await;
    let pg = world.postgres();
    let function = world.function(BIN, &[]).await;
    for name in [
        unique("we\"ird; DROP ROLE postgres; --"),
        unique("O'Brien "),
        unique("ünïcødé_用户_"),
        unique("UPPER_case"),
    ] {
        create_role(pg, &name, "Start-Pass-1").await;
        let secret = secret_json(pg, &name, "Start-Pass-1").to_string();
        let arn = world.create_secret(&unique("hostile-"), &secret).await;
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        assert!(report.succeeded(), "{name}: {report}");
        let password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
        login(pg.port(), &name, &password).await.unwrap();
        assert!(
            login(pg.port(), &name, "Start-Pass-1").await.is_err(),
            "{name}"
        );
    }
    // The superuser the injection attempt named is still there.
    login(pg.port(), pg.superuser(), pg.superuser_password())
        .await
        .unwrap();
}

#[tokio::test]
async fn test_secret_fails_when_the_password_was_never_set_and_awscurrent_stays() {
    let world = World::new().await;
    let pg = world.postgres();
    let (arn, role, password) = world.user_with_secret("neverset").await;
    let current_before = world.version_with(&arn, "AWSCURRENT").await.unwrap();
    let function = world.function(BIN, &[]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let report = world
        .driver
        .run_steps(
            &function,
            &arn,
            &token,
            &["createSecret", "testSecret", "finishSecret"],
        )
        .await;
    let failure = report.failure().expect("testSecret must fail");
    assert_eq!(failure.step, "testSecret");
    assert_error(
        &failure.invocation,
        "TargetError",
        "Unable to log into database with pending secret",
    );
    assert_eq!(
        world.version_with(&arn, "AWSCURRENT").await.unwrap(),
        current_before
    );
    login(pg.port(), &role, &password).await.unwrap();
}

#[tokio::test]
async fn a_database_that_is_down_fails_set_secret_in_seconds_and_a_retry_succeeds() {
    let world = World::new().await;
    let mut pg = PostgresServer::start(Lifetime::WithProcess).unwrap();
    let role = unique("down_");
    create_role(&pg, &role, "Before-Down-1").await;
    let arn = world
        .create_secret(
            &unique("down-"),
            &secret_json(&pg, &role, "Before-Down-1").to_string(),
        )
        .await;
    let function = world.function(BIN, &[]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    assert!(
        world
            .driver
            .run_steps(&function, &arn, &token, &["createSecret"])
            .await
            .succeeded()
    );

    pg.stop().unwrap();
    let started = Instant::now();
    let report = world
        .driver
        .run_steps(&function, &arn, &token, &["setSecret"])
        .await;
    let took = started.elapsed();
    let failure = report
        .failure()
        .expect("setSecret must fail while the database is down");
    assert_error(
        &failure.invocation,
        "TargetError",
        "cannot log in to the database at",
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");

    pg.restart().unwrap();
    let report = world
        .driver
        .run_steps(&function, &arn, &token, &STEPS[1..])
        .await;
    assert!(report.succeeded(), "{report}");
    let password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
    login(pg.port(), &role, &password).await.unwrap();
}

#[tokio::test]
async fn a_host_that_accepts_tcp_and_says_nothing_fails_in_seconds() {
    let world = World::new().await;
    // A listener that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let keep = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().take(8).flatten() {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let secret = json!({"engine": "postgres", "host": "127.0.0.1", "port": port, "username": "u", "password": "p"});
    let arn = world
        .create_secret(&unique("silent-"), &secret.to_string())
        .await;
    let function = world
        .function(BIN, &[("DATABASE_CONNECT_TIMEOUT", "3")])
        .await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    assert!(
        world
            .driver
            .run_steps(&function, &arn, &token, &["createSecret"])
            .await
            .succeeded()
    );
    let started = Instant::now();
    let report = world
        .driver
        .run_steps(&function, &arn, &token, &["setSecret"])
        .await;
    let took = started.elapsed();
    let failure = report.failure().expect("setSecret must fail");
    assert_error(
        &failure.invocation,
        "TargetError",
        "did not complete a login within",
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    drop(keep);
}

#[tokio::test]
async fn throttling_from_secrets_manager_is_survived() {
    let world = World::new().await;
    let pg = world.postgres();
    let (arn, role, _) = world.user_with_secret("throttle").await;
    let proxy = FaultProxy::start(&stack().moto.endpoint()).await.unwrap();
    let function = world.function_at(BIN, &proxy.endpoint(), &[]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    for step in STEPS {
        proxy.throttle_next(2, None);
        proxy.fail_next(1, 503, None);
        let report = world
            .driver
            .run_steps(&function, &arn, &token, &[step])
            .await;
        assert!(report.succeeded(), "{step}: {report}");
    }
    let calls = proxy.calls();
    assert!(calls.len() >= 4 * 4, "{calls:?}");
    let password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
    login(pg.port(), &role, &password).await.unwrap();
}

#[tokio::test]
async fn no_password_reaches_the_rotator_output_or_the_database_log() {
    let world = World::new().await;
    let pg = world.postgres();
    let (arn, role, old_password) = world.user_with_secret("nolog").await;
    let function = world.function(BIN, &[("RUST_LOG", "trace")]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let new_password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
    let output = function.stop().await;
    let server_log = std::fs::read_to_string(pg.log_path()).unwrap();
    assert!(
        server_log.contains(&format!(
            "ALTER ROLE \"{role}\" PASSWORD 'SCRAM-SHA-256$4096:"
        )),
        "the server log should show the verifier statement"
    );
    for (name, text) in [("rotator output", &output), ("PostgreSQL log", &server_log)] {
        assert!(!text.contains(&new_password), "new password in the {name}");
        assert!(!text.contains(&old_password), "old password in the {name}");
    }
    // The output is JSON lines that carry the secret, token and step.
    let step_line = output
        .lines()
        .find(|line| line.contains("step succeeded") && line.contains("setSecret"))
        .expect("a completion line for setSecret");
    let parsed: serde_json::Value = serde_json::from_str(step_line).unwrap();
    assert_eq!(parsed["span"]["secret"], json!(arn));
    assert_eq!(parsed["span"]["token"], json!(report.token));
    assert!(parsed["duration_ms"].is_number(), "{step_line}");
}

#[tokio::test]
async fn password_policy_variables_are_honoured() {
    let world = World::new().await;
    let pg = world.postgres();
    let (arn, role, _) = world.user_with_secret("policy").await;
    let function = world
        .function(
            BIN,
            &[
                ("PASSWORD_LENGTH", "20"),
                ("EXCLUDE_PUNCTUATION", "true"),
                ("EXCLUDE_CHARACTERS", "0123456789"),
            ],
        )
        .await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
    assert_eq!(password.len(), 20);
    assert!(
        password.chars().all(|c| c.is_ascii_alphabetic()),
        "{password}"
    );
    assert!(password.chars().any(|c| c.is_ascii_uppercase()));
    assert!(password.chars().any(|c| c.is_ascii_lowercase()));
    login(pg.port(), &role, &password).await.unwrap();
}

#[tokio::test]
async fn a_bad_variable_is_refused_at_start_up_naming_it() {
    let world = World::new().await;
    for (variable, value) in [
        ("PASSWORD_LENGTH", "0"),
        ("PASSWORD_LENGTH", "5000"),
        ("PASSWORD_LENGTH", "long"),
        ("EXCLUDE_NUMBERS", "sometimes"),
        ("DATABASE_CA_BUNDLE", "/nonexistent/bundle.pem"),
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
    let function = world
        .function(
            BIN,
            &[
                ("EXCLUDE_LOWERCASE", "true"),
                ("EXCLUDE_UPPERCASE", "true"),
                ("EXCLUDE_NUMBERS", "true"),
                ("EXCLUDE_PUNCTUATION", "true"),
            ],
        )
        .await;
    let invocation = function
        .invoke(&RotationDriver::event("createSecret", "a", "b"))
        .await;
    assert!(
        matches!(invocation.outcome, Outcome::InitError { .. }),
        "{:?}",
        invocation.outcome
    );
}

#[tokio::test]
async fn tls_modes_verify_the_server_and_fall_back_only_when_allowed() {
    let world = World::new().await;
    let pg = world.postgres();
    let ca = pg.ca_cert_path().to_str().unwrap().to_owned();
    // (extra secret keys, DATABASE_CA_BUNDLE?, host, rotation succeeds?, text expected in output)
    let cases: Vec<(serde_json::Value, bool, &str, bool, &str)> = vec![
        (json!({"ssl": true}), true, "localhost", true, ""),
        (
            json!({"sslmode": "verify-full"}),
            true,
            "127.0.0.1",
            true,
            "",
        ),
        (
            json!({"ssl": true}),
            false,
            "localhost",
            false,
            "TLS failed",
        ),
        (json!({}), false, "localhost", true, "PLAINTEXT"),
        (json!({"sslmode": "require"}), false, "localhost", true, ""),
        (json!({"sslmode": "verify-ca"}), true, "localhost", true, ""),
        (json!({"ssl": false}), false, "localhost", true, ""),
        (
            json!({"sslmode": "sometimes"}),
            false,
            "localhost",
            false,
            "sslmode key",
        ),
    ];
    for (extra, with_bundle, host, succeeds, expected) in cases {
        let role = unique("tls_");
        create_role(pg, &role, "Tls-Pass-1").await;
        let mut secret = secret_json(pg, &role, "Tls-Pass-1");
        secret["host"] = json!(host);
        for (key, value) in extra.as_object().unwrap() {
            secret[key] = value.clone();
        }
        let arn = world
            .create_secret(&unique("tls-"), &secret.to_string())
            .await;
        let env: Vec<(&str, &str)> = if with_bundle {
            vec![("DATABASE_CA_BUNDLE", ca.as_str())]
        } else {
            vec![]
        };
        let function = world.function(BIN, &env).await;
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        let output = function.stop().await;
        let everything = format!("{report}\n{output}");
        assert_eq!(
            report.succeeded(),
            succeeds,
            "{extra} bundle={with_bundle}: {everything}"
        );
        assert!(
            everything.contains(expected),
            "{extra}: expected {expected:?} in {everything}"
        );
    }
}

#[tokio::test]
async fn the_rotation_token_of_the_event_reaches_put_secret_value() {
    let world = World::new().await;
    let (arn, _, _) = world.user_with_secret("rtoken").await;
    let proxy = FaultProxy::start(&stack().moto.endpoint()).await.unwrap();
    let function = world.function_at(BIN, &proxy.endpoint(), &[]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let mut event = RotationDriver::event("createSecret", &arn, &token);
    event["RotationToken"] = json!("rotation-token-from-the-service");
    let invocation = function.invoke(&event).await;
    assert!(invocation.outcome.is_success(), "{:?}", invocation.outcome);
    let puts = proxy.request_bodies("PutSecretValue");
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert_eq!(
        puts[0]["RotationToken"],
        json!("rotation-token-from-the-service")
    );
    assert_eq!(puts[0]["ClientRequestToken"], json!(token));
    assert_eq!(puts[0]["VersionStages"], json!(["AWSPENDING"]));
    // Without a RotationToken in the event, none is sent.
    let (arn, _, _) = world.user_with_secret("rtoken").await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    proxy.clear_calls();
    let invocation = function
        .invoke(&RotationDriver::event("createSecret", &arn, &token))
        .await;
    assert!(invocation.outcome.is_success(), "{:?}", invocation.outcome);
    let puts = proxy.request_bodies("PutSecretValue");
    assert_eq!(puts.len(), 1);
    assert!(
        puts[0].get("RotationToken").is_none(),
        "{:?}",
        puts[0].get("RotationToken")
    );
}
