//! Multi-user rotation on MySQL and MariaDB: `app` and `app_clone` take turns, the master user
//! sets the pending one's password and keeps the pair in step.
//!
//! setSecret changes **only the pending user**: the other one is AWSCURRENT (or, right after
//! finishSecret, AWSPREVIOUS), with live clients, and a host entry created for it, or TLS
//! requirements or limits copied onto it, would refuse them from a host they logged in from
//! (MySQL picks the most specific host entry). What is done, in a session of the master user,
//! is decided by [`plan`] from the host entries alone:
//!
//! - **The clone is pending**: for every host entry of the original (`SELECT Host FROM
//!   mysql.user WHERE User = ?`, not just `'%'`: AWS's template fails on other hosts), the clone
//!   `'app_clone'@'host'` is created when missing, or adopted when it exists, and made a copy of
//!   the original at that host: every line of `SHOW GRANTS`, parsed and rebuilt
//!   ([`crate::grants`]: privileges with their `WITH GRANT OPTION`, which AWS drops, role grants
//!   with `WITH ADMIN OPTION`, MySQL 8 partial revokes, MariaDB's default role), TLS
//!   requirements and resource limits from `mysql.user`, MySQL 8's default roles from
//!   `mysql.default_roles`. A new account gets the original's authentication plugin on MySQL
//!   when it is a password plugin; on MariaDB always `mysql_native_password`, since any other
//!   plugin would need the password in plaintext in the statement (and the general log).
//! - **The original is pending**: it is left as it is (it is the source of truth) apart from its
//!   password; a grant added to it reaches the clone at the next rotation where the clone is
//!   pending. When the original does not exist (the secret started with a `_clone` user), it is
//!   created as a copy of the clone.
//! - **The password is set last**, on every host entry of the pending user: MariaDB gets the
//!   `mysql_native_password` hash (`ALTER USER … IDENTIFIED BY PASSWORD '*…'`), MySQL 5.7.6+
//!   `ALTER USER … IDENTIFIED BY '…'`, which it masks in its logs. A new account is created with
//!   a random password nobody holds, so it cannot be used before its grants are in place.
//!
//! Every statement is sent on its own through the prepared-statement protocol
//! (`execute` in `database.rs`), which takes exactly one statement.
//!
//! **An existing pending user is changed only when it gives nothing new** ([`crate::pair`]):
//! setSecret proves only that the secret's current user logs in, and a user with `CREATE USER`
//! can create `boss_clone` (or `other`) and name it in its own secret. So, on every host entry,
//! an existing pending original must hold nothing the current clone does not hold, and an
//! existing pending clone nothing the current original does not hold; else setSecret fails
//! naming both accounts, the host and the first grant at fault, and changes nothing. A grant
//! given to the original while the clone is live must be given to the clone too (or wait until
//! the original is live again), and a grant only the clone has must be given to the original
//! or revoked.
//!
//! Grants are only ever added to the clone, never revoked (a clone that holds more than the
//! original is refused before anything is run, as above).
//!
//! Not atomic: MySQL commits account statements one by one. The order makes a failed run safe
//! to repeat: until the last step the pending password does not log in, so the next setSecret
//! does everything again (every statement is idempotent).

use async_trait::async_trait;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use rand::RngExt;
use rand::distr::Alphanumeric;
use rotation_core::SecretString;
use rotation_db::{CloneDatabase, SessionError, UserPair};

use crate::database::{MySql, Session, execute, execute_secret, failed, grant_rows};
use crate::grants::{self, Account};
use crate::pair::{self, Holdings};
use crate::sql::{self, AccountLimits};
use crate::version::{Flavor, ServerVersion};

/// What setSecret does to the pair before setting the pending user's password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan<'a> {
    /// The user copied from, onto the pending user; `None` leaves the pending user's grants and
    /// settings as they are.
    pub source: Option<&'a str>,
    /// The hosts copied, each with whether the pending user already has that host entry.
    pub hosts: Vec<(String, bool)>,
}

/// Decides, from the host entries of the original and the clone, what may change: only the
/// pending user, copied from the original (or, when the original does not exist, created from
/// the clone). Whether an existing pending user may be changed at all is [`crate::pair::check`].
pub fn plan<'a>(
    users: UserPair<'a>,
    original_hosts: &[String],
    clone_hosts: &[String],
) -> Result<Plan<'a>, String> {
    let (original, clone) = (users.original(), users.clone_user());
    if original_hosts.is_empty() && clone_hosts.is_empty() {
        return Err(format!(
            "neither {original} nor {clone} exists in mysql.user"
        ));
    }
    let (source, source_hosts, target_hosts) = if users.is_pending_original() {
        if !original_hosts.is_empty() {
            return Ok(Plan {
                source: None,
                hosts: Vec::new(),
            });
        }
        (clone, clone_hosts, original_hosts)
    } else {
        if original_hosts.is_empty() {
            return Ok(Plan {
                source: None,
                hosts: Vec::new(),
            });
        }
        (original, original_hosts, clone_hosts)
    };
    Ok(Plan {
        source: Some(source),
        hosts: source_hosts
            .iter()
            .map(|host| (host.clone(), target_hosts.contains(host)))
            .collect(),
    })
}

/// The host entries of a user.
async fn hosts(conn: &mut Conn, user: &str) -> Result<Vec<String>, SessionError> {
    conn.exec(sql::USER_HOSTS, (user,))
        .await
        .map_err(|e| failed(format_args!("reading the hosts of user {user}"), &e))
}

/// What each host entry of a user holds, from its `SHOW GRANTS`.
async fn holdings(
    conn: &mut Conn,
    user: &str,
    hosts: &[String],
) -> Result<Vec<(String, Holdings)>, SessionError> {
    let mut entries = Vec::with_capacity(hosts.len());
    for host in hosts {
        let lines = grant_rows(conn, &sql::show_grants(user, host))
            .await
            .map_err(|e| failed(format_args!("SHOW GRANTS for {user}@{host}"), &e))?;
        let account = Account::new(user, host.as_str());
        let mut parsed = Vec::with_capacity(lines.len());
        for line in &lines {
            parsed.push(
                grants::parse_line(line, &account)
                    .map_err(|e| precondition(format!("checking the pair at {account}: {e}")))?,
            );
        }
        entries.push((host.clone(), Holdings::from_grants(&parsed)));
    }
    Ok(entries)
}

/// An account's plugin, TLS requirements and limits.
async fn settings(
    conn: &mut Conn,
    user: &str,
    host: &str,
) -> Result<(String, AccountLimits), SessionError> {
    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let row: Option<Row> = conn
        .exec_first(sql::ACCOUNT_SETTINGS, (user, host))
        .await
        .map_err(|e| failed(format_args!("reading the account {user}@{host}"), &e))?;
    let row =
        row.ok_or_else(|| precondition(format!("the account {user}@{host} does not exist")))?;
    let limits = AccountLimits {
        ssl_type: row.1.unwrap_or_default(),
        cipher: row.2.unwrap_or_default(),
        issuer: row.3.unwrap_or_default(),
        subject: row.4.unwrap_or_default(),
        max_queries: row.5.unwrap_or(0),
        max_updates: row.6.unwrap_or(0),
        max_connections: row.7.unwrap_or(0),
        max_user_connections: row.8.unwrap_or(0),
    };
    Ok((row.0.unwrap_or_default(), limits))
}

/// The rotator's own refusal, before a change: [`SessionError::Precondition`].
fn precondition(message: String) -> SessionError {
    SessionError::Precondition(message)
}

/// A password nobody holds, for an account until its real password is set.
fn throwaway_password() -> SecretString {
    let text: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    SecretString::new(text)
}

/// The statements that give `target` what one line of `SHOW GRANTS` gives `source`: the line is
/// parsed ([`grants::parse_line`]), a table's privileges are checked against the grant tables
/// (where a name MySQL 5.7 printed unquoted cannot pass for more privileges), and the statement
/// is rebuilt with every name quoted.
async fn replayed(
    conn: &mut Conn,
    line: &str,
    source: &Account,
    target: &Account,
) -> Result<String, SessionError> {
    let grant = grants::parse_line(line, source)
        .map_err(|e| precondition(format!("copying the grants of {source}: {e}")))?;
    if let Some((database, table)) = grant.table() {
        let key = (source.user.as_str(), source.host.as_str(), database, table);
        let table_privileges: Option<String> = conn
            .exec_first(sql::TABLE_PRIVILEGES, key)
            .await
            .map_err(|e| failed(format_args!("reading mysql.tables_priv"), &e))?;
        let columns: Vec<(String, String)> = conn
            .exec(sql::COLUMN_PRIVILEGES, key)
            .await
            .map_err(|e| failed(format_args!("reading mysql.columns_priv"), &e))?;
        grants::check_table_privileges(&grant, &table_privileges.unwrap_or_default(), &columns)
            .map_err(|e| precondition(format!("copying the grants of {source}: {e}")))?;
    }
    Ok(grant.statement(target))
}

/// Makes `target` at `host` a copy of `source` at `host` (creating it when missing).
async fn copy_account(
    conn: &mut Conn,
    version: &ServerVersion,
    source: &str,
    target: &str,
    (host, target_exists): &(String, bool),
) -> Result<(), SessionError> {
    let target_account = sql::account(target, host);
    let (plugin, limits) = settings(conn, source, host).await?;
    let lines = grant_rows(conn, &sql::show_grants(source, host))
        .await
        .map_err(|e| failed(format_args!("SHOW GRANTS for {source}@{host}"), &e))?;
    let (from, to) = (Account::new(source, host), Account::new(target, host));
    // Every line is parsed and checked before anything is run: a line that is not understood
    // leaves the account as it was (or not created).
    let mut statements = Vec::with_capacity(lines.len() + 2);
    for line in &lines {
        statements.push(replayed(conn, line, &from, &to).await?);
    }
    statements.push(sql::copy_limits(&target_account, &limits));
    if version.flavor == Flavor::MySql && version.at_least(8, 0, 0) {
        let roles: Vec<(String, String)> = conn
            .exec(sql::DEFAULT_ROLES, (source, host))
            .await
            .map_err(|e| {
                failed(
                    format_args!("reading the default roles of {source}@{host}"),
                    &e,
                )
            })?;
        statements.extend(sql::default_roles(&target_account, &roles));
    }
    if !target_exists {
        let statement = sql::create_user(version, &target_account, &plugin, &throwaway_password());
        execute_secret(conn, statement, &format!("creating {target_account}")).await?;
    }
    for statement in &statements {
        execute(conn, statement).await?;
    }
    Ok(())
}

/// Brings the pending user in step ([`plan`]), then sets its password on every host entry.
async fn apply(
    session: &mut Session,
    users: UserPair<'_>,
    password: &SecretString,
) -> Result<(), SessionError> {
    let version = session.version().await?;
    let conn = session.conn()?;
    let original_hosts = hosts(conn, users.original()).await?;
    let clone_hosts = hosts(conn, users.clone_user()).await?;
    let plan = plan(users, &original_hosts, &clone_hosts).map_err(precondition)?;
    let pending_hosts = if users.is_pending_original() {
        &original_hosts
    } else {
        &clone_hosts
    };
    if !pending_hosts.is_empty() {
        // An existing pending user is handed over only when it gives nothing new (see
        // `crate::pair`): the secret's name alone does not prove the pair.
        let original = holdings(conn, users.original(), &original_hosts).await?;
        let clone = holdings(conn, users.clone_user(), &clone_hosts).await?;
        pair::check(
            users.is_pending_original(),
            (users.original(), &original),
            (users.clone_user(), &clone),
        )
        .map_err(|error| precondition(error.to_string()))?;
    }
    if let Some(source) = plan.source {
        for host in &plan.hosts {
            copy_account(conn, &version, source, users.pending, host).await?;
        }
    }
    for host in hosts(conn, users.pending).await? {
        let account = sql::account(users.pending, &host);
        let statement = sql::set_user_password(&version, &account, password);
        execute_secret(
            conn,
            statement,
            &format!("setting the password of {account}"),
        )
        .await?;
    }
    Ok(())
}

#[async_trait]
impl CloneDatabase for MySql {
    fn username_limit(&self) -> usize {
        MySql::username_limit(self)
    }

    fn username_fits(&self, name: &str) -> bool {
        name.chars().count() <= MySql::username_limit(self)
    }

    /// Not atomic: MySQL commits account statements one by one, so a failure may leave some
    /// done; the pending password is set last, so a retry starts over and repeats each
    /// statement harmlessly (see the module docs).
    async fn set_alternate_user(
        &self,
        session: &mut Session,
        users: UserPair<'_>,
        password: &SecretString,
    ) -> Result<(), SessionError> {
        apply(session, users, password).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_counts_characters() {
        let db = MySql::with_username_limit(16);
        assert!(db.username_fits("abcdefghij_clone"));
        assert!(!db.username_fits("abcdefghijk_clone"));
        assert!(db.username_fits("üüüüüüüüüü_clone"));
        assert_eq!(CloneDatabase::username_limit(&MySql::default()), 16);
    }

    /// The pair, the original's hosts, the clone's hosts, the source and the hosts copied.
    type Case<'a> = (
        UserPair<'a>,
        &'a [&'a str],
        &'a [&'a str],
        Option<&'a str>,
        Vec<(&'a str, bool)>,
    );

    #[test]
    fn only_the_pending_user_is_changed() {
        let hosts = |list: &[&str]| list.iter().map(|h| h.to_string()).collect::<Vec<_>>();
        let to_clone = UserPair {
            pending: "app_clone",
            current: "app",
        };
        let to_original = UserPair {
            pending: "app",
            current: "app_clone",
        };
        let cases: [Case<'_>; 5] = [
            // The clone is pending: copied from the original on every host of the original.
            (
                to_clone,
                &["%", "127.0.0.1"],
                &["%"],
                Some("app"),
                vec![("%", true), ("127.0.0.1", false)],
            ),
            // The original is pending: the live clone is left alone, whatever its hosts.
            (to_original, &["%", "127.0.0.1"], &["%"], None, vec![]),
            (to_original, &["%"], &["%", "10.0.0.%"], None, vec![]),
            // The original does not exist: created from the clone.
            (
                to_original,
                &[],
                &["%", "localhost"],
                Some("app_clone"),
                vec![("%", false), ("localhost", false)],
            ),
            // The clone is pending and the original does not exist: nothing to copy from.
            (to_clone, &[], &["%"], None, vec![]),
        ];
        for (users, original, clone, source, copied) in cases {
            let plan = plan(users, &hosts(original), &hosts(clone)).unwrap();
            let copied: Vec<(String, bool)> =
                copied.iter().map(|(h, e)| (h.to_string(), *e)).collect();
            assert_eq!(plan.source, source, "{users:?} {original:?} {clone:?}");
            assert_eq!(plan.hosts, copied, "{users:?} {original:?} {clone:?}");
        }
        let error = plan(to_clone, &[], &[]).unwrap_err();
        assert_eq!(error, "neither app nor app_clone exists in mysql.user");
    }

    #[test]
    fn throwaway_passwords_differ() {
        assert_ne!(throwaway_password().expose(), throwaway_password().expose());
    }
}
