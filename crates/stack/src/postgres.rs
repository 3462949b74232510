//! A private PostgreSQL server: its own data directory, a random port and superuser password,
//! TLS with a certificate clients can verify, and a log of every statement.

mod binaries;
mod cluster;
mod leftovers;

pub(crate) use leftovers::release_shared_memory;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cluster::SUPERUSER;

use crate::account::{self, Account};
use crate::location::ServerDir;
use crate::port::{accepts, start_on_free_port, wait_closed};
use crate::process::{ServerProcess, log_since};
use crate::{Lifetime, StackError, random};

/// How long PostgreSQL may take to accept connections after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a fast shutdown may take before the server is killed.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// How long the port may stay open after the server process is gone.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// What PostgreSQL logs once it accepts connections.
const READY_LINE: &str = "database system is ready to accept connections";

/// A running (or deliberately stopped) PostgreSQL server on `127.0.0.1`.
pub struct PostgresServer {
    // Fields drop in order: the process stops before its directory is removed.
    process: Option<ServerProcess>,
    lifetime: Lifetime,
    postgres: PathBuf,
    account: Option<Account>,
    port: u16,
    password: String,
    data_dir: PathBuf,
    ca_cert: PathBuf,
    log: PathBuf,
    dir: ServerDir,
}

impl PostgresServer {
    /// Creates a cluster in a new directory and starts PostgreSQL on a free port, waiting (up
    /// to 30 s) until it accepts connections.
    ///
    /// When running as root, initdb and the server run as the `postgres` user, which owns the
    /// data directory and the TLS key.
    pub fn start(lifetime: Lifetime) -> Result<PostgresServer, StackError> {
        let binaries = binaries::locate()?;
        let account = account::server_account("postgres", StackError::NoPostgresUser)?;
        let dir = ServerDir::create("postgres", lifetime)?;
        let password = random::password(32)?;
        let cluster = cluster::create(dir.path(), &binaries, account, &password)?;
        let mut server = PostgresServer {
            process: None,
            lifetime,
            postgres: binaries.postgres,
            account,
            port: 0,
            password,
            data_dir: cluster.data_dir,
            ca_cert: cluster.ca_cert,
            log: dir.path().join("postgres.log"),
            dir,
        };
        start_on_free_port(|port| {
            server.port = port;
            server.launch()
        })?;
        tracing::info!(port = server.port, pid = server.pid(), "PostgreSQL is up");
        Ok(server)
    }

    /// The host name to connect to, `localhost`: the name the certificate is issued for, so
    /// that clients verifying the hostname accept it.
    pub fn host(&self) -> &str {
        "localhost"
    }

    /// The port PostgreSQL listens on (on `127.0.0.1` only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's name, `postgres`.
    pub fn superuser(&self) -> &str {
        SUPERUSER
    }

    /// The superuser's password, random for every server.
    pub fn superuser_password(&self) -> &str {
        &self.password
    }

    /// A URL for administrative connections as the superuser, without TLS:
    /// `postgres://postgres:<password>@127.0.0.1:PORT/postgres?sslmode=disable`.
    pub fn admin_url(&self) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/postgres?sslmode=disable",
            self.password, self.port
        )
    }

    /// The server's self-signed certificate (PEM, readable by anyone): the CA bundle that
    /// verifies it, hostname `localhost` or `127.0.0.1` included.
    pub fn ca_cert_path(&self) -> &Path {
        &self.ca_cert
    }

    /// The server log: every connection and every statement, with user and database.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The process id of the postmaster, `None` while stopped.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ServerProcess::pid)
    }

    /// Stops the server with a fast shutdown (SIGINT: sessions are ended, nothing waits for
    /// clients) and waits until the process is gone and the port closed. Stopping a stopped
    /// server does nothing.
    pub fn stop(&mut self) -> Result<(), StackError> {
        if let Some(mut process) = self.process.take() {
            process.stop(STOP_GRACE);
        }
        wait_closed("PostgreSQL", self.port, CLOSE_TIMEOUT)
    }

    /// Starts the server again on the same data directory and port (stopping it first if it
    /// runs), and waits until it accepts connections.
    pub fn restart(&mut self) -> Result<(), StackError> {
        self.stop()?;
        self.launch()
    }

    /// Stops the server whatever its lifetime, for a stack that could not start as a whole.
    pub(crate) fn terminate(&mut self) {
        if let Err(error) = self.stop() {
            tracing::warn!(%error, "could not stop PostgreSQL");
        }
    }

    /// Starts the postmaster on `self.port` and waits until it is ready.
    fn launch(&mut self) -> Result<(), StackError> {
        let mut command = Command::new(&self.postgres);
        command
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-p", &self.port.to_string()])
            .current_dir(self.dir.path());
        if let Some(account) = self.account {
            account.run_as(&mut command);
        }
        let mut process = ServerProcess::spawn(
            command,
            "PostgreSQL",
            &self.log,
            self.lifetime,
            libc::SIGINT,
        )?;
        let (port, log, from) = (self.port, self.log.clone(), process.log_start());
        process.wait_until_ready(READY_TIMEOUT, || {
            // The log first: every probe connection is logged, and it must not fill the log.
            log_since(&log, from).is_ok_and(|text| text.contains(READY_LINE)) && accepts(port)
        })?;
        self.process = Some(process);
        Ok(())
    }
}

impl std::fmt::Debug for PostgresServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresServer")
            .field("pid", &self.pid())
            .field("port", &self.port)
            .field("password", &"<redacted>")
            .field("data_dir", &self.data_dir)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}
