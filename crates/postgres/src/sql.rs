//! The one place that builds PostgreSQL SQL text. DDL cannot take bind parameters, so
//! identifiers and literals are quoted here and nowhere else.

use rotation_core::SecretString;

/// Quotes an identifier: wrapped in double quotes, inner double quotes doubled. Any other
/// character (quotes, semicolons, spaces, non-ASCII) is then literal; NUL cannot occur in a Rust
/// string from JSON that PostgreSQL would accept anyway.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal (standard_conforming_strings, on by default since 9.1): wrapped in
/// single quotes, inner single quotes doubled. With `E''` avoided, a backslash is literal.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The SCRAM-SHA-256 verifier of a password (`SCRAM-SHA-256$4096:salt$StoredKey:ServerKey`),
/// computed here with a fresh random salt, after SASLprep exactly as the server does it.
/// Sending the verifier instead of the password means the server never sees the password:
/// not in `log_statement = all` logs, not in `pg_stat_activity`.
pub fn scram_verifier(password: &SecretString) -> String {
    postgres_protocol::password::scram_sha_256(password.expose().as_bytes())
}

/// `ALTER ROLE "user" PASSWORD 'SCRAM-SHA-256$...'`.
pub fn alter_password(user: &str, password: &SecretString) -> String {
    format!(
        "ALTER ROLE {} PASSWORD {}",
        quote_identifier(user),
        quote_literal(&scram_verifier(password))
    )
}

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
    fn literals_are_quoted() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("back\\slash"), "'back\\slash'");
    }

    #[test]
    fn alter_never_contains_the_password() {
        let password = SecretString::new("S3cr3t!pass'word");
        let sql = alter_password("u\"ser", &password);
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
}
