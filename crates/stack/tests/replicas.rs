//! Replicas as tests use them: a user created on the primary logs in on the replica shortly
//! after, pausing replication by SQL on the replica holds new users back until it resumes, the
//! replica stops and restarts in place and catches up, and nothing is left after drop.
//!
//! Logins go through the `psql` and `mariadb` clients, passwords in `PGPASSWORD` and
//! `MYSQL_PWD`, each verifying the TLS certificate of the server it talks to against that
//! server's own CA bundle.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rotation_stack::{Lifetime, MariaDbServer, PostgresServer};

/// How long a change on the primary may take to reach a replica.
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(10);

fn accepts(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok()
}

/// Alive and not a zombie.
fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .next()?
                .to_string();
            Some(state != "Z")
        })
        .unwrap_or(false)
}

fn eventually(what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < REPLICATION_TIMEOUT,
            "{what} within {REPLICATION_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed()
}

fn stdout(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

// PostgreSQL

/// Runs `sql` with psql as `user` over TLS, verifying the server's certificate and hostname
/// against `ca`.
fn psql_with_ca(
    server: &PostgresServer,
    ca: &Path,
    user: &str,
    password: &str,
    sql: &str,
) -> Output {
    Command::new("psql")
        .args(["-X", "-q", "-w", "-A", "-t", "-d"])
        .arg(format!(
            "host={} port={} user={user} dbname=postgres sslmode=verify-full sslrootcert={} \
             connect_timeout=5",
            server.host(),
            server.port(),
            ca.display()
        ))
        .args(["-c", sql])
        .env("PGPASSWORD", password)
        .output()
        .expect("run psql")
}

fn psql(server: &PostgresServer, user: &str, password: &str, sql: &str) -> Output {
    psql_with_ca(server, server.ca_cert_path(), user, password, sql)
}

/// Runs `sql` as the superuser and returns its output.
fn pg_query(server: &PostgresServer, sql: &str) -> String {
    let output = psql(server, server.superuser(), server.superuser_password(), sql);
    stdout(&output, sql)
}

fn pg_logs_in(server: &PostgresServer, user: &str, password: &str) -> bool {
    psql(server, user, password, "SELECT current_user")
        .status
        .success()
}

/// Waits until `replica` has received (not necessarily applied) all WAL `primary` has written.
fn pg_wait_received(primary: &PostgresServer, replica: &PostgresServer) {
    let lsn = pg_query(primary, "SELECT pg_current_wal_insert_lsn()");
    eventually("the replica receives the primary's WAL", || {
        pg_query(
            replica,
            &format!("SELECT pg_last_wal_receive_lsn() >= '{lsn}'::pg_lsn"),
        ) == "t"
    });
}

#[test]
fn postgres_replica_follows_pauses_resumes_and_restarts() {
    let mut primary = PostgresServer::start(Lifetime::WithProcess).expect("PostgreSQL starts");
    pg_query(
        &primary,
        "CREATE ROLE before_replica LOGIN PASSWORD 'before-pw'",
    );

    let started = Instant::now();
    let mut replica = primary
        .start_replica(Lifetime::WithProcess)
        .expect("the replica starts");
    eprintln!(
        "PostgreSQL replica started in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    // A server like the primary: same superuser and password, its own port and certificate.
    assert_ne!(replica.port(), primary.port());
    assert_eq!(replica.host(), "localhost");
    assert_eq!(replica.superuser(), primary.superuser());
    assert_eq!(replica.superuser_password(), primary.superuser_password());
    assert_ne!(replica.ca_cert_path(), primary.ca_cert_path());
    assert_ne!(replica.data_dir(), primary.data_dir());
    assert_eq!(pg_query(&replica, "SELECT pg_is_in_recovery()"), "t");
    assert_eq!(pg_query(&primary, "SELECT pg_is_in_recovery()"), "f");
    let wrong_ca = psql_with_ca(
        &replica,
        primary.ca_cert_path(),
        replica.superuser(),
        replica.superuser_password(),
        "SELECT 1",
    );
    assert!(
        !wrong_ca.status.success(),
        "the primary's certificate verifies the replica"
    );
    assert!(
        pg_logs_in(&replica, "before_replica", "before-pw"),
        "a role of the base backup logs in on the replica"
    );

    // It follows.
    pg_query(
        &primary,
        "CREATE ROLE replicated_alice LOGIN PASSWORD 'alice-pw'",
    );
    let lag = eventually("a new role logs in on the replica", || {
        pg_logs_in(&replica, "replicated_alice", "alice-pw")
    });
    eprintln!("PostgreSQL: a new role logged in on the replica after {lag:?}");

    // Paused, it receives but does not apply.
    pg_query(&replica, "SELECT pg_wal_replay_pause()");
    eventually("replay pauses", || {
        pg_query(&replica, "SELECT pg_get_wal_replay_pause_state()") == "paused"
    });
    pg_query(
        &primary,
        "CREATE ROLE replicated_bob LOGIN PASSWORD 'bob-pw'",
    );
    pg_query(
        &primary,
        "ALTER ROLE replicated_alice PASSWORD 'alice-pw-2'",
    );
    pg_wait_received(&primary, &replica);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !pg_logs_in(&replica, "replicated_bob", "bob-pw"),
        "a role created while replay is paused logs in on the replica"
    );
    assert!(pg_logs_in(&replica, "replicated_alice", "alice-pw"));

    // Resumed, it catches up.
    pg_query(&replica, "SELECT pg_wal_replay_resume()");
    eventually("the role logs in after resume", || {
        pg_logs_in(&replica, "replicated_bob", "bob-pw")
    });
    assert!(pg_logs_in(&replica, "replicated_alice", "alice-pw-2"));
    assert!(!pg_logs_in(&replica, "replicated_alice", "alice-pw"));

    // Stopped, it misses nothing: it catches up after a restart, on the same port.
    let port = replica.port();
    let first_pid = replica.pid().expect("running");
    replica.stop().expect("the replica stops");
    assert!(!accepts(port), "port closed after stop");
    assert_eq!(replica.pid(), None);
    assert!(!is_running(first_pid));
    pg_query(
        &primary,
        "CREATE ROLE replicated_carol LOGIN PASSWORD 'carol-pw'",
    );
    let restarted = Instant::now();
    replica.restart().expect("the replica restarts");
    eprintln!(
        "PostgreSQL replica restarted in {:.2} s",
        restarted.elapsed().as_secs_f64()
    );
    assert_eq!(replica.port(), port, "same port after restart");
    assert_eq!(pg_query(&replica, "SELECT pg_is_in_recovery()"), "t");
    eventually(
        "a role created while the replica was stopped logs in",
        || pg_logs_in(&replica, "replicated_carol", "carol-pw"),
    );

    // It follows the primary through a restart of the primary.
    primary.restart().expect("the primary restarts");
    pg_query(
        &primary,
        "CREATE ROLE replicated_dave LOGIN PASSWORD 'dave-pw'",
    );
    eventually("a role created after the primary restarted logs in", || {
        pg_logs_in(&replica, "replicated_dave", "dave-pw")
    });

    // Dropped, nothing is left; the primary is untouched.
    let dir = replica
        .data_dir()
        .parent()
        .expect("server dir")
        .to_path_buf();
    let pid = replica.pid().expect("running");
    drop(replica);
    assert!(!is_running(pid), "the replica stopped on drop");
    assert!(!dir.exists(), "{} removed on drop", dir.display());
    assert_eq!(pg_query(&primary, "SELECT pg_is_in_recovery()"), "f");

    // No replica of a stopped server.
    primary.stop().expect("the primary stops");
    let error = primary
        .start_replica(Lifetime::WithProcess)
        .expect_err("a stopped primary has no replica");
    assert!(error.to_string().contains("it is stopped"), "{error}");
}

// MariaDB

/// The mariadb client logging in as `user` over TCP and verified TLS, in batch mode.
fn mariadb_client(server: &MariaDbServer, user: &str, password: &str) -> Command {
    let mut command = Command::new("mariadb");
    command
        .arg("--no-defaults")
        .args(["--protocol=TCP", "-h", server.host(), "-P"])
        .arg(server.port().to_string())
        .args(["-u", user])
        .arg(format!("--ssl-ca={}", server.ca_cert_path().display()))
        .args(["--ssl-verify-server-cert", "--batch"])
        .env("MYSQL_PWD", password);
    command
}

/// Runs `sql` as `user`, without column names.
fn mariadb(server: &MariaDbServer, user: &str, password: &str, sql: &str) -> Output {
    mariadb_client(server, user, password)
        .args(["--skip-column-names", "-e", sql])
        .output()
        .expect("run the mariadb client")
}

/// Runs `sql` as root, out of the general log, and returns its output.
fn my_query(server: &MariaDbServer, sql: &str) -> String {
    let sql = format!("SET sql_log_off = 1; {sql}");
    let output = mariadb(server, server.root_user(), server.root_password(), &sql);
    stdout(&output, &sql)
}

fn my_logs_in(server: &MariaDbServer, user: &str, password: &str) -> bool {
    mariadb(server, user, password, "SELECT CURRENT_USER()")
        .status
        .success()
}

/// One field of `SHOW SLAVE STATUS` on `replica`.
fn slave_status(replica: &MariaDbServer, field: &str) -> String {
    let sql = "SET sql_log_off = 1; SHOW SLAVE STATUS";
    let output = mariadb_client(replica, replica.root_user(), replica.root_password())
        .args(["--vertical", "-e", sql])
        .output()
        .expect("run the mariadb client");
    stdout(&output, sql)
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            (name.trim() == field).then(|| value.trim().to_string())
        })
        .unwrap_or_default()
}

#[test]
fn mariadb_replica_follows_pauses_resumes_and_restarts() {
    let mut primary = MariaDbServer::start(Lifetime::WithProcess).expect("MariaDB starts");
    my_query(
        &primary,
        "CREATE USER 'before_replica'@'%' IDENTIFIED BY 'before-pw'; \
         CREATE DATABASE seeded; CREATE TABLE seeded.t (id INT PRIMARY KEY) ENGINE=InnoDB; \
         INSERT INTO seeded.t VALUES (1)",
    );

    let started = Instant::now();
    let mut replica = primary
        .start_replica(Lifetime::WithProcess)
        .expect("the replica starts");
    eprintln!(
        "MariaDB replica started in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    // A server like the primary: same root and password, its own port, id and certificate.
    assert_ne!(replica.port(), primary.port());
    assert_eq!(replica.root_user(), primary.root_user());
    assert_eq!(replica.root_password(), primary.root_password());
    assert_ne!(replica.ca_cert_path(), primary.ca_cert_path());
    assert_eq!(
        my_query(&replica, "SELECT CURRENT_USER()"),
        "root@127.0.0.1"
    );
    assert_eq!(my_query(&primary, "SELECT @@server_id"), "1");
    assert_ne!(my_query(&replica, "SELECT @@server_id"), "1");
    assert_eq!(slave_status(&replica, "Slave_IO_Running"), "Yes");
    assert_eq!(slave_status(&replica, "Slave_SQL_Running"), "Yes");
    // Seeded with everything the primary had.
    assert!(
        my_logs_in(&replica, "before_replica", "before-pw"),
        "a user of the dump logs in on the replica"
    );
    assert_eq!(my_query(&replica, "SELECT id FROM seeded.t"), "1");

    // It follows.
    my_query(
        &primary,
        "CREATE USER 'replicated_alice'@'%' IDENTIFIED BY 'alice-pw'; \
         INSERT INTO seeded.t VALUES (2)",
    );
    let lag = eventually("a new user logs in on the replica", || {
        my_logs_in(&replica, "replicated_alice", "alice-pw")
    });
    eprintln!("MariaDB: a new user logged in on the replica after {lag:?}");
    assert_eq!(my_query(&replica, "SELECT COUNT(*) FROM seeded.t"), "2");

    // Paused, it receives but does not apply.
    my_query(&replica, "STOP SLAVE SQL_THREAD");
    my_query(
        &primary,
        "CREATE USER 'replicated_bob'@'%' IDENTIFIED BY 'bob-pw'; \
         ALTER USER 'replicated_alice'@'%' IDENTIFIED BY 'alice-pw-2'",
    );
    let written = my_query(&primary, "SELECT @@gtid_binlog_pos");
    eventually("the replica receives the primary's binary log", || {
        slave_status(&replica, "Gtid_IO_Pos") == written
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !my_logs_in(&replica, "replicated_bob", "bob-pw"),
        "a user created while the SQL thread is stopped logs in on the replica"
    );
    assert!(my_logs_in(&replica, "replicated_alice", "alice-pw"));

    // Resumed, it catches up.
    my_query(&replica, "START SLAVE SQL_THREAD");
    eventually("the user logs in after START SLAVE SQL_THREAD", || {
        my_logs_in(&replica, "replicated_bob", "bob-pw")
    });
    assert!(my_logs_in(&replica, "replicated_alice", "alice-pw-2"));
    assert!(!my_logs_in(&replica, "replicated_alice", "alice-pw"));

    // Stopped, it misses nothing: it catches up after a restart, on the same port.
    let port = replica.port();
    let first_pid = replica.pid().expect("running");
    replica.stop().expect("the replica stops");
    assert!(!accepts(port), "port closed after stop");
    assert_eq!(replica.pid(), None);
    assert!(!is_running(first_pid));
    my_query(
        &primary,
        "SET PASSWORD FOR 'replicated_bob'@'%' = PASSWORD('bob-pw-2'); \
         CREATE USER 'replicated_carol'@'%' IDENTIFIED BY 'carol-pw'",
    );
    let restarted = Instant::now();
    replica.restart().expect("the replica restarts");
    eprintln!(
        "MariaDB replica restarted in {:.2} s",
        restarted.elapsed().as_secs_f64()
    );
    assert_eq!(replica.port(), port, "same port after restart");
    eventually(
        "a user created while the replica was stopped logs in",
        || my_logs_in(&replica, "replicated_carol", "carol-pw"),
    );
    assert!(my_logs_in(&replica, "replicated_bob", "bob-pw-2"));

    // It follows the primary through a restart of the primary.
    primary.restart().expect("the primary restarts");
    my_query(
        &primary,
        "CREATE USER 'replicated_dave'@'%' IDENTIFIED BY 'dave-pw'",
    );
    eventually("a user created after the primary restarted logs in", || {
        my_logs_in(&replica, "replicated_dave", "dave-pw")
    });

    // No password reached a general log: the tests' sessions ran with sql_log_off, the
    // replication user was created out of the log, and what the replica applies is not logged.
    for log in [primary.general_log_path(), replica.general_log_path()] {
        let text = std::fs::read_to_string(log).expect("general log");
        for secret in ["before-pw", "alice-pw", "bob-pw", "carol-pw", "dave-pw"] {
            assert!(!text.contains(secret), "{secret} in {}", log.display());
        }
        assert!(
            !text.contains("IDENTIFIED BY"),
            "an account statement in {}:\n{text}",
            log.display()
        );
    }

    // Dropped, nothing is left; the primary is untouched.
    let dir: PathBuf = replica
        .data_dir()
        .parent()
        .expect("server dir")
        .to_path_buf();
    let pid = replica.pid().expect("running");
    drop(replica);
    assert!(!is_running(pid), "the replica stopped on drop");
    assert!(!dir.exists(), "{} removed on drop", dir.display());
    assert_eq!(my_query(&primary, "SELECT COUNT(*) FROM seeded.t"), "2");
}
