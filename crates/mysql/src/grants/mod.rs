//! Reads the lines of `SHOW GRANTS` (MariaDB 10.x, MySQL 5.7 and 8.x) into their parts, so that
//! they can be replayed for another account as statements rebuilt from those parts.
//!
//! # Why parse instead of replaying the text
//!
//! A line of `SHOW GRANTS` is text the server printed, and part of it was written by the
//! database user: column, table, database and routine names. MySQL 5.7 prints column names
//! without quotes (`GRANT SELECT (id, total) ON ...`), so a column named
//! `a) ON *.* TO x; CREATE USER ...` turns a replayed line into statements the user wrote, run as
//! the master. Here a line is parsed into a [`Grant`] (privileges with their columns, the object,
//! the options, roles, proxy) by a strict grammar that must consume the whole line, and
//! [`Grant::statement`] renders it again with every identifier quoted (backticks doubled) and
//! every account as quoted strings. A line of another shape is a [`GrantError`] naming the
//! privilege and the object, and nothing is run.
//!
//! The grammar accepts the grantee only where the server prints it (`TO`/`FROM`/`FOR` and the
//! account whose grants were read), and after it only what the server prints there: the
//! password, TLS and limits of MariaDB's and MySQL 5.6's global line (dropped: the password is
//! set separately, TLS and limits are copied from `mysql.user`), `WITH GRANT OPTION` and
//! `WITH ADMIN OPTION`. So an unquoted name cannot move the object or add a grantee; what it can
//! still do on MySQL 5.7 is look like more privileges on the same table
//! (`a), INSERT (b`): [`check_table_privileges`] compares a table's privileges with
//! `mysql.tables_priv` and `mysql.columns_priv`, which hold them as data.
//!
//! The parts are in this module, the grammar in `parse.rs` and the check against the grant
//! tables in `check.rs`.

use std::fmt;

use thiserror::Error;

mod check;
mod parse;

pub use check::check_table_privileges;
pub use parse::parse_line;

/// A `user@host` account (or a MySQL 8 role, which is one), unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The user (or role) name.
    pub user: String,
    /// The host pattern.
    pub host: String,
}

impl Account {
    /// An account from its parts.
    pub fn new(user: impl Into<String>, host: impl Into<String>) -> Self {
        Account {
            user: user.into(),
            host: host.into(),
        }
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", identifier(&self.user), identifier(&self.host))
    }
}

/// A role granted to an account: MariaDB's roles have no host, MySQL 8's have one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// The role's name.
    pub name: String,
    /// The role's host (MySQL 8).
    pub host: Option<String>,
}

/// One privilege, with its columns for a column-level grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Privilege {
    /// Its keywords, upper case, one space apart (`SELECT`, `CREATE TEMPORARY TABLES`,
    /// `BINLOG_ADMIN`); only letters and underscores.
    pub name: String,
    /// The columns (empty for a table-level or wider grant).
    pub columns: Vec<String>,
}

/// The kind of a stored routine in `ON PROCEDURE ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutineKind {
    /// `PROCEDURE`.
    Procedure,
    /// `FUNCTION`.
    Function,
    /// `PACKAGE` (MariaDB, Oracle mode).
    Package,
    /// `PACKAGE BODY` (MariaDB, Oracle mode).
    PackageBody,
}

impl RoutineKind {
    fn keyword(self) -> &'static str {
        match self {
            RoutineKind::Procedure => "PROCEDURE",
            RoutineKind::Function => "FUNCTION",
            RoutineKind::Package => "PACKAGE",
            RoutineKind::PackageBody => "PACKAGE BODY",
        }
    }
}

/// What privileges are on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    /// `*.*`.
    Global,
    /// `db.*`.
    Database(String),
    /// `db.table`.
    Table {
        /// The database.
        database: String,
        /// The table.
        table: String,
    },
    /// `PROCEDURE db.name` and the like.
    Routine {
        /// Procedure, function, package or package body.
        kind: RoutineKind,
        /// The database.
        database: String,
        /// The routine.
        name: String,
    },
}

impl fmt::Display for Object {
    /// The object as a statement names it, every identifier quoted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Object::Global => f.write_str("*.*"),
            Object::Database(database) => write!(f, "{}.*", identifier(database)),
            Object::Table { database, table } => {
                write!(f, "{}.{}", identifier(database), identifier(table))
            }
            Object::Routine {
                kind,
                database,
                name,
            } => write!(
                f,
                "{} {}.{}",
                kind.keyword(),
                identifier(database),
                identifier(name)
            ),
        }
    }
}

/// One line of `SHOW GRANTS`, in parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// `GRANT privileges ON object TO grantee [WITH GRANT OPTION]`.
    Privileges {
        /// The privileges, with their columns.
        privileges: Vec<Privilege>,
        /// What they are on.
        object: Object,
        /// `WITH GRANT OPTION`.
        grant_option: bool,
    },
    /// `REVOKE privileges ON object FROM grantee` (MySQL 8 partial revokes).
    Revoke {
        /// The privileges revoked.
        privileges: Vec<Privilege>,
        /// What they are revoked on.
        object: Object,
    },
    /// `GRANT role, ... TO grantee [WITH ADMIN OPTION]`.
    Roles {
        /// The roles.
        roles: Vec<Role>,
        /// `WITH ADMIN OPTION`.
        admin_option: bool,
    },
    /// `GRANT PROXY ON account TO grantee [WITH GRANT OPTION]`.
    Proxy {
        /// The account proxied.
        proxied: Account,
        /// `WITH GRANT OPTION`.
        grant_option: bool,
    },
    /// `SET DEFAULT ROLE role FOR grantee` (MariaDB).
    DefaultRole(String),
}

/// Why a line of `SHOW GRANTS` was not understood. It names the privilege and the object as
/// far as they were read, never the line itself (which may hold a password hash).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "a line of SHOW GRANTS (privilege {privilege}, object {object}) is not understood: {reason}; nothing was run for it"
)]
pub struct GrantError {
    /// The privilege (or role, or statement) the line is about, `?` when not read yet.
    pub privilege: String,
    /// The object, quoted, `?` when not read yet.
    pub object: String,
    /// What did not fit.
    pub reason: String,
}

/// An identifier quoted with backticks, backticks inside doubled.
pub fn identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A string literal for an account part: single quotes doubled, backslashes escaped (the same
/// quoting as [`crate::sql::quote_literal`]).
fn literal(text: &str) -> String {
    crate::sql::quote_literal(text)
}

impl Grant {
    /// The statement that gives (or revokes from) `to` what this line gives its grantee.
    pub fn statement(&self, to: &Account) -> String {
        let to = format!("{}@{}", literal(&to.user), literal(&to.host));
        match self {
            Grant::Privileges {
                privileges,
                object,
                grant_option,
            } => {
                let option = if *grant_option {
                    " WITH GRANT OPTION"
                } else {
                    ""
                };
                format!(
                    "GRANT {} ON {object} TO {to}{option}",
                    privilege_list(privileges)
                )
            }
            Grant::Revoke { privileges, object } => {
                format!(
                    "REVOKE {} ON {object} FROM {to}",
                    privilege_list(privileges)
                )
            }
            Grant::Roles {
                roles,
                admin_option,
            } => {
                let roles: Vec<String> = roles
                    .iter()
                    .map(|role| match &role.host {
                        Some(host) => format!("{}@{}", identifier(&role.name), identifier(host)),
                        None => identifier(&role.name),
                    })
                    .collect();
                let option = if *admin_option {
                    " WITH ADMIN OPTION"
                } else {
                    ""
                };
                format!("GRANT {} TO {to}{option}", roles.join(", "))
            }
            Grant::Proxy {
                proxied,
                grant_option,
            } => {
                let option = if *grant_option {
                    " WITH GRANT OPTION"
                } else {
                    ""
                };
                format!(
                    "GRANT PROXY ON {}@{} TO {to}{option}",
                    literal(&proxied.user),
                    literal(&proxied.host)
                )
            }
            Grant::DefaultRole(role) => format!("SET DEFAULT ROLE {} FOR {to}", identifier(role)),
        }
    }

    /// The table a privileges line is on, for [`check_table_privileges`].
    pub fn table(&self) -> Option<(&str, &str)> {
        match self {
            Grant::Privileges {
                object: Object::Table { database, table },
                ..
            } => Some((database, table)),
            _ => None,
        }
    }
}

fn privilege_list(privileges: &[Privilege]) -> String {
    let parts: Vec<String> = privileges
        .iter()
        .map(|privilege| {
            if privilege.columns.is_empty() {
                privilege.name.clone()
            } else {
                let columns: Vec<String> =
                    privilege.columns.iter().map(|c| identifier(c)).collect();
                format!("{} ({})", privilege.name, columns.join(", "))
            }
        })
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests;
