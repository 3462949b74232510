//! Reads the lines of `SHOW GRANTS` (MariaDB and MySQL) so that they can be replayed for
//! another account: the grantee is found outside quotes, the text before it is kept as the
//! server printed it, and of what follows only `WITH GRANT OPTION` / `WITH ADMIN OPTION` is
//! kept. Passwords (`IDENTIFIED BY PASSWORD '*…'`, `IDENTIFIED VIA … USING …`), TLS
//! requirements and resource limits after the grantee are dropped: the password is set
//! separately, and TLS and limits are copied from `mysql.user`.

/// One line of `SHOW GRANTS`, ready to be replayed for another grantee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantLine {
    /// What the line does.
    pub kind: GrantKind,
    /// The text before the grantee's keyword, as the server printed it (`GRANT SELECT ON
    /// \`shop\`.*`, `GRANT \`reader\``, `REVOKE INSERT ON \`mysql\`.*`, `SET DEFAULT ROLE
    /// \`reader\``).
    pub head: String,
    /// `WITH GRANT OPTION` or `WITH ADMIN OPTION` followed the grantee.
    pub with_option: Option<&'static str>,
}

/// The statement a line of `SHOW GRANTS` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantKind {
    /// `GRANT … TO grantee` (privileges, roles, proxy).
    Grant,
    /// `REVOKE … FROM grantee` (MySQL 8 partial revokes).
    Revoke,
    /// `SET DEFAULT ROLE … FOR grantee` (MariaDB).
    DefaultRole,
}

impl GrantKind {
    fn keyword(self) -> &'static str {
        match self {
            GrantKind::Grant => "TO",
            GrantKind::Revoke => "FROM",
            GrantKind::DefaultRole => "FOR",
        }
    }
}

impl GrantLine {
    /// The statement for `account` (already quoted: `'app_clone'@'%'`).
    pub fn for_account(&self, account: &str) -> String {
        let mut statement = format!("{} {} {account}", self.head, self.kind.keyword());
        if let Some(option) = self.with_option {
            statement.push(' ');
            statement.push_str(option);
        }
        statement
    }
}

/// A token of a statement: its byte range and whether it was quoted.
#[derive(Debug, Clone, Copy)]
struct Token {
    start: usize,
    end: usize,
    quoted: bool,
}

/// Splits into words, quoted names and strings ('…', "…", `…`, with doubled quotes and
/// backslash escapes in strings), and single punctuation characters.
fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'\'' || c == b'"' || c == b'`' {
            let start = i;
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return Err("a quoted name or string is not closed".to_owned()),
                    Some(b'\\') if c != b'`' => i += 2,
                    Some(&q) if q == c => {
                        if bytes.get(i + 1) == Some(&c) {
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(_) => i += 1,
                }
            }
            tokens.push(Token {
                start,
                end: i,
                quoted: true,
            });
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'_'
                    || bytes[i] == b'$'
                    || bytes[i] >= 0x80)
            {
                i += 1;
            }
            tokens.push(Token {
                start,
                end: i,
                quoted: false,
            });
        } else {
            tokens.push(Token {
                start: i,
                end: i + 1,
                quoted: false,
            });
            i += 1;
        }
    }
    Ok(tokens)
}

/// Parses one line of `SHOW GRANTS`. Lines of another shape are an error naming their start
/// (never the whole line, which may hold a password hash).
pub fn parse_line(line: &str) -> Result<GrantLine, String> {
    let line = line.trim().trim_end_matches(';');
    let tokens = tokens(line)?;
    let word = |t: &Token| (!t.quoted).then(|| line[t.start..t.end].to_ascii_uppercase());
    let first = tokens.first().and_then(word).unwrap_or_default();
    let kind = match first.as_str() {
        "GRANT" => GrantKind::Grant,
        "REVOKE" => GrantKind::Revoke,
        "SET" => GrantKind::DefaultRole,
        _ => {
            let start: String = line.chars().take(12).collect();
            return Err(format!("unexpected SHOW GRANTS line starting {start:?}"));
        }
    };
    // The last keyword followed by an account (`name`@`host`, or a bare name for a role).
    let keyword = kind.keyword();
    let at = (1..tokens.len())
        .rev()
        .find(|&i| {
            word(&tokens[i]).as_deref() == Some(keyword)
                && tokens.get(i + 1).is_some_and(|t| t.quoted)
                && (tokens
                    .get(i + 2)
                    .is_none_or(|t| &line[t.start..t.end] != "@")
                    || tokens.get(i + 3).is_some_and(|t| t.quoted))
        })
        .ok_or_else(|| format!("no grantee after {keyword} in a {first} line of SHOW GRANTS"))?;
    let head = line[..tokens[at].start].trim_end().to_owned();
    let tail: Vec<String> = tokens[at + 1..].iter().filter_map(word).collect();
    let with_option = tail
        .windows(2)
        .find_map(|pair| match (&*pair[0], &*pair[1]) {
            ("GRANT", "OPTION") => Some("WITH GRANT OPTION"),
            ("ADMIN", "OPTION") => Some("WITH ADMIN OPTION"),
            _ => None,
        });
    Ok(GrantLine {
        kind,
        head,
        with_option,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TO: &str = "'app_clone'@'10.0.0.%'";

    fn replay(line: &str) -> String {
        parse_line(line).unwrap().for_account(TO)
    }

    #[test]
    fn mariadb_10_11_lines() {
        let cases = [
            (
                "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'",
                "GRANT USAGE ON *.* TO 'app_clone'@'10.0.0.%'",
            ),
            (
                "GRANT USAGE ON *.* TO `app`@`127.0.0.1` IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19' REQUIRE SSL WITH MAX_QUERIES_PER_HOUR 10 MAX_USER_CONNECTIONS 2",
                "GRANT USAGE ON *.* TO 'app_clone'@'10.0.0.%'",
            ),
            (
                "GRANT SELECT, INSERT ON `shop`.* TO `app`@`%`",
                "GRANT SELECT, INSERT ON `shop`.* TO 'app_clone'@'10.0.0.%'",
            ),
            (
                "GRANT SELECT ON `shop`.`orders` TO `app`@`localhost` WITH GRANT OPTION",
                "GRANT SELECT ON `shop`.`orders` TO 'app_clone'@'10.0.0.%' WITH GRANT OPTION",
            ),
            (
                "GRANT SELECT (`id`, `to`), UPDATE (`total`) ON `shop`.`orders` TO `app`@`%`",
                "GRANT SELECT (`id`, `to`), UPDATE (`total`) ON `shop`.`orders` TO 'app_clone'@'10.0.0.%'",
            ),
            (
                "GRANT EXECUTE ON PROCEDURE `shop`.`to` TO `app`@`%`",
                "GRANT EXECUTE ON PROCEDURE `shop`.`to` TO 'app_clone'@'10.0.0.%'",
            ),
            (
                "GRANT `reader` TO `app`@`%`",
                "GRANT `reader` TO 'app_clone'@'10.0.0.%'",
            ),
            (
                "GRANT `admin``s role` TO `app`@`%` WITH ADMIN OPTION",
                "GRANT `admin``s role` TO 'app_clone'@'10.0.0.%' WITH ADMIN OPTION",
            ),
            (
                "SET DEFAULT ROLE `reader` FOR `app`@`%`",
                "SET DEFAULT ROLE `reader` FOR 'app_clone'@'10.0.0.%'",
            ),
            (
                "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION",
                "GRANT ALL PRIVILEGES ON *.* TO 'app_clone'@'10.0.0.%' WITH GRANT OPTION",
            ),
            (
                "GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION",
                "GRANT PROXY ON ''@'%' TO 'app_clone'@'10.0.0.%' WITH GRANT OPTION",
            ),
            (
                "GRANT USAGE ON *.* TO `o'brien;--`@`%` IDENTIFIED VIA ed25519 USING 'ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY'",
                "GRANT USAGE ON *.* TO 'app_clone'@'10.0.0.%'",
            ),
            (
                "GRANT SELECT ON `shop\\_db`.* TO `we``ird TO x`@`%` WITH GRANT OPTION",
                "GRANT SELECT ON `shop\\_db`.* TO 'app_clone'@'10.0.0.%' WITH GRANT OPTION",
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(replay(line), expected, "{line}");
        }
    }

    /// Recorded MySQL 5.7 lines (column names unquoted) of a user that created a column whose
    /// name carries a second statement and granted itself a privilege on it: a replayed line
    /// must be refused, or be one statement with every name quoted.
    #[test]
    fn mysql_5_7_unquoted_column_payloads_are_quoted_or_refused() {
        let lines = [
            "GRANT SELECT (a) ON *.* TO 'app'@'%'; CREATE USER 'x'@'%'; -- ) ON `shop`.`t` TO 'app'@'%'",
            "GRANT SELECT (id, a) ON *.* TO 'app'@'%' WITH GRANT OPTION; DROP DATABASE mysql; --) ON `shop`.`t` TO 'app'@'%'",
        ];
        for line in lines {
            if let Ok(grant) = parse_line(line) {
                let statement = grant.for_account(TO);
                assert!(
                    !statement.contains(';'),
                    "a chained statement is replayed: {statement}"
                );
            }
        }
    }

    #[test]
    fn mysql_8_lines() {
        let cases = [
            (
                "GRANT USAGE ON *.* TO `app`@`%`",
                "GRANT USAGE ON *.* TO 'app_clone'@'10.0.0.%'",
            ),
            (
                "GRANT SELECT, INSERT, UPDATE ON `shop`.* TO `app`@`%` WITH GRANT OPTION",
                "GRANT SELECT, INSERT, UPDATE ON `shop`.* TO 'app_clone'@'10.0.0.%' WITH GRANT OPTION",
            ),
            (
                "GRANT BACKUP_ADMIN,BINLOG_ADMIN ON *.* TO `app`@`%`",
                "GRANT BACKUP_ADMIN,BINLOG_ADMIN ON *.* TO 'app_clone'@'10.0.0.%'",
            ),
            (
                "GRANT `reader`@`%`,`writer`@`%` TO `app`@`%`",
                "GRANT `reader`@`%`,`writer`@`%` TO 'app_clone'@'10.0.0.%'",
            ),
            (
                "GRANT `reader`@`%` TO `app`@`%` WITH ADMIN OPTION",
                "GRANT `reader`@`%` TO 'app_clone'@'10.0.0.%' WITH ADMIN OPTION",
            ),
            (
                "REVOKE INSERT ON `mysql`.* FROM `app`@`%`",
                "REVOKE INSERT ON `mysql`.* FROM 'app_clone'@'10.0.0.%'",
            ),
            (
                "GRANT PROXY ON ``@`` TO `app`@`%`",
                "GRANT PROXY ON ``@`` TO 'app_clone'@'10.0.0.%'",
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(replay(line), expected, "{line}");
        }
    }

    #[test]
    fn other_lines_are_errors_without_their_text() {
        let error =
            parse_line("CREATE USER `app`@`%` IDENTIFIED BY PASSWORD '*SECRETHASH'").unwrap_err();
        assert!(!error.contains("SECRETHASH"), "{error}");
        assert!(parse_line("GRANT SELECT ON *.* TO").is_err());
        assert!(parse_line("GRANT SELECT ON `unclosed TO `a`@`b`").is_err());
    }
}
