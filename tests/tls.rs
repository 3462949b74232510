//! TLS to the database, end to end (issue 13), with the single-user rotators: one trust store
//! for every engine (a CA given only through `SSL_CERT_FILE` is trusted), no plaintext after a
//! certificate failure when `ssl` is absent, plaintext (with a WARN) only from a server that
//! offers no TLS, and the login log line that says which TLS was used.
//!
//! The servers' logs are the witnesses: PostgreSQL logs every authorised connection with
//! `SSL enabled` when it is TLS (`log_connections`), MariaDB's general log says `using SSL/TLS`
//! or `using TCP/IP` for every connection.

use std::time::Duration;

use rotation_e2e::*;
use rotation_stack::{Lifetime, PostgresServer};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const POSTGRES: &str = "postgres-single-user";
const MYSQL: &str = "mysql-single-user";

/// The rotator's JSON log lines that report a login.
fn logins(output: &str) -> Vec<Value> {
    output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == json!("logged in to the database"))
        .collect()
}

/// Every login of the rotation used `tls` (and, over TLS, a protocol version was named).
fn assert_logins_used(output: &str, tls: &str) {
    let logins = logins(output);
    assert!(!logins.is_empty(), "no login line in {output}");
    for login in &logins {
        assert_eq!(login["tls"], json!(tls), "{login}");
        if tls != "plaintext" {
            let version = login["tls_version"].as_str().unwrap_or_default();
            assert!(version.starts_with("TLSv1."), "{login}");
        }
    }
}

/// PostgreSQL's log lines that authorised a connection of `user` without TLS.
fn postgres_plaintext_logins(server: &PostgresServer, user: &str) -> Vec<String> {
    let log = std::fs::read_to_string(server.log_path()).unwrap();
    log.lines()
        .filter(|line| line.contains(&format!("connection authorized: user={user} ")))
        .filter(|line| !line.contains("SSL enabled"))
        .map(str::to_owned)
        .collect()
}

/// PostgreSQL's log lines that authorised a connection of `user` over TLS.
fn postgres_tls_logins(server: &PostgresServer, user: &str) -> usize {
    let log = std::fs::read_to_string(server.log_path()).unwrap();
    log.lines()
        .filter(|line| line.contains(&format!("connection authorized: user={user} ")))
        .filter(|line| line.contains("SSL enabled"))
        .count()
}

/// MariaDB's general log lines of connections of `user` (`Connect user@host ... using ...`).
fn mariadb_connections(user: &str) -> Vec<String> {
    let log = std::fs::read_to_string(stack().mariadb.general_log_path()).unwrap();
    log.lines()
        .filter(|line| line.contains("Connect") && line.contains(&format!("{user}@")))
        .map(str::to_owned)
        .collect()
}

async fn postgres_account(world: &World, prefix: &str, extra: Value) -> (String, String) {
    let pg = world.postgres();
    let user = unique(prefix);
    create_role(pg, &user, "Tls-Pass-1").await;
    let mut secret = secret_json(pg, &user, "Tls-Pass-1");
    merge(&mut secret, extra);
    let arn = world
        .create_secret(&unique("tls-"), &secret.to_string())
        .await;
    (arn, user)
}

async fn mariadb_account(world: &World, prefix: &str, extra: Value) -> (String, String) {
    let db = world.mariadb();
    let user = unique(prefix);
    create_mysql_user(db, &user, "Tls-Pass-1").await;
    let mut secret = mysql_secret_json(db, &user, "Tls-Pass-1");
    merge(&mut secret, extra);
    let arn = world
        .create_secret(&unique("tls-"), &secret.to_string())
        .await;
    (arn, user)
}

/// Sets the keys of `extra`, starting from `ssl` absent (AWS's default).
fn merge(secret: &mut Value, extra: Value) {
    secret.as_object_mut().unwrap().remove("ssl");
    for (key, value) in extra.as_object().unwrap() {
        secret[key] = value.clone();
    }
}

/// Rotates and returns (report text, rotator output, succeeded).
async fn rotate(world: &World, binary: &str, arn: &str, env: &[(&str, &str)]) -> (String, bool) {
    let function = world.function(binary, env).await;
    let report = world.driver.rotate(&function, arn).await.unwrap();
    let output = function.stop().await;
    (format!("{report}\n{output}"), report.succeeded())
}

#[tokio::test]
async fn postgres_ssl_true_trusts_a_ca_given_only_through_ssl_cert_file() {
    let world = World::new().await;
    let ca = world.postgres().ca_cert_path().to_str().unwrap().to_owned();
    let (arn, user) = postgres_account(&world, "certfile_", json!({"ssl": true})).await;
    let (output, ok) = rotate(&world, POSTGRES, &arn, &[("SSL_CERT_FILE", &ca)]).await;
    assert!(ok, "{output}");
    assert_logins_used(&output, "verified");
    assert!(postgres_plaintext_logins(world.postgres(), &user).is_empty());
}

#[tokio::test]
async fn mariadb_ssl_true_trusts_a_ca_given_only_through_ssl_cert_file() {
    let world = World::new().await;
    let ca = world.mariadb().ca_cert_path().to_str().unwrap().to_owned();
    let (arn, user) = mariadb_account(&world, "certfile_", json!({"ssl": true})).await;
    let (output, ok) = rotate(&world, MYSQL, &arn, &[("SSL_CERT_FILE", &ca)]).await;
    assert!(ok, "{output}");
    assert_logins_used(&output, "verified");
    let connections = mariadb_connections(&user);
    assert!(!connections.is_empty());
    assert!(
        connections.iter().all(|line| line.contains("SSL/TLS")),
        "{connections:?}"
    );
}

/// The error of a certificate failure with `ssl` absent: the host, what failed, the way out.
fn assert_clear_certificate_error(output: &str, host: &str) {
    for needle in [host, "certificate", "DATABASE_CA_BUNDLE", "sslmode"] {
        assert!(output.contains(needle), "expected {needle:?} in {output}");
    }
}

#[tokio::test]
async fn postgres_ssl_absent_and_an_unknown_ca_fail_without_plaintext() {
    let world = World::new().await;
    let (arn, user) = postgres_account(&world, "unknownca_", json!({})).await;
    let (output, ok) = rotate(&world, POSTGRES, &arn, &[]).await;
    assert!(!ok, "{output}");
    assert_clear_certificate_error(&output, world.postgres().host());
    assert!(!output.contains("PLAINTEXT"), "{output}");
    let plaintext = postgres_plaintext_logins(world.postgres(), &user);
    assert!(plaintext.is_empty(), "plaintext logins: {plaintext:?}");
}

#[tokio::test]
async fn mariadb_ssl_absent_and_an_unknown_ca_fail_without_plaintext() {
    let world = World::new().await;
    let (arn, user) = mariadb_account(&world, "unknownca_", json!({})).await;
    let (output, ok) = rotate(&world, MYSQL, &arn, &[]).await;
    assert!(!ok, "{output}");
    assert_clear_certificate_error(&output, world.mariadb().host());
    assert!(!output.contains("PLAINTEXT"), "{output}");
    let connections = mariadb_connections(&user);
    assert!(connections.is_empty(), "connections: {connections:?}");
}

#[tokio::test]
async fn postgres_ssl_absent_and_a_server_without_tls_log_in_in_plaintext_with_a_warning() {
    let world = World::new().await;
    let pg = PostgresServer::start(Lifetime::WithProcess).unwrap();
    admin(
        &pg,
        &[
            "ALTER SYSTEM SET ssl = off".into(),
            "SELECT pg_reload_conf()".into(),
        ],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let user = unique("notls_");
    create_role(&pg, &user, "Tls-Pass-1").await;
    let mut secret = secret_json(&pg, &user, "Tls-Pass-1");
    merge(&mut secret, json!({}));
    let arn = world
        .create_secret(&unique("tls-"), &secret.to_string())
        .await;
    let ca = pg.ca_cert_path().to_str().unwrap().to_owned();
    let (output, ok) = rotate(&world, POSTGRES, &arn, &[("SSL_CERT_FILE", &ca)]).await;
    assert!(ok, "{output}");
    assert!(output.contains("PLAINTEXT"), "{output}");
    assert_logins_used(&output, "plaintext");
    assert!(!postgres_plaintext_logins(&pg, &user).is_empty());
}

/// A proxy to MariaDB that clears the SSL capability in the server's greeting, as a server
/// built without TLS would send it; everything else passes through.
async fn mariadb_without_tls(upstream_port: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut server = TcpStream::connect(("127.0.0.1", upstream_port)).await?;
                let mut header = [0u8; 4];
                server.read_exact(&mut header).await?;
                let length = usize::from(header[0])
                    | usize::from(header[1]) << 8
                    | usize::from(header[2]) << 16;
                let mut greeting = vec![0u8; length];
                server.read_exact(&mut greeting).await?;
                // protocol version, server version (NUL-terminated), thread id (4),
                // scramble (8), filler (1), then the low two bytes of the capabilities.
                let version_end = 1 + greeting[1..].iter().position(|b| *b == 0).unwrap();
                let capabilities = version_end + 1 + 4 + 8 + 1;
                greeting[capabilities + 1] &= !0x08; // CLIENT_SSL is 0x0800
                client.write_all(&header).await?;
                client.write_all(&greeting).await?;
                tokio::io::copy_bidirectional(&mut client, &mut server).await?;
                Ok::<(), std::io::Error>(())
            });
        }
    });
    port
}

#[tokio::test]
async fn mariadb_ssl_absent_and_a_server_without_tls_log_in_in_plaintext_with_a_warning() {
    let world = World::new().await;
    let port = mariadb_without_tls(world.mariadb().port()).await;
    let ca = world.mariadb().ca_cert_path().to_str().unwrap().to_owned();
    let (arn, user) = mariadb_account(&world, "notls_", json!({"port": port})).await;
    let (output, ok) = rotate(&world, MYSQL, &arn, &[("SSL_CERT_FILE", &ca)]).await;
    assert!(ok, "{output}");
    assert!(output.contains("PLAINTEXT"), "{output}");
    assert_logins_used(&output, "plaintext");
    let connections = mariadb_connections(&user);
    assert!(
        connections.iter().all(|line| line.contains("TCP/IP")),
        "{connections:?}"
    );
}

#[tokio::test]
async fn postgres_a_user_accepted_only_over_tls_rotates_with_ssl_absent() {
    let world = World::new().await;
    let pg = world.postgres();
    let (arn, user) = postgres_account(&world, "hostssl_", json!({})).await;
    // This binary's stack is its own: a rule for this user alone leaves the other tests be.
    let hba = pg.data_dir().join("pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(
        &hba,
        format!("hostnossl all {user} 0.0.0.0/0 reject\nhostnossl all {user} ::/0 reject\n{rules}"),
    )
    .unwrap();
    admin(pg, &["SELECT pg_reload_conf()".into()]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ca = pg.ca_cert_path().to_str().unwrap().to_owned();
    let (output, ok) = rotate(&world, POSTGRES, &arn, &[("SSL_CERT_FILE", &ca)]).await;
    assert!(ok, "{output}");
    assert_logins_used(&output, "verified");
    assert!(postgres_tls_logins(pg, &user) > 0);
    assert!(postgres_plaintext_logins(pg, &user).is_empty());
}

#[tokio::test]
async fn mariadb_a_user_accepted_only_over_tls_rotates_with_ssl_absent() {
    let world = World::new().await;
    let db = world.mariadb();
    let (arn, user) = mariadb_account(&world, "requiressl_", json!({})).await;
    mysql_admin(
        db,
        &[format!(
            "ALTER USER {}@'%' REQUIRE SSL",
            mysql_literal(&user)
        )],
    )
    .await;
    let ca = db.ca_cert_path().to_str().unwrap().to_owned();
    let (output, ok) = rotate(&world, MYSQL, &arn, &[("SSL_CERT_FILE", &ca)]).await;
    assert!(ok, "{output}");
    assert_logins_used(&output, "verified");
    let connections = mariadb_connections(&user);
    assert!(!connections.is_empty());
    assert!(
        connections.iter().all(|line| line.contains("SSL/TLS")),
        "{connections:?}"
    );
}
