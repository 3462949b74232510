//! A private MariaDB server: its own data directory, a random port and root password, TLS with
//! a certificate clients can verify, and a general log of every statement; and, on demand,
//! replicas of it that are servers of the same kind (see the `replica` module for how they
//! are seeded).

mod binaries;
mod install;
mod replica;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use binaries::Binaries;
use install::{Installation, PRIMARY_SERVER_ID, ROOT};
use replica::Root;

use crate::account::{self, Account};
use crate::location::ServerDir;
use crate::port::start_on_free_port;
use crate::process::{ServerProcess, succeeds_quietly};
use crate::server::Kind;
use crate::{Lifetime, StackError, random};

/// MariaDB: a clean shutdown (SIGTERM) may take 30 s before the server is killed, and mariadbd
/// may take 30 s to accept a TCP login after it was started.
const KIND: Kind = Kind {
    name: "MariaDB",
    stop_signal: libc::SIGTERM,
    ready_timeout: Duration::from_secs(30),
    stop_grace: Duration::from_secs(30),
};

/// What mariadbd writes to its error log once it accepts connections.
const READY_LINE: &str = "ready for connections";

/// A running (or deliberately stopped) MariaDB server on `127.0.0.1`: a primary, or a
/// replica of one.
pub struct MariaDbServer {
    // Fields drop in order: the process stops before its directory is removed.
    process: Option<ServerProcess>,
    lifetime: Lifetime,
    binaries: Binaries,
    account: Option<Account>,
    port: u16,
    password: String,
    server_id: u32,
    /// The password of the replication user, once the first replica made it exist.
    replication_password: Mutex<Option<String>>,
    installation: Installation,
    error_log: PathBuf,
    dir: ServerDir,
}

impl MariaDbServer {
    /// Creates a data directory with `mariadb-install-db` in a new directory and starts
    /// `mariadbd` on a free port, waiting (up to 30 s) until `root` logs in over TCP with its
    /// password.
    ///
    /// When running as root, mariadb-install-db and the server run as the `mysql` user, which
    /// owns the data directory and the TLS key. The machine's `my.cnf` is ignored
    /// (`--no-defaults`).
    ///
    /// Every server can be replicated ([`MariaDbServer::start_replica`]): it has server id 1
    /// and writes a row-based binary log in its data directory (which, like any binary log,
    /// holds account statements as received, passwords included).
    pub fn start(lifetime: Lifetime) -> Result<MariaDbServer, StackError> {
        let password = random::password(32)?;
        let server = MariaDbServer::install("mariadb", lifetime, password, PRIMARY_SERVER_ID)?;
        tracing::info!(port = server.port, pid = server.pid(), "MariaDB is up");
        Ok(server)
    }

    /// Starts a replica of this server in a new directory, on a free port, and waits (up to
    /// 30 s for each step) until it replicates: both threads of `SHOW SLAVE STATUS` run.
    ///
    /// The replica starts with everything this server has, from a consistent
    /// `mariadb-dump --all-databases` of it (accounts with their passwords and grants
    /// included), then applies this server's binary log from that point on, by GTID, as it
    /// is written, typically within milliseconds. It has the same root password, so the same
    /// administrative API works on it, a server id of its own, and a certificate of its own,
    /// for the same names: its [`MariaDbServer::ca_cert_path`] verifies it. It is not
    /// read-only. It is a server like any other: `stop`, `restart` and drop work the same, and
    /// it follows this server through restarts of either (reconnecting every second).
    ///
    /// The first replica creates the replication user `rotation_stack_repl@127.0.0.1` on this
    /// server (random password, `REPLICATION SLAVE` only; kept out of the binary and general
    /// logs). During the dump this server holds a global read lock, for a fraction of a
    /// second; a long transaction on it delays the dump until it ends.
    ///
    /// Tests control it with SQL as root: `STOP SLAVE SQL_THREAD` holds back what the primary
    /// does after that point (the replica still receives it), `START SLAVE SQL_THREAD`
    /// applies it; a restart of the replica starts both threads again. What the replica
    /// applies is not written to its general log (it carries the primary's statements,
    /// passwords included), only what its own clients send.
    ///
    /// Start replicas of a primary: a replica does not write what it applies to its own
    /// binary log, so a replica of a replica would miss it. A [`Lifetime::Detached`] replica
    /// lives under `stack_dir()/run/` but is not recorded in the stack's state: `down()` does
    /// not stop it; stop it first.
    ///
    /// Fails with [`StackError::PrimaryStopped`] while this server is stopped.
    pub fn start_replica(&self, lifetime: Lifetime) -> Result<MariaDbServer, StackError> {
        let started = Instant::now();
        KIND.primary_running(&self.process, self.port)?;
        let dump = binaries::locate_dump()?;
        let replication_password = self.replication_password()?;
        let server_id = random::u32()?.max(PRIMARY_SERVER_ID + 1);
        let name = format!("mariadb-replica-{}", random::hex(4)?);
        let mut replica =
            MariaDbServer::install(&name, lifetime, self.password.clone(), server_id)?;
        let dump_log = replica.dir.path().join("dump.log");
        let replicating = replica::seed(&self.root(), &replica.root(), &dump, &dump_log)
            .and_then(|()| replica::follow(&replica.root(), self.port, &replication_password))
            .and_then(|()| replica::wait_replicating(&replica.root(), self.port));
        if let Err(error) = replicating {
            // Of no use now, and a detached one would otherwise run on unrecorded.
            replica.terminate();
            return Err(error);
        }
        tracing::info!(
            port = replica.port,
            pid = replica.pid(),
            primary_port = self.port,
            server_id,
            millis = started.elapsed().as_millis(),
            "MariaDB replica is up"
        );
        Ok(replica)
    }

    /// The host to connect to, `127.0.0.1` (the certificate also names `localhost`, but a
    /// MariaDB client given `localhost` uses the Unix socket instead of TCP).
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    /// The port mariadbd listens on (on `127.0.0.1` only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The administrative user, `root` (`root@localhost` and `root@127.0.0.1`, every privilege
    /// with grant option).
    pub fn root_user(&self) -> &str {
        ROOT
    }

    /// The root password, random for every server.
    pub fn root_password(&self) -> &str {
        &self.password
    }

    /// A URL for administrative connections as root over TCP:
    /// `mysql://root:<password>@127.0.0.1:PORT/mysql`.
    pub fn admin_url(&self) -> String {
        format!(
            "mysql://{ROOT}:{}@127.0.0.1:{}/mysql",
            self.password, self.port
        )
    }

    /// The server's self-signed certificate (PEM, readable by anyone): the CA bundle that
    /// verifies it, hostname `localhost` or `127.0.0.1` included. The server also offers TLS
    /// to clients that do not verify.
    pub fn ca_cert_path(&self) -> &Path {
        &self.installation.ca_cert
    }

    /// The general query log: every connection and every statement, as the server received
    /// it (`general_log=1`), so that tests can check that no password appears in it. On a
    /// replica, what it applies from its primary is not in it (those statements carry the
    /// primary's passwords as the primary received them), only what its own clients send.
    pub fn general_log_path(&self) -> &Path {
        &self.installation.general_log
    }

    /// The error log: mariadbd's start-up, shutdown and warnings (its stdout and stderr).
    pub fn error_log_path(&self) -> &Path {
        &self.error_log
    }

    /// The data directory, which also holds the Unix socket (`mysqld.sock`).
    pub fn data_dir(&self) -> &Path {
        &self.installation.data_dir
    }

    /// The process id of mariadbd, `None` while stopped.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ServerProcess::pid)
    }

    /// Stops the server cleanly (SIGTERM: sessions are ended) and waits until the process is
    /// gone and the port closed. Stopping a stopped server does nothing.
    pub fn stop(&mut self) -> Result<(), StackError> {
        KIND.stop(&mut self.process, self.port)
    }

    /// Starts the server again on the same data directory and port (stopping it first if it
    /// runs), and waits until root logs in over TCP.
    pub fn restart(&mut self) -> Result<(), StackError> {
        self.stop()?;
        self.launch(false)
    }

    /// Stops the server whatever its lifetime, for a stack that could not start as a whole.
    pub(crate) fn terminate(&mut self) {
        KIND.terminate(&mut self.process, self.port);
    }

    /// Installs a data directory in a new directory `dir_name` and starts mariadbd on it on a
    /// free port with root's `password`, removing the init file that set it.
    fn install(
        dir_name: &str,
        lifetime: Lifetime,
        password: String,
        server_id: u32,
    ) -> Result<MariaDbServer, StackError> {
        let binaries = binaries::locate()?;
        let account = account::server_account("mysql", StackError::NoMysqlUser)?;
        let dir = ServerDir::create(dir_name, lifetime)?;
        let installation = install::create(dir.path(), &binaries, account, &password)?;
        let mut server = MariaDbServer {
            process: None,
            lifetime,
            binaries,
            account,
            port: 0,
            password,
            server_id,
            replication_password: Mutex::new(None),
            error_log: dir.path().join("error.log"),
            installation,
            dir,
        };
        let started = start_on_free_port(|port| {
            server.port = port;
            server.launch(true)
        });
        // It holds the root password and is needed only once: the grant tables keep it.
        let init_file = &server.installation.init_file;
        let removed = std::fs::remove_file(init_file);
        started?;
        removed.map_err(StackError::io("removing", init_file))?;
        Ok(server)
    }

    /// This server, to run statements on as root.
    fn root(&self) -> Root<'_> {
        Root {
            client: &self.binaries.client,
            port: self.port,
            password: &self.password,
            error_log: &self.error_log,
        }
    }

    /// The replication user's password, creating the user on the first call.
    fn replication_password(&self) -> Result<String, StackError> {
        // A panic while holding the lock left either no password or a complete one.
        let mut password = self
            .replication_password
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(password) = password.as_ref() {
            return Ok(password.clone());
        }
        let created = random::password(32)?;
        replica::create_replication_user(&self.root(), &created)?;
        Ok(password.insert(created).clone())
    }

    /// Starts mariadbd on `self.port` (running the init file when `init`) and waits until a
    /// TCP login as root works.
    fn launch(&mut self, init: bool) -> Result<(), StackError> {
        let mut command = Command::new(&self.binaries.server);
        command
            .args(install::server_options(
                &self.installation,
                self.port,
                self.server_id,
            ))
            .current_dir(self.dir.path());
        if init {
            command.arg(format!(
                "--init-file={}",
                self.installation.init_file.display()
            ));
        }
        if let Some(account) = self.account {
            account.run_as(&mut command);
        }
        // Every probe login lands in the general log: the ready line first.
        let process = KIND.launch(
            command,
            &self.error_log,
            self.lifetime,
            Some(READY_LINE),
            || self.root_logs_in(),
        )?;
        self.process = Some(process);
        Ok(())
    }

    /// Whether `mariadb -h127.0.0.1 -P<port> -uroot -e 'SELECT 1'` succeeds, the password
    /// given in `MYSQL_PWD` rather than on the command line.
    fn root_logs_in(&self) -> bool {
        succeeds_quietly(
            Command::new(&self.binaries.client)
                .arg("--no-defaults")
                .args(["--protocol=TCP", "-h", "127.0.0.1", "-P"])
                .arg(self.port.to_string())
                .args([
                    "-u",
                    ROOT,
                    "--connect-timeout=2",
                    "--batch",
                    "-e",
                    "SELECT 1",
                ])
                .env("MYSQL_PWD", &self.password),
        )
    }
}

impl std::fmt::Debug for MariaDbServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MariaDbServer")
            .field("pid", &self.pid())
            .field("port", &self.port)
            .field("server_id", &self.server_id)
            .field("password", &"<redacted>")
            .field("data_dir", &self.installation.data_dir)
            .field("general_log", &self.installation.general_log)
            .finish_non_exhaustive()
    }
}
