//! Creating a MariaDB data directory the way the rotation tests need it: a root password for
//! TCP logins from the loopback address, TLS offered, every statement in the general log, a
//! binary log that replicas can follow.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::binaries::Binaries;
use crate::StackError;
use crate::account::Account;
use crate::files::{self, write_private};
use crate::process::{log_tail, run_logged};

/// The administrative user: `root`, with a password, at `localhost` and `127.0.0.1`.
pub(super) const ROOT: &str = "root";

/// The files of a freshly installed data directory, all inside the server's directory.
#[derive(Debug)]
pub(super) struct Installation {
    /// The data directory (`--datadir`), which also holds the socket and the pid file.
    pub(super) data_dir: PathBuf,
    /// The server's self-signed certificate, which clients use as their CA bundle.
    pub(super) ca_cert: PathBuf,
    /// The private key of that certificate.
    pub(super) key: PathBuf,
    /// The general query log: every connection and statement.
    pub(super) general_log: PathBuf,
    /// The server's own temporary directory (`--tmpdir`). Never the shared `/tmp`: mariadbd
    /// deletes every `#sql*` file in its tmpdir when it starts, which removed the temporary
    /// tables of another server bootstrapping at the same moment
    /// (`ERROR: 1051 Unknown table 'mysql.tmp_user_sys'` from mariadb-install-db).
    pub(super) tmp_dir: PathBuf,
    /// The SQL run once at the first start (`--init-file`): it sets the root password, so it
    /// is removed as soon as the server is up.
    pub(super) init_file: PathBuf,
}

/// Runs `mariadb-install-db` into `dir/data`, and puts the TLS certificate and key, the general
/// log and the init file beside it. Files mariadbd reads or writes are given to `account`.
pub(super) fn create(
    dir: &Path,
    binaries: &Binaries,
    account: Option<Account>,
    password: &str,
) -> Result<Installation, StackError> {
    let give = |path: &Path| files::give(account, path);
    let data_dir = files::data_dir(dir, "data", account)?;
    let tmp_dir = files::data_dir(dir, "tmp", account)?;
    install_db(dir, binaries, account, &data_dir, &tmp_dir)?;
    let identity = files::server_identity(dir, "rotation-stack local MariaDB", account)?;

    // Created by us, so that the mysql user may write it in a directory it does not own.
    let general_log = dir.join("general.log");
    File::create(&general_log).map_err(StackError::io("creating", &general_log))?;
    give(&general_log)?;

    let init_file = dir.join("init.sql");
    write_private(&init_file, &init_sql(password))?;
    give(&init_file)?;

    Ok(Installation {
        data_dir,
        tmp_dir,
        ca_cert: identity.cert,
        key: identity.key,
        general_log,
        init_file,
    })
}

fn install_db(
    dir: &Path,
    binaries: &Binaries,
    account: Option<Account>,
    data_dir: &Path,
    tmp_dir: &Path,
) -> Result<(), StackError> {
    let log = dir.join("install.log");
    let mut command = Command::new(&binaries.install_db);
    // --no-defaults must come first: the machine's my.cnf describes the system server.
    command
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data_dir.display()))
        .arg(format!("--tmpdir={}", tmp_dir.display()))
        .args([
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ])
        .args(storage_options())
        .current_dir(dir);
    let succeeded =
        run_logged(&mut command, account, &log).map_err(|source| StackError::Spawn {
            program: binaries.install_db.clone(),
            source,
        })?;
    if succeeded {
        Ok(())
    } else {
        Err(StackError::InstallDb {
            data_dir: data_dir.to_path_buf(),
            tail: log_tail(&log, 0),
            log,
        })
    }
}

/// InnoDB settings for both mariadb-install-db and mariadbd (a redo log of another size would
/// be resized at the first start). Durability is traded for speed: the data is disposable.
pub(super) fn storage_options() -> [&'static str; 4] {
    [
        "--innodb-buffer-pool-size=32M",
        "--innodb-log-file-size=16M",
        "--innodb-flush-log-at-trx-commit=0",
        "--innodb-doublewrite=0",
    ]
}

/// The server id of every primary; replicas get random ones above it.
pub(super) const PRIMARY_SERVER_ID: u32 = 1;

/// The options of every mariadbd start, `--no-defaults` first.
///
/// Every server writes a binary log, so that replicas can be started from it: row-based, so
/// that a replica applies exactly the rows the primary changed (statements on accounts such as
/// `CREATE USER`, `ALTER USER` and `SET PASSWORD` are logged as statements in every format).
/// The binary log holds those statements as the server received them, passwords included, in
/// the private data directory. A replica runs what it applies with `sql_log_off`
/// (`--init-slave`), so that those passwords do not reach its general log either. Stored
/// functions need no `DETERMINISTIC` declaration for the binary log's sake: with row-based
/// logging their effects are logged, not their calls.
pub(super) fn server_options(
    installation: &Installation,
    port: u16,
    server_id: u32,
) -> Vec<OsString> {
    let path = |option: &str, path: &Path| OsString::from(format!("--{option}={}", path.display()));
    let data_dir = &installation.data_dir;
    let mut options: Vec<OsString> = vec![
        "--no-defaults".into(),
        path("datadir", data_dir),
        format!("--port={port}").into(),
        "--bind-address=127.0.0.1".into(),
        path("socket", &data_dir.join("mysqld.sock")),
        path("pid-file", &data_dir.join("mariadbd.pid")),
        "--skip-name-resolve".into(),
        "--general-log=1".into(),
        path("general-log-file", &installation.general_log),
        "--log-output=FILE".into(),
        path("ssl-cert", &installation.ca_cert),
        path("ssl-key", &installation.key),
        path("ssl-ca", &installation.ca_cert),
        path("tmpdir", &installation.tmp_dir),
        "--character-set-server=utf8mb4".into(),
        "--collation-server=utf8mb4_general_ci".into(),
        format!("--server-id={server_id}").into(),
        path("log-bin", &data_dir.join("mariadb-bin")),
        "--binlog-format=ROW".into(),
        // CREATE FUNCTION works as it would without a binary log.
        "--log-bin-trust-function-creators=1".into(),
        // Named after the server rather than the host, which may change between starts.
        path("relay-log", &data_dir.join("relay-bin")),
        "--init-slave=SET sql_log_off = 1".into(),
    ];
    options.extend(storage_options().map(OsString::from));
    options
}

/// What `--init-file` runs at the first start: only `root@localhost` (the socket) and
/// `root@127.0.0.1` (TCP; with `--skip-name-resolve` a TCP client is its address, never
/// `localhost`) remain, both with `password` and every privilege. mariadb-install-db also
/// creates password-less `root@<hostname>` and `root@::1`, which go.
///
/// Statements of the init file are not written to the general log, and `sql_log_bin = 0`
/// keeps them (and the password in them) out of the binary log: nothing replicates them, as
/// every replica is set up with the same root password.
fn init_sql(password: &str) -> String {
    let password = quote(password);
    format!(
        "SET sql_log_bin = 0;\n\
         DELETE FROM mysql.global_priv WHERE User = '{ROOT}' AND Host NOT IN ('localhost', '127.0.0.1');\n\
         DELETE FROM mysql.proxies_priv WHERE User = '{ROOT}' AND Host NOT IN ('localhost', '127.0.0.1');\n\
         FLUSH PRIVILEGES;\n\
         ALTER USER '{ROOT}'@'localhost' IDENTIFIED BY {password};\n\
         CREATE OR REPLACE USER '{ROOT}'@'127.0.0.1' IDENTIFIED BY {password};\n\
         GRANT ALL PRIVILEGES ON *.* TO '{ROOT}'@'127.0.0.1' WITH GRANT OPTION;\n"
    )
}

/// `text` as a MariaDB string literal.
pub(super) fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installation() -> Installation {
        Installation {
            data_dir: "/s/data".into(),
            ca_cert: "/s/server.crt".into(),
            key: "/s/server.key".into(),
            general_log: "/s/general.log".into(),
            tmp_dir: "/s/tmp".into(),
            init_file: "/s/init.sql".into(),
        }
    }

    #[test]
    fn no_defaults_comes_first_and_the_server_listens_on_loopback_only() {
        let options: Vec<String> = server_options(&installation(), 4321, 1)
            .into_iter()
            .map(|option| option.to_string_lossy().into_owned())
            .collect();
        assert_eq!(options[0], "--no-defaults");
        for expected in [
            "--port=4321",
            "--bind-address=127.0.0.1",
            "--socket=/s/data/mysqld.sock",
            "--skip-name-resolve",
            "--general-log=1",
            "--general-log-file=/s/general.log",
            "--ssl-ca=/s/server.crt",
            "--server-id=1",
            "--log-bin=/s/data/mariadb-bin",
            "--binlog-format=ROW",
            "--log-bin-trust-function-creators=1",
            "--relay-log=/s/data/relay-bin",
            "--init-slave=SET sql_log_off = 1",
            "--tmpdir=/s/tmp",
        ] {
            assert!(options.iter().any(|o| o == expected), "{expected}");
        }
        assert!(!options.iter().any(|o| o.contains("skip-grant-tables")));
    }

    #[test]
    fn init_sql_sets_the_password_for_socket_and_tcp_root() {
        let sql = init_sql("pw");
        assert!(sql.starts_with("SET sql_log_bin = 0;\n"));
        assert!(sql.contains("ALTER USER 'root'@'localhost' IDENTIFIED BY 'pw';"));
        assert!(sql.contains("CREATE OR REPLACE USER 'root'@'127.0.0.1' IDENTIFIED BY 'pw';"));
        assert!(sql.contains("TO 'root'@'127.0.0.1' WITH GRANT OPTION;"));
    }

    #[test]
    fn quote_escapes_quotes_and_backslashes() {
        assert_eq!(quote(r"it's \ok"), r"'it\'s \\ok'");
    }
}
