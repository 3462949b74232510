//! The grammar of a `SHOW GRANTS` line: tokens, then a strict descent that must consume the
//! whole line.

use super::{
    Account, Grant, GrantError, Object, Privilege, Role, RoutineKind, identifier, literal,
};

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
