use super::*;
use crate::grants::{Account, parse_line};

/// Host entries of `user` from `SHOW GRANTS` lines, host by host.
fn entries(user: &str, hosts: &[(&str, &[&str])]) -> Vec<(String, Holdings)> {
    hosts
        .iter()
        .map(|(host, lines)| {
            let account = Account::new(user, *host);
            let grants: Vec<Grant> = lines
                .iter()
                .map(|line| parse_line(line, &account).unwrap())
                .collect();
            (host.to_string(), Holdings::from_grants(&grants))
        })
        .collect()
}

const USAGE_A: &str = "GRANT USAGE ON *.* TO `app`@`%`";
const USAGE_C: &str = "GRANT USAGE ON *.* TO `app_clone`@`%`";

/// (what, pending is the original, original's entries, clone's entries, expected: `None` for
/// allowed, else a piece of the error).
type Case<'a> = (
    &'a str,
    bool,
    &'a [(&'a str, &'a [&'a str])],
    &'a [(&'a str, &'a [&'a str])],
    Option<&'a str>,
);

#[test]
fn the_pending_user_is_handed_over_only_when_it_gives_nothing_new() {
    let cases: [Case<'_>; 16] = [
        // Clone pending.
        (
            "first rotation: no clone",
            false,
            &[("%", &[USAGE_A])],
            &[],
            None,
        ),
        (
            "a copy is adopted",
            false,
            &[(
                "%",
                &[USAGE_A, "GRANT SELECT, INSERT ON `shop`.* TO `app`@`%`"],
            )],
            &[(
                "%",
                &[
                    USAGE_C,
                    "GRANT SELECT, INSERT ON `shop`.* TO `app_clone`@`%`",
                ],
            )],
            None,
        ),
        (
            "a subset is adopted",
            false,
            &[(
                "%",
                &[USAGE_A, "GRANT SELECT, INSERT ON `shop`.* TO `app`@`%`"],
            )],
            &[(
                "%",
                &[USAGE_C, "GRANT SELECT ON `shop`.`t` TO `app_clone`@`%`"],
            )],
            None,
        ),
        (
            "a wider level covers a narrower one",
            false,
            &[("%", &["GRANT SELECT ON *.* TO `app`@`%`"])],
            &[(
                "%",
                &["GRANT SELECT (`a`) ON `shop`.`t` TO `app_clone`@`%`"],
            )],
            None,
        ),
        (
            "a grant of its own",
            false,
            &[("%", &[USAGE_A])],
            &[(
                "%",
                &[USAGE_C, "GRANT SELECT ON `vault`.* TO `app_clone`@`%`"],
            )],
            Some("app_clone@% holds SELECT ON `vault`.*"),
        ),
        (
            "a grant option of its own",
            false,
            &[("%", &["GRANT SELECT ON `shop`.* TO `app`@`%`"])],
            &[(
                "%",
                &["GRANT SELECT ON `shop`.* TO `app_clone`@`%` WITH GRANT OPTION"],
            )],
            Some("GRANT OPTION ON `shop`.*"),
        ),
        (
            "ALL does not give GRANT OPTION",
            false,
            &[("%", &["GRANT ALL PRIVILEGES ON *.* TO `app`@`%`"])],
            &[(
                "%",
                &["GRANT ALL PRIVILEGES ON *.* TO `app_clone`@`%` WITH GRANT OPTION"],
            )],
            Some("GRANT OPTION ON *.*"),
        ),
        (
            "a role with admin option",
            false,
            &[("%", &[USAGE_A, "GRANT `r` TO `app`@`%`"])],
            &[(
                "%",
                &[USAGE_C, "GRANT `r` TO `app_clone`@`%` WITH ADMIN OPTION"],
            )],
            Some("role `r` WITH ADMIN OPTION"),
        ),
        (
            "a proxy grant",
            false,
            &[("%", &[USAGE_A])],
            &[(
                "%",
                &[
                    USAGE_C,
                    "GRANT PROXY ON 'root'@'localhost' TO 'app_clone'@'%'",
                ],
            )],
            Some("PROXY ON 'root'@'localhost'"),
        ),
        (
            "another host entry is checked on its own",
            false,
            &[("%", &["GRANT ALL PRIVILEGES ON *.* TO `app`@`%`"])],
            &[
                ("%", &[USAGE_C]),
                (
                    "localhost",
                    &["GRANT SELECT ON *.* TO `app_clone`@`localhost`"],
                ),
            ],
            Some("app_clone@localhost holds SELECT ON *.*"),
        ),
        (
            "the original gone: only an empty clone",
            false,
            &[],
            &[("%", &["GRANT SELECT ON `x`.* TO `app_clone`@`%`"])],
            Some("SELECT ON `x`.*"),
        ),
        // Original pending.
        (
            "no original: created",
            true,
            &[],
            &[("%", &[USAGE_C])],
            None,
        ),
        (
            "the clone holds all of it",
            true,
            &[("%", &["GRANT SELECT ON `shop`.* TO `app`@`%`"])],
            &[(
                "%",
                &["GRANT SELECT, INSERT ON `shop`.* TO `app_clone`@`%`"],
            )],
            None,
        ),
        (
            "a privileged original",
            true,
            &[(
                "%",
                &["GRANT ALL PRIVILEGES ON *.* TO `app`@`%` WITH GRANT OPTION"],
            )],
            &[("%", &[USAGE_C])],
            Some("is not proven to be its clone"),
        ),
        (
            "a host entry the clone lacks",
            true,
            &[
                ("%", &[USAGE_A]),
                ("localhost", &["GRANT SUPER ON *.* TO `app`@`localhost`"]),
            ],
            &[(
                "%",
                &["GRANT ALL PRIVILEGES ON `shop`.* TO `app_clone`@`%`"],
            )],
            Some("app@localhost holds SUPER ON *.*"),
        ),
        (
            "a partial revoke of the clone",
            true,
            &[("%", &["GRANT SELECT ON *.* TO `app`@`%`"])],
            &[(
                "%",
                &[
                    "GRANT SELECT ON *.* TO `app_clone`@`%`",
                    "REVOKE SELECT ON `mysql`.* FROM `app_clone`@`%`",
                ],
            )],
            Some("partially revoked"),
        ),
    ];
    for (what, pending_is_original, original, clone, expected) in cases {
        let original = entries("app", original);
        let clone = entries("app_clone", clone);
        let result = check(
            pending_is_original,
            ("app", &original),
            ("app_clone", &clone),
        );
        match (expected, result) {
            (None, Ok(())) => {}
            (Some(needle), Err(error)) => {
                let message = error.to_string();
                assert!(message.contains(needle), "{what}: {message}");
            }
            (expected, result) => panic!("{what}: expected {expected:?}, got {result:?}"),
        }
    }
}

#[test]
fn errors_name_both_accounts_and_what_to_do() {
    let original = entries("boss", &[("%", &["GRANT SUPER ON *.* TO `boss`@`%`"])]);
    let clone = entries(
        "boss_clone",
        &[("%", &["GRANT USAGE ON *.* TO `boss_clone`@`%`"])],
    );
    let error = check(true, ("boss", &original), ("boss_clone", &clone)).unwrap_err();
    assert_eq!(
        error,
        PairError::UnpairedOriginal {
            original: "boss".into(),
            clone: "boss_clone".into(),
            host: "%".into(),
            held: "SUPER ON *.*".into(),
        }
    );
    let message = error.to_string();
    assert!(
        message.contains("give boss_clone@% every grant of boss@%"),
        "{message}"
    );
    let error = check(false, ("boss", &clone), ("boss_clone", &original)).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("grant the same to boss@% or revoke it from boss_clone@%"),
        "{message}"
    );
}
