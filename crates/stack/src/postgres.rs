//! A private PostgreSQL server: its own data directory, a random port and superuser password,
//! TLS with a certificate clients can verify, and a log of every statement; and, on demand,
//! streaming replicas of it (hot standbys) that are servers of the same kind.

mod binaries;
mod cluster;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use binaries::Binaries;
use cluster::{Cluster, SUPERUSER};

use crate::account::{self, Account};
use crate::location::ServerDir;
use crate::port::{accepts, start_on_free_port};
use crate::process::{ServerProcess, succeeds_quietly};
use crate::server::Kind;
use crate::{Lifetime, StackError, random};

/// PostgreSQL: a fast shutdown (SIGINT) may take 30 s before the server is killed, and it may
/// take 30 s to accept connections after it was started.
const KIND: Kind = Kind {
    name: "PostgreSQL",
    stop_signal: libc::SIGINT,
    ready_timeout: Duration::from_secs(30),
    stop_grace: Duration::from_secs(30),
};

/// What PostgreSQL logs once it accepts connections: followed by `connections`, or by
/// `read-only connections` on a hot standby.
const READY_LINE: &str = "database system is ready to accept";

/// A running (or deliberately stopped) PostgreSQL server on `127.0.0.1`: a primary, or a
/// streaming replica of one.
pub struct PostgresServer {
    // Fields drop in order: the process stops before its directory is removed.
    process: Option<ServerProcess>,
    lifetime: Lifetime,
    binaries: Binaries,
    account: Option<Account>,
    port: u16,
    password: String,
    data_dir: PathBuf,
    ca_cert: PathBuf,
    log: PathBuf,
    /// Whether this is a replica, which is ready only once the superuser logs in.
    replica: bool,
    dir: ServerDir,
}

impl PostgresServer {
    /// Creates a cluster in a new directory and starts PostgreSQL on a free port, waiting (up
    /// to 30 s) until it accepts connections.
    ///
    /// When running as root, initdb and the server run as the `postgres` user, which owns the
    /// data directory and the TLS key.
    ///
    /// Every server can be replicated ([`PostgresServer::start_replica`]): it keeps WAL for
    /// replicas and lets the superuser open replication connections from `127.0.0.1`.
    pub fn start(lifetime: Lifetime) -> Result<PostgresServer, StackError> {
        let binaries = binaries::locate()?;
        let account = account::server_account("postgres", StackError::NoPostgresUser)?;
        let dir = ServerDir::create("postgres", lifetime)?;
        let password = random::password(32)?;
        let cluster = cluster::create(dir.path(), &binaries, account, &password)?;
        let server = PostgresServer::new(lifetime, binaries, account, password, cluster, dir);
        let server = server.start_on_free_port()?;
        tracing::info!(port = server.port, pid = server.pid(), "PostgreSQL is up");
        Ok(server)
    }

    /// Starts a streaming replica of this server (a hot standby) in a new directory, on a free
    /// port, and waits (up to 30 s) until the superuser logs in to it over TCP.
    ///
    /// The replica is a copy taken with `pg_basebackup -R` while this server runs, so it has
    /// the same superuser and password, users, databases and configuration; it then applies
    /// this server's WAL as it is written, typically within a fraction of a second. It has a
    /// certificate of its own, for the same names: its [`PostgresServer::ca_cert_path`]
    /// verifies it. It is read-only, and it is a server like any other: `stop`, `restart`
    /// and drop work the same, and it follows this server through restarts of either.
    ///
    /// Tests control it with SQL as the superuser: `SELECT pg_wal_replay_pause()` holds back
    /// what the primary does after that point (the WAL is still received),
    /// `SELECT pg_wal_replay_resume()` applies it; a restart of the replica resumes too.
    ///
    /// A [`Lifetime::Detached`] replica lives under `stack_dir()/run/` but is not recorded in
    /// the stack's state: `down()` does not stop it (PostgreSQL then shuts down by itself
    /// within a minute, once it notices its directory is gone).
    ///
    /// Fails with [`StackError::PrimaryStopped`] while this server is stopped.
    pub fn start_replica(&self, lifetime: Lifetime) -> Result<PostgresServer, StackError> {
        let started = Instant::now();
        KIND.primary_running(&self.process, self.port)?;
        self.binaries.replica_tools()?;
        let dir = ServerDir::create(&format!("postgres-replica-{}", random::hex(4)?), lifetime)?;
        let cluster = cluster::base_backup(
            dir.path(),
            &self.binaries,
            self.account,
            self.port,
            &self.password,
        )?;
        let mut replica = PostgresServer::new(
            lifetime,
            self.binaries.clone(),
            self.account,
            self.password.clone(),
            cluster,
            dir,
        );
        replica.replica = true;
        let replica = replica.start_on_free_port()?;
        tracing::info!(
            port = replica.port,
            pid = replica.pid(),
            primary_port = self.port,
            millis = started.elapsed().as_millis(),
            "PostgreSQL replica is up"
        );
        Ok(replica)
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
        KIND.stop(&mut self.process, self.port)
    }

    /// Starts the server again on the same data directory and port (stopping it first if it
    /// runs), and waits until it accepts connections.
    pub fn restart(&mut self) -> Result<(), StackError> {
        self.stop()?;
        self.launch()
    }

    /// Stops the server whatever its lifetime, for a stack that could not start as a whole.
    pub(crate) fn terminate(&mut self) {
        KIND.terminate(&mut self.process, self.port);
    }

    /// A server on `cluster`, not started yet.
    fn new(
        lifetime: Lifetime,
        binaries: Binaries,
        account: Option<Account>,
        password: String,
        cluster: Cluster,
        dir: ServerDir,
    ) -> PostgresServer {
        PostgresServer {
            process: None,
            lifetime,
            binaries,
            account,
            port: 0,
            password,
            data_dir: cluster.data_dir,
            ca_cert: cluster.ca_cert,
            log: dir.path().join("postgres.log"),
            replica: false,
            dir,
        }
    }

    /// Launches the server on a free port, on another one if that was taken meanwhile.
    fn start_on_free_port(mut self) -> Result<PostgresServer, StackError> {
        start_on_free_port(|port| {
            self.port = port;
            self.launch()
        })?;
        Ok(self)
    }

    /// Starts the postmaster on `self.port` and waits until it is ready: it says so in its
    /// log and accepts connections, and on a replica the superuser logs in.
    fn launch(&mut self) -> Result<(), StackError> {
        let mut command = Command::new(&self.binaries.postgres);
        command
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-p", &self.port.to_string()])
            .current_dir(self.dir.path());
        if let Some(account) = self.account {
            account.run_as(&mut command);
        }
        let process = KIND.launch(command, &self.log, self.lifetime, Some(READY_LINE), || {
            accepts(self.port) && (!self.replica || self.superuser_logs_in())
        })?;
        self.process = Some(process);
        Ok(())
    }

    /// Whether `psql` logs in over TCP as the superuser and runs `SELECT 1`, the password
    /// given in `PGPASSWORD` rather than on the command line.
    fn superuser_logs_in(&self) -> bool {
        succeeds_quietly(
            Command::new(&self.binaries.psql)
                .args(["-X", "-q", "-w", "-d"])
                .arg(format!(
                    "host=127.0.0.1 port={} user={SUPERUSER} dbname=postgres sslmode=disable \
                 connect_timeout=2",
                    self.port
                ))
                .args(["-c", "SELECT 1"])
                .env("PGPASSWORD", &self.password),
        )
    }
}

impl std::fmt::Debug for PostgresServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresServer")
            .field("pid", &self.pid())
            .field("port", &self.port)
            .field("replica", &self.replica)
            .field("password", &"<redacted>")
            .field("data_dir", &self.data_dir)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}
