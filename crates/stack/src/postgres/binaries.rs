//! Finding PostgreSQL's server programs, which Debian keeps off the PATH in
//! `/usr/lib/postgresql/<version>/bin`, and the client programs of the same version beside
//! them that replicas need.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::StackError;
use crate::files::dir_list;

/// `initdb` and `postgres` from one installation, and where `pg_basebackup` and `psql` would
/// be beside them.
#[derive(Debug, Clone)]
pub(super) struct Binaries {
    pub(super) initdb: PathBuf,
    pub(super) postgres: PathBuf,
    /// Copies a running cluster for a replica; only replicas need it, so it is looked for by
    /// [`Binaries::replica_tools`].
    pub(super) pg_basebackup: PathBuf,
    /// The client, to wait until a replica accepts a superuser login; looked for likewise.
    pub(super) psql: PathBuf,
}

impl Binaries {
    /// Checks that the client programs a replica needs are there: they belong to the client
    /// package, which the server package depends on, but `ROTATION_STACK_PG_BIN` may name a
    /// directory without them.
    pub(super) fn replica_tools(&self) -> Result<(), StackError> {
        for (program, path) in [("pg_basebackup", &self.pg_basebackup), ("psql", &self.psql)] {
            if !path.is_file() {
                return Err(StackError::PostgresToolMissing {
                    program,
                    dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
                });
            }
        }
        Ok(())
    }
}

/// The first directory holding both programs among: `ROTATION_STACK_PG_BIN` (alone, when
/// set), `pg_config --bindir`, `/usr/lib/postgresql/<version>/bin` newest first, the PATH.
pub(super) fn locate() -> Result<Binaries, StackError> {
    let candidates = match std::env::var_os("ROTATION_STACK_PG_BIN") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => pg_config_bindir()
            .into_iter()
            .chain(debian_bindirs())
            .chain(
                std::env::var_os("PATH")
                    .iter()
                    .flat_map(std::env::split_paths),
            )
            .collect(),
    };
    candidates
        .iter()
        .find(|dir| holds_both(dir))
        .map(|dir| Binaries {
            initdb: dir.join("initdb"),
            postgres: dir.join("postgres"),
            pg_basebackup: dir.join("pg_basebackup"),
            psql: dir.join("psql"),
        })
        .ok_or_else(|| StackError::PostgresMissing {
            looked_in: dir_list(&candidates),
        })
}

fn holds_both(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !dir.trim().is_empty()).then(|| PathBuf::from(dir.trim()))
}

/// Debian's per-version directories, newest version first.
fn debian_bindirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") else {
        return Vec::new();
    };
    let mut versions: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_replica_tool_names_itself_and_its_directory() {
        let binaries = Binaries {
            initdb: "/nonexistent/bin/initdb".into(),
            postgres: "/nonexistent/bin/postgres".into(),
            pg_basebackup: "/nonexistent/bin/pg_basebackup".into(),
            psql: "/nonexistent/bin/psql".into(),
        };
        let message = binaries
            .replica_tools()
            .expect_err("not installed there")
            .to_string();
        assert!(
            message.starts_with("pg_basebackup not found in /nonexistent/bin"),
            "{message}"
        );
        assert!(message.contains("ROTATION_STACK_PG_BIN"), "{message}");
    }
}
