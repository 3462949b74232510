//! Replicas of a MariaDB server, and the statements the stack runs with the `mariadb` client
//! (it has no SQL driver of its own).
//!
//! Every server writes a row-based binary log with global transaction ids (see
//! `install::server_options`), so a replica needs no change to its primary but a replication
//! account, created on the first replica: `rotation_stack_repl@127.0.0.1` with a random
//! password and the `REPLICATION SLAVE` privilege only, created with `sql_log_bin = 0` (the
//! statement, password included, stays out of the binary log) and `sql_log_off = 1` (and out
//! of the general log).
//!
//! # Seeding
//!
//! A replica must start with everything its primary has, and then apply exactly what came
//! after. There is no physical backup tool to rely on (mariabackup is a package of its own),
//! and replaying the primary's binary log from its beginning would take ever longer on a
//! primary that has done a lot, so a replica is seeded with a logical dump:
//!
//! 1. A new data directory is installed and started like any server's, with the primary's
//!    root password (its init file is not binlogged, so its binary log stays empty).
//! 2. `mariadb-dump --all-databases --lock-all-tables --master-data=1 --gtid` reads the
//!    primary under a global read lock (held for the dump only, a fraction of a second on a
//!    test server): the `mysql` system tables, hence every account with its password hash and
//!    grants, every database, and at the end `SET GLOBAL gtid_slave_pos` to the exact
//!    position of that snapshot. A read lock rather than `--single-transaction`, because the
//!    account tables are Aria tables, which a transaction does not freeze. The help tables
//!    (the same on every installation) and `mysql.gtid_slave_pos` (the replica's own
//!    position) are left out.
//! 3. The dump is streamed straight into the replica's client session, which runs with
//!    `sql_log_bin = 0`, so that nothing it loads lands in the replica's own binary log
//!    (which stays empty, so the dumped position cannot conflict with it), and
//!    `sql_log_off = 1`; `FLUSH PRIVILEGES` at its end makes the loaded accounts effective.
//! 4. `CHANGE MASTER TO ... MASTER_USE_GTID = slave_pos` and `START SLAVE`: the replica asks
//!    the primary for everything after the dumped position, and reconnects every second when
//!    the primary restarts (the replication password is kept in the replica's private data
//!    directory, as `master.info`). The stack waits until `SHOW SLAVE STATUS` shows both
//!    threads running.

use std::io::{Cursor, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::install::{ROOT, quote};
use crate::StackError;
use crate::process::{log_tail, run_captured, wait_within};

/// The account replicas connect to their primary as.
pub(super) const REPLICATION_USER: &str = "rotation_stack_repl";

/// How long an administrative statement may take.
const SQL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long dumping the primary into a replica may take.
const SEED_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the replication threads may take to run once started.
const REPLICATING_TIMEOUT: Duration = Duration::from_secs(30);

/// How often `SHOW SLAVE STATUS` is asked while waiting.
const STATUS_POLL: Duration = Duration::from_millis(100);

/// The system tables a dump for a replica leaves out: the help tables, which every
/// installation has alike (and which are most of a fresh server's dump), and the replica's
/// own replication position, which the dump sets at its end.
const NOT_DUMPED: [&str; 5] = [
    "mysql.help_category",
    "mysql.help_keyword",
    "mysql.help_relation",
    "mysql.help_topic",
    "mysql.gtid_slave_pos",
];

/// A server to run statements on as root over TCP.
pub(super) struct Root<'a> {
    /// The `mariadb` client.
    pub(super) client: &'a Path,
    /// The server's port on `127.0.0.1`.
    pub(super) port: u16,
    /// Root's password.
    pub(super) password: &'a str,
    /// The server's error log, for error messages.
    pub(super) error_log: &'a Path,
}

impl Root<'_> {
    /// The client, logging in as root with the password in `MYSQL_PWD` (not on the command
    /// line, where `ps` would show it); statements go to its stdin.
    fn client(&self) -> Command {
        let mut command = Command::new(self.client);
        command
            .arg("--no-defaults")
            .args(["--protocol=TCP", "-h", "127.0.0.1", "-P"])
            .arg(self.port.to_string())
            .args(["-u", ROOT, "--connect-timeout=5", "--batch"])
            .env("MYSQL_PWD", self.password);
        command
    }

    /// Runs `sql` in one session after `SET sql_log_off = 1` (the general log is the tests'
    /// to read), and returns what it printed. `secrets` are replaced in error messages.
    fn run(&self, action: &'static str, sql: &str, secrets: &[&str]) -> Result<String, StackError> {
        let input = format!("SET sql_log_off = 1;\n{sql}\n");
        self.run_input(action, Cursor::new(input), SQL_TIMEOUT, secrets)
    }

    /// Runs the client on `input`, killing it after `timeout`: what it printed, or a
    /// [`StackError::MariaDbSql`] for `action`.
    fn run_input(
        &self,
        action: &'static str,
        input: impl Read + Send + 'static,
        timeout: Duration,
        secrets: &[&str],
    ) -> Result<String, StackError> {
        let output = run_captured(self.client(), input, timeout)
            .map_err(|source| StackError::Spawn {
                program: self.client.to_path_buf(),
                source,
            })?
            .ok_or_else(|| StackError::HelperTimedOut {
                program: self.client.to_path_buf(),
                timeout,
            })?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            Err(self.failed(action, &stderr, secrets))
        }
    }

    /// The error for `action` on this server, with the output `said` (secrets redacted).
    fn failed(&self, action: &'static str, said: &str, secrets: &[&str]) -> StackError {
        StackError::MariaDbSql {
            action,
            port: self.port,
            message: redact(said.trim(), &[&[self.password], secrets].concat()),
            error_log: self.error_log.to_path_buf(),
        }
    }
}

/// Creates (or replaces) the replication account on `primary` with `password`.
pub(super) fn create_replication_user(primary: &Root, password: &str) -> Result<(), StackError> {
    let account = format!("'{REPLICATION_USER}'@'127.0.0.1'");
    primary.run(
        "creating the replication user",
        &format!(
            "SET sql_log_bin = 0;\n\
             CREATE OR REPLACE USER {account} IDENTIFIED BY {};\n\
             GRANT REPLICATION SLAVE ON *.* TO {account};",
            quote(password)
        ),
        &[password],
    )?;
    Ok(())
}

/// Loads a consistent dump of `primary`, made with `dump` (its messages in `dump_log`), into
/// the freshly installed `replica`, which ends up at the dump's replication position.
pub(super) fn seed(
    primary: &Root,
    replica: &Root,
    dump: &Path,
    dump_log: &Path,
) -> Result<(), StackError> {
    let log = std::fs::File::create(dump_log).map_err(StackError::io("creating", dump_log))?;
    let mut command = Command::new(dump);
    command
        .arg("--no-defaults")
        .args(["--protocol=TCP", "-h", "127.0.0.1", "-P"])
        .arg(primary.port.to_string())
        .args(["-u", ROOT])
        .args([
            "--all-databases",
            "--lock-all-tables",
            "--master-data=1",
            "--gtid",
        ])
        .args(["--flush-privileges", "--hex-blob"])
        .args(NOT_DUMPED.map(|table| format!("--ignore-table={table}")))
        .env("MYSQL_PWD", primary.password)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    let mut dumping = command.spawn().map_err(|source| StackError::Spawn {
        program: dump.to_path_buf(),
        source,
    })?;
    let Some(dumped) = dumping.stdout.take() else {
        // Cannot happen: stdout was piped. Without it there is nothing to load.
        let _ = wait_within(&mut dumping, Duration::ZERO);
        return Err(primary.failed("dumping the primary", "no output pipe", &[]));
    };
    let prelude = Cursor::new("SET sql_log_off = 1, sql_log_bin = 0;\n");
    let loaded = replica.run_input(
        "loading the primary's dump into the replica",
        prelude.chain(dumped),
        SEED_TIMEOUT,
        &[],
    );
    // The dump ends once its output is read, or fails writing once the client is gone.
    let dumped = wait_within(&mut dumping, SQL_TIMEOUT)
        .map_err(StackError::io("waiting for", dump))?
        .ok_or_else(|| StackError::HelperTimedOut {
            program: dump.to_path_buf(),
            timeout: SQL_TIMEOUT,
        })?;
    // A failed dump explains a failed load, not the other way round.
    if !dumped.success() {
        return Err(primary.failed("dumping the primary", &log_tail(dump_log, 0), &[]));
    }
    loaded.map(drop)
}

/// Points `replica` at the primary on `primary_port`, as the replication user with
/// `password`, from the position the dump set, and starts both replication threads.
pub(super) fn follow(replica: &Root, primary_port: u16, password: &str) -> Result<(), StackError> {
    replica.run(
        "starting replication",
        &format!(
            "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {primary_port}, \
             MASTER_USER = '{REPLICATION_USER}', MASTER_PASSWORD = {}, \
             MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1;\n\
             START SLAVE;",
            quote(password)
        ),
        &[password],
    )?;
    Ok(())
}

/// Waits until `SHOW SLAVE STATUS` on `replica` shows both threads running, failing at once
/// when the SQL thread stopped on an error.
pub(super) fn wait_replicating(replica: &Root, primary_port: u16) -> Result<(), StackError> {
    let deadline = Instant::now() + REPLICATING_TIMEOUT;
    loop {
        let status = SlaveStatus::parse(&replica.run(
            "reading the replication status",
            "SHOW SLAVE STATUS\\G",
            &[],
        )?);
        if status.io_running == "Yes" && status.sql_running == "Yes" {
            return Ok(());
        }
        let failed = status.sql_running == "No" && !status.last_sql_error.is_empty();
        if failed || Instant::now() >= deadline {
            return Err(StackError::NotReplicating {
                port: replica.port,
                primary_port,
                timeout: REPLICATING_TIMEOUT,
                status: status.describe(),
                log: replica.error_log.to_path_buf(),
                tail: log_tail(replica.error_log, 0),
            });
        }
        std::thread::sleep(STATUS_POLL);
    }
}

/// The fields of `SHOW SLAVE STATUS` the stack looks at.
#[derive(Debug, Default, PartialEq, Eq)]
struct SlaveStatus {
    io_running: String,
    sql_running: String,
    last_io_error: String,
    last_sql_error: String,
}

impl SlaveStatus {
    /// Reads the vertical (`\G`) output of `SHOW SLAVE STATUS`: one `Name: value` per line.
    fn parse(vertical: &str) -> SlaveStatus {
        let mut status = SlaveStatus::default();
        for line in vertical.lines() {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let field = match name.trim() {
                "Slave_IO_Running" => &mut status.io_running,
                "Slave_SQL_Running" => &mut status.sql_running,
                "Last_IO_Error" => &mut status.last_io_error,
                "Last_SQL_Error" => &mut status.last_sql_error,
                _ => continue,
            };
            *field = value.trim().to_string();
        }
        status
    }

    /// The threads' states and their last errors, for an error message.
    fn describe(&self) -> String {
        if self.io_running.is_empty() && self.sql_running.is_empty() {
            return "no replication configured".to_string();
        }
        let mut text = format!(
            "Slave_IO_Running: {}, Slave_SQL_Running: {}",
            self.io_running, self.sql_running
        );
        for (name, error) in [
            ("Last_IO_Error", &self.last_io_error),
            ("Last_SQL_Error", &self.last_sql_error),
        ] {
            if !error.is_empty() {
                text.push_str(&format!(", {name}: {error}"));
            }
        }
        text
    }
}

/// `text` with every one of `secrets` replaced by `<redacted>`, for error messages: a client
/// may quote the statement it choked on.
fn redact(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .fold(text.to_string(), |text, secret| {
            text.replace(secret, "<redacted>")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "*************************** 1. row ***************************\n\
                Slave_IO_State: Waiting for master to send event\n\
                   Master_Host: 127.0.0.1\n\
              Slave_IO_Running: Yes\n\
             Slave_SQL_Running: No\n\
                 Last_IO_Error: \n\
                Last_SQL_Error: Error 'Operation CREATE USER failed for 'a'@'%'' on query\n";

    #[test]
    fn slave_status_reads_the_threads_and_errors() {
        let status = SlaveStatus::parse(STATUS);
        assert_eq!(status.io_running, "Yes");
        assert_eq!(status.sql_running, "No");
        assert_eq!(status.last_io_error, "");
        assert!(
            status
                .last_sql_error
                .starts_with("Error 'Operation CREATE USER")
        );
        let described = status.describe();
        assert!(
            described.starts_with("Slave_IO_Running: Yes, Slave_SQL_Running: No, Last_SQL_Error"),
            "{described}"
        );
    }

    #[test]
    fn no_status_means_no_replication() {
        assert_eq!(
            SlaveStatus::parse("").describe(),
            "no replication configured"
        );
    }

    #[test]
    fn redact_replaces_every_secret() {
        assert_eq!(
            redact("near 'pw1', 'pw2' and pw1", &["pw1", "pw2", ""]),
            "near '<redacted>', '<redacted>' and <redacted>"
        );
    }

    #[test]
    fn the_dump_leaves_out_the_replicas_own_position() {
        assert!(NOT_DUMPED.contains(&"mysql.gtid_slave_pos"));
    }
}
