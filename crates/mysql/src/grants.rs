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

use std::fmt;

use thiserror::Error;

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

/// Checks a table's privileges read from `SHOW GRANTS` against the grant tables, which hold
/// them as data: every table-level privilege must be in `table_privileges`
/// (`mysql.tables_priv.Table_priv`, e.g. `Select,Insert,Grant`) and every column privilege in
/// `columns` (`mysql.columns_priv` rows: column name, `Column_priv`). A MySQL 5.7 column name
/// that prints as more privileges (`a), INSERT (b`) fails here.
pub fn check_table_privileges(
    grant: &Grant,
    table_privileges: &str,
    columns: &[(String, String)],
) -> Result<(), GrantError> {
    let (Grant::Privileges {
        privileges, object, ..
    }
    | Grant::Revoke { privileges, object }) = grant
    else {
        return Ok(());
    };
    let stored = |set: &str| -> Vec<String> {
        set.split(',')
            .map(|word| match word.trim().to_ascii_uppercase().as_str() {
                "DELETE VERSIONING ROWS" => "DELETE HISTORY".to_owned(),
                other => other.to_owned(),
            })
            .filter(|word| !word.is_empty())
            .collect()
    };
    let table_level = stored(table_privileges);
    for privilege in privileges {
        let mismatch = |reason: String| GrantError {
            privilege: privilege.name.clone(),
            object: object.to_string(),
            reason,
        };
        if privilege.columns.is_empty() {
            let held = if privilege.name == "ALL" || privilege.name == "ALL PRIVILEGES" {
                ["SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP"]
                    .iter()
                    .all(|name| table_level.iter().any(|held| held == name))
            } else {
                table_level.contains(&privilege.name)
            };
            if !held {
                return Err(mismatch(
                    "mysql.tables_priv does not hold this table-level privilege".to_owned(),
                ));
            }
            continue;
        }
        for column in &privilege.columns {
            let held = columns.iter().any(|(name, set)| {
                name.eq_ignore_ascii_case(column) && stored(set).contains(&privilege.name)
            });
            if !held {
                return Err(mismatch(format!(
                    "mysql.columns_priv does not hold it on column {}",
                    identifier(column)
                )));
            }
        }
    }
    Ok(())
}

/// A token: an unquoted word, a quoted name or string (its text unquoted), or a punctuation
/// character.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    /// `` `name` ``, or `"name"` (ANSI_QUOTES).
    Quoted(String),
    /// `'text'`.
    Text(String),
    Punct(char),
}

impl Token {
    fn is_word(&self, keyword: &str) -> bool {
        matches!(self, Token::Word(word) if word.eq_ignore_ascii_case(keyword))
    }
}

/// Splits a line into tokens; an unclosed quote is an error.
fn tokens(text: &str) -> Result<Vec<Token>, &'static str> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        if c == '`' || c == '"' || c == '\'' {
            let mut value = String::new();
            loop {
                match chars.next() {
                    None => return Err("a quoted name or string is not closed"),
                    Some('\\') if c == '\'' => match chars.next() {
                        None => return Err("a quoted name or string is not closed"),
                        Some('n') => value.push('\n'),
                        Some('t') => value.push('\t'),
                        Some('r') => value.push('\r'),
                        Some('0') => value.push('\0'),
                        Some(other) => value.push(other),
                    },
                    Some(q) if q == c => {
                        if chars.peek() == Some(&c) {
                            chars.next();
                            value.push(c);
                        } else {
                            break;
                        }
                    }
                    Some(other) => value.push(other),
                }
            }
            tokens.push(if c == '\'' {
                Token::Text(value)
            } else {
                Token::Quoted(value)
            });
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let mut word = String::from(c);
            while let Some(&next) = chars.peek() {
                if next.is_alphanumeric() || next == '_' || next == '$' {
                    word.push(next);
                    chars.next();
                } else {
                    break;
                }
            }
            tokens.push(Token::Word(word));
        } else {
            tokens.push(Token::Punct(c));
        }
    }
    Ok(tokens)
}

/// The parser's position in a line, and what it has read so far (for errors).
struct Parser {
    tokens: Vec<Token>,
    at: usize,
    privilege: String,
    object: String,
}

impl Parser {
    fn fail(&self, reason: impl Into<String>) -> GrantError {
        GrantError {
            privilege: self.privilege.clone(),
            object: self.object.clone(),
            reason: reason.into(),
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn peek_word(&self, keyword: &str) -> bool {
        self.peek().is_some_and(|t| t.is_word(keyword))
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn eat_word(&mut self, keyword: &str) -> bool {
        let found = self.peek_word(keyword);
        if found {
            self.at += 1;
        }
        found
    }

    fn eat_punct(&mut self, c: char) -> bool {
        let found = self.peek() == Some(&Token::Punct(c));
        if found {
            self.at += 1;
        }
        found
    }

    fn expect_word(&mut self, keyword: &str) -> Result<(), GrantError> {
        if self.eat_word(keyword) {
            Ok(())
        } else {
            Err(self.fail(format!("expected {keyword}")))
        }
    }

    fn expect_punct(&mut self, c: char) -> Result<(), GrantError> {
        if self.eat_punct(c) {
            Ok(())
        } else {
            Err(self.fail(format!("expected {c:?}")))
        }
    }

    /// A name: quoted, or an unquoted word (MySQL 5.7 leaves some names unquoted).
    fn name(&mut self, what: &str) -> Result<String, GrantError> {
        match self.next() {
            Some(Token::Quoted(name) | Token::Word(name)) => Ok(name),
            _ => Err(self.fail(format!("expected {what}"))),
        }
    }

    /// An account part: a quoted name, a string or a word.
    fn account_part(&mut self, what: &str) -> Result<String, GrantError> {
        match self.next() {
            Some(Token::Quoted(name) | Token::Text(name) | Token::Word(name)) => Ok(name),
            _ => Err(self.fail(format!("expected {what}"))),
        }
    }

    fn account(&mut self) -> Result<Account, GrantError> {
        let user = self.account_part("a user name")?;
        let host = if self.eat_punct('@') {
            self.account_part("a host name")?
        } else {
            "%".to_owned()
        };
        Ok(Account { user, host })
    }

    /// The grantee: it must be the account whose grants were read.
    fn grantee(&mut self, keyword: &str, expected: &Account) -> Result<(), GrantError> {
        self.expect_word(keyword)?;
        let found = self.account()?;
        if found != *expected {
            return Err(self.fail(format!(
                "the grantee {found} is not the account whose grants were read"
            )));
        }
        Ok(())
    }

    /// `SELECT, INSERT (a, b), CREATE TEMPORARY TABLES` up to `ON`.
    fn privileges(&mut self) -> Result<Vec<Privilege>, GrantError> {
        let mut privileges = Vec::new();
        loop {
            let mut words = Vec::new();
            while let Some(Token::Word(word)) = self.peek().cloned() {
                if word.eq_ignore_ascii_case("ON") && !words.is_empty() {
                    break;
                }
                if !word.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
                    return Err(self.fail("a privilege name holds other characters"));
                }
                words.push(word.to_ascii_uppercase());
                self.at += 1;
            }
            if words.is_empty() {
                return Err(self.fail("expected a privilege"));
            }
            let name = words.join(" ");
            if self.privilege == "?" {
                self.privilege = name.clone();
            }
            let mut columns = Vec::new();
            if self.eat_punct('(') {
                loop {
                    columns.push(self.name("a column name")?);
                    if self.eat_punct(')') {
                        break;
                    }
                    self.expect_punct(',')?;
                }
            }
            privileges.push(Privilege { name, columns });
            if !self.eat_punct(',') {
                return Ok(privileges);
            }
        }
    }

    /// `*.*`, `db.*`, `db.table`, `PROCEDURE db.name`.
    fn object(&mut self) -> Result<Object, GrantError> {
        let kind = if self.eat_word("PROCEDURE") {
            Some(RoutineKind::Procedure)
        } else if self.eat_word("FUNCTION") {
            Some(RoutineKind::Function)
        } else if self.eat_word("PACKAGE") {
            Some(if self.eat_word("BODY") {
                RoutineKind::PackageBody
            } else {
                RoutineKind::Package
            })
        } else {
            None
        };
        let object = if kind.is_none() && self.eat_punct('*') {
            self.expect_punct('.')?;
            self.expect_punct('*')?;
            Object::Global
        } else {
            let database = self.name("a database name")?;
            self.expect_punct('.')?;
            match kind {
                Some(kind) => Object::Routine {
                    kind,
                    database,
                    name: self.name("a routine name")?,
                },
                None if self.eat_punct('*') => Object::Database(database),
                None => Object::Table {
                    database,
                    table: self.name("a table name")?,
                },
            }
        };
        self.object = object.to_string();
        Ok(object)
    }

    /// A string literal (a password hash, a TLS subject).
    fn text(&mut self, what: &str) -> Result<(), GrantError> {
        match self.next() {
            Some(Token::Text(_)) => Ok(()),
            _ => Err(self.fail(format!("expected {what}"))),
        }
    }

    /// What MariaDB and MySQL 5.6 print after the grantee of the global line: the password,
    /// TLS requirements and limits, all dropped here (copied from `mysql.user` instead).
    fn account_options(&mut self) -> Result<bool, GrantError> {
        let mut grant_option = false;
        if self.eat_word("IDENTIFIED") {
            if self.eat_word("BY") {
                self.eat_word("PASSWORD");
                self.text("a password hash")?;
            } else if self.eat_word("VIA") {
                loop {
                    self.name("an authentication plugin")?;
                    if self.eat_word("USING") || self.eat_word("AS") {
                        self.text("authentication data")?;
                    }
                    if !self.eat_word("OR") {
                        break;
                    }
                }
            } else if self.eat_word("WITH") {
                self.account_part("an authentication plugin")?;
                if self.eat_word("AS") || self.eat_word("BY") {
                    self.text("authentication data")?;
                }
            } else {
                return Err(self.fail("IDENTIFIED is followed by something unexpected"));
            }
        }
        if self.eat_word("REQUIRE")
            && !(self.eat_word("NONE") || self.eat_word("SSL") || self.eat_word("X509"))
        {
            loop {
                if !(self.eat_word("CIPHER") || self.eat_word("ISSUER") || self.eat_word("SUBJECT"))
                {
                    return Err(self.fail("REQUIRE is followed by something unexpected"));
                }
                self.text("a TLS requirement")?;
                self.eat_word("AND");
                if !(self.peek_word("CIPHER")
                    || self.peek_word("ISSUER")
                    || self.peek_word("SUBJECT"))
                {
                    break;
                }
            }
        }
        if self.eat_word("WITH") {
            loop {
                if self.eat_word("GRANT") {
                    self.expect_word("OPTION")?;
                    grant_option = true;
                } else if [
                    "MAX_QUERIES_PER_HOUR",
                    "MAX_UPDATES_PER_HOUR",
                    "MAX_CONNECTIONS_PER_HOUR",
                    "MAX_USER_CONNECTIONS",
                    "MAX_STATEMENT_TIME",
                ]
                .iter()
                .any(|limit| self.eat_word(limit))
                {
                    match self.next() {
                        Some(Token::Word(number))
                            if number.chars().all(|c| c.is_ascii_digit() || c == '.') => {}
                        _ => return Err(self.fail("a limit is not a number")),
                    }
                } else {
                    break;
                }
                if self.peek().is_none() {
                    break;
                }
            }
        }
        Ok(grant_option)
    }

    /// `WITH <keyword> OPTION` or nothing.
    fn option(&mut self, keyword: &str) -> Result<bool, GrantError> {
        if self.eat_word("WITH") {
            self.expect_word(keyword)?;
            self.expect_word("OPTION")?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Column lists belong to table grants only.
    fn columns_only_on_tables(
        &self,
        privileges: &[Privilege],
        object: &Object,
    ) -> Result<(), GrantError> {
        let has_columns = privileges.iter().any(|p| !p.columns.is_empty());
        if has_columns && !matches!(object, Object::Table { .. }) {
            return Err(self.fail("a column list on something other than a table"));
        }
        Ok(())
    }

    fn end(&self) -> Result<(), GrantError> {
        if self.at < self.tokens.len() {
            return Err(self.fail("there is more after the grantee and its options"));
        }
        Ok(())
    }
}

/// Parses one line of `SHOW GRANTS FOR grantee` (a trailing `;` is allowed).
pub fn parse_line(line: &str, grantee: &Account) -> Result<Grant, GrantError> {
    let line = line.trim().trim_end_matches(';');
    let tokens = tokens(line).map_err(|reason| GrantError {
        privilege: "?".to_owned(),
        object: "?".to_owned(),
        reason: reason.to_owned(),
    })?;
    let mut p = Parser {
        tokens,
        at: 0,
        privilege: "?".to_owned(),
        object: "?".to_owned(),
    };
    let grant = if p.eat_word("GRANT") {
        grant(&mut p, grantee)?
    } else if p.eat_word("REVOKE") {
        let privileges = p.privileges()?;
        p.expect_word("ON")?;
        let object = p.object()?;
        p.columns_only_on_tables(&privileges, &object)?;
        p.grantee("FROM", grantee)?;
        Grant::Revoke { privileges, object }
    } else if p.eat_word("SET") {
        p.expect_word("DEFAULT")?;
        p.expect_word("ROLE")?;
        p.privilege = "SET DEFAULT ROLE".to_owned();
        let role = p.account_part("a role name")?;
        p.grantee("FOR", grantee)?;
        Grant::DefaultRole(role)
    } else {
        return Err(p.fail("the line is not GRANT, REVOKE or SET DEFAULT ROLE"));
    };
    p.end()?;
    Ok(grant)
}

/// The rest of a `GRANT` line.
fn grant(p: &mut Parser, grantee: &Account) -> Result<Grant, GrantError> {
    if p.peek_word("PROXY") && p.tokens.get(p.at + 1).is_some_and(|t| t.is_word("ON")) {
        p.at += 2;
        p.privilege = "PROXY".to_owned();
        let proxied = p.account()?;
        p.object = format!("{}@{}", literal(&proxied.user), literal(&proxied.host));
        p.grantee("TO", grantee)?;
        let grant_option = p.option("GRANT")?;
        return Ok(Grant::Proxy {
            proxied,
            grant_option,
        });
    }
    if matches!(p.peek(), Some(Token::Quoted(_) | Token::Text(_))) {
        let mut roles = Vec::new();
        loop {
            let name = p.account_part("a role name")?;
            let host = if p.eat_punct('@') {
                Some(p.account_part("a role's host")?)
            } else {
                None
            };
            if p.privilege == "?" {
                p.privilege = format!("role {}", identifier(&name));
            }
            roles.push(Role { name, host });
            if !p.eat_punct(',') {
                break;
            }
        }
        p.grantee("TO", grantee)?;
        let admin_option = p.option("ADMIN")?;
        return Ok(Grant::Roles {
            roles,
            admin_option,
        });
    }
    let privileges = p.privileges()?;
    p.expect_word("ON")?;
    let object = p.object()?;
    p.columns_only_on_tables(&privileges, &object)?;
    p.grantee("TO", grantee)?;
    let grant_option = if object == Object::Global {
        p.account_options()?
    } else {
        p.option("GRANT")?
    };
    Ok(Grant::Privileges {
        privileges,
        object,
        grant_option,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clone_account() -> Account {
        Account::new("app_clone", "10.0.0.%")
    }

    /// Parses a line of `SHOW GRANTS FOR app@host` and renders it for the clone.
    fn replay(line: &str, host: &str) -> Result<String, GrantError> {
        parse_line(line, &Account::new("app", host)).map(|g| g.statement(&clone_account()))
    }

    const TO: &str = "TO 'app_clone'@'10.0.0.%'";

    #[test]
    fn mariadb_10_lines() {
        let cases = [
            (
                "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'",
                format!("GRANT USAGE ON *.* {TO}"),
            ),
            (
                "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19' REQUIRE SSL WITH MAX_QUERIES_PER_HOUR 10 MAX_USER_CONNECTIONS 2",
                format!("GRANT USAGE ON *.* {TO}"),
            ),
            (
                "GRANT USAGE ON *.* TO `app`@`%` REQUIRE CIPHER 'AES256-SHA' AND SUBJECT '/CN=app'",
                format!("GRANT USAGE ON *.* {TO}"),
            ),
            (
                "GRANT SELECT, INSERT ON `shop`.* TO `app`@`%`",
                format!("GRANT SELECT, INSERT ON `shop`.* {TO}"),
            ),
            (
                "GRANT SELECT ON `shop`.`orders` TO `app`@`%` WITH GRANT OPTION",
                format!("GRANT SELECT ON `shop`.`orders` {TO} WITH GRANT OPTION"),
            ),
            (
                "GRANT SELECT (`id`, `to`), UPDATE (`total`) ON `shop`.`orders` TO `app`@`%`",
                format!("GRANT SELECT (`id`, `to`), UPDATE (`total`) ON `shop`.`orders` {TO}"),
            ),
            (
                "GRANT EXECUTE ON PROCEDURE `shop`.`to` TO `app`@`%`",
                format!("GRANT EXECUTE ON PROCEDURE `shop`.`to` {TO}"),
            ),
            (
                "GRANT EXECUTE, ALTER ROUTINE ON FUNCTION `shop`.`f` TO `app`@`%`",
                format!("GRANT EXECUTE, ALTER ROUTINE ON FUNCTION `shop`.`f` {TO}"),
            ),
            (
                "GRANT EXECUTE ON PACKAGE BODY `shop`.`pkg` TO `app`@`%`",
                format!("GRANT EXECUTE ON PACKAGE BODY `shop`.`pkg` {TO}"),
            ),
            (
                "GRANT `reader` TO `app`@`%`",
                format!("GRANT `reader` {TO}"),
            ),
            (
                "GRANT `admin``s role` TO `app`@`%` WITH ADMIN OPTION",
                format!("GRANT `admin``s role` {TO} WITH ADMIN OPTION"),
            ),
            (
                "SET DEFAULT ROLE `reader` FOR `app`@`%`",
                "SET DEFAULT ROLE `reader` FOR 'app_clone'@'10.0.0.%'".to_owned(),
            ),
            (
                "GRANT ALL PRIVILEGES ON *.* TO `app`@`%` WITH GRANT OPTION",
                format!("GRANT ALL PRIVILEGES ON *.* {TO} WITH GRANT OPTION"),
            ),
            (
                "GRANT PROXY ON ''@'%' TO 'app'@'%' WITH GRANT OPTION",
                format!("GRANT PROXY ON ''@'%' {TO} WITH GRANT OPTION"),
            ),
            (
                "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED VIA ed25519 USING 'ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY'",
                format!("GRANT USAGE ON *.* {TO}"),
            ),
            (
                "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED VIA mysql_native_password USING '*AB' OR unix_socket",
                format!("GRANT USAGE ON *.* {TO}"),
            ),
            (
                "GRANT SELECT ON `shop\\_db`.* TO `app`@`%` WITH GRANT OPTION",
                format!("GRANT SELECT ON `shop\\_db`.* {TO} WITH GRANT OPTION"),
            ),
            (
                "GRANT DELETE HISTORY, CREATE TEMPORARY TABLES ON `shop`.* TO `app`@`%`",
                format!("GRANT DELETE HISTORY, CREATE TEMPORARY TABLES ON `shop`.* {TO}"),
            ),
            // Hostile names, as MariaDB prints them (quoted, backticks doubled).
            (
                "GRANT SELECT (`c``) ON *.* TO 'x'@'%'; CREATE USER 'p'@'%' -- '\\`) ON `d``; DROP DATABASE mysql; '\"`.`t``) ON *.* TO x; --` TO `app`@`%`",
                format!(
                    "GRANT SELECT (`c``) ON *.* TO 'x'@'%'; CREATE USER 'p'@'%' -- '\\`) ON `d``; DROP DATABASE mysql; '\"`.`t``) ON *.* TO x; --` {TO}"
                ),
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(replay(line, "%").unwrap(), expected, "{line}");
        }
    }

    #[test]
    fn mysql_5_7_lines() {
        let cases = [
            (
                "GRANT USAGE ON *.* TO 'app'@'%'",
                format!("GRANT USAGE ON *.* {TO}"),
            ),
            (
                "GRANT SELECT, INSERT ON `shop`.* TO 'app'@'%'",
                format!("GRANT SELECT, INSERT ON `shop`.* {TO}"),
            ),
            // Column names unquoted, reserved words included.
            (
                "GRANT SELECT (id, total), UPDATE (total) ON `shop`.`orders` TO 'app'@'%'",
                format!("GRANT SELECT (`id`, `total`), UPDATE (`total`) ON `shop`.`orders` {TO}"),
            ),
            (
                "GRANT SELECT(FIRST, ID, KEY, LAST, ORDER) ON `tf`.`tbl` TO 'app'@'%'",
                format!("GRANT SELECT (`FIRST`, `ID`, `KEY`, `LAST`, `ORDER`) ON `tf`.`tbl` {TO}"),
            ),
            (
                "GRANT EXECUTE ON PROCEDURE `shop`.`refund` TO 'app'@'%'",
                format!("GRANT EXECUTE ON PROCEDURE `shop`.`refund` {TO}"),
            ),
            (
                "GRANT ALL PRIVILEGES ON `shop`.* TO 'app'@'%' WITH GRANT OPTION",
                format!("GRANT ALL PRIVILEGES ON `shop`.* {TO} WITH GRANT OPTION"),
            ),
            (
                "GRANT PROXY ON ''@'' TO 'app'@'%'",
                format!("GRANT PROXY ON ''@'' {TO}"),
            ),
            (
                "GRANT SELECT ON shop.orders TO 'app'@'%'",
                format!("GRANT SELECT ON `shop`.`orders` {TO}"),
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(replay(line, "%").unwrap(), expected, "{line}");
        }
    }

    /// Recorded MySQL 5.7 lines of a user that created a column whose name carries a second
    /// statement, and granted itself a privilege on it. Each line either renders into one
    /// statement with every name quoted, or is refused; none reaches the server as written.
    #[test]
    fn mysql_5_7_unquoted_column_payloads_are_quoted_or_refused() {
        let refused = [
            // The textbook payload: the column name closes the list and chains a statement.
            "GRANT SELECT (a) ON *.* TO 'app'@'%'; CREATE USER 'x'@'%'; -- ) ON `shop`.`t` TO 'app'@'%'",
            "GRANT SELECT (id, a) ON *.* TO 'app'@'%' WITH GRANT OPTION; DROP DATABASE mysql; --) ON `shop`.`t` TO 'app'@'%'",
            // A second grantee.
            "GRANT SELECT (a) ON `shop`.`t` TO 'app'@'%', 'evil'@'%' -- ) ON `shop`.`t` TO 'app'@'%'",
            // Another object than the one the grant is on.
            "GRANT SELECT (a) ON *.* TO 'app'@'%' WITH GRANT OPTION, SELECT (b) ON `shop`.`t` TO 'app'@'%'",
            // A quote that would swallow the rest of the line.
            "GRANT SELECT (a) ON *.* TO 'app'@'%' IDENTIFIED BY PASSWORD ') ON `shop`.`t` TO 'app'@'%'",
            "GRANT SELECT (a`) ON `shop`.`t` TO 'app'@'%'",
            // Names with spaces or punctuation cannot be told apart unquoted.
            "GRANT SELECT (first name) ON `shop`.`t` TO 'app'@'%'",
            "GRANT SELECT (a;b) ON `shop`.`t` TO 'app'@'%'",
            // Another account's grants.
            "GRANT SELECT ON `shop`.* TO 'root'@'%'",
            "REVOKE SELECT ON `shop`.* FROM 'app'@'%'; DROP USER 'root'@'%'",
        ];
        for line in refused {
            let error = replay(line, "%").expect_err(line);
            assert!(error.to_string().contains("nothing was run"), "{error}");
            // A quote left open by the payload stops the line before its privilege is read.
            assert!(
                ["SELECT", "?"].contains(&error.privilege.as_str()),
                "{error}"
            );
        }
        // What still parses renders with every name quoted: one statement, nothing chained.
        let (line, expected) = (
            "GRANT SELECT (a), INSERT (b) ON `shop`.`t` TO 'app'@'%'",
            format!("GRANT SELECT (`a`), INSERT (`b`) ON `shop`.`t` {TO}"),
        );
        assert_eq!(replay(line, "%").unwrap(), expected);
    }

    #[test]
    fn mysql_8_lines() {
        let cases = [
            (
                "GRANT USAGE ON *.* TO `app`@`%`",
                format!("GRANT USAGE ON *.* {TO}"),
            ),
            (
                "GRANT SELECT, INSERT, UPDATE ON `shop`.* TO `app`@`%` WITH GRANT OPTION",
                format!("GRANT SELECT, INSERT, UPDATE ON `shop`.* {TO} WITH GRANT OPTION"),
            ),
            (
                "GRANT BACKUP_ADMIN,BINLOG_ADMIN ON *.* TO `app`@`%`",
                format!("GRANT BACKUP_ADMIN, BINLOG_ADMIN ON *.* {TO}"),
            ),
            (
                "GRANT `reader`@`%`,`writer`@`%` TO `app`@`%`",
                format!("GRANT `reader`@`%`, `writer`@`%` {TO}"),
            ),
            (
                "GRANT `reader`@`%` TO `app`@`%` WITH ADMIN OPTION",
                format!("GRANT `reader`@`%` {TO} WITH ADMIN OPTION"),
            ),
            (
                "REVOKE INSERT ON `mysql`.* FROM `app`@`%`",
                "REVOKE INSERT ON `mysql`.* FROM 'app_clone'@'10.0.0.%'".to_owned(),
            ),
            (
                "GRANT PROXY ON ``@`` TO `app`@`%`",
                format!("GRANT PROXY ON ''@'' {TO}"),
            ),
            (
                "GRANT SELECT (`id`), INSERT (`a``b`) ON `shop`.`t` TO `app`@`%`",
                format!("GRANT SELECT (`id`), INSERT (`a``b`) ON `shop`.`t` {TO}"),
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(replay(line, "%").unwrap(), expected, "{line}");
        }
    }

    #[test]
    fn the_grantee_must_be_the_account_read() {
        assert!(replay("GRANT SELECT ON `s`.* TO `app`@`localhost`", "localhost").is_ok());
        let error = replay("GRANT SELECT ON `s`.* TO `app`@`%`", "localhost").unwrap_err();
        assert_eq!(error.privilege, "SELECT");
        assert_eq!(error.object, "`s`.*");
        assert!(error.reason.contains("is not the account"), "{error}");
    }

    #[test]
    fn other_lines_are_errors_without_their_text() {
        let error = replay(
            "CREATE USER `app`@`%` IDENTIFIED BY PASSWORD '*SECRETHASH'",
            "%",
        )
        .unwrap_err();
        assert!(!error.to_string().contains("SECRETHASH"), "{error}");
        let error = replay(
            "GRANT SELECT ON `s`.`t` TO `app`@`%` IDENTIFIED BY PASSWORD '*SECRETHASH'",
            "%",
        )
        .unwrap_err();
        assert!(!error.to_string().contains("SECRETHASH"), "{error}");
        assert_eq!(error.object, "`s`.`t`");
        assert!(replay("GRANT SELECT ON *.* TO", "%").is_err());
        assert!(replay("GRANT SELECT ON `unclosed TO `app`@`%`", "%").is_err());
        assert!(replay("GRANT SEL-ECT ON *.* TO `app`@`%`", "%").is_err());
    }

    #[test]
    fn table_privileges_are_checked_against_the_grant_tables() {
        let grantee = Account::new("app", "%");
        let grant = |line: &str| parse_line(line, &grantee).unwrap();
        let columns = vec![
            ("a), INSERT (b".to_owned(), "Select".to_owned()),
            // A real column `a`: the payload must still not pass for INSERT.
            ("a".to_owned(), "Select".to_owned()),
            ("id".to_owned(), "Select,Update".to_owned()),
        ];
        let cases = [
            // A column named `a), INSERT (b` printed unquoted by MySQL 5.7.
            (
                "GRANT SELECT (a), INSERT (b) ON `s`.`t` TO 'app'@'%'",
                "",
                Some("INSERT"),
            ),
            (
                "GRANT SELECT (a), INSERT, UPDATE (b) ON `s`.`t` TO 'app'@'%'",
                "",
                Some("INSERT"),
            ),
            (
                "GRANT SELECT (id), UPDATE (id) ON `s`.`t` TO 'app'@'%'",
                "",
                None,
            ),
            (
                "GRANT SELECT, DELETE HISTORY, SELECT (id) ON `s`.`t` TO `app`@`%`",
                "Select,Delete versioning rows",
                None,
            ),
            (
                "GRANT ALL PRIVILEGES ON `s`.`t` TO 'app'@'%'",
                "Select,Insert",
                Some("ALL PRIVILEGES"),
            ),
            (
                "GRANT ALL PRIVILEGES ON `s`.`t` TO 'app'@'%'",
                "Select,Insert,Update,Delete,Create,Drop,Grant,References,Index,Alter,Create View,Show view,Trigger",
                None,
            ),
        ];
        for (line, table_privileges, refused) in cases {
            let result = check_table_privileges(&grant(line), table_privileges, &columns);
            match refused {
                None => assert_eq!(result, Ok(()), "{line}"),
                Some(privilege) => {
                    let error = result.expect_err(line);
                    assert_eq!(error.privilege, privilege, "{line}");
                    assert_eq!(error.object, "`s`.`t`");
                }
            }
        }
        assert_eq!(
            grant("GRANT SELECT (id) ON `s`.`t` TO `app`@`%`").table(),
            Some(("s", "t"))
        );
        assert_eq!(grant("GRANT SELECT ON `s`.* TO `app`@`%`").table(), None);
    }
}
