//! What the integration tests share: a real `moto_server` and the example function binary.
// Each test crate uses only part of this module.
#![allow(dead_code)]

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// A `moto_server` on a free loopback port, killed on drop.
pub struct Moto {
    pub endpoint: String,
    _process: Child,
}

/// Starts `moto_server`, or returns `None` (after saying why) when it is not installed.
pub async fn moto() -> Option<Moto> {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port();
    let spawned = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut process = match spawned {
        Ok(process) => process,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "SKIPPED: moto_server is not on PATH (pip install 'moto[server]' to run this test)"
            );
            return None;
        }
        Err(error) => panic!("could not start moto_server: {error}"),
    };
    let started = Instant::now();
    while tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .is_err()
    {
        if let Some(status) = process.try_wait().expect("moto_server status") {
            panic!("moto_server exited early with {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "moto_server did not listen on port {port} within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some(Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        _process: process,
    })
}

/// The example function, which `cargo test -p rotation-local` builds next to the test binaries.
pub fn echo_function() -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary's path");
    let profile_dir = test_binary
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in target/<profile>/deps");
    let example = profile_dir.join("examples").join("echo_function");
    assert!(
        example.is_file(),
        "{} is missing: run `cargo test -p rotation-local` (which builds the examples) or \
         `cargo build -p rotation-local --example echo_function` first",
        example.display()
    );
    example
}

/// A secret with a JSON value, created through `client`.
pub async fn create_secret(client: &aws_sdk_secretsmanager::Client, name: &str) {
    client
        .create_secret()
        .name(name)
        .secret_string(r#"{"username":"app","password":"initial"}"#)
        .send()
        .await
        .expect("CreateSecret on moto");
}
