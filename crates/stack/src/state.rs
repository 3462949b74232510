//! The detached stack behind `cargo xtask stack up|down|env`, recorded in
//! `stack_dir()/state.json` so that later commands, in any shell, find it again.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::env::StackEnv;
use crate::location::run_dir;
use crate::process::{is_running, stop_recorded};
use crate::{Lifetime, Stack, StackError, stack_dir};

/// What `moto_server`'s command line contains, to recognize its process.
const MOTO_MARKER: &str = "moto_server";

/// How long each server may take to stop before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// A detached stack as recorded by [`up`]: enough to reach it, and to stop it later.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackState {
    /// Process id of `moto_server`.
    pub moto_pid: u32,
    /// Port moto listens on, on `127.0.0.1`.
    pub moto_port: u16,
    /// moto's log.
    pub moto_log: PathBuf,
    /// Process id of the PostgreSQL postmaster.
    pub postgres_pid: u32,
    /// Host name to reach PostgreSQL by (the certificate's name).
    pub postgres_host: String,
    /// Port PostgreSQL listens on, on `127.0.0.1`.
    pub postgres_port: u16,
    /// PostgreSQL superuser.
    pub postgres_superuser: String,
    /// The superuser's password.
    pub postgres_password: String,
    /// PostgreSQL's data directory.
    pub postgres_data_dir: PathBuf,
    /// PostgreSQL's log of every statement.
    pub postgres_log: PathBuf,
    /// The certificate that verifies PostgreSQL's TLS.
    pub ca_cert: PathBuf,
    // The MariaDB fields default to empty, so that the record of a stack started before
    // MariaDB joined still reads (as a stack that is not alive, which `up` replaces).
    /// Process id of mariadbd.
    #[serde(default)]
    pub mariadb_pid: u32,
    /// Host to reach MariaDB at, `127.0.0.1`.
    #[serde(default)]
    pub mariadb_host: String,
    /// Port MariaDB listens on, on `127.0.0.1`.
    #[serde(default)]
    pub mariadb_port: u16,
    /// MariaDB's administrative user, `root`.
    #[serde(default)]
    pub mariadb_user: String,
    /// That user's password.
    #[serde(default)]
    pub mariadb_password: String,
    /// MariaDB's data directory.
    #[serde(default)]
    pub mariadb_data_dir: PathBuf,
    /// The certificate that verifies MariaDB's TLS.
    #[serde(default)]
    pub mariadb_ca_cert: PathBuf,
    /// MariaDB's general log of every statement.
    #[serde(default)]
    pub mariadb_general_log: PathBuf,
    /// MariaDB's error log.
    #[serde(default)]
    pub mariadb_error_log: PathBuf,
}

impl StackState {
    /// moto's URL: `http://127.0.0.1:PORT`.
    pub fn moto_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.moto_port)
    }

    /// The variables a shell or test needs, the same as [`Stack::env`].
    pub fn env(&self) -> Vec<(String, String)> {
        StackEnv {
            moto_endpoint: self.moto_endpoint(),
            pg_host: &self.postgres_host,
            pg_port: self.postgres_port,
            pg_user: &self.postgres_superuser,
            pg_password: &self.postgres_password,
            ca_cert: &self.ca_cert,
            pg_log: &self.postgres_log,
            mariadb_host: &self.mariadb_host,
            mariadb_port: self.mariadb_port,
            mariadb_user: &self.mariadb_user,
            mariadb_password: &self.mariadb_password,
            mariadb_ca_cert: &self.mariadb_ca_cert,
            mariadb_general_log: &self.mariadb_general_log,
        }
        .vars()
    }

    fn of(stack: &Stack) -> StackState {
        let (postgres, mariadb) = (&stack.postgres, &stack.mariadb);
        StackState {
            moto_pid: stack.moto.pid(),
            moto_port: stack.moto.port(),
            moto_log: stack.moto.log_path().to_path_buf(),
            // Just started, so running; were it not, pid 0 would read as "not running".
            postgres_pid: postgres.pid().unwrap_or_default(),
            postgres_host: postgres.host().to_string(),
            postgres_port: postgres.port(),
            postgres_superuser: postgres.superuser().to_string(),
            postgres_password: postgres.superuser_password().to_string(),
            postgres_data_dir: postgres.data_dir().to_path_buf(),
            postgres_log: postgres.log_path().to_path_buf(),
            ca_cert: postgres.ca_cert_path().to_path_buf(),
            mariadb_pid: mariadb.pid().unwrap_or_default(),
            mariadb_host: mariadb.host().to_string(),
            mariadb_port: mariadb.port(),
            mariadb_user: mariadb.root_user().to_string(),
            mariadb_password: mariadb.root_password().to_string(),
            mariadb_data_dir: mariadb.data_dir().to_path_buf(),
            mariadb_ca_cert: mariadb.ca_cert_path().to_path_buf(),
            mariadb_general_log: mariadb.general_log_path().to_path_buf(),
            mariadb_error_log: mariadb.error_log_path().to_path_buf(),
        }
    }

    /// Whether all three recorded processes still run.
    fn is_alive(&self) -> bool {
        is_running(self.moto_pid, MOTO_MARKER)
            && is_running(
                self.postgres_pid,
                &self.postgres_data_dir.display().to_string(),
            )
            && is_running(
                self.mariadb_pid,
                &self.mariadb_data_dir.display().to_string(),
            )
    }

    /// Stops whatever of the recorded processes still runs: a fast shutdown for PostgreSQL,
    /// SIGTERM for MariaDB and moto, SIGKILL for any after 30 s.
    fn stop(&self) {
        let data_dir = self.postgres_data_dir.display().to_string();
        stop_recorded(self.postgres_pid, &data_dir, libc::SIGINT, STOP_GRACE);
        if self.mariadb_pid != 0 {
            let data_dir = self.mariadb_data_dir.display().to_string();
            stop_recorded(self.mariadb_pid, &data_dir, libc::SIGTERM, STOP_GRACE);
        }
        stop_recorded(self.moto_pid, MOTO_MARKER, libc::SIGTERM, STOP_GRACE);
    }
}

impl std::fmt::Debug for StackState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackState")
            .field("moto_pid", &self.moto_pid)
            .field("moto_port", &self.moto_port)
            .field("postgres_pid", &self.postgres_pid)
            .field("postgres_port", &self.postgres_port)
            .field("postgres_password", &"<redacted>")
            .field("postgres_data_dir", &self.postgres_data_dir)
            .field("mariadb_pid", &self.mariadb_pid)
            .field("mariadb_port", &self.mariadb_port)
            .field("mariadb_password", &"<redacted>")
            .field("mariadb_data_dir", &self.mariadb_data_dir)
            .finish_non_exhaustive()
    }
}

/// Starts the detached stack, or returns the one already up.
///
/// Its servers survive this process, in sessions of their own, with their data under
/// `stack_dir()/run`; [`down`] stops them. Leftovers of a stack that half died (one server
/// gone) are stopped and removed before a new one starts.
pub fn up() -> Result<StackState, StackError> {
    let _lock = lock()?;
    if let Some(state) = read()? {
        if state.is_alive() {
            return Ok(state);
        }
        tracing::info!("the recorded stack is no longer running: starting a new one");
    }
    remove_stack()?;
    let stack = Stack::start(Lifetime::Detached).inspect_err(|_| {
        // Stack::start stopped what had started; what remains is data nobody needs.
        let _ = remove_if_present(&run_dir(), std::fs::remove_dir_all);
    })?;
    let state = StackState::of(&stack);
    // Dropping a detached stack leaves its servers running: they are recorded now.
    drop(stack);
    write(&state)?;
    Ok(state)
}

/// Stops the detached stack, deletes its data and its record; does nothing when none is up.
pub fn down() -> Result<(), StackError> {
    let _lock = lock()?;
    remove_stack()
}

/// The detached stack, when one is recorded and all its servers run.
pub fn current() -> Result<Option<StackState>, StackError> {
    Ok(read()?.filter(StackState::is_alive))
}

fn state_path() -> PathBuf {
    stack_dir().join("state.json")
}

/// Serializes `up` and `down`, so that two shells never start two stacks.
fn lock() -> Result<File, StackError> {
    let dir = stack_dir();
    std::fs::create_dir_all(&dir).map_err(StackError::io("creating directory", &dir))?;
    let path = dir.join("state.lock");
    let file = File::create(&path).map_err(StackError::io("creating", &path))?;
    file.lock().map_err(StackError::io("locking", &path))?;
    Ok(file)
}

/// Stops the recorded servers, if any, and removes their data and the record.
fn remove_stack() -> Result<(), StackError> {
    if let Some(state) = read()? {
        state.stop();
    }
    remove_if_present(&run_dir(), std::fs::remove_dir_all)?;
    remove_if_present(&state_path(), std::fs::remove_file)
}

fn remove_if_present<'a>(
    path: &'a Path,
    remove: impl FnOnce(&'a Path) -> std::io::Result<()>,
) -> Result<(), StackError> {
    match remove(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(StackError::io("removing", path)(error))
        }
        _ => Ok(()),
    }
}

fn read() -> Result<Option<StackState>, StackError> {
    let path = state_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(StackError::io("reading", &path)(error)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| StackError::State { path, source })
}

/// Writes the record readable by its owner only (it holds a password), atomically, so that a
/// concurrent `current()` never reads half of it.
fn write(state: &StackState) -> Result<(), StackError> {
    let path = state_path();
    let json = serde_json::to_vec_pretty(state).map_err(|source| StackError::State {
        path: path.clone(),
        source,
    })?;
    let partial = path.with_extension("json.partial");
    remove_if_present(&partial, std::fs::remove_file)?;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .and_then(|mut file| file.write_all(&json))
        .map_err(StackError::io("writing", &partial))?;
    std::fs::rename(&partial, &path).map_err(StackError::io("renaming into place", &path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StackState {
        StackState {
            moto_pid: 10,
            moto_port: 5000,
            moto_log: "/run/moto/moto.log".into(),
            postgres_pid: 11,
            postgres_host: "localhost".into(),
            postgres_port: 5433,
            postgres_superuser: "postgres".into(),
            postgres_password: "pw".into(),
            postgres_data_dir: "/run/postgres/pgdata".into(),
            postgres_log: "/run/postgres/postgres.log".into(),
            ca_cert: "/run/postgres/server.crt".into(),
            mariadb_pid: 12,
            mariadb_host: "127.0.0.1".into(),
            mariadb_port: 3307,
            mariadb_user: "root".into(),
            mariadb_password: "mpw".into(),
            mariadb_data_dir: "/run/mariadb/data".into(),
            mariadb_ca_cert: "/run/mariadb/server.crt".into(),
            mariadb_general_log: "/run/mariadb/general.log".into(),
            mariadb_error_log: "/run/mariadb/error.log".into(),
        }
    }

    #[test]
    fn state_round_trips_through_json() {
        let json = serde_json::to_string(&sample()).expect("serialize");
        let back: StackState = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, sample());
    }

    #[test]
    fn env_names_every_variable_once() {
        let env = sample().env();
        let value = |name: &str| {
            let found: Vec<&String> = env
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v)
                .collect();
            assert_eq!(found.len(), 1, "{name}");
            found[0].clone()
        };
        assert_eq!(
            value("AWS_ENDPOINT_URL_SECRETS_MANAGER"),
            "http://127.0.0.1:5000"
        );
        assert_eq!(value("SECRETS_MANAGER_ENDPOINT"), "http://127.0.0.1:5000");
        assert_eq!(value("AWS_REGION"), "us-east-1");
        assert_eq!(value("AWS_ACCESS_KEY_ID"), "testing");
        assert_eq!(value("AWS_SECRET_ACCESS_KEY"), "testing");
        assert_eq!(value("PGHOST"), "localhost");
        assert_eq!(value("PGPORT"), "5433");
        assert_eq!(value("PGUSER"), "postgres");
        assert_eq!(value("PGPASSWORD"), "pw");
        assert_eq!(value("PGDATABASE"), "postgres");
        assert_eq!(value("DATABASE_CA_BUNDLE"), "/run/postgres/server.crt");
        assert_eq!(value("ROTATION_STACK_PG_LOG"), "/run/postgres/postgres.log");
        assert_eq!(value("MYSQL_HOST"), "127.0.0.1");
        assert_eq!(value("MYSQL_TCP_PORT"), "3307");
        assert_eq!(value("MYSQL_PWD"), "mpw");
        assert_eq!(value("ROTATION_STACK_MARIADB_USER"), "root");
        assert_eq!(
            value("ROTATION_STACK_MARIADB_CA"),
            "/run/mariadb/server.crt"
        );
        assert_eq!(
            value("ROTATION_STACK_MARIADB_LOG"),
            "/run/mariadb/general.log"
        );
        assert_eq!(env.len(), 19);
    }

    #[test]
    fn debug_hides_the_password() {
        let mut state = sample();
        state.postgres_password = "hunter2-secret".into();
        state.mariadb_password = "hunter3-secret".into();
        let debug = format!("{state:?}");
        assert!(!debug.contains("hunter2-secret"));
        assert!(!debug.contains("hunter3-secret"));
    }

    #[test]
    fn a_dead_pid_is_not_alive() {
        let mut state = sample();
        state.moto_pid = 0;
        state.postgres_pid = 0;
        state.mariadb_pid = 0;
        assert!(!state.is_alive());
    }

    #[test]
    fn a_record_from_before_mariadb_reads_as_not_alive() {
        let mut json = serde_json::to_value(sample()).expect("serialize");
        let object = json.as_object_mut().expect("object");
        object.retain(|key, _| !key.starts_with("mariadb_"));
        let old: StackState = serde_json::from_value(json).expect("old record reads");
        assert_eq!(old.mariadb_pid, 0);
        assert!(!old.is_alive());
    }
}
