//! The one place that builds MySQL/MariaDB SQL text: quoting, and the password statements per
//! server flavour and version.

use rotation_core::SecretString;
use sha1::{Digest, Sha1};

use crate::version::{Flavor, ServerVersion};

/// Quotes a string literal for the server's default mode (backslash escapes on): single
/// quotes doubled, backslashes and NUL escaped. Under `NO_BACKSLASH_ESCAPES` a backslash would
/// be stored doubled; the default `EXCLUDE_CHARACTERS` keeps backslashes out of passwords.
pub fn quote_literal(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('\'');
    for c in text.chars() {
        match c {
            '\'' => quoted.push_str("''"),
            '\\' => quoted.push_str("\\\\"),
            '\0' => quoted.push_str("\\0"),
            other => quoted.push(other),
        }
    }
    quoted.push('\'');
    quoted
}

/// The `mysql_native_password` hash of a password: `*` and the upper-case hex of
/// SHA1(SHA1(password)), as `PASSWORD()` computes it.
pub fn native_password_hash(password: &SecretString) -> String {
    let inner = Sha1::digest(password.expose().as_bytes());
    let outer = Sha1::digest(inner);
    let mut hash = String::with_capacity(41);
    hash.push('*');
    for byte in outer {
        hash.push_str(&format!("{byte:02X}"));
    }
    hash
}

/// The statement that sets the session user's own password.
///
/// - MariaDB: `SET PASSWORD = '*<hash>'`, the hash computed here, because MariaDB writes
///   password statements to its general log as they are;
/// - MySQL 5.7.6 and later (8.x, 9.x, Aurora MySQL): `ALTER USER CURRENT_USER() IDENTIFIED BY
///   '<password>'`, which keeps the account's authentication plugin and which MySQL rewrites
///   as `<secret>` in its general, slow and binary logs;
/// - older MySQL: `SET PASSWORD = PASSWORD('<password>')` (also rewritten in its logs).
pub fn set_own_password(version: &ServerVersion, password: &SecretString) -> String {
    match version.flavor {
        Flavor::MariaDb => format!("SET PASSWORD = '{}'", native_password_hash(password)),
        Flavor::MySql if version.at_least(5, 7, 6) => format!(
            "ALTER USER CURRENT_USER() IDENTIFIED BY {}",
            quote_literal(password.expose())
        ),
        Flavor::MySql => format!(
            "SET PASSWORD = PASSWORD({})",
            quote_literal(password.expose())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_hash_matches_password_function() {
        // SELECT PASSWORD('password') on MariaDB / MySQL 5.7.
        assert_eq!(
            native_password_hash(&SecretString::new("password")),
            "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
        );
    }

    #[test]
    fn literals_are_quoted() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\b"), "'a\\\\b'");
    }

    #[test]
    fn mariadb_never_gets_the_password() {
        let password = SecretString::new("Sup3r-s3cret!");
        let version = ServerVersion::parse("10.11.19-MariaDB").unwrap();
        let sql = set_own_password(&version, &password);
        assert!(!sql.contains("Sup3r"), "{sql}");
        assert!(sql.starts_with("SET PASSWORD = '*"), "{sql}");
    }

    #[test]
    fn mysql_statement_follows_the_version() {
        let password = SecretString::new("pw");
        let eight = ServerVersion::parse("8.0.36").unwrap();
        assert_eq!(
            set_own_password(&eight, &password),
            "ALTER USER CURRENT_USER() IDENTIFIED BY 'pw'"
        );
        let nine = ServerVersion::parse("9.1.0").unwrap();
        assert!(set_own_password(&nine, &password).starts_with("ALTER USER"));
        let old = ServerVersion::parse("5.6.51").unwrap();
        assert_eq!(
            set_own_password(&old, &password),
            "SET PASSWORD = PASSWORD('pw')"
        );
    }
}
