//! The one place that builds PostgreSQL SQL text. DDL cannot take bind parameters, so
//! identifiers and literals are quoted here and nowhere else, and every statement built here is
//! a [`Statement`], which the sessions send on its own through the extended protocol
//! ([`crate::database::execute`]).
//!
//! Text quoted here comes from the secret (user names) and from the catalog (setting names and
//! values, role names, `VALID UNTIL`), which the database user partly writes: it is data, never
//! code. Three defences hold it so, each enough against the attack that motivated it (a user
//! that owns its database turns `standard_conforming_strings` off there and stores
//! `\'; <statement>; --` in a setting of its own role):
//!
//! - a literal holding a backslash is written in the `E'...'` form with backslashes doubled, so
//!   it reads the same whatever `standard_conforming_strings` says ([`quote_literal`]);
//! - every session sets `standard_conforming_strings`, `search_path`, `DateStyle`, `TimeZone`
//!   and `role` itself before anything else ([`SESSION_SETTINGS`]), so no database or role
//!   default changes how the built text or the catalog's answers read, or whom they run as;
//! - a statement goes through the extended protocol, whose Parse message refuses a second
//!   statement: a literal that ended early would be an error, not a second command.

use std::borrow::Cow;

use rotation_core::SecretString;

/// One SQL statement built in this module. Its text holds at most a SCRAM verifier, never a
/// password, but `Debug` still hides what follows `PASSWORD`.
#[derive(Clone, PartialEq, Eq)]
pub struct Statement(Cow<'static, str>);

impl Statement {
    /// Only the builders below make statements from text.
    fn built(text: String) -> Statement {
        Statement(Cow::Owned(text))
    }

    /// The SQL text.
    pub fn text(&self) -> &str {
        &self.0
    }

    /// Text that did not go through this module's builders, for the tests that check the
    /// session refuses what the builders never produce.
    #[cfg(test)]
    pub(crate) fn unchecked(text: &str) -> Statement {
        Statement(Cow::Owned(text.to_owned()))
    }
}

#[cfg(test)]
impl PartialEq<&str> for Statement {
    fn eq(&self, other: &&str) -> bool {
        self.text() == *other
    }
}

impl std::fmt::Debug for Statement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.find(" PASSWORD ") {
            Some(at) => write!(f, "{} PASSWORD <redacted>", &self.0[..at]),
            None => f.write_str(&self.0),
        }
    }
}

/// Quotes an identifier: wrapped in double quotes, inner double quotes doubled. Any other
/// character (quotes, backslashes, semicolons, spaces, non-ASCII) is then literal, whatever the
/// session's settings; NUL cannot occur in a name PostgreSQL accepts.
pub fn quote_identifier(name: &str) -> String {
    postgres_protocol::escape::escape_identifier(name)
}

/// Quotes a string literal so that it reads the same under either value of
/// `standard_conforming_strings`: inner single quotes doubled and, when the text holds a
/// backslash, the `E'...'` form with backslashes doubled (libpq's `PQescapeLiteral`).
pub fn quote_literal(text: &str) -> String {
    // The library puts a space before `E'` (so that it cannot glue onto a preceding
    // identifier); every caller here puts the literal after a space or a comma already.
    postgres_protocol::escape::escape_literal(text)
        .trim_start()
        .to_owned()
}

/// What every session sets first, through the extended protocol, before it runs anything else:
/// a database or role default written by the database user (`ALTER DATABASE ... SET`,
/// `ALTER ROLE ... SET`) then changes nothing in how the rotator's text is read:
///
/// - `standard_conforming_strings = on`: a backslash in a plain literal is literal;
/// - `search_path = ''`: only `pg_catalog` (always first when not listed) resolves the
///   functions and operators of the rotator's queries, so no function or operator that the user
///   created runs in the master session;
/// - `DateStyle = ISO` and `TimeZone = UTC`: `rolvaliduntil::text` is unambiguous;
/// - `role = none` (`SET ROLE NONE`): the session acts as the user that logged in, not as a
///   role a database default (`ALTER DATABASE ... SET role`) names.
///
/// The function is schema-qualified, so it is `pg_catalog`'s even before `search_path` is set.
/// `client_encoding` needs no line: tokio-postgres sends `UTF8` in the startup packet, which
/// outranks database and role defaults.
pub const SESSION_SETTINGS: &str = "SELECT \
     pg_catalog.set_config('standard_conforming_strings', 'on', false), \
     pg_catalog.set_config('search_path', '', false), \
     pg_catalog.set_config('DateStyle', 'ISO', false), \
     pg_catalog.set_config('TimeZone', 'UTC', false), \
     pg_catalog.set_config('role', 'none', false)";

/// The SCRAM-SHA-256 verifier of a password (`SCRAM-SHA-256$4096:salt$StoredKey:ServerKey`),
/// computed here with a fresh random salt, after SASLprep exactly as the server does it.
/// Sending the verifier instead of the password means the server never sees the password:
/// not in `log_statement = all` logs, not in `pg_stat_activity`.
pub fn scram_verifier(password: &SecretString) -> String {
    postgres_protocol::password::scram_sha_256(password.expose().as_bytes())
}

/// `ALTER ROLE "user" PASSWORD 'SCRAM-SHA-256$...'`.
pub fn alter_password(user: &str, password: &SecretString) -> Statement {
    Statement::built(format!(
        "ALTER ROLE {} PASSWORD {}",
        quote_identifier(user),
        quote_literal(&scram_verifier(password))
    ))
}

/// `CREATE ROLE "user" WITH LOGIN PASSWORD 'SCRAM-SHA-256$...'` (multi-user: the alternate user
/// does not exist yet).
pub fn create_login_role(user: &str, password: &SecretString) -> Statement {
    Statement::built(format!(
        "CREATE ROLE {} WITH LOGIN PASSWORD {}",
        quote_identifier(user),
        quote_literal(&scram_verifier(password))
    ))
}

/// `ALTER ROLE "user" WITH LOGIN PASSWORD 'SCRAM-SHA-256$...'` (multi-user: the alternate user
/// exists, created by an earlier rotation or by the operator).
pub fn alter_login_password(user: &str, password: &SecretString) -> Statement {
    Statement::built(format!(
        "ALTER ROLE {} WITH LOGIN PASSWORD {}",
        quote_identifier(user),
        quote_literal(&scram_verifier(password))
    ))
}

/// `GRANT "group" TO "member"`, `WITH ADMIN OPTION` when asked.
pub fn grant_membership(group: &str, member: &str, admin: bool) -> Statement {
    Statement::built(format!(
        "GRANT {} TO {}{}",
        quote_identifier(group),
        quote_identifier(member),
        if admin { " WITH ADMIN OPTION" } else { "" }
    ))
}

/// One option of `ALTER ROLE ... WITH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleOption {
    /// `SUPERUSER` / `NOSUPERUSER`.
    Superuser(bool),
    /// `CREATEDB` / `NOCREATEDB`.
    CreateDb(bool),
    /// `CREATEROLE` / `NOCREATEROLE`.
    CreateRole(bool),
    /// `INHERIT` / `NOINHERIT`.
    Inherit(bool),
    /// `LOGIN` / `NOLOGIN`.
    Login(bool),
    /// `REPLICATION` / `NOREPLICATION`.
    Replication(bool),
    /// `BYPASSRLS` / `NOBYPASSRLS`.
    BypassRls(bool),
    /// `CONNECTION LIMIT n` (-1: no limit).
    ConnectionLimit(i32),
    /// `VALID UNTIL '...'`, the timestamp as the server printed it; `None` (never expires) is
    /// `'infinity'`, since the clause cannot be removed once set.
    ValidUntil(Option<String>),
}

impl RoleOption {
    fn render(&self) -> String {
        let flag = |on: bool, keyword: &str| {
            if on {
                keyword.to_owned()
            } else {
                format!("NO{keyword}")
            }
        };
        match self {
            RoleOption::Superuser(on) => flag(*on, "SUPERUSER"),
            RoleOption::CreateDb(on) => flag(*on, "CREATEDB"),
            RoleOption::CreateRole(on) => flag(*on, "CREATEROLE"),
            RoleOption::Inherit(on) => flag(*on, "INHERIT"),
            RoleOption::Login(on) => flag(*on, "LOGIN"),
            RoleOption::Replication(on) => flag(*on, "REPLICATION"),
            RoleOption::BypassRls(on) => flag(*on, "BYPASSRLS"),
            RoleOption::ConnectionLimit(limit) => format!("CONNECTION LIMIT {limit}"),
            RoleOption::ValidUntil(until) => format!(
                "VALID UNTIL {}",
                quote_literal(until.as_deref().unwrap_or("infinity"))
            ),
        }
    }
}

/// `ALTER ROLE "role" WITH <options>`.
pub fn alter_role_options(role: &str, options: &[RoleOption]) -> Statement {
    let options: Vec<String> = options.iter().map(RoleOption::render).collect();
    Statement::built(format!(
        "ALTER ROLE {} WITH {}",
        quote_identifier(role),
        options.join(" ")
    ))
}

/// `ALTER ROLE "role" [IN DATABASE "db"] SET name = value`: a per-role setting, with the value
/// as `pg_db_role_setting` stores it (what `SHOW` prints).
pub fn set_role_setting(role: &str, database: Option<&str>, name: &str, value: &str) -> Statement {
    Statement::built(format!(
        "{} SET {} = {}",
        alter_role_in(role, database),
        setting_name(name),
        setting_value(name, value)
    ))
}

/// `ALTER ROLE "role" [IN DATABASE "db"] RESET name`.
pub fn reset_role_setting(role: &str, database: Option<&str>, name: &str) -> Statement {
    Statement::built(format!(
        "{} RESET {}",
        alter_role_in(role, database),
        setting_name(name)
    ))
}

fn alter_role_in(role: &str, database: Option<&str>) -> String {
    match database {
        Some(database) => format!(
            "ALTER ROLE {} IN DATABASE {}",
            quote_identifier(role),
            quote_identifier(database)
        ),
        None => format!("ALTER ROLE {}", quote_identifier(role)),
    }
}

/// A setting name, each dotted part quoted (`"myapp"."tenant"`).
fn setting_name(name: &str) -> String {
    name.split('.')
        .map(quote_identifier)
        .collect::<Vec<_>>()
        .join(".")
}

/// The settings whose stored value is a list of quoted identifiers (pg_dump's
/// `variable_is_guc_list_quote`): they must be given back element by element, since one
/// literal would become one element.
const LIST_QUOTE_SETTINGS: [&str; 6] = [
    "local_preload_libraries",
    "search_path",
    "session_preload_libraries",
    "shared_preload_libraries",
    "temp_tablespaces",
    "unix_socket_directories",
];

/// A setting value as literals: one literal, or one per element for the list settings above
/// (`"$user", public` -> `'$user', 'public'`), as pg_dump does.
fn setting_value(name: &str, value: &str) -> String {
    if !LIST_QUOTE_SETTINGS
        .iter()
        .any(|list| list.eq_ignore_ascii_case(name))
    {
        return quote_literal(value);
    }
    split_identifier_list(value)
        .iter()
        .map(|element| quote_literal(element))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits a stored list value: comma-separated, elements optionally double-quoted (with `""`
/// for a quote), blanks around elements ignored (PostgreSQL's `SplitGUCList`).
fn split_identifier_list(value: &str) -> Vec<String> {
    let mut elements = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut element = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                // A quote ends the element unless it is doubled.
                if c == '"' && chars.next_if_eq(&'"').is_none() {
                    break;
                }
                element.push(c);
            }
            while chars.next_if(|c| *c != ',').is_some() {}
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                element.push(c);
            }
            element.truncate(element.trim_end().len());
        }
        elements.push(element);
        if chars.next().is_none() {
            return elements;
        }
    }
}

/// Starts the transaction that multi-user rotation's statements run in.
pub const BEGIN: Statement = Statement(Cow::Borrowed("BEGIN"));
/// Commits it.
pub const COMMIT: Statement = Statement(Cow::Borrowed("COMMIT"));
/// Rolls it back.
pub const ROLLBACK: Statement = Statement(Cow::Borrowed("ROLLBACK"));

/// A role's attributes (bind `$1`: the name). `rolvaliduntil` as text, in the session's
/// `DateStyle`, so that it can be given back as it is.
pub const ROLE_ATTRIBUTES: &str = "SELECT oid, rolsuper, rolinherit, rolcreaterole, rolcreatedb, \
     rolcanlogin, rolreplication, rolbypassrls, rolconnlimit, rolvaliduntil::text \
     FROM pg_catalog.pg_roles WHERE rolname = $1";

/// A role's settings (bind `$1`: its oid), with the database name, NULL for all databases.
pub const ROLE_SETTINGS: &str = "SELECT d.datname::text, s.setconfig \
     FROM pg_catalog.pg_db_role_setting s \
     LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase \
     WHERE s.setrole = $1";

/// The roles a role is a direct member of (bind `$1`: its oid), with the admin option.
pub const ROLE_MEMBERSHIPS: &str = "SELECT g.rolname::text, bool_or(m.admin_option) \
     FROM pg_catalog.pg_auth_members m \
     JOIN pg_catalog.pg_roles g ON g.oid = m.roleid \
     WHERE m.member = $1 GROUP BY g.rolname";

/// Whether anything hangs on a role (bind `$1`: its oid): an object it owns or a privilege it
/// holds in any database, or a member other than the session's user (PostgreSQL 16 makes the
/// creator of a role a member of it).
pub const ROLE_IN_USE: &str = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_shdepend \
     WHERE refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND refobjid = $1) \
     OR EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members WHERE roleid = $1 AND member <> \
     (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = pg_catalog.current_user()))";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_identifier("app"), "\"app\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
        assert_eq!(
            quote_identifier("x\"; DROP TABLE t; --"),
            "\"x\"\"; DROP TABLE t; --\""
        );
        assert_eq!(quote_identifier("üser"), "\"üser\"");
    }

    #[test]
    fn literals_read_the_same_whatever_standard_conforming_strings_says() {
        for (text, quoted) in [
            ("it's", "'it''s'"),
            ("plain", "'plain'"),
            ("", "''"),
            ("üñí; -- /*", "'üñí; -- /*'"),
            ("back\\slash", "E'back\\\\slash'"),
            // The attack: with only the quote doubled, `\'` would end the literal when
            // standard_conforming_strings is off, and the rest would run as a statement.
            (
                "x\\'; CREATE ROLE pwned; --",
                "E'x\\\\''; CREATE ROLE pwned; --'",
            ),
            ("\\", "E'\\\\'"),
        ] {
            assert_eq!(quote_literal(text), quoted, "{text}");
        }
    }

    #[test]
    fn statements_print_without_what_follows_password() {
        let sql = alter_login_password("app", &SecretString::new("x"));
        assert_eq!(
            format!("{sql:?}"),
            "ALTER ROLE \"app\" WITH LOGIN PASSWORD <redacted>"
        );
        assert_eq!(format!("{BEGIN:?}"), "BEGIN");
    }

    #[test]
    fn alter_never_contains_the_password() {
        let password = SecretString::new("S3cr3t!pass'word");
        let sql = alter_password("u\"ser", &password).text().to_owned();
        assert!(!sql.contains("S3cr3t"), "{sql}");
        assert!(
            sql.starts_with("ALTER ROLE \"u\"\"ser\" PASSWORD 'SCRAM-SHA-256$4096:"),
            "{sql}"
        );
    }

    #[test]
    fn verifiers_are_salted() {
        let password = SecretString::new("same");
        assert_ne!(scram_verifier(&password), scram_verifier(&password));
    }
    #[test]
    fn multi_user_statements_quote_everything_and_hide_the_password() {
        let password = SecretString::new("S3cr3t!pass'word");
        for sql in [
            create_login_role("a\"b", &password),
            alter_login_password("a\"b", &password),
        ] {
            let sql = sql.text();
            assert!(!sql.contains("S3cr3t"), "{sql}");
            assert!(sql.contains("ROLE \"a\"\"b\" WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:"));
        }
        assert_eq!(
            grant_membership("o'k\"", "c", true),
            "GRANT \"o'k\"\"\" TO \"c\" WITH ADMIN OPTION"
        );
        assert_eq!(
            alter_role_options(
                "c",
                &[
                    RoleOption::CreateDb(true),
                    RoleOption::Superuser(false),
                    RoleOption::ConnectionLimit(7),
                    RoleOption::ValidUntil(None),
                    RoleOption::ValidUntil(Some("2030-01-01 00:00:00+00".into())),
                ]
            ),
            "ALTER ROLE \"c\" WITH CREATEDB NOSUPERUSER CONNECTION LIMIT 7 VALID UNTIL 'infinity' VALID UNTIL '2030-01-01 00:00:00+00'"
        );
    }

    #[test]
    fn settings_are_given_back_as_stored() {
        assert_eq!(
            set_role_setting("c", None, "work_mem", "64MB"),
            "ALTER ROLE \"c\" SET \"work_mem\" = '64MB'"
        );
        assert_eq!(
            set_role_setting("c", Some("d b"), "myapp.tenant", "it's"),
            "ALTER ROLE \"c\" IN DATABASE \"d b\" SET \"myapp\".\"tenant\" = 'it''s'"
        );
        assert_eq!(
            set_role_setting(
                "c",
                None,
                "search_path",
                "\"$user\", public, \"we \"\"ird\""
            ),
            "ALTER ROLE \"c\" SET \"search_path\" = '$user', 'public', 'we \"ird'"
        );
        assert_eq!(
            set_role_setting("c", None, "search_path", "\"\""),
            "ALTER ROLE \"c\" SET \"search_path\" = ''"
        );
        assert_eq!(
            set_role_setting("c", None, "DateStyle", "ISO, DMY"),
            "ALTER ROLE \"c\" SET \"DateStyle\" = 'ISO, DMY'"
        );
        assert_eq!(
            reset_role_setting("c", None, "work_mem"),
            "ALTER ROLE \"c\" RESET \"work_mem\""
        );
    }

    #[test]
    fn identifier_lists_split_like_postgres() {
        for (value, expected) in [
            ("a", vec!["a"]),
            ("\"$user\", public", vec!["$user", "public"]),
            (" a , b ", vec!["a", "b"]),
            ("\"x,y\",z", vec!["x,y", "z"]),
            ("\"q\"\"q\"", vec!["q\"q"]),
            ("", vec![""]),
        ] {
            assert_eq!(split_identifier_list(value), expected, "{value}");
        }
    }
}
