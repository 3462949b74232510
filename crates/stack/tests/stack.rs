//! The stack as tests use it: started with the test process, reachable on its ports,
//! PostgreSQL stoppable and restartable in place, and nothing left running after the process.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rotation_stack::{Lifetime, Stack};

/// Set in the environment of the helper process that `servers_die_with_the_test_process`
/// starts: the file it reports its servers' process ids in.
const REPORT_VAR: &str = "ROTATION_STACK_TEST_REPORT";

fn accepts(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok()
}

fn http_status_line(port: u16) -> String {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect to moto");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    response.lines().next().unwrap_or_default().to_string()
}

/// Alive and not a zombie (an orphan nobody reaps still has a /proc entry).
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

fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "{what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn stack_can_be_shared_through_a_static() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Stack>();
}

#[test]
fn stack_serves_and_postgres_stops_and_restarts_in_place() {
    let mut stack = Stack::start(Lifetime::WithProcess).expect("stack starts");

    assert!(
        http_status_line(stack.moto.port()).starts_with("HTTP/1."),
        "moto answers HTTP"
    );
    assert_eq!(
        stack.moto.endpoint(),
        format!("http://127.0.0.1:{}", stack.moto.port())
    );
    let port = stack.postgres.port();
    assert!(accepts(port), "PostgreSQL accepts connections");
    assert!(
        std::fs::read_to_string(stack.postgres.ca_cert_path())
            .expect("certificate readable")
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let env = stack.env();
    let var = |name: &str| {
        env.iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert_eq!(var("PGPORT"), port.to_string());
    assert_eq!(
        var("AWS_ENDPOINT_URL_SECRETS_MANAGER"),
        stack.moto.endpoint()
    );
    assert!(accepts(stack.mariadb.port()), "MariaDB accepts connections");
    assert_eq!(var("MYSQL_TCP_PORT"), stack.mariadb.port().to_string());
    assert_eq!(var("MYSQL_PWD"), stack.mariadb.root_password());

    let first_pid = stack.postgres.pid().expect("running");
    stack.postgres.stop().expect("PostgreSQL stops");
    assert!(!accepts(port), "port closed after stop");
    assert_eq!(stack.postgres.pid(), None);
    assert!(!is_running(first_pid), "postmaster gone after stop");

    stack.postgres.restart().expect("PostgreSQL restarts");
    assert_eq!(stack.postgres.port(), port, "same port after restart");
    assert!(accepts(port), "PostgreSQL accepts connections again");
    assert_ne!(stack.postgres.pid(), Some(first_pid));

    let data_dirs = [
        stack.postgres.data_dir().to_path_buf(),
        stack.moto.log_path().to_path_buf(),
        stack.mariadb.data_dir().to_path_buf(),
    ];
    let pids = [
        stack.moto.pid(),
        stack.postgres.pid().expect("running"),
        stack.mariadb.pid().expect("running"),
    ];
    drop(stack);
    for pid in pids {
        assert!(!is_running(pid), "process {pid} stopped on drop");
    }
    for path in data_dirs {
        assert!(!path.exists(), "{} removed on drop", path.display());
    }
}

/// Not a test of its own: run by `servers_die_with_the_test_process` in a child process.
/// It starts the stack on a thread that then ends (as a test's thread would) and leaks it, the
/// way a `static` would keep it, reports the pids and exits without dropping anything.
#[test]
#[ignore = "helper process of servers_die_with_the_test_process"]
fn helper_start_stack_and_exit() {
    let Some(report) = std::env::var_os(REPORT_VAR) else {
        return;
    };
    let pids = std::thread::spawn(|| {
        let stack = Stack::start(Lifetime::WithProcess).expect("stack starts");
        let pids = [
            stack.moto.pid(),
            stack.postgres.pid().expect("running"),
            stack.mariadb.pid().expect("running"),
        ];
        std::mem::forget(stack);
        pids
    })
    .join()
    .expect("starter thread");
    // The thread that forked the servers has ended: they must still be running.
    std::thread::sleep(Duration::from_millis(500));
    let alive = pids.iter().all(|pid| is_running(*pid));
    let line = format!("{} {} {} {alive}\n", pids[0], pids[1], pids[2]);
    std::fs::write(report, line).expect("write report");
    std::process::exit(0);
}

#[test]
fn servers_die_with_the_test_process() {
    let report =
        std::env::temp_dir().join(format!("rotation-stack-test-report-{}", std::process::id()));
    let helper = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "helper_start_stack_and_exit", "--ignored"])
        .env(REPORT_VAR, &report)
        .output()
        .expect("run helper");
    assert!(
        helper.status.success(),
        "helper process failed: {}\n{}{}",
        helper.status,
        String::from_utf8_lossy(&helper.stdout),
        String::from_utf8_lossy(&helper.stderr)
    );
    let text = std::fs::read_to_string(&report).expect("helper report");
    std::fs::remove_file(&report).expect("remove report");
    let fields: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(
        fields.get(3),
        Some(&"true"),
        "servers survived the end of the thread that started them"
    );
    for pid in &fields[..3] {
        let pid: u32 = pid.parse().expect("pid");
        eventually(
            &format!("process {pid} ends with its parent"),
            Duration::from_secs(10),
            || !is_running(pid),
        );
    }
    assert!(!Path::new(&report).exists());
}
