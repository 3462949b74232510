//! replica-fanout, end to end: the real binary under the Lambda Runtime API, moto's Secrets
//! Manager, the stack's PostgreSQL and MariaDB as primaries, and real replicas of them (a
//! streaming hot standby, a binlog replica) or independent servers.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rotation_e2e::*;
use rotation_local::{FaultProxy, SecretsManagerDriver, TcpFaultProxy};
use rotation_stack::{Lifetime, MariaDbServer, PostgresServer};
use rotation_testkit::{AfterRotation, Contract, Setup, Target, TargetError, async_trait};
use serde_json::{Value, json};

const BIN: &str = "replica-fanout";

/// A PostgreSQL replica shared by the tests that do not pause it.
fn pg_replica() -> &'static PostgresServer {
    static REPLICA: OnceLock<PostgresServer> = OnceLock::new();
    REPLICA.get_or_init(|| {
        stack()
            .postgres
            .start_replica(Lifetime::WithProcess)
            .unwrap()
    })
}

/// A MariaDB replica shared by the tests that do not pause it.
fn maria_replica() -> &'static MariaDbServer {
    static REPLICA: OnceLock<MariaDbServer> = OnceLock::new();
    REPLICA.get_or_init(|| {
        stack()
            .mariadb
            .start_replica(Lifetime::WithProcess)
            .unwrap()
    })
}

fn replicas(ports: &[u16]) -> Value {
    Value::Array(
        ports
            .iter()
            .map(|port| json!({"host": "127.0.0.1", "port": port}))
            .collect(),
    )
}

/// A PostgreSQL role on the primary and its secret listing `replica_ports`; (arn, role, password).
async fn pg_account(
    world: &World,
    replica_ports: &[u16],
    extra: Value,
) -> (String, String, String) {
    let pg = world.postgres();
    let role = unique("fan_");
    let password = unique("Initial-Pass-");
    create_role(pg, &role, &password).await;
    let mut secret = secret_json(pg, &role, &password);
    secret["replicas"] = replicas(replica_ports);
    for (key, value) in extra.as_object().into_iter().flatten() {
        secret[key] = value.clone();
    }
    let arn = world
        .create_secret(&unique("fanout-"), &with_exact_numbers(&secret))
        .await;
    (arn, role, password)
}

/// A MariaDB user (password `Initial-Pass-1`) on the primary, seen by the replica on
/// `replica_port`, and its secret listing that replica; (arn, user).
async fn maria_account(world: &World, replica_port: u16) -> (String, String) {
    let db = world.mariadb();
    let user = unique("fan");
    create_mysql_user(db, &user, "Initial-Pass-1").await;
    eventually_logs_in(replica_port, &user, "Initial-Pass-1", true).await;
    let mut secret = mysql_secret_json(db, &user, "Initial-Pass-1");
    secret["replicas"] = replicas(&[replica_port]);
    let arn = world
        .create_secret(&unique("fanout-"), &secret.to_string())
        .await;
    (arn, user)
}

/// Polls a login until it works (replication of the set-up itself), up to 10 s.
async fn eventually_logs_in(port: u16, user: &str, password: &str, mysql: bool) {
    let started = Instant::now();
    loop {
        let outcome = if mysql {
            mysql_login(port, user, password).await
        } else {
            login(port, user, password).await
        };
        match outcome {
            Ok(()) => return,
            Err(error) if started.elapsed() > Duration::from_secs(10) => {
                panic!("{user} never logged in on port {port}: {error}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// How many versions a secret has, labelled or not.
async fn versions(world: &World, arn: &str) -> usize {
    world
        .client()
        .list_secret_version_ids()
        .secret_id(arn)
        .include_deprecated(true)
        .send()
        .await
        .unwrap()
        .versions()
        .len()
}

async fn current_password(world: &World, arn: &str) -> String {
    password_of(&world.value(arn, "AWSCURRENT").await.unwrap())
}

/// replica-fanout over PostgreSQL with one replica, as a target of the rotation contract:
/// credentials work only if they work on the primary and on the replica.
struct PostgresWithReplica;

#[async_trait]
impl Target for PostgresWithReplica {
    fn binary(&self) -> PathBuf {
        rotator_binary(BIN)
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![("REPLICA_WAIT_SECONDS".into(), "10".into())]
    }

    async fn new_account(&self, _: &Setup) -> Result<String, TargetError> {
        let pg = &stack().postgres;
        let role = unique("u");
        let password = unique("Initial-Pass-");
        create_role(pg, &role, &password).await;
        eventually_logs_in(pg_replica().port(), &role, &password, false).await;
        let mut secret = secret_json(pg, &role, &password);
        secret["replicas"] = replicas(&[pg_replica().port()]);
        Ok(secret.to_string())
    }

    async fn check(&self, secret: &str) -> Result<(), TargetError> {
        let secret: Value = serde_json::from_str(secret)?;
        let user = secret["username"].as_str().ok_or("no username")?;
        let password = secret["password"].as_str().ok_or("no password")?;
        login(stack().postgres.port(), user, password)
            .await
            .map_err(|e| format!("primary: {e}"))?;
        login(pg_replica().port(), user, password)
            .await
            .map_err(|e| format!("replica: {e}").into())
    }

    fn after_rotation(&self) -> AfterRotation {
        AfterRotation::PreviousRevoked
    }

    async fn target_log(&self) -> Result<Option<String>, TargetError> {
        let primary = std::fs::read_to_string(stack().postgres.log_path())?;
        let replica = std::fs::read_to_string(pg_replica().log_path())?;
        Ok(Some(primary + &replica))
    }
}

#[tokio::test]
async fn the_rotation_contract_holds_with_a_replica() {
    let contract = Contract::with_endpoint(&stack().moto.endpoint()).await;
    if let Err(failure) = contract.run(&PostgresWithReplica).await {
        panic!("{failure}");
    }
}

#[tokio::test]
async fn postgres_single_user_reaches_the_replica_before_awscurrent_moves() {
    let world = World::new().await;
    let replica = pg_replica();
    let (arn, role, old) = pg_account(&world, &[replica.port()], json!({})).await;
    eventually_logs_in(replica.port(), &role, &old, false).await;
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}\n{}", function.output());
    let new = current_password(&world, &arn).await;
    for port in [world.postgres().port(), replica.port()] {
        login(port, &role, &new).await.unwrap();
        assert!(login(port, &role, &old).await.is_err(), "port {port}");
    }
    let output = function.output();
    assert!(
        output.contains("every replica accepts the pending credentials"),
        "{output}"
    );
    // The replicas list is kept as it was.
    let current = world.value(&arn, "AWSCURRENT").await.unwrap();
    assert_eq!(current["replicas"], replicas(&[replica.port()]));
}

#[tokio::test]
async fn mariadb_single_user_reaches_the_replica() {
    let world = World::new().await;
    let db = world.mariadb();
    let replica = maria_replica();
    let (arn, user) = maria_account(&world, replica.port()).await;
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}\n{}", function.output());
    let new = current_password(&world, &arn).await;
    for port in [db.port(), replica.port()] {
        mysql_login(port, &user, &new).await.unwrap();
        assert!(mysql_login(port, &user, "Initial-Pass-1").await.is_err());
    }
}

#[tokio::test]
async fn postgres_multi_user_alternates_on_primary_and_replica() {
    let world = World::new().await;
    let pg = world.postgres();
    let replica = pg_replica();
    let master = world.master_secret().await;
    let (arn, role, old) =
        pg_account(&world, &[replica.port()], json!({"masterarn": master})).await;
    eventually_logs_in(replica.port(), &role, &old, false).await;
    let function = world.function(BIN, &[]).await;
    for expected in [format!("{role}_clone"), role.clone()] {
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        assert!(report.succeeded(), "{report}\n{}", function.output());
        let current = world.value(&arn, "AWSCURRENT").await.unwrap();
        assert_eq!(current["username"], json!(expected));
        for port in [pg.port(), replica.port()] {
            login(port, &expected, &password_of(&current))
                .await
                .unwrap();
        }
        // The previous user still logs in on both until it is rotated again.
        let previous = world.value(&arn, "AWSPREVIOUS").await.unwrap();
        let previous_user = previous["username"].as_str().unwrap();
        for port in [pg.port(), replica.port()] {
            login(port, previous_user, &password_of(&previous))
                .await
                .unwrap();
        }
    }
}

/// Pauses applying on a private replica of the engine, starts setSecret, resumes after a
/// second: setSecret waits and succeeds.
#[tokio::test]
async fn postgres_replay_paused_and_resumed_within_the_wait_succeeds() {
    let world = World::new().await;
    let replica = world
        .postgres()
        .start_replica(Lifetime::WithProcess)
        .unwrap();
    let (arn, role, old) = pg_account(&world, &[replica.port()], json!({})).await;
    eventually_logs_in(replica.port(), &role, &old, false).await;
    admin(&replica, &["SELECT pg_wal_replay_pause()".into()]).await;
    let function = world.function(BIN, &[("REPLICA_WAIT_SECONDS", "20")]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let report = world
        .driver
        .run_steps(&function, &arn, &token, &["createSecret"])
        .await;
    assert!(report.succeeded(), "{report}");
    let set = world
        .driver
        .run_steps(&function, &arn, &token, &["setSecret"]);
    let resume = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        admin(&replica, &["SELECT pg_wal_replay_resume()".into()]).await;
    };
    let (report, ()) = tokio::join!(set, resume);
    assert!(report.succeeded(), "{report}\n{}", function.output());
    let took = report.steps[0].invocation.duration;
    assert!(
        took >= Duration::from_millis(1400),
        "setSecret did not wait: {took:?}"
    );
    let report = world
        .driver
        .run_steps(&function, &arn, &token, &["testSecret", "finishSecret"])
        .await;
    assert!(report.succeeded(), "{report}");
    login(replica.port(), &role, &current_password(&world, &arn).await)
        .await
        .unwrap();
}

#[tokio::test]
async fn mariadb_sql_thread_stopped_and_started_within_the_wait_succeeds() {
    let world = World::new().await;
    let db = world.mariadb();
    let replica = db.start_replica(Lifetime::WithProcess).unwrap();
    let (arn, user) = maria_account(&world, replica.port()).await;
    mysql_admin(&replica, &["STOP SLAVE SQL_THREAD".into()]).await;
    let function = world.function(BIN, &[("REPLICA_WAIT_SECONDS", "20")]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let set = world
        .driver
        .run_steps(&function, &arn, &token, &["createSecret", "setSecret"]);
    let resume = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        mysql_admin(&replica, &["START SLAVE SQL_THREAD".into()]).await;
    };
    let (report, ()) = tokio::join!(set, resume);
    assert!(report.succeeded(), "{report}\n{}", function.output());
    let report = world
        .driver
        .run_steps(&function, &arn, &token, &["testSecret", "finishSecret"])
        .await;
    assert!(report.succeeded(), "{report}");
    mysql_login(replica.port(), &user, &current_password(&world, &arn).await)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_replica_behind_past_the_wait_fails_naming_it_and_the_retry_resumes() {
    let world = World::new().await;
    let pg = world.postgres();
    let replica = pg.start_replica(Lifetime::WithProcess).unwrap();
    let (arn, role, old) = pg_account(&world, &[replica.port()], json!({})).await;
    eventually_logs_in(replica.port(), &role, &old, false).await;
    let current_before = world.version_with(&arn, "AWSCURRENT").await.unwrap();
    admin(&replica, &["SELECT pg_wal_replay_pause()".into()]).await;
    let function = world.function(BIN, &[("REPLICA_WAIT_SECONDS", "2")]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    let failure = report.failure().expect("setSecret must fail");
    assert_eq!(failure.step, "setSecret");
    assert_error(
        &failure.invocation,
        "TargetError",
        &format!("replica 127.0.0.1:{} ", replica.port()),
    );
    assert_error(
        &failure.invocation,
        "TargetError",
        "did not accept the pending credentials within",
    );
    assert_eq!(
        world.version_with(&arn, "AWSCURRENT").await.unwrap(),
        current_before
    );
    // The primary has the new password already; the replica still the old one.
    let pending = world.value_of_version(&arn, &report.token).await.unwrap();
    let pending = password_of(&serde_json::from_str(&pending).unwrap());
    login(pg.port(), &role, &pending).await.unwrap();
    login(replica.port(), &role, &old).await.unwrap();

    admin(&replica, &["SELECT pg_wal_replay_resume()".into()]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}\n{}", function.output());
    assert!(
        function
            .output()
            .contains("AWSPENDING already logs in; the password is already set"),
        "the retry must not change the password again"
    );
    assert_eq!(current_password(&world, &arn).await, pending);
    login(replica.port(), &role, &pending).await.unwrap();
}

#[tokio::test]
async fn a_mariadb_replica_behind_at_the_lambda_deadline_fails_naming_it_then_catches_up() {
    let world = World::new().await;
    let db = world.mariadb();
    let replica = db.start_replica(Lifetime::WithProcess).unwrap();
    let (arn, user) = maria_account(&world, replica.port()).await;
    let current_before = world.version_with(&arn, "AWSCURRENT").await.unwrap();
    mysql_admin(&replica, &["STOP SLAVE SQL_THREAD".into()]).await;
    // No REPLICA_WAIT_SECONDS: the wait is bounded by the Lambda deadline (5 s here) alone,
    // and the step still reports the replica itself rather than timing out.
    let function = world
        .function_with(BIN, &stack().moto.endpoint(), Duration::from_secs(5), &[])
        .await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    let failure = report.failure().expect("setSecret must fail");
    assert_eq!(failure.step, "setSecret");
    assert_error(
        &failure.invocation,
        "TargetError",
        &format!("replica 127.0.0.1:{} ", replica.port()),
    );
    assert_eq!(
        world.version_with(&arn, "AWSCURRENT").await.unwrap(),
        current_before
    );
    mysql_login(replica.port(), &user, "Initial-Pass-1")
        .await
        .unwrap();

    mysql_admin(&replica, &["START SLAVE SQL_THREAD".into()]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}\n{}", function.output());
    let new = current_password(&world, &arn).await;
    mysql_login(replica.port(), &user, &new).await.unwrap();
    mysql_login(db.port(), &user, &new).await.unwrap();
}

#[tokio::test]
async fn a_replica_that_is_down_fails_set_secret_naming_it() {
    let world = World::new().await;
    let mut replica = world
        .postgres()
        .start_replica(Lifetime::WithProcess)
        .unwrap();
    let (arn, _, _) = pg_account(&world, &[replica.port()], json!({})).await;
    let port = replica.port();
    replica.stop().unwrap();
    let function = world.function(BIN, &[("REPLICA_WAIT_SECONDS", "1")]).await;
    let started = Instant::now();
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    let failure = report.failure().expect("setSecret must fail");
    assert_eq!(failure.step, "setSecret");
    assert_error(
        &failure.invocation,
        "TargetError",
        &format!("replica 127.0.0.1:{port} (database unreachable"),
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Three PostgreSQL servers that do not replicate, sharing one credential.
struct Independent {
    servers: Vec<PostgresServer>,
}

impl Independent {
    async fn start(user: &str, password: &str) -> Independent {
        let servers = vec![
            PostgresServer::start(Lifetime::WithProcess).unwrap(),
            PostgresServer::start(Lifetime::WithProcess).unwrap(),
            PostgresServer::start(Lifetime::WithProcess).unwrap(),
        ];
        for server in &servers {
            create_role(server, user, password).await;
        }
        Independent { servers }
    }

    fn secret(&self, user: &str, password: &str) -> Value {
        let mut secret = secret_json(&self.servers[0], user, password);
        secret["replicas"] = replicas(
            &self.servers[1..]
                .iter()
                .map(PostgresServer::port)
                .collect::<Vec<_>>(),
        );
        secret["replicaMode"] = json!("independent");
        secret
    }
}

#[tokio::test]
async fn independent_mode_changes_every_host() {
    let world = World::new().await;
    let user = unique("ind_");
    let hosts = Independent::start(&user, "Shared-Pass-1").await;
    let arn = world
        .create_secret(
            &unique("independent-"),
            &hosts.secret(&user, "Shared-Pass-1").to_string(),
        )
        .await;
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}\n{}", function.output());
    let new = current_password(&world, &arn).await;
    for server in &hosts.servers {
        login(server.port(), &user, &new).await.unwrap();
        assert!(login(server.port(), &user, "Shared-Pass-1").await.is_err());
    }
}

#[tokio::test]
async fn independent_mode_sets_the_others_back_when_one_host_refuses() {
    let world = World::new().await;
    let user = unique("ind_");
    let hosts = Independent::start(&user, "Shared-Pass-1").await;
    // The last host has another password: no credentials of the secret log in there.
    let refusing = &hosts.servers[2];
    admin(
        refusing,
        &[format!(
            "ALTER ROLE {} PASSWORD 'Something-Else-1'",
            quote_ident(&user)
        )],
    )
    .await;
    let arn = world
        .create_secret(
            &unique("independent-"),
            &hosts.secret(&user, "Shared-Pass-1").to_string(),
        )
        .await;
    let current_before = world.version_with(&arn, "AWSCURRENT").await.unwrap();
    let function = world.function(BIN, &[("REPLICA_CONCURRENCY", "1")]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    let failure = report.failure().expect("setSecret must fail");
    assert_eq!(failure.step, "setSecret");
    assert_error(
        &failure.invocation,
        "TargetError",
        &format!("host 127.0.0.1:{} refused the change", refusing.port()),
    );
    assert_error(
        &failure.invocation,
        "TargetError",
        &format!(
            "set back on {}:{}, 127.0.0.1:{}",
            hosts.servers[0].host(),
            hosts.servers[0].port(),
            hosts.servers[1].port()
        ),
    );
    assert_eq!(
        world.version_with(&arn, "AWSCURRENT").await.unwrap(),
        current_before
    );
    // The current secret still works wherever it worked, and the pending one nowhere.
    let pending = world.value_of_version(&arn, &report.token).await.unwrap();
    let pending = password_of(&serde_json::from_str(&pending).unwrap());
    for server in &hosts.servers[..2] {
        login(server.port(), &user, "Shared-Pass-1").await.unwrap();
        assert!(login(server.port(), &user, &pending).await.is_err());
    }
    login(refusing.port(), &user, "Something-Else-1")
        .await
        .unwrap();
}

#[tokio::test]
async fn linked_secrets_are_updated_once_even_when_finish_secret_runs_twice() {
    let world = World::new().await;
    let replica = pg_replica();
    let linked = world
        .create_secret(&unique("reader-"), &json!({}).to_string())
        .await;
    let (arn, role, old) = pg_account(
        &world,
        &[replica.port()],
        json!({"replicaSecretArns": [linked]}),
    )
    .await;
    // The reader's secret names the rotated secret back (its owner's consent to be written).
    let reader = json!({"engine": "postgres", "host": "127.0.0.1", "port": replica.port(),
        "username": role, "password": "placeholder-pass", "dbname": "postgres",
        "purpose": "reader endpoint", "primarySecretArn": arn});
    put_current_text(&world, &linked, with_exact_numbers(&reader)).await;
    eventually_logs_in(replica.port(), &role, &old, false).await;
    let versions_before = versions(&world, &linked).await;
    let function = world.function(BIN, &[]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let report = world
        .driver
        .run_steps(
            &function,
            &arn,
            &token,
            &["createSecret", "setSecret", "testSecret"],
        )
        .await;
    assert!(report.succeeded(), "{report}");
    // finishSecret twice, and once more through the "before" work alone.
    for attempt in 1..=2 {
        let invocation = function
            .invoke(&SecretsManagerDriver::event("finishSecret", &arn, &token))
            .await;
        assert!(
            invocation.outcome.is_success(),
            "attempt {attempt}: {:?}",
            invocation.outcome
        );
    }
    let mirrored = world.value(&linked, "AWSCURRENT").await.unwrap();
    let current = world.value(&arn, "AWSCURRENT").await.unwrap();
    assert_eq!(mirrored["username"], current["username"]);
    assert_eq!(mirrored["password"], current["password"]);
    assert_eq!(mirrored["purpose"], json!("reader endpoint"));
    assert_eq!(mirrored["port"], json!(replica.port()));
    world.assert_exact_numbers_kept(&arn).await;
    world.assert_exact_numbers_kept(&linked).await;
    assert_eq!(
        versions(&world, &linked).await,
        versions_before + 1,
        "exactly one new version of the linked secret"
    );
    login(replica.port(), &role, &password_of(&mirrored))
        .await
        .unwrap();
}

#[tokio::test]
async fn malformed_fan_out_keys_fail_create_secret_naming_them() {
    let world = World::new().await;
    let function = world.function(BIN, &[]).await;
    for (extra, needle) in [
        (
            json!({"replicas": "127.0.0.1"}),
            "replicas key in secret JSON must be a list",
        ),
        (
            json!({"replicas": [{"port": 5432}]}),
            "replicas key in secret JSON entry 0 has no host",
        ),
        (
            json!({"replicaMode": "sometimes"}),
            "replicaMode key in secret JSON must be",
        ),
        (
            json!({"replicaSecretArns": [7]}),
            "replicaSecretArns key in secret JSON entry 0",
        ),
        (
            json!({"engine": "oracle"}),
            "Database engine must be set to 'postgres' or",
        ),
    ] {
        let (arn, _, _) = pg_account(&world, &[], extra.clone()).await;
        let token = world.driver.start_rotation(&arn).await.unwrap();
        let invocation = function
            .invoke(&SecretsManagerDriver::event("createSecret", &arn, &token))
            .await;
        assert_error(&invocation, "InvalidSecret", needle);
        assert_eq!(world.value_of_version(&arn, &token).await, None, "{extra}");
    }
}

#[tokio::test]
async fn bad_fan_out_variables_are_refused_at_start_up_naming_them() {
    let world = World::new().await;
    for (variable, value) in [
        ("ROTATION_STRATEGY", "both"),
        ("REPLICA_WAIT_SECONDS", "soon"),
        ("REPLICA_CONCURRENCY", "0"),
        ("PASSWORD_LENGTH", "long"),
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
}

// ---- Issue 12, points 8 and 9: undo on every host that may have changed, a short grace for
// an unreachable replica, and Secrets Manager calls bounded by the Lambda deadline.

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn independent_mode_sets_back_a_host_that_applied_the_change_then_dropped_the_connection() {
    let world = World::new().await;
    let user = unique("ind_");
    let hosts = Independent::start(&user, "Shared-Pass-1").await;
    // The middle host is reached through a proxy that drops the connection right after the
    // server answered the password change (the server has committed it; the rotator never
    // hears so). The last host refuses every credential of the secret.
    let proxy = TcpFaultProxy::start(([127, 0, 0, 1], hosts.servers[1].port()).into())
        .await
        .unwrap();
    proxy.cut_when_server_sends(b"ALTER ROLE", 1);
    let refusing = &hosts.servers[2];
    admin(
        refusing,
        &[format!(
            "ALTER ROLE {} PASSWORD 'Something-Else-1'",
            quote_ident(&user)
        )],
    )
    .await;
    let mut secret = hosts.secret(&user, "Shared-Pass-1");
    secret["replicas"] = replicas(&[proxy.port(), refusing.port()]);
    // Plaintext, so the proxy sees the server's answers.
    secret["sslmode"] = json!("disable");
    let arn = world
        .create_secret(&unique("independent-"), &secret.to_string())
        .await;
    let current_before = world.version_with(&arn, "AWSCURRENT").await.unwrap();
    let function = world.function(BIN, &[("REPLICA_CONCURRENCY", "1")]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    let failure = report.failure().expect("setSecret must fail");
    assert_eq!(failure.step, "setSecret", "{report}");
    assert_eq!(
        proxy.cuts(),
        1,
        "the proxy must have cut the password change: {report}"
    );
    assert_error(
        &failure.invocation,
        "TargetError",
        &format!("host 127.0.0.1:{} refused the change", refusing.port()),
    );
    // The host whose answer was lost is set back with the one that answered.
    assert_error(
        &failure.invocation,
        "TargetError",
        &format!(
            "set back on {}:{}, 127.0.0.1:{}",
            hosts.servers[0].host(),
            hosts.servers[0].port(),
            proxy.port()
        ),
    );
    assert_eq!(
        world.version_with(&arn, "AWSCURRENT").await.unwrap(),
        current_before
    );
    // Every host accepts the current password again, and none the pending one.
    let pending = world.value_of_version(&arn, &report.token).await.unwrap();
    let pending = password_of(&serde_json::from_str(&pending).unwrap());
    for server in &hosts.servers[..2] {
        login(server.port(), &user, "Shared-Pass-1")
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "port {}: {e}\n{}\n{}",
                    server.port(),
                    report,
                    function.output()
                )
            });
        assert!(login(server.port(), &user, &pending).await.is_err());
    }
    login(refusing.port(), &user, "Something-Else-1")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_replica_that_is_down_fails_within_the_grace_with_default_variables() {
    let world = World::new().await;
    let port = closed_port();
    let (arn, _, _) = pg_account(&world, &[port], json!({})).await;
    let current_before = world.version_with(&arn, "AWSCURRENT").await.unwrap();
    // Default variables: no REPLICA_WAIT_SECONDS, a 30-second Lambda timeout.
    let function = world.function(BIN, &[]).await;
    let started = Instant::now();
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    let took = started.elapsed();
    let failure = report.failure().expect("setSecret must fail");
    assert_eq!(failure.step, "setSecret", "{report}");
    assert_error(
        &failure.invocation,
        "TargetError",
        &format!("replica 127.0.0.1:{port} (database unreachable"),
    );
    assert!(
        took < Duration::from_secs(15),
        "an unreachable replica was waited for {took:?}"
    );
    assert_eq!(
        world.version_with(&arn, "AWSCURRENT").await.unwrap(),
        current_before
    );
}

/// A Secrets Manager that does not answer one call in time fails the step with an error that
/// names the call and the secret, before the Lambda's own timeout.
#[tokio::test]
async fn a_slow_secrets_manager_fails_the_step_naming_the_call_before_the_lambda_timeout() {
    let world = World::new().await;
    let (arn, _, _) = pg_account(&world, &[], json!({})).await;
    let proxy = FaultProxy::start(&stack().moto.endpoint()).await.unwrap();
    let timeout = Duration::from_secs(3);
    let function = world
        .function_with(BIN, &proxy.endpoint(), timeout, &[])
        .await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    // createSecret reads two versions (AWSCURRENT, AWSPENDING) while DescribeSecret runs.
    for (operation, calls) in [("DescribeSecret", 1), ("GetSecretValue", 2)] {
        proxy.delay_next(calls, Some(operation), Duration::from_secs(20));
        let invocation = function
            .invoke(&SecretsManagerDriver::event("createSecret", &arn, &token))
            .await;
        assert_error(
            &invocation,
            "SecretsManagerError",
            &format!("{operation} on secret {arn}"),
        );
        assert_error(
            &invocation,
            "SecretsManagerError",
            "did not answer before the Lambda deadline",
        );
        assert!(invocation.duration < timeout, "{:?}", invocation.duration);
    }
    assert_eq!(world.value_of_version(&arn, &token).await, None);

    // A read the rotator makes itself through the step's context (finishSecret reads nothing
    // ahead of time; replica-fanout reads AWSCURRENT and AWSPENDING in it).
    let report = world
        .driver
        .run_steps(
            &function,
            &arn,
            &token,
            &["createSecret", "setSecret", "testSecret"],
        )
        .await;
    assert!(report.succeeded(), "{report}\n{}", function.output());
    // In a new process: a warm one has these versions from the earlier steps already.
    let function = world
        .function_with(BIN, &proxy.endpoint(), timeout, &[])
        .await;
    proxy.delay_next(1, Some("GetSecretValue"), Duration::from_secs(20));
    let invocation = function
        .invoke(&SecretsManagerDriver::event("finishSecret", &arn, &token))
        .await;
    assert_error(
        &invocation,
        "SecretsManagerError",
        &format!(
            "GetSecretValue on secret {arn} failed: did not answer before the Lambda deadline (reading AWSCURRENT"
        ),
    );
    assert!(invocation.duration < timeout, "{:?}", invocation.duration);
}

// ---- Security review fix "fix-linked": a linked secret is written only when it names the
// rotated secret back. Team A must not be able to overwrite team B's secret by listing it in
// A's `replicaSecretArns` (the function's role may write every secret it rotates).

/// Stores `value` as a secret's new `AWSCURRENT` value (its owner editing it).
async fn put_current(world: &World, arn: &str, value: &Value) {
    put_current_text(world, arn, value.to_string()).await;
}

/// Stores `text` as a secret's new `AWSCURRENT` value.
async fn put_current_text(world: &World, arn: &str, text: String) {
    world
        .client()
        .put_secret_value()
        .secret_id(arn)
        .secret_string(text)
        .send()
        .await
        .unwrap();
}

/// The message of a failed invocation.
fn error_message(invocation: &Invocation) -> String {
    match &invocation.outcome {
        Outcome::Error { error_message, .. } => error_message.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_linked_secret_that_does_not_name_this_secret_back_is_never_written() {
    let world = World::new().await;
    let pg = world.postgres();
    // Team B's secret: its own user, naming no primary.
    let team_b = json!({"engine": "postgres", "host": "127.0.0.1", "port": pg.port(),
        "username": "team_b_user", "password": "Team-B-Pass-1", "dbname": "postgres"});
    let victim = world
        .create_secret(&unique("team-b-"), &team_b.to_string())
        .await;
    // Team A's own reader secret, which names A back.
    let own = world
        .create_secret(
            &unique("reader-"),
            &json!({"purpose": "reader"}).to_string(),
        )
        .await;
    let (arn, role, old) =
        pg_account(&world, &[], json!({"replicaSecretArns": [own, victim]})).await;
    let own_value = json!({"engine": "postgres", "host": "127.0.0.1", "port": pg.port(),
        "username": role, "password": old, "dbname": "postgres", "primarySecretArn": arn});
    put_current(&world, &own, &own_value).await;

    let function = world.function(BIN, &[]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let report = world
        .driver
        .run_steps(
            &function,
            &arn,
            &token,
            &["createSecret", "setSecret", "testSecret"],
        )
        .await;
    assert!(report.succeeded(), "{report}");
    let current_before = world.version_with(&arn, "AWSCURRENT").await;

    // What team B's secret may hold, and what the error must say each time.
    let name_of_a = arn.rsplit(':').next().unwrap().to_owned();
    let with = |key: &str, value: &str| {
        let mut secret = team_b.clone();
        secret[key] = json!(value);
        secret
    };
    let mut wrong_user = with("primarySecretArn", &arn);
    wrong_user["username"] = json!("team_b_user");
    let cases = [
        (team_b.clone(), "has no primarySecretArn key"),
        (
            with("primarySecretArn", &name_of_a),
            "its primarySecretArn names another secret",
        ),
        (
            wrong_user,
            "its username is neither the current nor the pending user",
        ),
    ];
    for (i, (value, needle)) in cases.iter().enumerate() {
        if i > 0 {
            put_current(&world, &victim, value).await;
        }
        let victim_versions = versions(&world, &victim).await;
        let own_versions = versions(&world, &own).await;
        let invocation = function
            .invoke(&SecretsManagerDriver::event("finishSecret", &arn, &token))
            .await;
        let message = error_message(&invocation);
        for expected in [needle, victim.as_str(), "replicaSecretArns", arn.as_str()] {
            assert!(
                message.contains(expected),
                "case {i}: {expected:?} in {message}"
            );
        }
        assert!(
            message.contains(&format!("\"primarySecretArn\": \"{arn}\"")),
            "case {i}: says what to add: {message}"
        );
        assert!(!message.contains("Team-B-Pass-1"), "{message}");
        assert_eq!(
            world.value(&victim, "AWSCURRENT").await.unwrap(),
            *value,
            "case {i}"
        );
        assert_eq!(versions(&world, &victim).await, victim_versions, "case {i}");
        // Nothing is written before every linked secret has been checked.
        assert_eq!(
            world.value(&own, "AWSCURRENT").await.unwrap(),
            own_value,
            "case {i}"
        );
        assert_eq!(versions(&world, &own).await, own_versions, "case {i}");
        assert_eq!(
            world.version_with(&arn, "AWSCURRENT").await,
            current_before,
            "case {i}: AWSCURRENT of the rotated secret stays"
        );
    }

    // Team B names A back and holds A's user: now the linked secret is A's to write.
    let mut consenting = with("primarySecretArn", &arn);
    consenting["username"] = json!(role);
    put_current(&world, &victim, &consenting).await;
    let invocation = function
        .invoke(&SecretsManagerDriver::event("finishSecret", &arn, &token))
        .await;
    assert!(invocation.outcome.is_success(), "{:?}", invocation.outcome);
    let current = world.value(&arn, "AWSCURRENT").await.unwrap();
    for linked in [&own, &victim] {
        let mirrored = world.value(linked, "AWSCURRENT").await.unwrap();
        assert_eq!(mirrored["username"], current["username"]);
        assert_eq!(mirrored["password"], current["password"]);
        assert_eq!(mirrored["primarySecretArn"], json!(arn));
    }
}

#[tokio::test]
async fn the_preflight_checks_each_replica_and_the_wait_against_the_timeout() {
    let world = World::new().await;
    let replica = pg_replica();
    let (arn, role, password) = pg_account(&world, &[replica.port()], json!({})).await;
    eventually_logs_in(replica.port(), &role, &password, false).await;
    let function = world.function(BIN, &[]).await;
    let report = rotation_e2e::scenarios::preflight(&function, &arn).await;
    assert_eq!(report["ok"], json!(true), "{report:#}");
    let replicas_check = rotation_e2e::scenarios::checks(&report, "replicas");
    assert_eq!(replicas_check.len(), 1, "{report:#}");
    assert_eq!(replicas_check[0]["status"], "pass");

    // A replica nothing listens on, and a wait longer than the function's 30 s.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let (arn, role, password) = pg_account(&world, &[replica.port(), closed_port], json!({})).await;
    eventually_logs_in(replica.port(), &role, &password, false).await;
    let waiting = world.function(BIN, &[("REPLICA_WAIT_SECONDS", "60")]).await;
    let report = rotation_e2e::scenarios::preflight(&waiting, &arn).await;
    rotation_e2e::scenarios::assert_failed(
        &report,
        "replicas",
        &format!("127.0.0.1:{closed_port}"),
        "security group",
    );
    rotation_e2e::scenarios::assert_failed(
        &report,
        "replica-wait",
        "REPLICA_WAIT_SECONDS=60",
        "raise the function's timeout",
    );
    // Nothing was written.
    assert_eq!(versions(&world, &arn).await, 1);
}
