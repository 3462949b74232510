//! Finding PostgreSQL's server programs, which Debian keeps off the PATH in
//! `/usr/lib/postgresql/<version>/bin`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::StackError;

/// `initdb` and `postgres` from one installation.
#[derive(Debug, Clone)]
pub(super) struct Binaries {
    pub(super) initdb: PathBuf,
    pub(super) postgres: PathBuf,
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
        })
        .ok_or_else(|| StackError::PostgresMissing {
            looked_in: candidates
                .iter()
                .map(|dir| dir.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
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
