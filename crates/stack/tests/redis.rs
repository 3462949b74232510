//! The private Redis as tests use it: the administrative user authenticates and PINGs, a
//! client that does not authenticate is refused, and the server stops, restarts on the same
//! port and removes its directory on drop.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rotation_stack::{Lifetime, RedisServer};

fn accepts(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok()
}

/// Sends each command (an array of bulk strings) on one connection and returns what the
/// server answered to all of them, once it has answered `replies` lines.
fn exchange(port: u16, commands: &[&[&str]], replies: usize) -> String {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect to Redis");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    let mut request = Vec::new();
    for parts in commands {
        request.extend(format!("*{}\r\n", parts.len()).into_bytes());
        for part in *parts {
            request.extend(format!("${}\r\n{part}\r\n", part.len()).into_bytes());
        }
    }
    stream.write_all(&request).expect("send");
    let mut answer = String::new();
    let mut buffer = [0; 1024];
    while answer.matches("\r\n").count() < replies {
        let read = stream.read(&mut buffer).expect("read the answer");
        assert!(read > 0, "Redis closed the connection after {answer:?}");
        answer.push_str(&String::from_utf8_lossy(&buffer[..read]));
    }
    answer
}

fn admin_pings(server: &RedisServer) -> String {
    exchange(
        server.port(),
        &[
            &["AUTH", server.admin_user(), server.admin_password()],
            &["PING"],
        ],
        2,
    )
}

#[test]
fn redis_requires_authentication_and_restarts_in_place() {
    let started = Instant::now();
    let mut server = RedisServer::start(Lifetime::WithProcess).expect("Redis starts");
    eprintln!("Redis started in {:.2} s", started.elapsed().as_secs_f64());

    assert_eq!(server.host(), "127.0.0.1");
    assert_eq!(server.admin_user(), "admin");
    assert_eq!(server.admin_password().len(), 32);
    let port = server.port();
    assert!(accepts(port), "Redis accepts connections");

    assert_eq!(admin_pings(&server), "+OK\r\n+PONG\r\n");

    // Without AUTH every command is refused; with a wrong password AUTH is.
    let anonymous = exchange(port, &[&["PING"]], 1);
    assert!(anonymous.starts_with("-NOAUTH"), "{anonymous}");
    let wrong = exchange(port, &[&["AUTH", "admin", "not-the-password"]], 1);
    assert!(wrong.starts_with("-WRONGPASS"), "{wrong}");
    let default_user = exchange(port, &[&["AUTH", "default", ""]], 1);
    assert!(default_user.starts_with("-WRONGPASS"), "{default_user}");

    // The admin manages ACL users, which then log in themselves.
    let created = exchange(
        port,
        &[
            &["AUTH", "admin", server.admin_password()],
            &[
                "ACL",
                "SETUSER",
                "app",
                "on",
                ">app-password",
                "~*",
                "+@all",
            ],
        ],
        2,
    );
    assert_eq!(created, "+OK\r\n+OK\r\n");
    assert_eq!(
        exchange(port, &[&["AUTH", "app", "app-password"], &["PING"]], 2),
        "+OK\r\n+PONG\r\n"
    );

    let config = std::fs::read_to_string(server.dir().join("redis.conf")).expect("config");
    assert!(config.contains("user default off"), "{config}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(server.dir().join("redis.conf"))
            .expect("config metadata")
            .permissions(),
    );
    assert_eq!(mode & 0o077, 0, "the config with the password is private");
    let log = std::fs::read_to_string(server.log_path()).expect("log");
    assert!(log.contains("Ready to accept connections"), "{log}");
    assert!(!log.contains(server.admin_password()));

    let first_pid = server.pid().expect("running");
    server.stop().expect("Redis stops");
    assert!(!accepts(port), "port closed after stop");
    assert_eq!(server.pid(), None);
    server
        .stop()
        .expect("stopping a stopped server does nothing");

    let restarted = Instant::now();
    server.restart().expect("Redis restarts");
    eprintln!(
        "Redis restarted in {:.2} s",
        restarted.elapsed().as_secs_f64()
    );
    assert_eq!(server.port(), port, "same port after restart");
    assert_ne!(server.pid(), Some(first_pid));
    assert_eq!(admin_pings(&server), "+OK\r\n+PONG\r\n");
    // Users created at run time live in memory only.
    let gone = exchange(port, &[&["AUTH", "app", "app-password"]], 1);
    assert!(gone.starts_with("-WRONGPASS"), "{gone}");

    let dir = server.dir().to_path_buf();
    let pid = server.pid().expect("running");
    drop(server);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| stat.contains(") Z ")),
        "redis-server stopped on drop"
    );
    assert!(!dir.exists(), "directory removed on drop");
}
