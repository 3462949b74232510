//! Master credentials go only where the operator or RDS put them (issue 12, point 1).
//!
//! The attacker is an application team that can write its own rotated secret: it points the
//! secret's `host`/`port` (or an entry of `replicas`) at a server of its own, a [`Decoy`] that
//! records every user name and password it is sent. Either a bare decoy that asks for a
//! cleartext password, or a relay in front of the real database (so that the child's own
//! login succeeds through it and the rotator goes on to the master). Whatever the master
//! secret's form, the decoy must never see the master user, let alone its password.

use aws_sdk_rds::config::{BehaviorVersion, Credentials, Region};
use rotation_e2e::*;
use rotation_stack::{Decoy, Protocol};
use serde_json::{Value, json};

const PG_BIN: &str = "postgres-multi-user";
const MYSQL_BIN: &str = "mysql-multi-user";
const FANOUT_BIN: &str = "replica-fanout";

/// The variable that lists the hosts a master secret without `host` may be used on.
const MASTER_HOSTS: &str = "MASTER_HOSTS";

/// A master secret of the form RDS manages itself: only `username` and `password`.
async fn rds_form_master(world: &World, user: &str, password: &str) -> String {
    world
        .create_secret(
            &unique("rdsform-"),
            &json!({"username": user, "password": password}).to_string(),
        )
        .await
}

/// A PostgreSQL role on the stack's server and a multi-user secret for it naming `master`,
/// with `host`/`port` as given; returns (arn, role).
async fn pg_child(world: &World, master: &str, host: &str, port: u16) -> (String, String) {
    let pg = world.postgres();
    let role = unique("trust_");
    create_role(pg, &role, "Child-Pass-1").await;
    let mut secret = secret_json(pg, &role, "Child-Pass-1");
    secret["host"] = json!(host);
    secret["port"] = json!(port);
    secret["masterarn"] = json!(master);
    let arn = world
        .create_secret(&unique("trust-"), &secret.to_string())
        .await;
    (arn, role)
}

/// A MariaDB user and a multi-user secret for it naming `master`, at `host`/`port`.
async fn mysql_child(world: &World, master: &str, host: &str, port: u16) -> String {
    let db = world.mariadb();
    let user = unique("t");
    create_mysql_user(db, &user, "Child-Pass-1").await;
    let mut secret = mysql_secret_json(db, &user, "Child-Pass-1");
    secret["host"] = json!(host);
    secret["port"] = json!(port);
    secret["masterarn"] = json!(master);
    world
        .create_secret(&unique("trust-"), &secret.to_string())
        .await
}

/// The decoy saw neither the master user nor its password.
fn assert_untouched(decoy: &Decoy, master_user: &str, master_password: &str) {
    let users = decoy.users();
    assert!(
        !users.iter().any(|user| user == master_user),
        "the decoy on port {} was sent the master user {master_user} (users seen: {users:?})",
        decoy.port()
    );
    assert!(
        !decoy.received(master_password),
        "the decoy on port {} received the master password",
        decoy.port()
    );
}

/// Runs a whole rotation and returns the failed step's error message (panics if it succeeded).
async fn failed_rotation(world: &World, binary: &str, env: &[(&str, &str)], arn: &str) -> String {
    let function = world.function(binary, env).await;
    let report = world.driver.rotate(&function, arn).await.unwrap();
    let output = function.stop().await;
    let failure = report
        .failure()
        .unwrap_or_else(|| panic!("the rotation must fail: {report}\n{output}"));
    assert_eq!(failure.step, "setSecret", "{report}");
    match &failure.invocation.outcome {
        Outcome::Error { error_message, .. } => {
            eprintln!("{binary}: {error_message}");
            error_message.clone()
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn postgres_rds_form_master_is_never_sent_to_a_decoy_the_child_names() {
    let world = World::new().await;
    let pg = world.postgres();
    let decoy = Decoy::start(Protocol::Postgres).unwrap();
    let master = rds_form_master(&world, pg.superuser(), pg.superuser_password()).await;
    let (arn, _) = pg_child(&world, &master, decoy.host(), decoy.port()).await;
    failed_rotation(&world, PG_BIN, &[], &arn).await;
    assert_untouched(&decoy, pg.superuser(), pg.superuser_password());
}

#[tokio::test]
async fn postgres_child_behind_a_relay_is_refused_naming_both_hosts() {
    let world = World::new().await;
    let pg = world.postgres();
    let relay = Decoy::relay(Protocol::Postgres, pg.port()).unwrap();
    let master = rds_form_master(&world, pg.superuser(), pg.superuser_password()).await;
    let (arn, role) = pg_child(&world, &master, relay.host(), relay.port()).await;
    let allowed = format!("{}:{}", pg.host(), pg.port());
    let message = failed_rotation(&world, PG_BIN, &[(MASTER_HOSTS, &allowed)], &arn).await;
    assert!(
        message.contains(&format!("127.0.0.1:{}", relay.port())) && message.contains(&allowed),
        "the error must name both hosts: {message}"
    );
    assert!(
        relay.users().contains(&role),
        "the child's own login went through the relay"
    );
    assert_untouched(&relay, pg.superuser(), pg.superuser_password());
}

#[tokio::test]
async fn postgres_rds_form_master_without_a_trusted_host_is_a_clear_error() {
    let world = World::new().await;
    let pg = world.postgres();
    let master = rds_form_master(&world, pg.superuser(), pg.superuser_password()).await;
    let (arn, role) = pg_child(&world, &master, pg.host(), pg.port()).await;
    let message = failed_rotation(&world, PG_BIN, &[], &arn).await;
    for needle in [
        MASTER_HOSTS,
        "aws:rds:primaryDBInstanceArn",
        master.as_str(),
    ] {
        assert!(message.contains(needle), "{needle:?} in {message}");
    }
    assert!(
        login(pg.port(), &format!("{role}_clone"), "x")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn postgres_rds_form_master_rotates_on_a_host_the_operator_lists() {
    let world = World::new().await;
    let pg = world.postgres();
    let master = rds_form_master(&world, pg.superuser(), pg.superuser_password()).await;
    let (arn, role) = pg_child(&world, &master, pg.host(), pg.port()).await;
    let allowed = format!("db.example.invalid, {}:{}", pg.host(), pg.port());
    // The RDS form has no TLS settings: verified TLS, so the stack's CA must be trusted.
    let ca = pg.ca_cert_path().to_str().unwrap();
    let env = [(MASTER_HOSTS, allowed.as_str()), ("DATABASE_CA_BUNDLE", ca)];
    let function = world.function(PG_BIN, &env).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let current = world.value(&arn, "AWSCURRENT").await.unwrap();
    login(pg.port(), &format!("{role}_clone"), &password_of(&current))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_bad_master_hosts_value_stops_the_function_naming_the_variable() {
    let world = World::new().await;
    let pg = world.postgres();
    let master = rds_form_master(&world, pg.superuser(), pg.superuser_password()).await;
    let (arn, _) = pg_child(&world, &master, pg.host(), pg.port()).await;
    let function = world
        .function(PG_BIN, &[(MASTER_HOSTS, "localhost:notaport")])
        .await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    let output = function.stop().await;
    assert!(!report.succeeded(), "{report}");
    assert!(output.contains(MASTER_HOSTS), "{output}");
}

#[tokio::test]
async fn mysql_rds_form_master_is_never_sent_to_a_decoy_the_child_names() {
    let world = World::new().await;
    let db = world.mariadb();
    let decoy = Decoy::start(Protocol::MySql).unwrap();
    let master = rds_form_master(&world, db.root_user(), db.root_password()).await;
    let arn = mysql_child(&world, &master, decoy.host(), decoy.port()).await;
    failed_rotation(&world, MYSQL_BIN, &[], &arn).await;
    assert_untouched(&decoy, db.root_user(), db.root_password());
}

#[tokio::test]
async fn mysql_child_behind_a_relay_is_refused_naming_both_hosts() {
    let world = World::new().await;
    let db = world.mariadb();
    let relay = Decoy::relay(Protocol::MySql, db.port()).unwrap();
    let master = rds_form_master(&world, db.root_user(), db.root_password()).await;
    let arn = mysql_child(&world, &master, relay.host(), relay.port()).await;
    let allowed = format!("{}:{}", db.host(), db.port());
    let message = failed_rotation(&world, MYSQL_BIN, &[(MASTER_HOSTS, &allowed)], &arn).await;
    assert!(
        message.contains(&format!("127.0.0.1:{}", relay.port())) && message.contains(&allowed),
        "the error must name both hosts: {message}"
    );
    assert_untouched(&relay, db.root_user(), db.root_password());
}

#[tokio::test]
async fn mysql_rds_form_master_rotates_on_a_host_the_operator_lists() {
    let world = World::new().await;
    let db = world.mariadb();
    let master = rds_form_master(&world, db.root_user(), db.root_password()).await;
    let arn = mysql_child(&world, &master, db.host(), db.port()).await;
    let allowed = format!("{}:{}", db.host(), db.port());
    // The RDS form has no TLS settings: verified TLS, so the stack's CA must be trusted.
    let ca = db.ca_cert_path().to_str().unwrap();
    let env = [(MASTER_HOSTS, allowed.as_str()), ("DATABASE_CA_BUNDLE", ca)];
    let function = world.function(MYSQL_BIN, &env).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let current = world.value(&arn, "AWSCURRENT").await.unwrap();
    let user = current["username"].as_str().unwrap();
    mysql_login(db.port(), user, &password_of(&current))
        .await
        .unwrap();
}

/// A fan-out secret (independent mode, multi-user) for a new role of the stack's PostgreSQL,
/// with one extra host in `replicas`.
async fn fanout_child(world: &World, master: &str, host: &str, port: u16) -> String {
    let pg = world.postgres();
    let role = unique("fanm_");
    create_role(pg, &role, "Child-Pass-1").await;
    let mut secret = secret_json(pg, &role, "Child-Pass-1");
    secret["masterarn"] = json!(master);
    secret["replicaMode"] = json!("independent");
    secret["replicas"] = json!([{"host": host, "port": port}]);
    world
        .create_secret(&unique("fanm-"), &secret.to_string())
        .await
}

#[tokio::test]
async fn fanout_independent_multi_user_never_sends_the_master_to_a_listed_decoy() {
    let world = World::new().await;
    let pg = world.postgres();
    let master = rds_form_master(&world, pg.superuser(), pg.superuser_password()).await;
    // The operator allows the primary only: the extra host in `replicas` is the attacker's.
    let allowed = format!("{}:{}", pg.host(), pg.port());
    let env = [(MASTER_HOSTS, allowed.as_str())];

    let decoy = Decoy::start(Protocol::Postgres).unwrap();
    let arn = fanout_child(&world, &master, decoy.host(), decoy.port()).await;
    let message = failed_rotation(&world, FANOUT_BIN, &env, &arn).await;
    assert!(
        message.contains(&format!("127.0.0.1:{}", decoy.port())),
        "the error must name the decoy: {message}"
    );
    assert_untouched(&decoy, pg.superuser(), pg.superuser_password());

    // Behind a relay the child's own login works there, and the host check names both.
    let relay = Decoy::relay(Protocol::Postgres, pg.port()).unwrap();
    let arn = fanout_child(&world, &master, relay.host(), relay.port()).await;
    let message = failed_rotation(&world, FANOUT_BIN, &env, &arn).await;
    assert!(
        message.contains(&format!(
            "Current database host 127.0.0.1:{} is not the same host as/rds replica of master {allowed}",
            relay.port()
        )),
        "the error must name both hosts: {message}"
    );
    assert_untouched(&relay, pg.superuser(), pg.superuser_password());
}

/// An RDS client on the stack's moto (which serves every service on one port).
async fn rds_client() -> aws_sdk_rds::Client {
    let config = aws_sdk_rds::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(stack().moto.endpoint())
        .build();
    aws_sdk_rds::Client::from_conf(config)
}

/// A PostgreSQL instance in moto's RDS whose master password RDS manages in Secrets Manager;
/// returns (the master secret's ARN, the instance's endpoint address, port).
async fn rds_managed_instance() -> (String, String, u16) {
    let rds = rds_client().await;
    let instance = rds
        .create_db_instance()
        .db_instance_identifier(unique("db-"))
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .master_username("admin")
        .manage_master_user_password(true)
        .allocated_storage(20)
        .send()
        .await
        .expect("moto creates the DB instance")
        .db_instance
        .expect("CreateDBInstance returns the instance");
    let secret = instance
        .master_user_secret()
        .and_then(|secret| secret.secret_arn())
        .expect("an instance with ManageMasterUserPassword has a master user secret")
        .to_owned();
    let endpoint = instance.endpoint().expect("the instance has an endpoint");
    (
        secret,
        endpoint.address().expect("an address").to_owned(),
        endpoint.port().expect("a port") as u16,
    )
}

#[tokio::test]
async fn an_rds_managed_master_is_used_only_on_the_endpoint_rds_names() {
    let world = World::new().await;
    let (master, address, port) = rds_managed_instance().await;
    let master_value: Value = world.value(&master, "AWSCURRENT").await.unwrap();
    let (master_user, master_password) = (
        master_value["username"].as_str().unwrap().to_owned(),
        password_of(&master_value),
    );
    let decoy = Decoy::start(Protocol::Postgres).unwrap();
    let (arn, _) = pg_child(&world, &master, decoy.host(), decoy.port()).await;
    let message = failed_rotation(&world, PG_BIN, &[], &arn).await;
    assert_untouched(&decoy, &master_user, &master_password);
    // The child logs in (its own password, refused by the decoy) before the master is looked
    // at, as AWS's order has it; behind a relay it gets as far as the host check.
    let relay = Decoy::relay(Protocol::Postgres, world.postgres().port()).unwrap();
    let (arn, _) = pg_child(&world, &master, relay.host(), relay.port()).await;
    let message_relayed = failed_rotation(&world, PG_BIN, &[], &arn).await;
    assert!(
        message_relayed.contains(&format!("{address}:{port}"))
            && message_relayed.contains(&format!("127.0.0.1:{}", relay.port())),
        "the error must name the RDS endpoint and the child's host: {message_relayed} (first: {message})"
    );
    assert_untouched(&relay, &master_user, &master_password);
}

/// Sends RESP commands on one connection and returns the one-line replies.
async fn redis_exchange(port: u16, commands: &[&[&str]]) -> Vec<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut request = Vec::new();
    for parts in commands {
        request.extend(format!("*{}\r\n", parts.len()).into_bytes());
        for part in *parts {
            request.extend(format!("${}\r\n{part}\r\n", part.len()).into_bytes());
        }
    }
    stream.write_all(&request).await.unwrap();
    let mut answer = String::new();
    let mut buffer = [0; 1024];
    while answer.matches("\r\n").count() < commands.len() {
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "Redis closed the connection after {answer:?}");
        answer.push_str(&String::from_utf8_lossy(&buffer[..read]));
    }
    answer.lines().map(str::to_owned).collect()
}

/// A Redis of this test's own, an ACL user on it, and a master secret of the form without
/// `host` (its admin user); returns (server, user, master ARN).
async fn redis_account(world: &World) -> (rotation_stack::RedisServer, String, String) {
    let redis = rotation_stack::RedisServer::start(rotation_stack::Lifetime::WithProcess).unwrap();
    let user = unique("u");
    let replies = redis_exchange(
        redis.port(),
        &[
            &["AUTH", redis.admin_user(), redis.admin_password()],
            &[
                "ACL",
                "SETUSER",
                &user,
                "on",
                ">Child-Pass-1",
                "~app:*",
                "+@read",
                "+ping",
            ],
        ],
    )
    .await;
    assert_eq!(replies, ["+OK", "+OK"]);
    let master = rds_form_master(world, redis.admin_user(), redis.admin_password()).await;
    (redis, user, master)
}

async fn redis_child(world: &World, user: &str, master: &str, port: u16) -> String {
    let value = json!({
        "host": "127.0.0.1", "port": port, "username": user, "password": "Child-Pass-1",
        "masterarn": master,
    });
    world
        .create_secret(&unique("redis-"), &value.to_string())
        .await
}

#[tokio::test]
async fn redis_master_without_host_is_never_sent_to_a_relay_the_child_names() {
    let world = World::new().await;
    let (redis, user, master) = redis_account(&world).await;
    let relay = Decoy::relay(Protocol::Redis, redis.port()).unwrap();
    let arn = redis_child(&world, &user, &master, relay.port()).await;
    failed_rotation(&world, "redis-acl", &[], &arn).await;
    assert!(
        relay.users().contains(&user),
        "the child's own login went through the relay"
    );
    assert_untouched(&relay, redis.admin_user(), redis.admin_password());
    // With the operator's list naming the real server, the relay is refused by name.
    let allowed = format!("127.0.0.1:{}", redis.port());
    let message = failed_rotation(&world, "redis-acl", &[(MASTER_HOSTS, &allowed)], &arn).await;
    assert!(
        message.contains(&format!("127.0.0.1:{}", relay.port())) && message.contains(&allowed),
        "the error must name both hosts: {message}"
    );
    assert_untouched(&relay, redis.admin_user(), redis.admin_password());
}

#[tokio::test]
async fn redis_master_without_host_rotates_on_a_server_the_operator_lists() {
    let world = World::new().await;
    let (redis, user, master) = redis_account(&world).await;
    let arn = redis_child(&world, &user, &master, redis.port()).await;
    let allowed = format!("127.0.0.1:{}", redis.port());
    let function = world
        .function("redis-acl", &[(MASTER_HOSTS, &allowed)])
        .await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let current = world.value(&arn, "AWSCURRENT").await.unwrap();
    let clone = current["username"].as_str().unwrap();
    let replies = redis_exchange(
        redis.port(),
        &[&["AUTH", clone, &password_of(&current)], &["PING"]],
    )
    .await;
    assert_eq!(replies, ["+OK", "+PONG"]);
}

/// An Aurora PostgreSQL cluster in moto's RDS whose master password RDS manages, with one
/// member instance; returns (the cluster's ARN, its master secret's ARN).
async fn rds_managed_cluster() -> (String, String) {
    let rds = rds_client().await;
    let id = unique("cluster-");
    let cluster = rds
        .create_db_cluster()
        .db_cluster_identifier(&id)
        .engine("aurora-postgresql")
        .master_username("admin")
        .manage_master_user_password(true)
        .send()
        .await
        .expect("moto creates the DB cluster")
        .db_cluster
        .expect("CreateDBCluster returns the cluster");
    rds.create_db_instance()
        .db_instance_identifier(format!("{id}-member"))
        .db_instance_class("db.r6g.large")
        .engine("aurora-postgresql")
        .db_cluster_identifier(&id)
        .send()
        .await
        .expect("moto creates the member instance");
    let secret = cluster
        .master_user_secret()
        .and_then(|secret| secret.secret_arn())
        .expect("a cluster with ManageMasterUserPassword has a master user secret")
        .to_owned();
    (cluster.db_cluster_arn().expect("an ARN").to_owned(), secret)
}

#[tokio::test]
async fn an_rds_managed_cluster_master_is_used_only_on_the_cluster_endpoint() {
    let world = World::new().await;
    let (cluster, master) = rds_managed_cluster().await;
    let tags = world
        .client()
        .describe_secret()
        .secret_id(&master)
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|tag| tag.key() == Some("aws:rds:primaryDBClusterArn")
                && tag.value() == Some(cluster.as_str())),
        "moto tags the cluster's master secret as RDS does"
    );
    let master_value: Value = world.value(&master, "AWSCURRENT").await.unwrap();
    let relay = Decoy::relay(Protocol::Postgres, world.postgres().port()).unwrap();
    let (arn, _) = pg_child(&world, &master, relay.host(), relay.port()).await;
    let message = failed_rotation(&world, PG_BIN, &[], &arn).await;
    assert!(
        message.contains(".cluster-") && message.contains(&cluster),
        "the error must name the cluster's endpoint: {message}"
    );
    assert_untouched(
        &relay,
        master_value["username"].as_str().unwrap(),
        &password_of(&master_value),
    );
}

/// The look-up itself against moto's RDS API: an instance's read replicas, a cluster's reader
/// endpoint and members, and AWS's errors.
#[tokio::test]
async fn the_rds_lookup_reads_replicas_and_readers_from_the_rds_api() {
    use rotation_core::Deadline;
    use rotation_db::rds_lookup::{RdsLookup, RdsResource, ResourceKind};
    use std::time::Duration;

    let rds = rds_client().await;
    let lookup = RdsLookup::with_client(rds.clone());
    let deadline = Deadline::after(Duration::from_secs(20));
    let primary = unique("primary-");
    let created = rds
        .create_db_instance()
        .db_instance_identifier(&primary)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .master_username("admin")
        .master_user_password("Not-Used-Here-1")
        .allocated_storage(20)
        .send()
        .await
        .unwrap()
        .db_instance
        .unwrap();
    let replica = rds
        .create_db_instance_read_replica()
        .db_instance_identifier(format!("{primary}-replica"))
        .source_db_instance_identifier(&primary)
        .send()
        .await
        .unwrap()
        .db_instance
        .unwrap();
    let endpoint = |instance: &aws_sdk_rds::types::DbInstance| {
        let endpoint = instance.endpoint().unwrap();
        rotation_db::HostPort::new(endpoint.address().unwrap(), endpoint.port().unwrap() as u16)
    };
    let found = lookup
        .endpoints(
            &RdsResource {
                kind: ResourceKind::Instance,
                arn: created.db_instance_arn().unwrap().to_owned(),
            },
            deadline,
        )
        .await
        .unwrap();
    assert_eq!(found.writer, endpoint(&created));
    assert_eq!(found.readers, [endpoint(&replica)]);

    let (cluster, _) = rds_managed_cluster().await;
    let found = lookup
        .endpoints(
            &RdsResource {
                kind: ResourceKind::Cluster,
                arn: cluster.clone(),
            },
            deadline,
        )
        .await
        .unwrap();
    assert!(found.writer.host.contains(".cluster-"), "{found:?}");
    assert!(
        found
            .readers
            .iter()
            .any(|r| r.host.contains(".cluster-ro-")),
        "the reader endpoint: {found:?}"
    );
    assert!(
        found.readers.iter().any(|r| r.host.contains("-member.")),
        "the member instance: {found:?}"
    );

    let missing = lookup
        .endpoints(
            &RdsResource {
                kind: ResourceKind::Instance,
                arn: "arn:aws:rds:us-east-1:123456789012:db:no-such-db".to_owned(),
            },
            deadline,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        missing.starts_with(
            "Encountered API error while fetching connection parameters from DescribeDBInstances RDS API"
        ),
        "{missing}"
    );
}

// A master login never falls back to plaintext unless the master secret itself says so
// (security review of issue 12, fix-tls). The attacker sits on the path to the database and
// answers "no TLS" (PostgreSQL's `N` to the SSLRequest, MySQL's greeting without
// `CLIENT_SSL`): a bare decoy then asks for a cleartext password, a relay forwards the
// plaintext session to the real server.

/// The two master secrets that leave TLS unspecified, aimed at `127.0.0.1:port`: a full
/// secret without `ssl`/`sslmode` (`full` minus its `ssl`), and the RDS form with
/// `MASTER_HOSTS` naming that address. Returns (form, master ARN, function environment).
async fn masters_without_ssl(
    world: &World,
    mut full: Value,
    port: u16,
) -> Vec<(&'static str, String, Vec<(&'static str, String)>)> {
    full.as_object_mut().unwrap().remove("ssl");
    full["host"] = json!("127.0.0.1");
    full["port"] = json!(port);
    let full_arn = world
        .create_secret(&unique("nossl-master-"), &full.to_string())
        .await;
    let (user, password) = (
        full["username"].as_str().unwrap(),
        full["password"].as_str().unwrap(),
    );
    let rds_form = rds_form_master(world, user, password).await;
    vec![
        ("a full master secret without ssl", full_arn, Vec::new()),
        (
            "an RDS-form master secret",
            rds_form,
            vec![(MASTER_HOSTS, format!("127.0.0.1:{port}"))],
        ),
    ]
}

fn env_of<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter()
        .map(|(key, value)| (*key, value.as_str()))
        .collect()
}

/// The master's failed login names the host, says TLS was required, and how to opt out.
fn assert_master_tls_error(message: &str, port: u16, master: &str, form: &str) {
    for needle in [
        format!("127.0.0.1:{port}"),
        master.to_owned(),
        "TLS".to_owned(),
        "\"ssl\": false".to_owned(),
        "\"sslmode\"".to_owned(),
    ] {
        assert!(
            message.contains(&needle),
            "{form}: {needle:?} must be in the error: {message}"
        );
    }
}

#[tokio::test]
async fn postgres_master_without_ssl_never_logs_in_in_plaintext_to_a_server_without_tls() {
    let world = World::new().await;
    let pg = world.postgres();
    let (user, password) = (pg.superuser(), pg.superuser_password());
    let full = secret_json(pg, user, password);

    let decoy = Decoy::start(Protocol::Postgres).unwrap();
    for (form, master, env) in masters_without_ssl(&world, full.clone(), decoy.port()).await {
        eprintln!("bare decoy, {form}");
        let (arn, _) = pg_child(&world, &master, decoy.host(), decoy.port()).await;
        failed_rotation(&world, PG_BIN, &env_of(&env), &arn).await;
        assert_untouched(&decoy, user, password);
    }

    // Through a relay the child's own login succeeds, so the rotation reaches the master's.
    let relay = Decoy::relay(Protocol::Postgres, pg.port()).unwrap();
    for (form, master, env) in masters_without_ssl(&world, full.clone(), relay.port()).await {
        eprintln!("relay, {form}");
        let (arn, role) = pg_child(&world, &master, relay.host(), relay.port()).await;
        let message = failed_rotation(&world, PG_BIN, &env_of(&env), &arn).await;
        assert_untouched(&relay, user, password);
        assert_master_tls_error(&message, relay.port(), &master, form);
        assert!(relay.users().contains(&role), "the child logged in");
    }
}

#[tokio::test]
async fn mysql_master_without_ssl_never_logs_in_in_plaintext_to_a_server_without_tls() {
    let world = World::new().await;
    let db = world.mariadb();
    let (user, password) = (db.root_user(), db.root_password());
    let full = mysql_secret_json(db, user, password);

    let decoy = Decoy::start(Protocol::MySql).unwrap();
    for (form, master, env) in masters_without_ssl(&world, full.clone(), decoy.port()).await {
        eprintln!("bare decoy, {form}");
        let arn = mysql_child(&world, &master, decoy.host(), decoy.port()).await;
        failed_rotation(&world, MYSQL_BIN, &env_of(&env), &arn).await;
        assert_untouched(&decoy, user, password);
    }

    let relay = Decoy::relay(Protocol::MySql, db.port()).unwrap();
    for (form, master, env) in masters_without_ssl(&world, full.clone(), relay.port()).await {
        eprintln!("relay, {form}");
        let arn = mysql_child(&world, &master, relay.host(), relay.port()).await;
        let message = failed_rotation(&world, MYSQL_BIN, &env_of(&env), &arn).await;
        assert_untouched(&relay, user, password);
        assert_master_tls_error(&message, relay.port(), &master, form);
    }
}
