//! The private MariaDB as tests use it: root logs in over TCP with its password (TLS verified
//! against the server's certificate), every statement reaches the general log, and the server
//! stops and restarts on the same port.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rotation_stack::{Lifetime, MariaDbServer};

fn accepts(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok()
}

/// Runs `sql` with the `mariadb` client as root over TCP, verifying the server's certificate
/// and hostname; the password goes in `MYSQL_PWD`, as `Stack::env` exports it.
fn client(server: &MariaDbServer, sql: &str) -> Output {
    Command::new("mariadb")
        .arg("--no-defaults")
        .args(["--protocol=TCP", "-h", server.host(), "-P"])
        .arg(server.port().to_string())
        .args(["-u", server.root_user()])
        .arg(format!("--ssl-ca={}", server.ca_cert_path().display()))
        .args(["--ssl-verify-server-cert", "--batch", "--skip-column-names"])
        .args(["-e", sql])
        .env("MYSQL_PWD", server.root_password())
        .output()
        .expect("run the mariadb client")
}

fn query(server: &MariaDbServer, sql: &str) -> String {
    let output = client(server, sql);
    assert!(
        output.status.success(),
        "`{sql}` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn mariadb_logs_in_over_tcp_logs_statements_and_restarts_in_place() {
    let started = Instant::now();
    let mut server = MariaDbServer::start(Lifetime::WithProcess).expect("MariaDB starts");
    eprintln!(
        "MariaDB started in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    assert_eq!(server.host(), "127.0.0.1");
    assert_eq!(server.root_user(), "root");
    let port = server.port();
    assert!(accepts(port), "MariaDB accepts connections");

    // Root over TCP, over verified TLS, with every privilege.
    assert_eq!(query(&server, "SELECT CURRENT_USER()"), "root@127.0.0.1");
    let cipher = query(&server, "SHOW STATUS LIKE 'Ssl_cipher'");
    assert!(cipher.starts_with("Ssl_cipher\t") && cipher.len() > "Ssl_cipher\t".len());
    query(&server, "CREATE DATABASE rotation_probe");

    // A wrong password is refused.
    let wrong = Command::new("mariadb")
        .args(["--no-defaults", "--protocol=TCP", "-h", "127.0.0.1", "-P"])
        .arg(port.to_string())
        .args(["-u", "root", "-e", "SELECT 1"])
        .env("MYSQL_PWD", "not-the-password")
        .output()
        .expect("run the mariadb client");
    assert!(!wrong.status.success(), "a wrong password logs in");
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("Access denied"));

    // Only the two root accounts, both with a password.
    assert_eq!(
        query(
            &server,
            "SELECT GROUP_CONCAT(CONCAT(user, '@', host, ':', authentication_string <> '') \
             ORDER BY host) FROM mysql.user WHERE user = 'root'"
        ),
        "root@127.0.0.1:1,root@localhost:1"
    );

    let general_log = std::fs::read_to_string(server.general_log_path()).expect("general log");
    assert!(
        general_log.contains("CREATE DATABASE rotation_probe"),
        "the general log records statements:\n{general_log}"
    );
    assert!(
        !general_log.contains(server.root_password()),
        "the root password is in the general log"
    );
    let init_file = server.data_dir().parent().expect("dir").join("init.sql");
    assert!(
        !init_file.exists(),
        "the init file with the password is gone"
    );
    assert!(
        std::fs::read_to_string(server.error_log_path())
            .expect("error log")
            .contains("ready for connections")
    );
    assert!(
        std::fs::read_to_string(server.ca_cert_path())
            .expect("certificate readable")
            .starts_with("-----BEGIN CERTIFICATE-----")
    );

    let first_pid = server.pid().expect("running");
    server.stop().expect("MariaDB stops");
    assert!(!accepts(port), "port closed after stop");
    assert_eq!(server.pid(), None);

    let restarted = Instant::now();
    server.restart().expect("MariaDB restarts");
    eprintln!(
        "MariaDB restarted in {:.2} s",
        restarted.elapsed().as_secs_f64()
    );
    assert_eq!(server.port(), port, "same port after restart");
    assert_ne!(server.pid(), Some(first_pid));
    // The data and the password survived the restart.
    assert_eq!(
        query(&server, "SHOW DATABASES LIKE 'rotation_probe'"),
        "rotation_probe"
    );

    let dir = server.data_dir().to_path_buf();
    let pid = server.pid().expect("running");
    drop(server);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| stat.contains(") Z ")),
        "mariadbd stopped on drop"
    );
    assert!(!dir.exists(), "data removed on drop");
}
