//! A private MariaDB server: its own data directory, a random port and root password, TLS with
//! a certificate clients can verify, and a general log of every statement.

mod binaries;
mod install;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use binaries::Binaries;
use install::{Installation, ROOT};

use crate::account::{self, Account};
use crate::location::ServerDir;
use crate::port::{start_on_free_port, wait_closed};
use crate::process::{ServerProcess, log_since};
use crate::{Lifetime, StackError, random};

/// How long mariadbd may take to accept a TCP login after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a clean shutdown may take before the server is killed.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// How long the port may stay open after the server process is gone.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// What mariadbd writes to its error log once it accepts connections.
const READY_LINE: &str = "ready for connections";

/// A running (or deliberately stopped) MariaDB server on `127.0.0.1`.
pub struct MariaDbServer {
    // Fields drop in order: the process stops before its directory is removed.
    process: Option<ServerProcess>,
    lifetime: Lifetime,
    binaries: Binaries,
    account: Option<Account>,
    port: u16,
    password: String,
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
    pub fn start(lifetime: Lifetime) -> Result<MariaDbServer, StackError> {
        let binaries = binaries::locate()?;
        let account = account::server_account("mysql", StackError::NoMysqlUser)?;
        let dir = ServerDir::create("mariadb", lifetime)?;
        let password = random::password(32)?;
        let installation = install::create(dir.path(), &binaries, account, &password)?;
        let mut server = MariaDbServer {
            process: None,
            lifetime,
            binaries,
            account,
            port: 0,
            password,
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
        tracing::info!(port = server.port, pid = server.pid(), "MariaDB is up");
        Ok(server)
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
    /// it (`general_log=1`), so that tests can check that no password appears in it.
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
        if let Some(mut process) = self.process.take() {
            process.stop(STOP_GRACE);
        }
        wait_closed("MariaDB", self.port, CLOSE_TIMEOUT)
    }

    /// Starts the server again on the same data directory and port (stopping it first if it
    /// runs), and waits until root logs in over TCP.
    pub fn restart(&mut self) -> Result<(), StackError> {
        self.stop()?;
        self.launch(false)
    }

    /// Stops the server whatever its lifetime, for a stack that could not start as a whole.
    pub(crate) fn terminate(&mut self) {
        if let Err(error) = self.stop() {
            tracing::warn!(%error, "could not stop MariaDB");
        }
    }

    /// Starts mariadbd on `self.port` (running the init file when `init`) and waits until a
    /// TCP login as root works.
    fn launch(&mut self, init: bool) -> Result<(), StackError> {
        let mut command = Command::new(&self.binaries.server);
        command
            .args(install::server_options(&self.installation, self.port))
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
        let mut process = ServerProcess::spawn(
            command,
            "MariaDB",
            &self.error_log,
            self.lifetime,
            libc::SIGTERM,
        )?;
        let from = process.log_start();
        process.wait_until_ready(READY_TIMEOUT, || {
            // The log first: every probe login lands in the general log.
            log_since(&self.error_log, from).is_ok_and(|text| text.contains(READY_LINE))
                && self.root_logs_in()
        })?;
        self.process = Some(process);
        Ok(())
    }

    /// Whether `mariadb -h127.0.0.1 -P<port> -uroot -e 'SELECT 1'` succeeds, the password
    /// given in `MYSQL_PWD` rather than on the command line.
    fn root_logs_in(&self) -> bool {
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
            .env("MYSQL_PWD", &self.password)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }
}

impl std::fmt::Debug for MariaDbServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MariaDbServer")
            .field("pid", &self.pid())
            .field("port", &self.port)
            .field("password", &"<redacted>")
            .field("data_dir", &self.installation.data_dir)
            .field("general_log", &self.installation.general_log)
            .finish_non_exhaustive()
    }
}
