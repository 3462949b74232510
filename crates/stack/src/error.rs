//! The one error type of the crate: each variant says what failed and what to do about it.

use std::path::PathBuf;
use std::time::Duration;

/// What went wrong while starting, stopping or describing the local stack.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The Python interpreter that creates a venv (moto's, or a tool's) could not be run.
    #[error(
        "{python} not found: install python3 with venv support (apt-get install python3-venv), \
         or set ROTATION_STACK_PYTHON to an interpreter"
    )]
    PythonMissing {
        /// The interpreter that was tried.
        python: String,
    },

    /// `python3 -m venv` failed.
    #[error(
        "creating the Python venv {venv} failed (full log: {log}): install python3 with venv \
         support (apt-get install python3-venv); the log ends with:\n{tail}"
    )]
    VenvCreate {
        /// The venv directory.
        venv: PathBuf,
        /// The log with the full output.
        log: PathBuf,
        /// The last lines of that log.
        tail: String,
    },

    /// `pip install` into a venv failed.
    #[error(
        "pip install {requirement} into {venv} failed (full log: {log}): check that PyPI is \
         reachable, then run again; the log ends with:\n{tail}"
    )]
    PipInstall {
        /// What pip was asked to install.
        requirement: String,
        /// The venv directory.
        venv: PathBuf,
        /// The log with the full output.
        log: PathBuf,
        /// The last lines of that log.
        tail: String,
    },

    /// No directory holds both `initdb` and `postgres`.
    #[error(
        "PostgreSQL server binaries (initdb, postgres) not found (looked in {looked_in}): \
         install them (apt-get install postgresql) or set ROTATION_STACK_PG_BIN to their directory"
    )]
    PostgresMissing {
        /// The places that were searched, for the message.
        looked_in: String,
    },

    /// Running as root, which PostgreSQL refuses, and no `postgres` account to switch to.
    #[error(
        "running as root, which PostgreSQL refuses, and /etc/passwd has no `postgres` user to \
         run it as: create one (useradd --system postgres) or run as a non-root user"
    )]
    NoPostgresUser,

    /// `initdb` failed.
    #[error(
        "initdb into {data_dir} failed (full log: {log}); when running as root the `postgres` \
         user must be able to reach that directory (else set ROTATION_STACK_DIR elsewhere); \
         the log ends with:\n{tail}"
    )]
    Initdb {
        /// The data directory that was being created.
        data_dir: PathBuf,
        /// The log with initdb's output.
        log: PathBuf,
        /// The last lines of that log.
        tail: String,
    },

    /// A PostgreSQL client program a replica needs (`pg_basebackup`, `psql`) is not beside the
    /// server programs.
    #[error(
        "{program} not found in {dir}, beside initdb and postgres: starting a replica needs it; \
         install the PostgreSQL client of the same version (apt-get install postgresql-client) \
         or set ROTATION_STACK_PG_BIN to a directory holding initdb, postgres, pg_basebackup \
         and psql"
    )]
    PostgresToolMissing {
        /// The program that was looked for.
        program: &'static str,
        /// The directory of the server programs, where it was looked for.
        dir: PathBuf,
    },

    /// `pg_basebackup` could not copy the primary for a replica.
    #[error(
        "pg_basebackup from the PostgreSQL on port {primary_port} into {data_dir} failed (full \
         log: {log}): check that the primary still runs (its log says why it refused, if it \
         did); the log ends with:\n{tail}"
    )]
    BaseBackup {
        /// The primary's port.
        primary_port: u16,
        /// The replica's data directory that was being filled.
        data_dir: PathBuf,
        /// The log with pg_basebackup's output.
        log: PathBuf,
        /// The last lines of that log.
        tail: String,
    },

    /// A MariaDB program (`mariadb-install-db`, `mariadbd`, the `mariadb` client, or
    /// `mariadb-dump` for a replica) is not installed where we look.
    #[error(
        "{program} not found (looked in {looked_in}): install MariaDB (apt-get install \
         mariadb-server mariadb-client) or set ROTATION_STACK_MARIADB_BIN to the directory \
         holding mariadb-install-db, mariadbd, mariadb and mariadb-dump"
    )]
    MariaDbMissing {
        /// The program that was looked for.
        program: &'static str,
        /// The places that were searched, for the message.
        looked_in: String,
    },

    /// Running as root, which mariadbd refuses, and no `mysql` account to switch to.
    #[error(
        "running as root, which mariadbd refuses, and /etc/passwd has no `mysql` user to run it \
         as: create one (useradd --system mysql), install mariadb-server (which does), or run \
         as a non-root user"
    )]
    NoMysqlUser,

    /// `mariadb-install-db` failed.
    #[error(
        "mariadb-install-db into {data_dir} failed (full log: {log}); when running as root the \
         `mysql` user must be able to reach that directory (else set ROTATION_STACK_DIR \
         elsewhere); the log ends with:\n{tail}"
    )]
    InstallDb {
        /// The data directory that was being created.
        data_dir: PathBuf,
        /// The log with mariadb-install-db's output.
        log: PathBuf,
        /// The last lines of that log.
        tail: String,
    },

    /// A statement the stack runs with the `mariadb` client (or the dump that seeds a replica)
    /// failed.
    #[error(
        "{action} on the MariaDB at 127.0.0.1:{port} failed: {message}; the server's error log \
         {error_log} may say more"
    )]
    MariaDbSql {
        /// What was being done, e.g. "creating the replication user".
        action: &'static str,
        /// The port of the server the statements ran on.
        port: u16,
        /// What the client (and mariadb-dump) printed, passwords replaced by `<redacted>`.
        message: String,
        /// The error log of that server.
        error_log: PathBuf,
    },

    /// A MariaDB replica did not get both replication threads running.
    #[error(
        "the MariaDB replica on port {port} did not start replicating from the primary on port \
         {primary_port} within {} s ({status}); check that the primary still runs; the \
         replica's error log {log} ends with:\n{tail}", timeout.as_secs()
    )]
    NotReplicating {
        /// The replica's port.
        port: u16,
        /// The primary's port.
        primary_port: u16,
        /// How long we waited.
        timeout: Duration,
        /// What `SHOW SLAVE STATUS` said last: the threads' states and their last errors.
        status: String,
        /// The replica's error log.
        log: PathBuf,
        /// The last lines of that log.
        tail: String,
    },

    /// `redis-server` is not installed where we look.
    #[error(
        "redis-server not found (looked in {looked_in}): install it (apt-get install \
         redis-server) or set ROTATION_STACK_REDIS_SERVER to the program"
    )]
    RedisMissing {
        /// The places that were searched, for the message.
        looked_in: String,
    },

    /// A server's TLS certificate could not be generated.
    #[error("generating a self-signed TLS certificate failed: {source}")]
    Certificate {
        /// What rcgen reported.
        #[source]
        source: rcgen::Error,
    },

    /// A program could not be started at all.
    #[error("could not start {program}: {source}")]
    Spawn {
        /// The program that was run.
        program: PathBuf,
        /// Why the operating system refused.
        #[source]
        source: std::io::Error,
    },

    /// A server process ended before it was ready.
    #[error("{server} exited before it was ready ({status}); its log {log} ends with:\n{tail}")]
    Exited {
        /// Which server.
        server: &'static str,
        /// How it ended.
        status: String,
        /// Its log.
        log: PathBuf,
        /// The last lines of that log.
        tail: String,
    },

    /// A server process is running but did not become ready in time.
    #[error(
        "{server} did not become ready within {} s (the machine may be overloaded); its log \
         {log} ends with:\n{tail}", timeout.as_secs()
    )]
    NotReady {
        /// Which server.
        server: &'static str,
        /// How long we waited.
        timeout: Duration,
        /// Its log.
        log: PathBuf,
        /// The last lines of that log.
        tail: String,
    },

    /// A replica was asked of a server that is stopped.
    #[error(
        "cannot start a replica of the {server} server on port {port}: it is stopped; restart() it first"
    )]
    PrimaryStopped {
        /// Which server.
        server: &'static str,
        /// Its port.
        port: u16,
    },

    /// A helper program (pg_basebackup, the mariadb client, mariadb-dump) ran too long and was
    /// killed.
    #[error(
        "{program} did not finish within {} s and was killed: the machine may be overloaded, or \
         a lock on the server (a long transaction) held it up; try again", timeout.as_secs()
    )]
    HelperTimedOut {
        /// The program that was run.
        program: PathBuf,
        /// How long it was given.
        timeout: Duration,
    },

    /// A stopped server still holds its port.
    #[error(
        "{server} stopped but port {port} still accepts connections after {} s: find the \
         process listening there (ss -ltnp) and stop it", timeout.as_secs()
    )]
    PortStillOpen {
        /// Which server.
        server: &'static str,
        /// The port that stays open.
        port: u16,
        /// How long we waited.
        timeout: Duration,
    },

    /// The recorded state of the detached stack cannot be read.
    #[error(
        "the stack state file {path} is unreadable ({source}): stop the servers it describes by \
         hand if any are running, then delete it"
    )]
    State {
        /// The state file.
        path: PathBuf,
        /// Why it could not be parsed or written.
        #[source]
        source: serde_json::Error,
    },

    /// A file-system or socket operation failed.
    #[error("{action} {path} failed: {source}")]
    Io {
        /// What was being done, e.g. "creating directory".
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

impl StackError {
    /// Builds the [`StackError::Io`] for `action` on `path`; meant for `map_err`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> StackError {
        let path = path.into();
        move |source| StackError::Io {
            action,
            path,
            source,
        }
    }

    /// Whether a server died because another process took its port between our pick and its
    /// bind (the only race of picking a free port), in which case starting again on another
    /// port is the cure.
    pub(crate) fn is_port_taken(&self) -> bool {
        matches!(self, StackError::Exited { tail, .. } if tail.contains("Address already in use"))
    }
}
