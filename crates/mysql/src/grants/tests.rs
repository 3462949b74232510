//! Table tests of recorded MariaDB 10, MySQL 5.7 and MySQL 8.0 lines.

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
