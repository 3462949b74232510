//! Multi-user rotation on MySQL and MariaDB: `app` and `app_clone` take turns, the master user
//! sets the pending one's password and keeps the pair in step.
//!
//! At every setSecret, in a session of the master user:
//!
//! - **Every host entry** of the original is found (`SELECT Host FROM mysql.user WHERE User =
//!   ?`), not just `'%'` (AWS's template fails on other hosts). For each host, the clone
//!   `'app_clone'@'host'` is created when missing, or adopted when it exists (only its password
//!   and the copied settings change). A new account gets the original's authentication plugin
//!   on MySQL when it is a password plugin; on MariaDB always `mysql_native_password`, since any
//!   other plugin would need the password in plaintext in the statement (and the general log).
//! - **Every line of `SHOW GRANTS`** of the original at that host is replayed for the clone at
//!   the same host ([`crate::grants`]): privileges with their `WITH GRANT OPTION` (AWS drops
//!   it), role grants with `WITH ADMIN OPTION`, MySQL 8 partial revokes, MariaDB's default
//!   role. The password part of MariaDB's `GRANT USAGE … IDENTIFIED BY PASSWORD '*…'` is never
//!   copied.
//! - **TLS requirements and resource limits** are copied from `mysql.user`
//!   (`ALTER USER … REQUIRE … WITH MAX_…`), and MySQL 8's default roles from
//!   `mysql.default_roles`.
//! - **The password is set last**, on every host entry of the pending user: MariaDB gets the
//!   `mysql_native_password` hash (`ALTER USER … IDENTIFIED BY PASSWORD '*…'`), MySQL 5.7.6+
//!   `ALTER USER … IDENTIFIED BY '…'`, which it masks in its logs. A new account is created with
//!   a random password nobody holds, so it cannot be used before its grants are in place.
//!
//! The original is the source of truth at every rotation, whichever user is pending, so a grant
//! added to the original reaches the clone at the next rotation (drift repair). When the
//! original does not exist (the secret started with a `_clone` user), it is created as a copy of
//! the clone.
//!
//! Grants are only ever added: a privilege the clone has and the original lacks is **not**
//! revoked. The clone is the current user every second rotation, with live sessions; revoking
//! from it during a rotation could break clients that depend on a grant an administrator gave
//! it on purpose. Revoke such grants by hand.
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
use rotation_db::{CloneDatabase, UserPair};
use tracing::debug;

use crate::database::{MySql, Session, describe, run_secret};
use crate::grants;
use crate::sql::{self, AccountLimits};
use crate::version::{Flavor, ServerVersion};

/// The host entries of a user.
async fn hosts(conn: &mut Conn, user: &str) -> Result<Vec<String>, String> {
    conn.exec(sql::USER_HOSTS, (user,))
        .await
        .map_err(|e| format!("reading the hosts of user {user}: {}", describe(&e)))
}

/// An account's plugin, TLS requirements and limits.
async fn settings(
    conn: &mut Conn,
    user: &str,
    host: &str,
) -> Result<(String, AccountLimits), String> {
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
        .map_err(|e| format!("reading the account {user}@{host}: {}", describe(&e)))?;
    let row = row.ok_or_else(|| format!("the account {user}@{host} does not exist"))?;
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

/// Runs a statement that holds no secret; the error names it.
async fn run(conn: &mut Conn, statement: &str) -> Result<(), String> {
    debug!(statement, "running");
    conn.query_drop(statement)
        .await
        .map_err(|e| format!("{statement}: {}", describe(&e)))
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

/// Makes `target` at `host` a copy of `source` at `host` (creating it when missing).
async fn copy_account(
    conn: &mut Conn,
    version: &ServerVersion,
    source: &str,
    target: &str,
    host: &str,
    target_exists: bool,
) -> Result<(), String> {
    let target_account = sql::account(target, host);
    let (plugin, limits) = settings(conn, source, host).await?;
    if !target_exists {
        let statement = sql::create_user(version, &target_account, &plugin, &throwaway_password());
        run_secret(conn, statement, &format!("creating {target_account}")).await?;
    }
    let lines: Vec<String> = conn
        .query(sql::show_grants(source, host))
        .await
        .map_err(|e| format!("SHOW GRANTS for {source}@{host}: {}", describe(&e)))?;
    for line in &lines {
        let grant = grants::parse_line(line)?;
        run(conn, &grant.for_account(&target_account)).await?;
    }
    run(conn, &sql::copy_limits(&target_account, &limits)).await?;
    if version.flavor == Flavor::MySql && version.at_least(8, 0, 0) {
        let roles: Vec<(String, String)> = conn
            .exec(sql::DEFAULT_ROLES, (source, host))
            .await
            .map_err(|e| {
                format!(
                    "reading the default roles of {source}@{host}: {}",
                    describe(&e)
                )
            })?;
        if let Some(statement) = sql::default_roles(&target_account, &roles) {
            run(conn, &statement).await?;
        }
    }
    Ok(())
}

/// Brings the pair in step from the original (or from the clone when the original does not
/// exist), then sets the pending user's password on every host entry.
async fn apply(
    session: &mut Session,
    users: UserPair<'_>,
    password: &SecretString,
) -> Result<(), String> {
    let version = session.version().await?;
    let conn = session.conn()?;
    let (original, clone) = (users.original(), users.clone_user());
    let original_hosts = hosts(conn, original).await?;
    let clone_hosts = hosts(conn, clone).await?;
    let (source, source_hosts, target, target_hosts) = if original_hosts.is_empty() {
        (clone, clone_hosts, original, original_hosts)
    } else {
        (original, original_hosts, clone, clone_hosts)
    };
    if source_hosts.is_empty() {
        return Err(format!(
            "neither {original} nor {clone} exists in mysql.user"
        ));
    }
    for host in &source_hosts {
        let exists = target_hosts.contains(host);
        copy_account(conn, &version, source, target, host, exists).await?;
    }
    for host in hosts(conn, users.pending).await? {
        let account = sql::account(users.pending, &host);
        let statement = sql::set_user_password(&version, &account, password);
        run_secret(
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

    async fn set_alternate_user(
        &self,
        session: &mut Session,
        users: UserPair<'_>,
        password: &SecretString,
    ) -> Result<(), String> {
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

    #[test]
    fn throwaway_passwords_differ() {
        assert_ne!(throwaway_password().expose(), throwaway_password().expose());
    }
}
