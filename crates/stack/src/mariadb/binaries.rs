//! Finding MariaDB's programs: `mariadb-install-db`, the `mariadb` client and `mariadb-dump`
//! on the PATH, `mariadbd` in `/usr/sbin`, which is not on every user's PATH.

use std::path::PathBuf;

use crate::StackError;
use crate::files::{dir_list, first_executable};

/// The programs a private MariaDB needs, from one installation.
#[derive(Debug, Clone)]
pub(super) struct Binaries {
    /// Creates the system tables of a new data directory.
    pub(super) install_db: PathBuf,
    /// The server.
    pub(super) server: PathBuf,
    /// The command-line client, used to wait until a TCP login works and to set up replicas.
    pub(super) client: PathBuf,
}

/// Directories searched, in order: `ROTATION_STACK_MARIADB_BIN` alone when set, else the PATH,
/// then `/usr/sbin`, `/usr/libexec`, `/usr/local/sbin`, `/usr/local/bin`.
pub(super) fn locate() -> Result<Binaries, StackError> {
    let dirs = search_dirs();
    Ok(Binaries {
        install_db: find(
            &dirs,
            "mariadb-install-db",
            &["mariadb-install-db", "mysql_install_db"],
        )?,
        server: find(&dirs, "mariadbd", &["mariadbd", "mysqld"])?,
        client: find(&dirs, "the mariadb client", &["mariadb", "mysql"])?,
    })
}

/// `mariadb-dump`, which seeds replicas, found like the others. Only replicas need it, and it
/// comes in another package than the client (Debian's `mariadb-client` rather than
/// `mariadb-client-core`), so a server starts without it.
pub(super) fn locate_dump() -> Result<PathBuf, StackError> {
    find(
        &search_dirs(),
        "mariadb-dump",
        &["mariadb-dump", "mysqldump"],
    )
}

fn search_dirs() -> Vec<PathBuf> {
    match std::env::var_os("ROTATION_STACK_MARIADB_BIN") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .chain(
                [
                    "/usr/sbin",
                    "/usr/libexec",
                    "/usr/local/sbin",
                    "/usr/local/bin",
                ]
                .map(PathBuf::from),
            )
            .collect(),
    }
}

/// The first of `names` (in that order) found in any of `dirs`.
fn find(dirs: &[PathBuf], program: &'static str, names: &[&str]) -> Result<PathBuf, StackError> {
    first_executable(dirs, names).ok_or_else(|| StackError::MariaDbMissing {
        program,
        looked_in: dir_list(dirs),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn a_missing_program_names_itself_and_the_places_searched() {
        let dirs = [
            PathBuf::from("/nonexistent/a"),
            PathBuf::from("/nonexistent/b"),
        ];
        let error = find(&dirs, "mariadb-install-db", &["mariadb-install-db"])
            .expect_err("not installed there");
        let message = error.to_string();
        assert!(
            message.starts_with("mariadb-install-db not found"),
            "{message}"
        );
        assert!(
            message.contains("/nonexistent/a, /nonexistent/b"),
            "{message}"
        );
        assert!(
            message.contains("apt-get install mariadb-server"),
            "{message}"
        );
    }

    #[test]
    fn finds_a_program_in_a_later_directory() {
        let dirs = [PathBuf::from("/nonexistent"), PathBuf::from("/bin")];
        assert_eq!(
            find(&dirs, "sh", &["sh"]).expect("sh"),
            Path::new("/bin/sh")
        );
    }
}
