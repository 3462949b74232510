//! The database scenarios every database rotator must pass, beyond the protocol contract of
//! `rotation-testkit`: secret fields kept, malformed secrets, hostile user names, a database
//! that is down or silent, TLS, and the password and start-up variables.
//!
//! [`crate::database_scenarios!`] turns them into `#[tokio::test]`s for one [`Rotator`].

use std::path::Path;
use std::time::{Duration, Instant};

use rotation_core::Step;
use rotation_local::{FaultProxy, LocalFunction, SecretsManagerDriver};
use rotation_stack::{Lifetime, MariaDbServer, PostgresServer};
use serde_json::{Value, json};

use crate::{
    Outcome, Rotator, World, assert_error, create_mysql_user, create_role, login, mysql_login,
    mysql_secret_json, password_of, secret_json, stack, unique, with_exact_numbers,
};

/// A database server of the rotator's engine.
#[derive(Clone, Copy)]
pub enum Server<'a> {
    /// A PostgreSQL server.
    Postgres(&'a PostgresServer),
    /// A MariaDB server.
    MariaDb(&'a MariaDbServer),
}

impl Server<'static> {
    /// The stack's server for a rotator's engine.
    pub fn of(rotator: Rotator) -> Server<'static> {
        if rotator.is_postgres() {
            Server::Postgres(&stack().postgres)
        } else {
            Server::MariaDb(&stack().mariadb)
        }
    }
}

impl Server<'_> {
    /// Creates a login user with a password.
    pub async fn create_user(self, name: &str, password: &str) {
        match self {
            Server::Postgres(pg) => create_role(pg, name, password).await,
            Server::MariaDb(db) => create_mysql_user(db, name, password).await,
        }
    }

    /// The RDS secret JSON of a user.
    pub fn secret(self, user: &str, password: &str) -> Value {
        match self {
            Server::Postgres(pg) => secret_json(pg, user, password),
            Server::MariaDb(db) => mysql_secret_json(db, user, password),
        }
    }

    /// The RDS secret JSON of the administrative user (for a master secret).
    pub fn admin_secret(self) -> Value {
        match self {
            Server::Postgres(pg) => secret_json(pg, pg.superuser(), pg.superuser_password()),
            Server::MariaDb(db) => mysql_secret_json(db, db.root_user(), db.root_password()),
        }
    }

    /// Logs in with sqlx and runs `SELECT 1`.
    pub async fn login(self, user: &str, password: &str) -> Result<(), String> {
        match self {
            Server::Postgres(pg) => login(pg.port(), user, password).await,
            Server::MariaDb(db) => mysql_login(db.port(), user, password).await,
        }
    }

    /// The CA bundle that verifies the server.
    pub fn ca_cert_path(self) -> &'static Path {
        match self {
            Server::Postgres(_) => stack().postgres.ca_cert_path(),
            Server::MariaDb(_) => stack().mariadb.ca_cert_path(),
        }
    }
}

/// The secret JSON's engine for a rotator.
fn engine(rotator: Rotator) -> &'static str {
    if rotator.is_postgres() {
        "postgres"
    } else {
        "mysql"
    }
}

/// Variables every function of a rotator gets in these scenarios: room for long hostile names
/// and their `_clone` on MySQL.
fn base_env(rotator: Rotator) -> Vec<(&'static str, &'static str)> {
    if rotator == Rotator::MySqlMultiUser {
        vec![("USERNAME_CHARACTER_LIMIT", "80")]
    } else {
        Vec::new()
    }
}

async fn function(world: &World, rotator: Rotator, extra: &[(&str, &str)]) -> LocalFunction {
    let mut env = base_env(rotator);
    env.extend_from_slice(extra);
    world.function(rotator.binary_name(), &env).await
}

/// Stores `value` as the rotator's secret, adding a master secret (`master`, with the same
/// host) for multi-user rotators; returns the ARN.
async fn store(world: &World, rotator: Rotator, value: Value, master: Option<Value>) -> String {
    store_as(world, rotator, value, master, |value| value.to_string()).await
}

/// As [`store`], with the secret's text made by `render`.
async fn store_as(
    world: &World,
    rotator: Rotator,
    mut value: Value,
    master: Option<Value>,
    render: fn(&Value) -> String,
) -> String {
    if rotator.is_multi_user() {
        let mut master = master.expect("multi-user scenarios give a master secret");
        master["host"] = value["host"].clone();
        let arn = world
            .create_secret(&unique("master-"), &master.to_string())
            .await;
        value["masterarn"] = json!(arn);
    }
    world
        .create_secret(&unique("scenario-"), &render(&value))
        .await
}

/// A user on `server` and its secret (with a master secret holding the server's admin for
/// multi-user rotators); returns (arn, secret value).
async fn account(
    world: &World,
    rotator: Rotator,
    server: Server<'_>,
    user: &str,
    password: &str,
) -> (String, Value) {
    server.create_user(user, password).await;
    let value = server.secret(user, password);
    let arn = store(world, rotator, value.clone(), Some(server.admin_secret())).await;
    (arn, value)
}

/// Logs in with the AWSCURRENT credentials and returns them.
async fn current_logs_in(world: &World, server: Server<'_>, arn: &str) -> Value {
    let current = world.value(arn, "AWSCURRENT").await.expect("AWSCURRENT");
    let user = current["username"].as_str().expect("a username");
    server
        .login(user, &password_of(&current))
        .await
        .unwrap_or_else(|e| panic!("the AWSCURRENT credentials of {user} must log in: {e}"));
    current
}

/// The user a rotation moves to.
fn next_user(rotator: Rotator, user: &str) -> String {
    if rotator.is_multi_user() {
        format!("{user}_clone")
    } else {
        user.to_owned()
    }
}

/// Only the password (and, alternating, the user name) changes; every other key keeps its
/// value and JSON type.
pub async fn only_the_credentials_change(rotator: Rotator) {
    let world = World::new().await;
    let server = Server::of(rotator);
    let user = unique("keep");
    server.create_user(&user, "Old-Pass-1").await;
    let mut secret = server.secret(&user, "Old-Pass-1");
    let port = secret["port"].to_string();
    secret["port"] = json!(port);
    secret["team"] = json!({"owner": "payments", "tags": [1, 2]});
    secret["ssl"] = json!(false);
    let admin = Some(server.admin_secret());
    let arn = store_as(&world, rotator, secret, admin, with_exact_numbers).await;
    let stored = world.value(&arn, "AWSCURRENT").await.unwrap();

    let function = function(&world, rotator, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let current = current_logs_in(&world, server, &arn).await;
    let mut expected = stored;
    expected["password"] = current["password"].clone();
    expected["username"] = json!(next_user(rotator, &user));
    assert_ne!(current["password"], json!("Old-Pass-1"));
    assert_eq!(current, expected, "only the credentials may change");
    assert_eq!(current["port"], json!(port), "the port stays a string");
    // The text of the untouched numbers, not only their value, comes back.
    world.assert_exact_numbers_kept(&arn).await;
}

/// Malformed secrets fail createSecret with an error naming the field, write nothing and
/// print no password.
pub async fn malformed_secrets_fail_create_secret_naming_the_field(rotator: Rotator) {
    let world = World::new().await;
    let server = Server::of(rotator);
    let function = function(&world, rotator, &[]).await;
    let engine = engine(rotator);
    let other = if rotator.is_postgres() {
        "mysql"
    } else {
        "postgres"
    };
    let good = server.secret("u", "hunter2-pass");
    let without = |key: &str| {
        let mut value = good.clone();
        value.as_object_mut().unwrap().remove(key);
        value
    };
    let with = |key: &str, v: Value| {
        let mut value = good.clone();
        value[key] = v;
        value
    };
    let cases = [
        (
            json!("not json at all, password=hunter2-pass"),
            "is not valid JSON",
        ),
        (without("host"), "host key is missing from secret JSON"),
        (
            without("username"),
            "username key is missing from secret JSON",
        ),
        (
            without("password"),
            "password key is missing from secret JSON",
        ),
        (with("port", json!("fifty")), "port key in secret JSON"),
        (
            with("engine", json!(other)),
            &format!("Database engine must be set to '{engine}'"),
        ),
        (with("sslmode", json!("sometimes")), "sslmode key"),
    ];
    for (value, needle) in cases {
        let text = match &value {
            Value::String(raw) => raw.clone(),
            other => other.to_string(),
        };
        let arn = world.create_secret(&unique("malformed-"), &text).await;
        let token = world.driver.start_rotation(&arn).await.unwrap();
        let invocation = function
            .invoke(&SecretsManagerDriver::event("createSecret", &arn, &token))
            .await;
        assert_error(&invocation, "InvalidSecret", needle);
        if let Outcome::Error { error_message, .. } = &invocation.outcome {
            assert!(!error_message.contains("hunter2"), "{error_message}");
        }
        assert_eq!(world.value_of_version(&arn, &token).await, None, "{needle}");
    }
    assert!(!function.output().contains("hunter2"));
}

/// User names that need quoting rotate (both users, alternating), and the injection attempt
/// changes nothing.
pub async fn hostile_user_names_rotate(rotator: Rotator) {
    let world = World::new().await;
    let server = Server::of(rotator);
    let function = function(&world, rotator, &[]).await;
    let names = if rotator.is_postgres() {
        vec![
            unique("we\"ird; DROP ROLE postgres; --"),
            unique("O'Brien "),
            unique("ünïcødé_用户_"),
            unique("UPPER_case"),
        ]
    } else {
        vec![
            unique("o'brien;--"),
            unique("ünï\"cødé "),
            unique("back\\slash"),
            unique("`tick`"),
        ]
    };
    let rounds = if rotator.is_multi_user() { 2 } else { 1 };
    for name in names {
        let (arn, _) = account(&world, rotator, server, &name, "Start-Pass-1").await;
        let mut expected = name.clone();
        for round in 1..=rounds {
            let report = world.driver.rotate(&function, &arn).await.unwrap();
            assert!(report.succeeded(), "{name}, round {round}: {report}");
            expected = if expected == name {
                next_user(rotator, &name)
            } else {
                name.clone()
            };
            let current = current_logs_in(&world, server, &arn).await;
            assert_eq!(current["username"], json!(expected), "round {round}");
        }
        if !rotator.is_multi_user() {
            assert!(
                server.login(&name, "Start-Pass-1").await.is_err(),
                "{name}: the old password still works"
            );
        }
    }
    let admin = server.admin_secret();
    server
        .login(admin["username"].as_str().unwrap(), &password_of(&admin))
        .await
        .expect("the administrator the injection attempts named still logs in");
}

/// A server that is down fails setSecret within seconds with a clear error, and a retry with
/// the same token succeeds once it is back.
pub async fn a_database_that_is_down_fails_set_secret_in_seconds_and_a_retry_succeeds(
    rotator: Rotator,
) {
    let world = World::new().await;
    let mut private = Private::start(rotator);
    let user = unique("down");
    let (arn, _) = account(&world, rotator, private.server(), &user, "Before-Down-1").await;
    let function = function(&world, rotator, &[]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let report = world
        .driver
        .run_steps(&function, &arn, &token, &["createSecret"])
        .await;
    assert!(report.succeeded(), "{report}");

    private.stop();
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
    assert!(world.version_with(&arn, "AWSCURRENT").await.unwrap() != token);

    private.restart();
    let report = world
        .driver
        .run_steps(&function, &arn, &token, &Step::ALL[1..])
        .await;
    assert!(report.succeeded(), "{report}");
    current_logs_in(&world, private.server(), &arn).await;
}

/// A host that accepts TCP connections and never answers fails setSecret within seconds.
pub async fn a_host_that_accepts_tcp_and_says_nothing_fails_in_seconds(rotator: Rotator) {
    let world = World::new().await;
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let keep = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().take(8).flatten() {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let secret = json!({"engine": engine(rotator), "host": "127.0.0.1", "port": port,
        "username": "silent", "password": "Silent-Pass-1"});
    let master = json!({"engine": engine(rotator), "host": "127.0.0.1", "port": port,
        "username": "admin", "password": "Admin-Pass-1"});
    let arn = store(&world, rotator, secret, Some(master)).await;
    let function = function(&world, rotator, &[("DATABASE_CONNECT_TIMEOUT", "3")]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let report = world
        .driver
        .run_steps(&function, &arn, &token, &["createSecret"])
        .await;
    assert!(report.succeeded(), "{report}");
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

/// `ssl`, `sslmode` and `DATABASE_CA_BUNDLE`: verified TLS works, unverifiable TLS fails
/// clearly, and plaintext happens only where the secret allows it.
pub async fn tls_modes_verify_the_server_and_fall_back_only_when_allowed(rotator: Rotator) {
    let world = World::new().await;
    let server = Server::of(rotator);
    let ca = server.ca_cert_path().to_str().unwrap().to_owned();
    // (extra secret keys, DATABASE_CA_BUNDLE?, host, rotation succeeds?, text expected in output)
    let mut cases: Vec<(Value, bool, &str, bool, &str)> = vec![
        (
            json!({"sslmode": "verify-full"}),
            true,
            "127.0.0.1",
            true,
            "",
        ),
        (
            json!({"sslmode": "verify-full"}),
            false,
            "127.0.0.1",
            false,
            "TLS failed",
        ),
        (json!({"sslmode": "require"}), false, "127.0.0.1", true, ""),
        (json!({"sslmode": "verify-ca"}), true, "127.0.0.1", true, ""),
        (json!({"ssl": false}), false, "127.0.0.1", true, ""),
    ];
    if rotator.is_postgres() {
        // A MariaDB client given `localhost` uses the Unix socket, so these are PostgreSQL's.
        cases.extend([
            (json!({"ssl": true}), true, "localhost", true, ""),
            (
                json!({"ssl": true}),
                false,
                "localhost",
                false,
                "TLS failed",
            ),
            // `ssl` absent: a certificate that does not verify stops the login (no plaintext).
            (json!({}), false, "localhost", false, "DATABASE_CA_BUNDLE"),
        ]);
    } else {
        cases.push((json!({"ssl": true}), true, "127.0.0.1", true, ""));
        cases.push((
            json!({"ssl": true}),
            false,
            "127.0.0.1",
            false,
            "TLS failed",
        ));
    }
    for (extra, with_bundle, host, succeeds, expected) in cases {
        let user = unique("tls");
        server.create_user(&user, "Tls-Pass-1").await;
        let mut secret = server.secret(&user, "Tls-Pass-1");
        let mut master = server.admin_secret();
        secret["host"] = json!(host);
        // Every case starts from `ssl` absent (AWS's default), then takes its own keys.
        secret.as_object_mut().unwrap().remove("ssl");
        master.as_object_mut().unwrap().remove("ssl");
        for (key, value) in extra.as_object().unwrap() {
            secret[key] = value.clone();
            master[key] = value.clone();
        }
        let arn = store(&world, rotator, secret, Some(master)).await;
        let env: Vec<(&str, &str)> = if with_bundle {
            vec![("DATABASE_CA_BUNDLE", ca.as_str())]
        } else {
            vec![]
        };
        let function = function(&world, rotator, &env).await;
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        let output = function.stop().await;
        let everything = format!("{report}\n{output}");
        assert_eq!(
            report.succeeded(),
            succeeds,
            "{extra} bundle={with_bundle} host={host}: {everything}"
        );
        assert!(
            everything.contains(expected),
            "{extra}: expected {expected:?} in {everything}"
        );
        if succeeds {
            current_logs_in(&world, server, &arn).await;
        }
    }
}

/// AWS's password variables shape the generated password.
pub async fn password_policy_variables_are_honoured(rotator: Rotator) {
    let world = World::new().await;
    let server = Server::of(rotator);
    let (arn, _) = account(&world, rotator, server, &unique("policy"), "Policy-Pass-1").await;
    let function = function(
        &world,
        rotator,
        &[
            ("PASSWORD_LENGTH", "20"),
            ("EXCLUDE_PUNCTUATION", "true"),
            ("EXCLUDE_CHARACTERS", "0123456789"),
        ],
    )
    .await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let password = password_of(&current_logs_in(&world, server, &arn).await);
    assert_eq!(password.len(), 20);
    assert!(
        password.chars().all(|c| c.is_ascii_alphabetic()),
        "{password}"
    );
    assert!(password.chars().any(|c| c.is_ascii_uppercase()));
    assert!(password.chars().any(|c| c.is_ascii_lowercase()));
}

/// A bad variable is an init error (the Runtime API's `/runtime/init/error`) that starts with
/// the variable's name.
pub async fn a_bad_variable_is_refused_at_start_up_naming_it(rotator: Rotator) {
    let world = World::new().await;
    let mut cases = vec![
        ("PASSWORD_LENGTH", "0"),
        ("PASSWORD_LENGTH", "5000"),
        ("PASSWORD_LENGTH", "long"),
        ("EXCLUDE_NUMBERS", "sometimes"),
        ("DATABASE_CA_BUNDLE", "/nonexistent/bundle.pem"),
        ("DATABASE_CONNECT_TIMEOUT", "soon"),
        ("SECRETS_MANAGER_MAX_ATTEMPTS", "0"),
        ("RUST_LOG", "info,aws_config=loud"),
    ];
    match rotator {
        Rotator::MySqlSingleUser => cases.push(("MYSQL_RETAIN_CURRENT_PASSWORD", "maybe")),
        Rotator::MySqlMultiUser => cases.push(("USERNAME_CHARACTER_LIMIT", "many")),
        _ => {}
    }
    for (variable, value) in cases {
        let function = world
            .function(rotator.binary_name(), &[(variable, value)])
            .await;
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
    let function = world
        .function(
            rotator.binary_name(),
            &[
                ("EXCLUDE_LOWERCASE", "true"),
                ("EXCLUDE_UPPERCASE", "true"),
                ("EXCLUDE_NUMBERS", "true"),
                ("EXCLUDE_PUNCTUATION", "true"),
            ],
        )
        .await;
    let invocation = function
        .invoke(&SecretsManagerDriver::event("createSecret", "a", "b"))
        .await;
    assert!(
        matches!(invocation.outcome, Outcome::InitError { .. }),
        "{:?}",
        invocation.outcome
    );
}

/// The `RotationToken` of an event reaches `PutSecretValue`, and none is invented.
pub async fn the_rotation_token_of_the_event_reaches_put_secret_value(rotator: Rotator) {
    let world = World::new().await;
    let server = Server::of(rotator);
    let proxy = FaultProxy::start(&stack().moto.endpoint()).await.unwrap();
    let function = world
        .function_at(rotator.binary_name(), &proxy.endpoint(), &base_env(rotator))
        .await;
    for rotation_token in [Some("rotation-token-from-the-service"), None] {
        let (arn, _) = account(&world, rotator, server, &unique("rtoken"), "Token-Pass-1").await;
        let token = world.driver.start_rotation(&arn).await.unwrap();
        proxy.clear_calls();
        let mut event = SecretsManagerDriver::event("createSecret", &arn, &token);
        if let Some(rotation_token) = rotation_token {
            event["RotationToken"] = json!(rotation_token);
        }
        let invocation = function.invoke(&event).await;
        assert!(invocation.outcome.is_success(), "{:?}", invocation.outcome);
        let puts = proxy.request_bodies("PutSecretValue");
        assert_eq!(puts.len(), 1, "{puts:?}");
        assert_eq!(puts[0]["ClientRequestToken"], json!(token));
        assert_eq!(puts[0]["VersionStages"], json!(["AWSPENDING"]));
        assert_eq!(
            puts[0].get("RotationToken"),
            rotation_token.map(|t| json!(t)).as_ref()
        );
    }
}

/// A private server of the rotator's engine, for scenarios that stop it.
enum Private {
    Postgres(PostgresServer),
    MariaDb(MariaDbServer),
}

impl Private {
    fn start(rotator: Rotator) -> Private {
        if rotator.is_postgres() {
            Private::Postgres(PostgresServer::start(Lifetime::WithProcess).unwrap())
        } else {
            Private::MariaDb(MariaDbServer::start(Lifetime::WithProcess).unwrap())
        }
    }

    fn server(&self) -> Server<'_> {
        match self {
            Private::Postgres(pg) => Server::Postgres(pg),
            Private::MariaDb(db) => Server::MariaDb(db),
        }
    }

    fn stop(&mut self) {
        match self {
            Private::Postgres(pg) => pg.stop().unwrap(),
            Private::MariaDb(db) => db.stop().unwrap(),
        }
    }

    fn restart(&mut self) {
        match self {
            Private::Postgres(pg) => pg.restart().unwrap(),
            Private::MariaDb(db) => db.restart().unwrap(),
        }
    }
}

/// The database scenarios as `#[tokio::test]`s for one [`Rotator`].
#[macro_export]
macro_rules! database_scenarios {
    ($rotator:expr) => {
        $crate::database_scenarios!(@tests $rotator;
            only_the_credentials_change,
            malformed_secrets_fail_create_secret_naming_the_field,
            hostile_user_names_rotate,
            a_database_that_is_down_fails_set_secret_in_seconds_and_a_retry_succeeds,
            a_host_that_accepts_tcp_and_says_nothing_fails_in_seconds,
            tls_modes_verify_the_server_and_fall_back_only_when_allowed,
            password_policy_variables_are_honoured,
            a_bad_variable_is_refused_at_start_up_naming_it,
            the_rotation_token_of_the_event_reaches_put_secret_value,
            preflight_reports_each_broken_check_with_its_fix,
        );
        #[tokio::test]
        async fn the_rotation_contract_holds() {
            $crate::DatabaseTarget($rotator).assert_contract().await;
        }
    };
    (@tests $rotator:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                $crate::scenarios::$name($rotator).await;
            }
        )+
    };
}

/// Runs a preflight of `arn` on `function` and returns its report (`{"secret", "rotator",
/// "ok", "checks"}`), failing when the invocation is not a success.
pub async fn preflight(function: &LocalFunction, arn: &str) -> Value {
    let payload = json!({"preflight": {"SecretId": arn}});
    match function.invoke(&payload).await.outcome {
        Outcome::Success(answer) => answer["preflight"].clone(),
        other => panic!("the preflight of {arn} must answer a report: {other}"),
    }
}

/// The entries of a report's check, by name.
pub fn checks<'a>(report: &'a Value, name: &str) -> Vec<&'a Value> {
    report["checks"]
        .as_array()
        .expect("a report has checks")
        .iter()
        .filter(|check| check["check"] == name)
        .collect()
}

/// Asserts that `name` failed (one of its entries, when it has several), with `detail` in its
/// detail and `fix` in its fix.
#[track_caller]
pub fn assert_failed(report: &Value, name: &str, detail: &str, fix: &str) {
    let text = |check: &Value, key: &str| check[key].as_str().unwrap_or_default().to_owned();
    let found = checks(report, name);
    let failed = found
        .iter()
        .find(|check| check["status"] == "fail" && text(check, "detail").contains(detail));
    let Some(failed) = failed else {
        panic!("{name} should fail with {detail:?} in {report:#}");
    };
    assert!(
        text(failed, "fix").contains(fix),
        "{fix:?} in the fix of {failed:#}"
    );
    assert_eq!(report["ok"], json!(false), "{report:#}");
}

/// The preflight: a healthy secret passes every check, read-only; each broken secret fails its
/// check with the fix; no report and no log line holds a password.
pub async fn preflight_reports_each_broken_check_with_its_fix(rotator: Rotator) {
    let world = World::new().await;
    let server = Server::of(rotator);
    let ca = server.ca_cert_path().to_str().unwrap().to_owned();
    let bundle = [("DATABASE_CA_BUNDLE", ca.as_str())];
    let function = function(&world, rotator, &bundle).await;
    let mut seen: Vec<String> = Vec::new();
    let mut passwords = vec![
        "Preflight-Pass-1".to_owned(),
        password_of(&server.admin_secret()),
    ];

    // Healthy, with verified TLS: every check passes, and the CA is named.
    let user = unique("pre");
    server.create_user(&user, "Preflight-Pass-1").await;
    let mut healthy = server.secret(&user, "Preflight-Pass-1");
    healthy["ssl"] = json!(true);
    healthy["host"] = json!("127.0.0.1");
    let mut master = server.admin_secret();
    master["ssl"] = json!(true);
    let arn = store(&world, rotator, healthy.clone(), Some(master.clone())).await;
    let labels = world.labels(&arn).await;
    let report = preflight(&function, &arn).await;
    seen.push(report.to_string());
    assert_eq!(report["ok"], json!(true), "{report:#}");
    assert_eq!(report["rotator"], json!(rotator.binary_name()));
    let statuses: Vec<(&str, &str)> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["check"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    let mut expected = vec![
        "function-timeout",
        "secrets-manager",
        "rotation",
        "pending-version",
        "current-value",
        "password-policy",
        "secret-json",
        "database",
        "tls",
        "current-login",
    ];
    if rotator.is_multi_user() {
        expected.insert(7, "alternate-username");
        expected.extend(["master-secret", "master-login"]);
    }
    let names: Vec<&str> = statuses.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, expected, "{report:#}");
    assert!(
        statuses.iter().all(|(_, status)| *status == "pass"),
        "{report:#}"
    );
    let tls = &checks(&report, "tls")[0]["detail"];
    assert!(
        tls.as_str().unwrap().contains("verified TLS")
            && tls.as_str().unwrap().contains("DATABASE_CA_BUNDLE"),
        "{tls}"
    );
    // Read-only: no version, no label moved, the password unchanged.
    assert_eq!(world.labels(&arn).await, labels);
    server.login(&user, "Preflight-Pass-1").await.unwrap();

    // The secret's JSON: a port that is not a number.
    let mut broken = healthy.clone();
    broken["port"] = json!("fifty");
    let arn = store(&world, rotator, broken, Some(master.clone())).await;
    let report = preflight(&function, &arn).await;
    seen.push(report.to_string());
    assert_failed(&report, "secret-json", "port", "put-secret-value");

    // The current password is not the database's.
    let mut stale = healthy.clone();
    stale["password"] = json!("Not-The-Password-9");
    passwords.push("Not-The-Password-9".to_owned());
    let arn = store(&world, rotator, stale, Some(master.clone())).await;
    let report = preflight(&function, &arn).await;
    seen.push(report.to_string());
    assert_failed(&report, "current-login", "refused", "runbook");

    // The database does not answer (a port nothing listens on).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut away = healthy.clone();
    away["port"] = json!(closed_port);
    let arn = store(&world, rotator, away, Some(master.clone())).await;
    let report = preflight(&function, &arn).await;
    seen.push(report.to_string());
    assert_failed(&report, "database", "unreachable", "security group");

    // TLS that does not verify: the function without the CA bundle names the untrusted CA.
    let untrusting = self::function(&world, rotator, &[]).await;
    let arn = store(&world, rotator, healthy.clone(), Some(master.clone())).await;
    let report = preflight(&untrusting, &arn).await;
    seen.push(report.to_string());
    assert_failed(
        &report,
        "tls",
        "does not trust a root",
        "DATABASE_CA_BUNDLE",
    );
    let untrusting_output = untrusting.stop().await;

    if rotator.is_multi_user() {
        // A user name whose alternate is too long.
        let mut long = healthy.clone();
        long["username"] = json!("u".repeat(if rotator.is_postgres() { 60 } else { 78 }));
        let arn = store(&world, rotator, long, Some(master.clone())).await;
        let report = preflight(&function, &arn).await;
        seen.push(report.to_string());
        assert_failed(&report, "alternate-username", "exceed", "shorter name");

        // A master secret for another host: refused before its password goes anywhere.
        let mut elsewhere = master.clone();
        elsewhere["host"] = json!("db.elsewhere.invalid");
        let master_arn = world
            .create_secret(&unique("master-"), &elsewhere.to_string())
            .await;
        let mut child = healthy.clone();
        child["masterarn"] = json!(master_arn);
        let arn = world
            .create_secret(&unique("scenario-"), &child.to_string())
            .await;
        let report = preflight(&function, &arn).await;
        seen.push(report.to_string());
        assert_failed(
            &report,
            "master-secret",
            "db.elsewhere.invalid",
            "MASTER_HOSTS",
        );

        // A master secret whose password is wrong.
        let mut wrong = master.clone();
        wrong["password"] = json!("Not-The-Master-9");
        passwords.push("Not-The-Master-9".to_owned());
        let arn = store(&world, rotator, healthy.clone(), Some(wrong)).await;
        let report = preflight(&function, &arn).await;
        seen.push(report.to_string());
        assert_failed(&report, "master-login", "master secret", "master user");
    }

    let output = function.stop().await;
    seen.extend([output, untrusting_output]);
    for text in &seen {
        for password in &passwords {
            assert!(
                !text.contains(password.as_str()),
                "a password in a report or the output"
            );
        }
    }
}
