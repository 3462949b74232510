//! mysql-single-user, end to end: the real binary under the Lambda Runtime API, moto's
//! Secrets Manager, and a real MariaDB that writes every statement to its general log.

use std::time::{Duration, Instant};

use rotation_e2e::*;
use rotation_local::{FaultProxy, RotationDriver};
use rotation_stack::{Lifetime, MariaDbServer};
use serde_json::json;

const BIN: &str = "mysql-single-user";
const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

#[tokio::test]
async fn happy_path_rotates_the_password_and_keeps_every_other_field() {
    let world = World::new().await;
    let db = world.mariadb();
    let user = unique("happy_");
    create_mysql_user(db, &user, "Old-Pass-1").await;
    let secret = json!({
        "engine": "mariadb", "host": db.host(), "port": db.port().to_string(),
        "username": user, "password": "Old-Pass-1", "team": {"owner": "payments"},
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
    mysql_login(db.port(), &user, &new_password).await.unwrap();
    assert!(mysql_login(db.port(), &user, "Old-Pass-1").await.is_err());
    let mut expected = secret.clone();
    expected["password"] = json!(new_password);
    assert_eq!(current, expected, "only the password may change");
}

#[tokio::test]
async fn three_rotations_in_a_row() {
    let world = World::new().await;
    let db = world.mariadb();
    let (arn, user, mut password) = world.mysql_user_with_secret("three").await;
    let function = world.function(BIN, &[]).await;
    for round in 1..=3 {
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        assert!(report.succeeded(), "round {round}: {report}");
        let new_password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
        mysql_login(db.port(), &user, &new_password).await.unwrap();
        assert!(mysql_login(db.port(), &user, &password).await.is_err());
        password = new_password;
    }
}

#[tokio::test]
async fn every_step_run_twice_is_harmless() {
    let world = World::new().await;
    let db = world.mariadb();
    let (arn, user, _) = world.mysql_user_with_secret("twice").await;
    let function = world.function(BIN, &[]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let mut first_value = None;
    for step in STEPS {
        for attempt in 1..=2 {
            let report = world
                .driver
                .run_steps(&function, &arn, &token, &[step])
                .await;
            assert!(report.succeeded(), "{step} attempt {attempt}: {report}");
            if step == "createSecret" {
                let value = world.value_of_version(&arn, &token).await.unwrap();
                assert_eq!(first_value.get_or_insert(value.clone()), &value);
            }
        }
    }
    let password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
    mysql_login(db.port(), &user, &password).await.unwrap();
}

#[tokio::test]
async fn a_rotation_cut_after_set_secret_is_resumed_by_a_new_process() {
    let world = World::new().await;
    let db = world.mariadb();
    let (arn, user, old_password) = world.mysql_user_with_secret("resume").await;
    let first = world.function(BIN, &[]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let report = world
        .driver
        .run_steps(&first, &arn, &token, &["createSecret", "setSecret"])
        .await;
    assert!(report.succeeded(), "{report}");
    drop(first.stop().await);
    assert_eq!(world.driver.start_rotation(&arn).await.unwrap(), token);
    let second = world.function(BIN, &[]).await;
    let report = world.driver.run_steps(&second, &arn, &token, &STEPS).await;
    assert!(report.succeeded(), "{report}");
    assert!(second.output().contains("already"), "{}", second.output());
    let password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
    mysql_login(db.port(), &user, &password).await.unwrap();
    assert!(mysql_login(db.port(), &user, &old_password).await.is_err());
}

#[tokio::test]
async fn tokens_already_current_unknown_or_not_pending_leave_state_unchanged() {
    let world = World::new().await;
    let (arn, _, _) = world.mysql_user_with_secret("tokens").await;
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let previous = world.version_with(&arn, "AWSPREVIOUS").await.unwrap();
    let before = world.labels(&arn).await;
    for step in STEPS {
        let current = function
            .invoke(&RotationDriver::event(step, &arn, &report.token))
            .await;
        assert!(
            current.outcome.is_success(),
            "{step}: {:?}",
            current.outcome
        );
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
        assert_error(&not_pending, "NotPending", "not set as AWSPENDING");
    }
    assert_eq!(world.labels(&arn).await, before);
}

#[tokio::test]
async fn malformed_secrets_fail_create_secret_naming_the_field() {
    let world = World::new().await;
    let db = world.mariadb();
    let function = world.function(BIN, &[]).await;
    let cases = [
        ("{\"password\": hunter2".to_string(), "is not valid JSON"),
        (json!({"engine": "mariadb", "host": db.host(), "password": "hunter2"}).to_string(), "username key is missing"),
        (json!({"engine": "postgres", "host": db.host(), "username": "u", "password": "hunter2"}).to_string(), "Database engine must be set to 'mysql'"),
    ];
    for (value, needle) in cases {
        let arn = world.create_secret(&unique("malformed-"), &value).await;
        let token = world.driver.start_rotation(&arn).await.unwrap();
        let invocation = function
            .invoke(&RotationDriver::event("createSecret", &arn, &token))
            .await;
        assert_error(&invocation, "InvalidSecret", needle);
        assert_eq!(world.value_of_version(&arn, &token).await, None);
    }
    assert!(!function.output().contains("hunter2"));
}

#[tokio::test]
async fn hostile_user_names_rotate() {
    let world = World::new().await;
    let db = world.mariadb();
    let function = world.function(BIN, &[]).await;
    for name in [
        unique("o'brien;--"),
        unique("ünï\"cødé "),
        unique("back\\slash"),
    ] {
        create_mysql_user(db, &name, "Start-Pass-1").await;
        let secret = mysql_secret_json(db, &name, "Start-Pass-1").to_string();
        let arn = world.create_secret(&unique("hostile-"), &secret).await;
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        assert!(report.succeeded(), "{name}: {report}");
        let password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
        mysql_login(db.port(), &name, &password).await.unwrap();
        assert!(
            mysql_login(db.port(), &name, "Start-Pass-1").await.is_err(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn test_secret_fails_when_the_password_was_never_set_and_awscurrent_stays() {
    let world = World::new().await;
    let db = world.mariadb();
    let (arn, user, password) = world.mysql_user_with_secret("neverset").await;
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
    mysql_login(db.port(), &user, &password).await.unwrap();
}

#[tokio::test]
async fn a_database_that_is_down_fails_set_secret_in_seconds_and_a_retry_succeeds() {
    let world = World::new().await;
    let mut db = MariaDbServer::start(Lifetime::WithProcess).unwrap();
    let user = unique("down_");
    create_mysql_user(&db, &user, "Before-Down-1").await;
    let secret = mysql_secret_json(&db, &user, "Before-Down-1").to_string();
    let arn = world.create_secret(&unique("down-"), &secret).await;
    let function = world.function(BIN, &[]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    assert!(
        world
            .driver
            .run_steps(&function, &arn, &token, &["createSecret"])
            .await
            .succeeded()
    );
    db.stop().unwrap();
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
    db.restart().unwrap();
    let report = world
        .driver
        .run_steps(&function, &arn, &token, &STEPS[1..])
        .await;
    assert!(report.succeeded(), "{report}");
    let password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
    mysql_login(db.port(), &user, &password).await.unwrap();
}

#[tokio::test]
async fn throttling_from_secrets_manager_is_survived() {
    let world = World::new().await;
    let (arn, user, _) = world.mysql_user_with_secret("throttle").await;
    let proxy = FaultProxy::start(&stack().moto.endpoint()).await.unwrap();
    let function = world.function_at(BIN, &proxy.endpoint(), &[]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    for step in STEPS {
        proxy.throttle_next(2, None);
        proxy.fail_next(1, 500, None);
        let report = world
            .driver
            .run_steps(&function, &arn, &token, &[step])
            .await;
        assert!(report.succeeded(), "{step}: {report}");
    }
    let password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
    mysql_login(world.mariadb().port(), &user, &password)
        .await
        .unwrap();
}

#[tokio::test]
async fn no_password_reaches_the_rotator_output_or_the_general_log() {
    let world = World::new().await;
    let db = world.mariadb();
    let (arn, user, old_password) = world.mysql_user_with_secret("nolog").await;
    let function = world.function(BIN, &[("RUST_LOG", "trace")]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let new_password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
    let output = function.stop().await;
    let general_log = std::fs::read_to_string(db.general_log_path()).unwrap();
    assert!(
        general_log.contains("SET PASSWORD = '*"),
        "the general log should show the hashed statement"
    );
    assert!(
        general_log.contains(&user),
        "the general log should show the user's session"
    );
    for (name, text) in [("rotator output", &output), ("general log", &general_log)] {
        assert!(!text.contains(&new_password), "new password in the {name}");
        assert!(!text.contains(&old_password), "old password in the {name}");
    }
}

#[tokio::test]
async fn tls_is_verified_with_the_ca_bundle_and_refused_without_it() {
    let world = World::new().await;
    let db = world.mariadb();
    let ca = db.ca_cert_path().to_str().unwrap().to_owned();
    let cases = [
        (json!({"ssl": true}), true, "localhost", true),
        (json!({"sslmode": "verify-full"}), true, "127.0.0.1", true),
        (json!({"ssl": true}), false, "localhost", false),
        (json!({"sslmode": "require"}), false, "127.0.0.1", true),
        (json!({"sslmode": "verify-ca"}), true, "127.0.0.1", true),
    ];
    for (extra, with_bundle, host, succeeds) in cases {
        let user = unique("tls_");
        create_mysql_user(db, &user, "Tls-Pass-1").await;
        let mut secret = mysql_secret_json(db, &user, "Tls-Pass-1");
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
        assert_eq!(
            report.succeeded(),
            succeeds,
            "{extra} bundle={with_bundle}: {report}\n{output}"
        );
        if !succeeds {
            assert!(format!("{report}").contains("TLS failed"), "{report}");
        }
    }
}

#[tokio::test]
async fn retain_current_password_on_mariadb_fails_set_secret_clearly_and_changes_nothing() {
    let world = World::new().await;
    let db = world.mariadb();
    let (arn, user, password) = world.mysql_user_with_secret("retain").await;
    let current_before = world.version_with(&arn, "AWSCURRENT").await.unwrap();
    let function = world
        .function(BIN, &[("MYSQL_RETAIN_CURRENT_PASSWORD", "true")])
        .await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let report = world
        .driver
        .run_steps(&function, &arn, &token, &["createSecret"])
        .await;
    assert!(report.succeeded(), "{report}");
    let report = world
        .driver
        .run_steps(&function, &arn, &token, &["setSecret"])
        .await;
    let failure = report.failure().expect("setSecret must fail on MariaDB");
    assert_eq!(failure.step, "setSecret");
    assert_error(
        &failure.invocation,
        "TargetError",
        "MYSQL_RETAIN_CURRENT_PASSWORD needs MySQL 8.0.14 or later (dual passwords); the server \
         is MariaDB ",
    );
    assert_error(
        &failure.invocation,
        "TargetError",
        ": turn the variable off or upgrade the server",
    );
    // Nothing changed: the old password still logs in, the pending one does not, and
    // AWSCURRENT did not move.
    mysql_login(db.port(), &user, &password).await.unwrap();
    let pending = world.value_of_version(&arn, &token).await.unwrap();
    let pending = password_of(&serde_json::from_str(&pending).unwrap());
    assert!(mysql_login(db.port(), &user, &pending).await.is_err());
    assert_eq!(
        world.version_with(&arn, "AWSCURRENT").await.unwrap(),
        current_before
    );
    let general_log = std::fs::read_to_string(db.general_log_path()).unwrap();
    assert!(
        !general_log.contains(&pending),
        "pending password in the log"
    );
}

#[tokio::test]
async fn a_bad_variable_is_refused_at_start_up_naming_it() {
    let world = World::new().await;
    for (variable, value) in [
        ("MYSQL_RETAIN_CURRENT_PASSWORD", "maybe"),
        ("PASSWORD_LENGTH", "long"),
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
}
