//! Creating a PostgreSQL data directory configured the way the rotation tests need it:
//! passwords checked with SCRAM, TLS offered, every statement logged, replication allowed;
//! and copying a running one for a streaming replica.
//!
//! Every primary is ready to be copied: `wal_level = replica`, WAL senders, 64 MB of WAL kept
//! for replicas that fall behind or are stopped a while (no replication slots: a replica
//! dropped without notice would make its slot keep WAL forever), and the superuser may open
//! replication connections from the loopback address with its password. None of this slows
//! down the start of a primary.
//!
//! A replica is a base backup taken with `pg_basebackup -R` over TCP as the superuser, which
//! writes `standby.signal` and a `primary_conninfo` (with the password: the data directory is
//! private) into the copy. The copy keeps the primary's configuration, and gets its own
//! certificate and key appended, so that it is verified by a CA bundle of its own.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::binaries::Binaries;
use crate::StackError;
use crate::account::Account;
use crate::files::{self, write_private};
use crate::process::{log_tail, run_logged, wait_within};

/// The superuser initdb creates.
pub(super) const SUPERUSER: &str = "postgres";

/// How long copying a primary may take: a fresh cluster is about 40 MB.
const BASE_BACKUP_TIMEOUT: Duration = Duration::from_secs(120);

/// TLS and plain TCP from the loopback address, always with a SCRAM password; replication
/// connections (which `all` does not cover) for the superuser only, likewise.
const PG_HBA: &str = "# rotation-stack: TCP from loopback only, TLS or not, SCRAM passwords\n\
                      host all all 127.0.0.1/32 scram-sha-256\n\
                      host replication postgres 127.0.0.1/32 scram-sha-256\n";

/// The files of a freshly initialized cluster.
#[derive(Debug)]
pub(super) struct Cluster {
    /// The data directory (`-D`).
    pub(super) data_dir: PathBuf,
    /// The server's self-signed certificate, which clients use as their CA bundle.
    pub(super) ca_cert: PathBuf,
}

/// Initializes a cluster in `dir/pgdata` with `password` for the superuser, and puts the TLS
/// certificate and key beside it. Files PostgreSQL reads are given to `account`.
pub(super) fn create(
    dir: &Path,
    binaries: &Binaries,
    account: Option<Account>,
    password: &str,
) -> Result<Cluster, StackError> {
    let data_dir = files::data_dir(dir, "pgdata", account)?;

    let password_file = dir.join("superuser-password");
    write_private(&password_file, password)?;
    files::give(account, &password_file)?;
    let initialized = initdb(dir, binaries, account, &data_dir, &password_file);
    std::fs::remove_file(&password_file).map_err(StackError::io("removing", &password_file))?;
    initialized?;

    // PostgreSQL refuses a key that others can read, and wants it owned by its own user.
    let identity = files::server_identity(dir, "rotation-stack local PostgreSQL", account)?;
    let (ca_cert, key) = (identity.cert, identity.key);

    let conf = data_dir.join("postgresql.conf");
    OpenOptions::new()
        .append(true)
        .open(&conf)
        .and_then(|mut file| file.write_all(settings(&ca_cert, &key).as_bytes()))
        .map_err(StackError::io("appending settings to", &conf))?;
    let hba = data_dir.join("pg_hba.conf");
    std::fs::write(&hba, PG_HBA).map_err(StackError::io("writing", &hba))?;

    Ok(Cluster { data_dir, ca_cert })
}

/// Copies the primary on `primary_port` (superuser password `password`) into `dir/pgdata` as a
/// standby that streams from it, with a TLS certificate and key of its own beside it. Files
/// PostgreSQL reads are given to `account`.
pub(super) fn base_backup(
    dir: &Path,
    binaries: &Binaries,
    account: Option<Account>,
    primary_port: u16,
    password: &str,
) -> Result<Cluster, StackError> {
    let data_dir = files::data_dir(dir, "pgdata", account)?;
    pg_basebackup(dir, binaries, account, &data_dir, primary_port, password)?;

    let identity = files::server_identity(dir, "rotation-stack local PostgreSQL replica", account)?;
    let (ca_cert, key) = (identity.cert, identity.key);
    let conf = data_dir.join("postgresql.conf");
    OpenOptions::new()
        .append(true)
        .open(&conf)
        .and_then(|mut file| {
            file.write_all(replica_settings(primary_port, &ca_cert, &key).as_bytes())
        })
        .map_err(StackError::io("appending settings to", &conf))?;

    Ok(Cluster { data_dir, ca_cert })
}

fn pg_basebackup(
    dir: &Path,
    binaries: &Binaries,
    account: Option<Account>,
    data_dir: &Path,
    primary_port: u16,
    password: &str,
) -> Result<(), StackError> {
    let log = dir.join("basebackup.log");
    let output = File::create(&log).map_err(StackError::io("creating", &log))?;
    let errors = output
        .try_clone()
        .map_err(StackError::io("opening", &log))?;
    let mut command = Command::new(&binaries.pg_basebackup);
    // Everything that matters is in the connection string, so that the PG* variables of a
    // shell pointed at the stack change nothing. Without TLS: it is loopback, and copying is
    // faster. -R writes this string, with the password, into the copy as primary_conninfo.
    command
        .arg("-d")
        .arg(format!(
            "host=127.0.0.1 port={primary_port} user={SUPERUSER} sslmode=disable"
        ))
        .arg("-D")
        .arg(data_dir)
        .args([
            "-R",
            "--checkpoint=fast",
            "--wal-method=stream",
            "--no-sync",
        ])
        .arg("--no-password")
        // In the environment rather than on the command line, where `ps` would show it.
        .env("PGPASSWORD", password)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(errors);
    if let Some(account) = account {
        account.run_as(&mut command);
    }
    let mut child = command.spawn().map_err(|source| StackError::Spawn {
        program: binaries.pg_basebackup.clone(),
        source,
    })?;
    let status = wait_within(&mut child, BASE_BACKUP_TIMEOUT)
        .map_err(StackError::io("waiting for", &binaries.pg_basebackup))?
        .ok_or_else(|| StackError::HelperTimedOut {
            program: binaries.pg_basebackup.clone(),
            timeout: BASE_BACKUP_TIMEOUT,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(StackError::BaseBackup {
            primary_port,
            data_dir: data_dir.to_path_buf(),
            tail: log_tail(&log, 0),
            log,
        })
    }
}

fn initdb(
    dir: &Path,
    binaries: &Binaries,
    account: Option<Account>,
    data_dir: &Path,
    password_file: &Path,
) -> Result<(), StackError> {
    let log = dir.join("initdb.log");
    let mut command = Command::new(&binaries.initdb);
    command
        .arg("-D")
        .arg(data_dir)
        .args(["-E", "UTF8", "--locale=C", "-U", SUPERUSER])
        .args(["--auth=scram-sha-256", "--no-sync"])
        .arg(format!("--pwfile={}", password_file.display()))
        .current_dir(dir);
    let succeeded =
        run_logged(&mut command, account, &log).map_err(|source| StackError::Spawn {
            program: binaries.initdb.clone(),
            source,
        })?;
    if succeeded {
        Ok(())
    } else {
        Err(StackError::Initdb {
            data_dir: data_dir.to_path_buf(),
            tail: log_tail(&log, 0),
            log,
        })
    }
}

/// What is appended to `postgresql.conf`. Durability is traded for speed: the data is
/// disposable test data.
fn settings(cert: &Path, key: &Path) -> String {
    format!(
        "\n# rotation-stack: a private server for tests\n\
         listen_addresses = '127.0.0.1'\n\
         unix_socket_directories = ''\n\
         password_encryption = 'scram-sha-256'\n\
         ssl = on\n\
         ssl_cert_file = {}\n\
         ssl_key_file = {}\n\
         log_statement = 'all'\n\
         log_connections = on\n\
         log_disconnections = on\n\
         log_line_prefix = '%m [%p] %q%u@%d '\n\
         fsync = off\n\
         synchronous_commit = off\n\
         full_page_writes = off\n\
         wal_level = replica\n\
         max_wal_senders = 10\n\
         wal_keep_size = '64MB'\n\
         hot_standby = on\n",
        quote(cert),
        quote(key)
    )
}

/// What is appended to the `postgresql.conf` a replica copied from its primary: its own
/// certificate and key (later lines win), and a quick reconnection when the primary restarts.
fn replica_settings(primary_port: u16, cert: &Path, key: &Path) -> String {
    format!(
        "\n# rotation-stack: a streaming replica of the server on port {primary_port}\n\
         ssl_cert_file = {}\n\
         ssl_key_file = {}\n\
         wal_retrieve_retry_interval = '500ms'\n",
        quote(cert),
        quote(key)
    )
}

/// A path as a `postgresql.conf` string literal.
fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_quote_paths_with_quotes() {
        let settings = settings(Path::new("/tmp/it's/server.crt"), Path::new("/k"));
        assert!(settings.contains("ssl_cert_file = '/tmp/it''s/server.crt'\n"));
        assert!(settings.contains("ssl_key_file = '/k'\n"));
    }

    #[test]
    fn hba_accepts_only_scram_from_loopback() {
        let rules: Vec<&str> = PG_HBA.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            rules,
            [
                "host all all 127.0.0.1/32 scram-sha-256",
                "host replication postgres 127.0.0.1/32 scram-sha-256"
            ]
        );
    }

    #[test]
    fn every_primary_can_be_replicated() {
        let settings = settings(Path::new("/c"), Path::new("/k"));
        for line in [
            "wal_level = replica",
            "max_wal_senders = 10",
            "hot_standby = on",
        ] {
            assert!(settings.contains(&format!("\n{line}\n")), "{line}");
        }
    }

    #[test]
    fn a_replica_serves_its_own_certificate() {
        let settings =
            replica_settings(5432, Path::new("/r/server.crt"), Path::new("/r/server.key"));
        assert!(settings.contains("of the server on port 5432\n"));
        assert!(settings.contains("ssl_cert_file = '/r/server.crt'\n"));
        assert!(settings.contains("ssl_key_file = '/r/server.key'\n"));
    }
}
