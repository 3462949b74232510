//! The one place that builds MySQL/MariaDB SQL text: quoting, and the password statements per
//! server flavour and version. Every value in a statement is a literal quoted here (or a
//! number); the statements replayed from `SHOW GRANTS` are rebuilt in [`crate::grants`]. Each
//! statement is sent on its own through the prepared-statement protocol
//! (`execute` in `database.rs`).

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

/// The first MySQL version with dual passwords (`RETAIN CURRENT PASSWORD`).
pub const DUAL_PASSWORDS_SINCE: (u32, u32, u32) = (8, 0, 14);

/// Whether the server has dual passwords: MySQL 8.0.14 and later (not MariaDB).
pub fn has_dual_passwords(version: &ServerVersion) -> bool {
    let (major, minor, patch) = DUAL_PASSWORDS_SINCE;
    version.flavor == Flavor::MySql && version.at_least(major, minor, patch)
}

/// The statement that sets the session user's own password and keeps the old one as the
/// secondary (`MYSQL_RETAIN_CURRENT_PASSWORD`): `ALTER USER CURRENT_USER() IDENTIFIED BY
/// '<password>' RETAIN CURRENT PASSWORD`, masked in MySQL's logs. Each such statement replaces
/// the secondary, so `DISCARD OLD PASSWORD` is never needed during rotation.
///
/// On MariaDB or MySQL before 8.0.14 it is an error naming the variable and the server, so
/// that nothing is sent.
pub fn set_own_password_retaining(
    version: &ServerVersion,
    password: &SecretString,
) -> Result<String, String> {
    if !has_dual_passwords(version) {
        let (major, minor, patch) = DUAL_PASSWORDS_SINCE;
        return Err(format!(
            "{} needs MySQL {major}.{minor}.{patch} or later (dual passwords); the server is \
             {version}: turn the variable off or upgrade the server",
            crate::RETAIN_CURRENT_PASSWORD_VARIABLE
        ));
    }
    Ok(format!(
        "ALTER USER CURRENT_USER() IDENTIFIED BY {} RETAIN CURRENT PASSWORD",
        quote_literal(password.expose())
    ))
}

/// A quoted account name: `'user'@'host'`.
pub fn account(user: &str, host: &str) -> String {
    format!("{}@{}", quote_literal(user), quote_literal(host))
}

/// The host entries of a user (one bind parameter: the user name).
pub const USER_HOSTS: &str = "SELECT Host FROM mysql.user WHERE User = ? ORDER BY Host";

/// An account's authentication plugin, TLS requirements and resource limits (bind parameters:
/// user, host), as text and numbers on MySQL and MariaDB alike.
pub const ACCOUNT_SETTINGS: &str = "SELECT CAST(plugin AS CHAR), CAST(ssl_type AS CHAR), \
     CAST(ssl_cipher AS CHAR), CAST(x509_issuer AS CHAR), CAST(x509_subject AS CHAR), \
     CAST(max_questions AS SIGNED), CAST(max_updates AS SIGNED), \
     CAST(max_connections AS SIGNED), CAST(max_user_connections AS SIGNED) \
     FROM mysql.user WHERE User = ? AND Host = ?";

/// An account's default roles on MySQL 8 (bind parameters: user, host). MariaDB prints its
/// default role in `SHOW GRANTS` instead.
pub const DEFAULT_ROLES: &str = "SELECT DEFAULT_ROLE_USER, DEFAULT_ROLE_HOST \
     FROM mysql.default_roles WHERE USER = ? AND HOST = ?";

/// An account's table-level privileges on one table, as `mysql.tables_priv` holds them (bind
/// parameters: user, host, database, table): `Select,Insert,Grant`.
pub const TABLE_PRIVILEGES: &str = "SELECT CAST(Table_priv AS CHAR) FROM mysql.tables_priv \
     WHERE User = ? AND Host = ? AND Db = ? AND Table_name = ?";

/// An account's column privileges on one table, as `mysql.columns_priv` holds them (bind
/// parameters: user, host, database, table): column name and `Select,Update`.
pub const COLUMN_PRIVILEGES: &str = "SELECT CAST(Column_name AS CHAR), \
     CAST(Column_priv AS CHAR) FROM mysql.columns_priv \
     WHERE User = ? AND Host = ? AND Db = ? AND Table_name = ?";

/// `SHOW GRANTS FOR 'user'@'host'`.
pub fn show_grants(user: &str, host: &str) -> String {
    format!("SHOW GRANTS FOR {}", account(user, host))
}

/// The authentication plugins whose password MySQL can set from a password
/// (`IDENTIFIED WITH <plugin> BY`).
const MYSQL_PASSWORD_PLUGINS: [&str; 3] = [
    "caching_sha2_password",
    "mysql_native_password",
    "sha256_password",
];

/// Creates an account with a password.
///
/// - MariaDB: `CREATE USER … IDENTIFIED BY PASSWORD '*<hash>'` (`mysql_native_password`: any
///   other plugin would need the password itself in the statement, which MariaDB logs);
/// - MySQL: `CREATE USER … IDENTIFIED WITH <plugin> BY '<password>'` with the original's
///   plugin when it is a password plugin (MySQL masks the password in its logs), else the
///   server's default plugin.
pub fn create_user(
    version: &ServerVersion,
    account: &str,
    plugin: &str,
    password: &SecretString,
) -> String {
    match version.flavor {
        Flavor::MariaDb => format!(
            "CREATE USER {account} IDENTIFIED BY PASSWORD '{}'",
            native_password_hash(password)
        ),
        Flavor::MySql if MYSQL_PASSWORD_PLUGINS.contains(&plugin) => format!(
            "CREATE USER {account} IDENTIFIED WITH {plugin} BY {}",
            quote_literal(password.expose())
        ),
        Flavor::MySql => format!(
            "CREATE USER {account} IDENTIFIED BY {}",
            quote_literal(password.expose())
        ),
    }
}

/// Sets an account's password as another user (the master).
///
/// - MariaDB: `ALTER USER … IDENTIFIED BY PASSWORD '*<hash>'`, the hash computed here;
/// - MySQL 5.7.6 and later: `ALTER USER … IDENTIFIED BY '<password>'` (keeps the plugin;
///   masked in MySQL's logs);
/// - older MySQL: `SET PASSWORD FOR … = PASSWORD('<password>')`.
pub fn set_user_password(
    version: &ServerVersion,
    account: &str,
    password: &SecretString,
) -> String {
    match version.flavor {
        Flavor::MariaDb => format!(
            "ALTER USER {account} IDENTIFIED BY PASSWORD '{}'",
            native_password_hash(password)
        ),
        Flavor::MySql if version.at_least(5, 7, 6) => format!(
            "ALTER USER {account} IDENTIFIED BY {}",
            quote_literal(password.expose())
        ),
        Flavor::MySql => format!(
            "SET PASSWORD FOR {account} = PASSWORD({})",
            quote_literal(password.expose())
        ),
    }
}

/// An account's TLS requirements and resource limits, as `mysql.user` stores them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountLimits {
    /// `ssl_type`: `''`, `ANY`, `X509` or `SPECIFIED`.
    pub ssl_type: String,
    /// `ssl_cipher`.
    pub cipher: String,
    /// `x509_issuer`.
    pub issuer: String,
    /// `x509_subject`.
    pub subject: String,
    /// `max_questions` (MAX_QUERIES_PER_HOUR).
    pub max_queries: i64,
    /// `max_updates` (MAX_UPDATES_PER_HOUR).
    pub max_updates: i64,
    /// `max_connections` (MAX_CONNECTIONS_PER_HOUR).
    pub max_connections: i64,
    /// `max_user_connections` (MAX_USER_CONNECTIONS).
    pub max_user_connections: i64,
}

/// `ALTER USER … REQUIRE … WITH MAX_…`: the TLS requirements and limits of another account.
pub fn copy_limits(account: &str, limits: &AccountLimits) -> String {
    let require = match limits.ssl_type.to_ascii_uppercase().as_str() {
        "ANY" => "SSL".to_owned(),
        "X509" => "X509".to_owned(),
        "SPECIFIED" => {
            let parts: Vec<String> = [
                ("CIPHER", &limits.cipher),
                ("ISSUER", &limits.issuer),
                ("SUBJECT", &limits.subject),
            ]
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| format!("{name} {}", quote_literal(value)))
            .collect();
            if parts.is_empty() {
                "SSL".to_owned()
            } else {
                parts.join(" AND ")
            }
        }
        _ => "NONE".to_owned(),
    };
    let mut statement = format!(
        "ALTER USER {account} REQUIRE {require} WITH MAX_QUERIES_PER_HOUR {} \
         MAX_UPDATES_PER_HOUR {} MAX_CONNECTIONS_PER_HOUR {}",
        limits.max_queries.max(0),
        limits.max_updates.max(0),
        limits.max_connections.max(0)
    );
    if limits.max_user_connections >= 0 {
        statement.push_str(&format!(
            " MAX_USER_CONNECTIONS {}",
            limits.max_user_connections
        ));
    }
    statement
}

/// `ALTER USER … DEFAULT ROLE …` (MySQL 8); `None` without roles.
pub fn default_roles(account_name: &str, roles: &[(String, String)]) -> Option<String> {
    if roles.is_empty() {
        return None;
    }
    let roles: Vec<String> = roles
        .iter()
        .map(|(user, host)| account(user, host))
        .collect();
    Some(format!(
        "ALTER USER {account_name} DEFAULT ROLE {}",
        roles.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_user_statements() {
        let password = SecretString::new("Sup3r-s3cret!");
        let maria = ServerVersion::parse("10.11.19-MariaDB").unwrap();
        let eight = ServerVersion::parse("8.0.36").unwrap();
        let alt = account("app_clone", "127.0.0.1");
        assert_eq!(alt, "'app_clone'@'127.0.0.1'");
        assert_eq!(account("o'b", "%"), "'o''b'@'%'");
        for sql in [
            create_user(&maria, &alt, "ed25519", &password),
            set_user_password(&maria, &alt, &password),
        ] {
            assert!(!sql.contains("Sup3r"), "{sql}");
            assert!(sql.contains("IDENTIFIED BY PASSWORD '*"), "{sql}");
        }
        assert_eq!(
            create_user(&eight, &alt, "caching_sha2_password", &password),
            "CREATE USER 'app_clone'@'127.0.0.1' IDENTIFIED WITH caching_sha2_password BY 'Sup3r-s3cret!'"
        );
        assert_eq!(
            create_user(&eight, &alt, "auth_socket", &password),
            "CREATE USER 'app_clone'@'127.0.0.1' IDENTIFIED BY 'Sup3r-s3cret!'"
        );
        assert_eq!(
            set_user_password(&eight, &alt, &password),
            "ALTER USER 'app_clone'@'127.0.0.1' IDENTIFIED BY 'Sup3r-s3cret!'"
        );
    }

    #[test]
    fn limits_and_tls_are_copied() {
        let limits = AccountLimits {
            ssl_type: "SPECIFIED".into(),
            cipher: "AES256-SHA".into(),
            subject: "/CN=app".into(),
            max_queries: 10,
            max_user_connections: 2,
            ..AccountLimits::default()
        };
        assert_eq!(
            copy_limits("'a'@'%'", &limits),
            "ALTER USER 'a'@'%' REQUIRE CIPHER 'AES256-SHA' AND SUBJECT '/CN=app' WITH \
             MAX_QUERIES_PER_HOUR 10 MAX_UPDATES_PER_HOUR 0 MAX_CONNECTIONS_PER_HOUR 0 \
             MAX_USER_CONNECTIONS 2"
        );
        let none = AccountLimits::default();
        assert!(copy_limits("'a'@'%'", &none).contains("REQUIRE NONE"));
        let any = AccountLimits {
            ssl_type: "ANY".into(),
            ..AccountLimits::default()
        };
        assert!(copy_limits("'a'@'%'", &any).contains("REQUIRE SSL WITH"));
        assert_eq!(default_roles("'a'@'%'", &[]), None);
        assert_eq!(
            default_roles("'a'@'%'", &[("r".into(), "%".into())]).unwrap(),
            "ALTER USER 'a'@'%' DEFAULT ROLE 'r'@'%'"
        );
    }

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
    fn retaining_needs_mysql_8_0_14() {
        let password = SecretString::new("Sup3r-s3cret!");
        let retained = |text: &str| {
            set_own_password_retaining(&ServerVersion::parse(text).unwrap(), &password)
        };
        assert_eq!(
            retained("8.0.14").unwrap(),
            "ALTER USER CURRENT_USER() IDENTIFIED BY 'Sup3r-s3cret!' RETAIN CURRENT PASSWORD"
        );
        assert!(
            retained("8.4.3")
                .unwrap()
                .ends_with(" RETAIN CURRENT PASSWORD")
        );
        assert!(
            retained("9.1.0")
                .unwrap()
                .ends_with(" RETAIN CURRENT PASSWORD")
        );
        assert_eq!(
            retained("8.0.13").unwrap_err(),
            "MYSQL_RETAIN_CURRENT_PASSWORD needs MySQL 8.0.14 or later (dual passwords); the \
             server is MySQL 8.0.13: turn the variable off or upgrade the server"
        );
        for refused in [
            "5.7.44-log",
            "10.11.19-MariaDB-0+deb12u1",
            "11.4.2-MariaDB-log",
        ] {
            let error = retained(refused).unwrap_err();
            assert!(
                error.starts_with("MYSQL_RETAIN_CURRENT_PASSWORD needs MySQL 8.0.14 or later"),
                "{error}"
            );
            assert!(!error.contains("Sup3r"), "{error}");
        }
        assert!(
            retained("10.11.19-MariaDB")
                .unwrap_err()
                .contains("the server is MariaDB 10.11.19: turn the variable off")
        );
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
