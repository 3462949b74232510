//! moto's server: the Secrets Manager emulator.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::location::ServerDir;
use crate::port::start_on_free_port;
use crate::process::ServerProcess;
use crate::venv::MOTO;
use crate::{Lifetime, StackError};

/// How long moto may take to answer HTTP after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long moto may take to exit after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A running `moto_server` on `127.0.0.1`, serving Secrets Manager (and every other service
/// moto emulates) on one port.
#[derive(Debug)]
pub struct MotoServer {
    // Fields drop in order: the process stops before its directory is removed.
    process: ServerProcess,
    port: u16,
    log: PathBuf,
    _dir: ServerDir,
}

impl MotoServer {
    /// Installs moto's server in its venv under the stack directory unless it is there (what
    /// [`MotoServer::start`] does first), and returns its path: a test runner can have the
    /// minute of a first install done while it compiles.
    pub fn install() -> Result<PathBuf, StackError> {
        MOTO.ensure()
    }

    /// Starts moto on a free port and waits (up to 30 s) until it answers HTTP.
    ///
    /// The first start in a stack directory creates the venv with moto, which takes about a
    /// minute; later starts take a second or two.
    pub fn start(lifetime: Lifetime) -> Result<MotoServer, StackError> {
        let moto_server = MOTO.ensure()?;
        let dir = ServerDir::create("moto", lifetime)?;
        let log = dir.path().join("moto.log");
        let (process, port) = start_on_free_port(|port| {
            let mut command = Command::new(&moto_server);
            command
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .current_dir(dir.path());
            let mut process =
                ServerProcess::spawn(command, "moto_server", &log, lifetime, libc::SIGTERM)?;
            process.wait_until_ready(READY_TIMEOUT, || answers_http(port))?;
            Ok((process, port))
        })?;
        tracing::info!(port, pid = process.pid(), "moto is up");
        Ok(MotoServer {
            process,
            port,
            log,
            _dir: dir,
        })
    }

    /// The URL to point the AWS SDK at: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port moto listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id of `moto_server`.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// moto's output: every request it served, and its tracebacks.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Stops moto whatever its lifetime (SIGTERM, SIGKILL after 10 s).
    pub(crate) fn terminate(&mut self) {
        self.process.stop(STOP_GRACE);
    }
}

/// Whether an HTTP server answers on `127.0.0.1:port` (any status will do: moto answers `/`
/// with an error page, and that still proves it serves).
fn answers_http(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(500)) else {
        return false;
    };
    let timeout = Some(Duration::from_secs(2));
    if stream.set_read_timeout(timeout).is_err() || stream.set_write_timeout(timeout).is_err() {
        return false;
    }
    let request = b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut head = [0; 8];
    stream.write_all(request).is_ok()
        && stream.read_exact(&mut head).is_ok()
        && head.starts_with(b"HTTP/1.")
}
