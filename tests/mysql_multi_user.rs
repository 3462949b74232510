//! mysql-multi-user, end to end: the real binary under the Lambda Runtime API, moto's Secrets
//! Manager, a real MariaDB that writes every statement to its general log, and a master secret
//! holding MariaDB's root.
//!
//! The rotation contract (`rotation-testkit`) and the database scenarios every rotator shares
//! (`rotation_e2e::scenarios`) run here through `database_scenarios!` at the end; the tests
//! written out below are the ones particular to this rotator.

use rotation_core::Step;
use rotation_e2e::*;
use rotation_local::SecretsManagerDriver;
use rotation_stack::MariaDbServer;
use serde_json::{Value, json};

const BIN: &str = "mysql-multi-user";

fn clone_of(user: &str) -> String {
    format!("{user}_clone")
}

/// A short unique user name: fits AWS's default limit of 16 with `_clone`.
fn short_user() -> String {
    unique("u")
}

/// The master secret: MariaDB's root.
async fn master_secret(world: &World) -> String {
    let db = world.mariadb();
    let value = mysql_secret_json(db, db.root_user(), db.root_password());
    world
        .create_secret(&unique("master-"), &value.to_string())
        .await
}

/// A multi-user secret for `user` naming a master secret.
async fn child_secret(world: &World, user: &str, password: &str) -> String {
    let master = master_secret(world).await;
    let mut value = mysql_secret_json(world.mariadb(), user, password);
    value["masterarn"] = json!(master);
    world
        .create_secret(&unique("child-"), &value.to_string())
        .await
}

/// `'user'@'%'` and its multi-user secret; returns (arn, user, password).
async fn pair(world: &World) -> (String, String, String) {
    let user = short_user();
    let password = unique("Initial-Pass-");
    create_mysql_user(world.mariadb(), &user, &password).await;
    let arn = child_secret(world, &user, &password).await;
    (arn, user, password)
}

/// The rows of a query run as root (first column, as text), out of the general log.
async fn root_rows(db: &MariaDbServer, statement: &str) -> Vec<String> {
    use sqlx::Connection;
    use sqlx::Row;
    use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
    let options = MySqlConnectOptions::new()
        .host("127.0.0.1")
        .port(db.port())
        .username(db.root_user())
        .password(db.root_password())
        .ssl_mode(MySqlSslMode::Disabled);
    let mut connection = MySqlConnection::connect_with(&options).await.unwrap();
    sqlx::raw_sql("SET SESSION sql_log_off = 1")
        .execute(&mut connection)
        .await
        .unwrap();
    let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
        .fetch_all(&mut connection)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
    let _ = connection.close().await;
    rows.iter()
        .map(|row| match row.try_get::<String, _>(0) {
            Ok(text) => text,
            Err(_) => String::from_utf8_lossy(&row.get::<Vec<u8>, _>(0)).into_owned(),
        })
        .collect()
}

async fn grants_of(db: &MariaDbServer, user: &str, host: &str) -> Vec<String> {
    root_rows(
        db,
        &format!(
            "SHOW GRANTS FOR {}@{}",
            mysql_literal(user),
            mysql_literal(host)
        ),
    )
    .await
}

/// Whether a grant line (with the grantee removed) is among an account's grants.
fn has_grant(grants: &[String], head: &str, tail: &str) -> bool {
    grants
        .iter()
        .any(|line| line.starts_with(head) && line.ends_with(tail))
}

#[tokio::test]
async fn happy_path_creates_the_clone_and_keeps_every_other_field() {
    let world = World::new().await;
    let db = world.mariadb();
    let user = short_user();
    create_mysql_user(db, &user, "Old-Pass-1").await;
    let master = master_secret(&world).await;
    let secret = json!({
        "engine": "mariadb", "host": db.host(), "port": db.port().to_string(),
        "username": user, "password": "Old-Pass-1", "masterarn": master,
        "team": {"owner": "payments"}, "ssl": false,
    });
    let arn = world
        .create_secret(&unique("happy-"), &secret.to_string())
        .await;
    let old_version = world.version_with(&arn, "AWSCURRENT").await.unwrap();
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let labels = world.labels(&arn).await;
    assert!(labels[&report.token].contains(&"AWSCURRENT".to_string()));
    assert!(labels[&old_version].contains(&"AWSPREVIOUS".to_string()));
    let current = world.value(&arn, "AWSCURRENT").await.unwrap();
    let new_password = password_of(&current);
    let mut expected = secret.clone();
    expected["username"] = json!(clone_of(&user));
    expected["password"] = json!(new_password);
    assert_eq!(current, expected, "only the username and password change");
    mysql_login(db.port(), &clone_of(&user), &new_password)
        .await
        .unwrap();
    mysql_login(db.port(), &user, "Old-Pass-1").await.unwrap();
}

#[tokio::test]
async fn three_rotations_alternate_and_the_previous_user_still_logs_in() {
    let world = World::new().await;
    let db = world.mariadb();
    let (arn, user, first_password) = pair(&world).await;
    let function = world.function(BIN, &[]).await;
    let mut previous = (user.clone(), first_password);
    for (round, expected_user) in [
        (1, clone_of(&user)),
        (2, user.clone()),
        (3, clone_of(&user)),
    ] {
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        assert!(report.succeeded(), "round {round}: {report}");
        let current = world.value(&arn, "AWSCURRENT").await.unwrap();
        assert_eq!(current["username"], json!(expected_user), "round {round}");
        let password = password_of(&current);
        mysql_login(db.port(), &expected_user, &password)
            .await
            .unwrap();
        mysql_login(db.port(), &previous.0, &previous.1)
            .await
            .unwrap_or_else(|e| panic!("round {round}: the previous user must still log in: {e}"));
        previous = (expected_user, password);
    }
}

#[tokio::test]
async fn a_missing_masterarn_or_a_master_that_cannot_log_in_are_clear_errors() {
    let world = World::new().await;
    let db = world.mariadb();
    // No masterarn.
    let (_, user, password) = world.mysql_user_with_secret("n").await;
    let arn = world
        .create_secret(
            &unique("nomaster-"),
            &mysql_secret_json(db, &user, &password).to_string(),
        )
        .await;
    let function = world
        .function(BIN, &[("USERNAME_CHARACTER_LIMIT", "32")])
        .await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    let failure = report.failure().expect("setSecret must fail");
    assert_eq!(failure.step, "setSecret");
    assert_error(
        &failure.invocation,
        "InvalidSecret",
        "masterarn key in secret JSON is missing",
    );
    assert_error(&failure.invocation, "InvalidSecret", &arn);

    // A master whose password is wrong.
    let wrong = world
        .create_secret(
            &unique("badmaster-"),
            &mysql_secret_json(db, db.root_user(), "Not-The-Root-Password").to_string(),
        )
        .await;
    let user = short_user();
    create_mysql_user(db, &user, "Child-Pass-1").await;
    let mut value = mysql_secret_json(db, &user, "Child-Pass-1");
    value["masterarn"] = json!(wrong);
    let arn = world
        .create_secret(&unique("child-"), &value.to_string())
        .await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    let failure = report.failure().expect("setSecret must fail");
    assert_eq!(failure.step, "setSecret");
    assert_error(
        &failure.invocation,
        "TargetError",
        &format!("Unable to log into database using credentials in master secret {wrong}"),
    );
    let output = function.stop().await;
    for secret in [
        password.as_str(),
        "Not-The-Root-Password",
        db.root_password(),
    ] {
        assert!(!output.contains(secret), "a password in the rotator output");
    }
    let hosts = root_rows(
        db,
        &format!(
            "SELECT Host FROM mysql.user WHERE User = {}",
            mysql_literal(&clone_of(&user))
        ),
    )
    .await;
    assert!(hosts.is_empty(), "no clone may be created: {hosts:?}");
}

#[tokio::test]
async fn grants_options_roles_hosts_and_limits_reach_the_clone_and_drift_is_repaired() {
    let world = World::new().await;
    let db = world.mariadb();
    let user = short_user();
    let (shop, extra, role) = (unique("d"), unique("e"), unique("r"));
    let account = |host: &str| format!("{}@{}", mysql_literal(&user), mysql_literal(host));
    let (local, loopback) = (account("localhost"), account("127.0.0.1"));
    mysql_admin(
        db,
        &[
            format!("CREATE DATABASE `{shop}`"),
            format!("CREATE DATABASE `{extra}`"),
            format!("CREATE ROLE `{role}`"),
            format!("GRANT SELECT ON `{extra}`.* TO `{role}`"),
            format!(
                "CREATE USER {loopback} IDENTIFIED BY 'Grant-Pass-1' WITH MAX_QUERIES_PER_HOUR 5000"
            ),
            format!("CREATE USER {local} IDENTIFIED BY 'Grant-Pass-1'"),
            format!("GRANT SELECT, INSERT ON `{shop}`.* TO {loopback} WITH GRANT OPTION"),
            format!("GRANT `{role}` TO {loopback}"),
            format!("SET DEFAULT ROLE `{role}` FOR {loopback}"),
            format!("GRANT DELETE ON `{shop}`.* TO {local}"),
        ],
    )
    .await;
    let arn = child_secret(&world, &user, "Grant-Pass-1").await;
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");

    let clone = clone_of(&user);
    let grants = grants_of(db, &clone, "127.0.0.1").await;
    assert!(
        has_grant(
            &grants,
            &format!("GRANT SELECT, INSERT ON `{shop}`.* TO"),
            "WITH GRANT OPTION"
        ),
        "{grants:?}"
    );
    assert!(
        has_grant(&grants, &format!("GRANT `{role}` TO"), "`"),
        "{grants:?}"
    );
    assert!(
        grants
            .iter()
            .any(|g| g.starts_with(&format!("SET DEFAULT ROLE `{role}` FOR"))),
        "{grants:?}"
    );
    let local_grants = grants_of(db, &clone, "localhost").await;
    assert!(
        has_grant(
            &local_grants,
            &format!("GRANT DELETE ON `{shop}`.* TO"),
            "`"
        ),
        "{local_grants:?}"
    );
    let limit = root_rows(
        db,
        &format!(
            "SELECT CAST(max_questions AS CHAR) FROM mysql.user WHERE User = {} AND Host = '127.0.0.1'",
            mysql_literal(&clone)
        ),
    )
    .await;
    assert_eq!(limit, vec!["5000".to_owned()]);
    let password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
    mysql_login(db.port(), &clone, &password).await.unwrap();

    // Drift: a grant added to the original while it is live reaches the clone at the next
    // rotation (where the clone is pending). Added while the clone is live, it would stop the
    // original's turn until the clone holds it too (`pair::`): the clone must hold all the
    // original holds before the master hands the original's password to its holder.
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let current = world.value(&arn, "AWSCURRENT").await.unwrap();
    assert_eq!(current["username"], json!(user));
    mysql_login(db.port(), &user, &password_of(&current))
        .await
        .unwrap();
    mysql_login(db.port(), &clone, &password).await.unwrap();
    mysql_admin(db, &[format!("GRANT UPDATE ON `{extra}`.* TO {loopback}")]).await;
    let update = format!("GRANT UPDATE ON `{extra}`.* TO");
    let grants = grants_of(db, &clone, "127.0.0.1").await;
    assert!(!has_grant(&grants, &update, "`"), "{grants:?}");
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let grants = grants_of(db, &clone, "127.0.0.1").await;
    assert!(has_grant(&grants, &update, "`"), "{grants:?}");
}

#[tokio::test]
async fn a_pre_created_clone_is_adopted_not_re_created() {
    let world = World::new().await;
    let db = world.mariadb();
    let (arn, user, _) = pair(&world).await;
    let clone = clone_of(&user);
    let only_clone = unique("c");
    let clone_account = format!("{}@'%'", mysql_literal(&clone));
    mysql_admin(
        db,
        &[
            format!("CREATE DATABASE `{only_clone}`"),
            // The operator's clone holds a part of what the original holds (a clone holding
            // anything more is refused: `pair::`).
            format!(
                "GRANT SELECT, INSERT ON `{only_clone}`.* TO {}@'%'",
                mysql_literal(&user)
            ),
            format!("CREATE USER {clone_account} IDENTIFIED BY 'Pre-Created-1'"),
            format!("GRANT SELECT ON `{only_clone}`.* TO {clone_account}"),
        ],
    )
    .await;
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
    mysql_login(db.port(), &clone, &password).await.unwrap();
    assert!(
        mysql_login(db.port(), &clone, "Pre-Created-1")
            .await
            .is_err()
    );
    let grants = grants_of(db, &clone, "%").await;
    assert!(
        has_grant(
            &grants,
            &format!("GRANT SELECT, INSERT ON `{only_clone}`.* TO"),
            "`"
        ),
        "the adopted clone gets the original's grants: {grants:?}"
    );
}

#[tokio::test]
async fn the_username_character_limit_is_honoured() {
    let world = World::new().await;
    let db = world.mariadb();
    let user = unique("long_"); // 13 characters: 19 with _clone
    create_mysql_user(db, &user, "Limit-Pass-1").await;
    let arn = child_secret(&world, &user, "Limit-Pass-1").await;
    let function = world.function(BIN, &[]).await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let invocation = function
        .invoke(&SecretsManagerDriver::event("createSecret", &arn, &token))
        .await;
    assert_error(
        &invocation,
        "TargetError",
        "Unable to clone user, username length with _clone appended would exceed 16 characters",
    );
    let function = world
        .function(BIN, &[("USERNAME_CHARACTER_LIMIT", "19")])
        .await;
    let report = world
        .driver
        .run_steps(&function, &arn, &token, &Step::ALL)
        .await;
    assert!(report.succeeded(), "{report}");
    let current: Value = world.value(&arn, "AWSCURRENT").await.unwrap();
    assert_eq!(current["username"], json!(clone_of(&user)));
}

#[tokio::test]
async fn no_password_reaches_the_rotator_output_or_the_general_log() {
    let world = World::new().await;
    let db = world.mariadb();
    let (arn, user, old_password) = pair(&world).await;
    let function = world.function(BIN, &[("RUST_LOG", "trace")]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let new_password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
    let output = function.stop().await;
    let general_log = std::fs::read_to_string(db.general_log_path()).unwrap();
    assert!(
        general_log.contains(&format!(
            "ALTER USER '{}'@'%' IDENTIFIED BY PASSWORD '*",
            clone_of(&user)
        )),
        "the general log should show the hashed statement"
    );
    for (name, text) in [("rotator output", &output), ("general log", &general_log)] {
        assert!(!text.contains(&new_password), "new password in the {name}");
        assert!(!text.contains(&old_password), "old password in the {name}");
        assert!(
            !text.contains(db.root_password()),
            "master password in the {name}"
        );
    }
}

rotation_e2e::database_scenarios!(Rotator::MySqlMultiUser);

// ---------------------------------------------------------------------------------------------
// Issue 12, points 3 and 4 (MySQL): replayed grants are rebuilt from parsed parts and sent one
// statement per call; setSecret changes only the pending user.
// ---------------------------------------------------------------------------------------------
mod trust_boundaries {
    use super::*;

    /// What an account is, host by host: the authentication data, TLS requirements, limits and
    /// grants of every host entry (empty when the user does not exist).
    async fn account_state(db: &MariaDbServer, user: &str) -> Vec<String> {
        let hosts = root_rows(
            db,
            &format!(
                "SELECT Host FROM mysql.user WHERE User = {} ORDER BY Host",
                mysql_literal(user)
            ),
        )
        .await;
        let mut state = Vec::new();
        for host in hosts {
            let row = root_rows(
                db,
                &format!(
                    "SELECT CONCAT_WS('|', Host, plugin, authentication_string, ssl_type, \
                     max_questions, max_updates, max_connections, max_user_connections) \
                     FROM mysql.user WHERE User = {} AND Host = {}",
                    mysql_literal(user),
                    mysql_literal(&host)
                ),
            )
            .await;
            state.extend(row);
            state.extend(grants_of(db, user, &host).await);
        }
        state
    }

    /// After `step`: the versions labelled AWSCURRENT and AWSPREVIOUS whose user is not the
    /// pending one still log in (the pending user is the one setSecret may change).
    async fn live_versions_log_in(world: &World, arn: &str, pending_user: &str, step: &str) {
        let db = world.mariadb();
        for label in ["AWSCURRENT", "AWSPREVIOUS"] {
            let Some(value) = world.value(arn, label).await else {
                continue;
            };
            let user = value["username"].as_str().unwrap().to_owned();
            if user == pending_user {
                continue;
            }
            mysql_login(db.port(), &user, &password_of(&value))
                .await
                .unwrap_or_else(|e| panic!("after {step}: {label} ({user}) cannot log in: {e}"));
        }
    }

    /// One rotation step by step: after each step, the live versions log in and the live
    /// user's accounts are exactly as they were.
    async fn rotate_checking_live_users(
        world: &World,
        function: &rotation_local::LocalFunction,
        arn: &str,
        round: u32,
    ) {
        let db = world.mariadb();
        let current = world.value(arn, "AWSCURRENT").await.unwrap();
        let live_user = current["username"].as_str().unwrap().to_owned();
        let pending_user = match live_user.strip_suffix("_clone") {
            Some(original) => original.to_owned(),
            None => clone_of(&live_user),
        };
        let live_before = account_state(db, &live_user).await;
        let token = world.driver.start_rotation(arn).await.unwrap();
        for step in Step::ALL {
            let report = world.driver.run_steps(function, arn, &token, &[step]).await;
            assert!(report.succeeded(), "round {round}, {step}: {report}");
            let step = format!("round {round}, {step}");
            live_versions_log_in(world, arn, &pending_user, &step).await;
            assert_eq!(
                account_state(db, &live_user).await,
                live_before,
                "after {step}: the live user {live_user} changed"
            );
        }
    }

    #[tokio::test]
    async fn set_secret_changes_only_the_pending_user_and_live_credentials_keep_every_host() {
        let world = World::new().await;
        let db = world.mariadb();
        let (arn, user, _) = pair(&world).await;
        let clone = clone_of(&user);
        let shop = unique("d");
        let function = world.function(BIN, &[]).await;
        rotate_checking_live_users(&world, &function, &arn, 1).await;

        // The clone, now AWSCURRENT, is given other limits by an administrator.
        mysql_admin(
            db,
            &[format!(
                "ALTER USER {}@'%' WITH MAX_QUERIES_PER_HOUR 777 MAX_USER_CONNECTIONS 5",
                mysql_literal(&clone)
            )],
        )
        .await;
        // Round 2: the original is pending, the clone is live.
        rotate_checking_live_users(&world, &function, &arn, 2).await;

        // The original, now AWSCURRENT, gains a second host entry (REQUIRE NONE, its current
        // password). (Added while the clone is live, it would stop the original's turn until
        // the clone has it too: `pair::`.)
        let password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
        let loopback = format!("{}@'127.0.0.1'", mysql_literal(&user));
        mysql_admin(
            db,
            &[
                format!("CREATE DATABASE `{shop}`"),
                format!(
                    "CREATE USER {loopback} IDENTIFIED BY {} REQUIRE NONE",
                    mysql_literal(&password)
                ),
                format!("GRANT SELECT ON `{shop}`.* TO {loopback}"),
            ],
        )
        .await;
        mysql_login(db.port(), &user, &password).await.unwrap();
        // Round 3: the clone is pending again and only now gets the new host and grant.
        rotate_checking_live_users(&world, &function, &arn, 3).await;
        let current = world.value(&arn, "AWSCURRENT").await.unwrap();
        assert_eq!(current["username"], json!(clone));
        mysql_login(db.port(), &clone, &password_of(&current))
            .await
            .unwrap();
        assert!(
            has_grant(
                &grants_of(db, &clone, "127.0.0.1").await,
                &format!("GRANT SELECT ON `{shop}`.* TO"),
                "`"
            ),
            "drift is repaired when the clone is pending"
        );
    }

    /// Rows of the grant tables as text, to compare before and after.
    async fn grant_tables(db: &MariaDbServer) -> Vec<String> {
        let mut rows = Vec::new();
        for statement in [
            "SELECT CONCAT_WS('|', 'user', User, Host) FROM mysql.user",
            "SELECT CONCAT_WS('|', 'db', User, Host, Db) FROM mysql.db",
            "SELECT CONCAT_WS('|', 'table', User, Host, Db, Table_name, Table_priv, Column_priv) \
             FROM mysql.tables_priv",
            "SELECT CONCAT_WS('|', 'column', User, Host, Db, Table_name, Column_name, Column_priv) \
             FROM mysql.columns_priv",
            "SELECT CONCAT_WS('|', 'routine', User, Host, Db, Routine_name, Proc_priv) \
             FROM mysql.procs_priv",
            "SELECT CONCAT_WS('|', 'role', User, Host, Role) FROM mysql.roles_mapping",
            "SELECT CONCAT_WS('|', 'proxy', User, Host, Proxied_user) FROM mysql.proxies_priv",
            "SELECT CONCAT_WS('|', 'database', SCHEMA_NAME) FROM information_schema.SCHEMATA",
        ] {
            rows.extend(root_rows(db, statement).await);
        }
        rows.sort();
        rows
    }

    #[tokio::test]
    async fn hostile_database_table_and_column_names_are_replayed_quoted_one_statement_per_call() {
        let world = World::new().await;
        let db = world.mariadb();
        let (arn, user, _) = pair(&world).await;
        let clone = clone_of(&user);
        // Names that close a quote and chain a second statement, in every quoting style.
        let schema = format!("{}`; CREATE USER 'pwn_db'@'%'; -- '\"", unique("d"));
        let table = "t`) ON *.* TO 'pwn_t'@'%'; DROP DATABASE mysql; --'\"".to_owned();
        let column = "c`) ON *.* TO 'pwn_c'@'%'; CREATE USER 'pwn_c'@'%' -- '\\".to_owned();
        let routine = "p`; CREATE USER 'pwn_p'@'%'; --".to_owned();
        let ident = |name: &str| format!("`{}`", name.replace('`', "``"));
        let (s, t, c, p) = (
            ident(&schema),
            ident(&table),
            ident(&column),
            ident(&routine),
        );
        let account = format!("{}@'%'", mysql_literal(&user));
        mysql_admin(
            db,
            &[
                format!("CREATE DATABASE {s}"),
                format!("CREATE TABLE {s}.{t} ({c} INT, other INT)"),
                format!("CREATE PROCEDURE {s}.{p}() SELECT 1"),
                format!("GRANT SELECT ({c}), UPDATE ({c}, other) ON {s}.{t} TO {account}"),
                format!("GRANT INSERT ON {s}.{t} TO {account} WITH GRANT OPTION"),
                format!("GRANT DELETE ON {s}.* TO {account}"),
                format!("GRANT EXECUTE ON PROCEDURE {s}.{p} TO {account}"),
            ],
        )
        .await;
        let before = grant_tables(db).await;
        let function = world.function(BIN, &[]).await;
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        assert!(report.succeeded(), "{report}");

        // Nothing but the clone appeared in the grant tables. Other tests of this binary
        // create users at the same time: rows are judged by whether they could come from the
        // payloads (the users they name, this test's schema, the system database) or are ours.
        let after = grant_tables(db).await;
        // The payloads name users `pwn_*` and `x`.
        let grantee = |row: &String| row.split('|').nth(1).map(str::to_owned);
        let payload_user =
            |row: &String| grantee(row).is_some_and(|user| user.starts_with("pwn_") || user == "x");
        let ours = |row: &String| {
            payload_user(row)
                || row.contains(&schema)
                || row.contains(&user)
                || row == "database|mysql"
        };
        let added: Vec<&String> = after.iter().filter(|row| !before.contains(row)).collect();
        let removed: Vec<&String> = before.iter().filter(|row| !after.contains(row)).collect();
        assert!(
            !removed.iter().any(|row| ours(row)),
            "rows disappeared: {removed:?}"
        );
        assert!(after.contains(&"database|mysql".to_owned()));
        for row in added.into_iter().filter(|row| ours(row)) {
            assert!(
                row.split('|').nth(1) == Some(clone.as_str()),
                "a row that is not the clone's appeared: {row:?}"
            );
        }
        assert!(!after.iter().any(payload_user), "{after:?}");
        // The clone has exactly the original's grants.
        let mine = |grants: Vec<String>, name: &str| -> Vec<String> {
            let grantee = format!("TO `{name}`@`%`");
            grants
                .iter()
                .map(|line| line.split(&grantee).next().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            mine(grants_of(db, &clone, "%").await, &clone),
            mine(grants_of(db, &user, "%").await, &user)
        );
        let current = world.value(&arn, "AWSCURRENT").await.unwrap();
        mysql_login(db.port(), &clone, &password_of(&current))
            .await
            .unwrap();

        // Every grant reached the server as a prepared statement (which holds one statement),
        // never as a text query (which may hold several).
        let log = std::fs::read_to_string(db.general_log_path()).unwrap();
        let clone_grants: Vec<&str> = log
            .lines()
            .filter(|line| line.contains("GRANT ") && line.contains(&format!("'{clone}'")))
            .collect();
        assert!(
            !clone_grants.is_empty(),
            "no grant for the clone in the log"
        );
        for line in clone_grants {
            assert!(
                line.contains("Prepare\t") || line.contains("Execute\t"),
                "a grant sent as a text query: {line}"
            );
        }
    }
}

/// MySQL 5.7 prints column names in `SHOW GRANTS` without quotes; MariaDB quotes them. This
/// proxy sits between the rotator and MariaDB (plaintext) and rewrites the one line of
/// `SHOW GRANTS` that holds a given column, as MySQL 5.7 would print it, so that the real
/// binary meets the 5.7 form against a real server.
mod mysql_5_7_printing {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// Rewrites `(`column`)` into `(column)` inside the server's packets.
    #[derive(Clone)]
    struct Rewrite {
        quoted: Vec<u8>,
        bare: Vec<u8>,
    }

    impl Rewrite {
        /// A packet payload with the line of `SHOW GRANTS` rewritten (the length-encoded
        /// string that holds it gets a new length); other payloads as they are.
        fn payload(&self, payload: Vec<u8>) -> Vec<u8> {
            let Some(at) = find(&payload, &self.quoted) else {
                return payload;
            };
            let Some(start) = find(&payload, b"GRANT ").filter(|start| *start < at) else {
                return payload;
            };
            let (prefix, length) = match payload[..start] {
                [.., 0xfc, a, b] => (start - 3, usize::from(u16::from_le_bytes([a, b]))),
                [.., n] if n < 0xfb => (start - 1, usize::from(n)),
                _ => return payload,
            };
            let line = &payload[start..start + length];
            let rewritten = replace(line, &self.quoted, &self.bare);
            let mut out = payload[..prefix].to_vec();
            if rewritten.len() < 0xfb {
                out.push(rewritten.len() as u8);
            } else {
                out.push(0xfc);
                out.extend((rewritten.len() as u16).to_le_bytes());
            }
            out.extend(&rewritten);
            out.extend(&payload[start + length..]);
            out
        }
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack
            .windows(needle.len())
            .position(|window| window == needle)
    }

    fn replace(text: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        let at = find(text, from).expect("the text holds it");
        [&text[..at], to, &text[at + from.len()..]].concat()
    }

    /// Copies server packets to the client, rewriting each payload.
    async fn server_to_client(
        mut server: tokio::net::tcp::OwnedReadHalf,
        mut client: tokio::net::tcp::OwnedWriteHalf,
        rewrite: Rewrite,
    ) -> std::io::Result<()> {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 16384];
        loop {
            let read = server.read(&mut chunk).await?;
            if read == 0 {
                return client.shutdown().await;
            }
            buffer.extend(&chunk[..read]);
            while buffer.len() >= 4 {
                let length = usize::from(buffer[0])
                    | usize::from(buffer[1]) << 8
                    | usize::from(buffer[2]) << 16;
                if buffer.len() < 4 + length {
                    break;
                }
                let sequence = buffer[3];
                let payload = rewrite.payload(buffer[4..4 + length].to_vec());
                buffer.drain(..4 + length);
                let mut packet = (payload.len() as u32).to_le_bytes()[..3].to_vec();
                packet.push(sequence);
                packet.extend(payload);
                client.write_all(&packet).await?;
            }
        }
    }

    /// A proxy to `port` on 127.0.0.1 that prints `column` unquoted; its port.
    pub async fn start(port: u16, column: &str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_port = listener.local_addr().unwrap().port();
        let rewrite = Rewrite {
            quoted: format!("(`{}`)", column.replace('`', "``")).into_bytes(),
            bare: format!("({column})").into_bytes(),
        };
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(("127.0.0.1", port)).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, mut server_write) = server.into_split();
                let rewrite = rewrite.clone();
                tokio::spawn(async move {
                    let mut client_read = client_read;
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                tokio::spawn(server_to_client(server_read, client_write, rewrite));
            }
        });
        proxy_port
    }
}

mod mysql_5_7_payloads {
    use super::*;

    /// A rotation of `user` (a new multi-user secret) through a proxy that prints `column` as
    /// MySQL 5.7 does.
    async fn rotate_through_5_7(
        world: &World,
        user: &str,
        password: &str,
        column: &str,
    ) -> RotationReport {
        let db = world.mariadb();
        let port = mysql_5_7_printing::start(db.port(), column).await;
        let secret = |user: &str, password: &str| {
            json!({
                "engine": "mariadb", "host": "127.0.0.1", "port": port.to_string(),
                "username": user, "password": password, "sslmode": "disable",
            })
        };
        let master = world
            .create_secret(
                &unique("master-"),
                &secret(db.root_user(), db.root_password()).to_string(),
            )
            .await;
        let mut child = secret(user, password);
        child["masterarn"] = json!(master);
        let arn = world
            .create_secret(&unique("child-"), &child.to_string())
            .await;
        let function = world.function(BIN, &[]).await;
        world.driver.rotate(&function, &arn).await.unwrap()
    }

    #[tokio::test]
    async fn an_unquoted_column_name_that_reads_as_more_privileges_is_refused() {
        let world = World::new().await;
        let db = world.mariadb();
        let user = short_user();
        let password = unique("Initial-Pass-");
        create_mysql_user(db, &user, &password).await;
        let schema = unique("q");
        // MySQL 5.7 prints `GRANT SELECT (a), INSERT (b) ON ...`: INSERT the user never had.
        let column = "a), INSERT (b".to_owned();
        let account = format!("{}@'%'", mysql_literal(&user));
        mysql_admin(
            db,
            &[
                format!("CREATE DATABASE `{schema}`"),
                format!("CREATE TABLE `{schema}`.t (a INT, b INT, `{column}` INT)"),
                format!("GRANT SELECT (`{column}`) ON `{schema}`.t TO {account}"),
            ],
        )
        .await;
        let report = rotate_through_5_7(&world, &user, &password, &column).await;
        let clone = clone_of(&user);
        let inserts = root_rows(
            db,
            &format!(
                "SELECT Column_name FROM mysql.columns_priv WHERE User = {} \
                 AND FIND_IN_SET('Insert', Column_priv)",
                mysql_literal(&clone)
            ),
        )
        .await;
        assert!(inserts.is_empty(), "the clone may INSERT into {inserts:?}");
        let failure = report.failure().expect("setSecret must refuse the line");
        assert_eq!(failure.step, "setSecret", "{report}");
        assert_error(
            &failure.invocation,
            "TargetError",
            &format!("privilege SELECT, object `{schema}`.`t`"),
        );
        assert_error(&failure.invocation, "TargetError", "mysql.columns_priv");
    }

    #[tokio::test]
    async fn an_unquoted_column_name_carrying_a_statement_fails_the_rotation_and_runs_nothing() {
        let world = World::new().await;
        let db = world.mariadb();
        let user = short_user();
        let password = unique("Initial-Pass-");
        create_mysql_user(db, &user, &password).await;
        let schema = unique("q");
        let victim = unique("pwn");
        // What MySQL 5.7 prints as `GRANT SELECT (a) ON q….t TO u…; CREATE USER pwn… -- x) ON
        // `q…`.`t` TO 'u…'@'%'`: a replayed line that grants on the column and creates a user.
        let column = format!("a) ON {schema}.t TO {user}; CREATE USER {victim} -- x");
        let account = format!("{}@'%'", mysql_literal(&user));
        let quoted = format!("`{column}`");
        mysql_admin(
            db,
            &[
                format!("CREATE DATABASE `{schema}`"),
                format!("CREATE TABLE `{schema}`.t (a INT, {quoted} INT)"),
                format!("GRANT SELECT ({quoted}) ON `{schema}`.t TO {account}"),
            ],
        )
        .await;
        let report = rotate_through_5_7(&world, &user, &password, &column).await;

        let victims = root_rows(
            db,
            &format!(
                "SELECT Host FROM mysql.user WHERE User = {}",
                mysql_literal(&victim)
            ),
        )
        .await;
        assert!(victims.is_empty(), "the payload created user {victim}");
        let failure = report.failure().expect("setSecret must refuse the line");
        assert_eq!(failure.step, "setSecret", "{report}");
        assert_error(
            &failure.invocation,
            "TargetError",
            &format!("privilege SELECT, object `{schema}`.`t`"),
        );
        assert_error(&failure.invocation, "TargetError", "nothing was run");
        let clone = clone_of(&user);
        let clone_hosts = root_rows(
            db,
            &format!(
                "SELECT Host FROM mysql.user WHERE User = {}",
                mysql_literal(&clone)
            ),
        )
        .await;
        assert!(
            clone_hosts.is_empty(),
            "the clone was created: {clone_hosts:?}"
        );
        mysql_login(db.port(), &user, &password).await.unwrap();
    }
}

/// The pair takeover: a team user with `CREATE USER` must not get the master to set the password
/// of an account it does not already control, by naming it as its own pair in its secret
/// (setSecret only proves that the secret's current credentials log in).
mod pair {
    use super::*;

    /// The team's user `'team'@'%'`, with `CREATE USER` (and nothing else), and its
    /// multi-user secret; returns (arn, user, password).
    async fn team_with_create_user(world: &World) -> (String, String, String) {
        let (arn, user, password) = pair(world).await;
        mysql_admin(
            world.mariadb(),
            &[format!(
                "GRANT CREATE USER ON *.* TO {}@'%'",
                mysql_literal(&user)
            )],
        )
        .await;
        (arn, user, password)
    }

    /// Runs statements as `user` (the team, on its own).
    async fn run_as(db: &MariaDbServer, user: &str, password: &str, statements: &[String]) {
        use sqlx::Connection;
        use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
        let options = MySqlConnectOptions::new()
            .host("127.0.0.1")
            .port(db.port())
            .username(user)
            .password(password)
            .ssl_mode(MySqlSslMode::Disabled);
        let mut connection = MySqlConnection::connect_with(&options)
            .await
            .expect("the team logs in");
        for statement in statements {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
                .execute(&mut connection)
                .await
                .unwrap_or_else(|e| panic!("the team runs {statement}: {e}"));
        }
        let _ = connection.close().await;
    }

    /// What the team can do with PutSecretValue on its own secret: a new AWSCURRENT value
    /// naming another user and the password it gave that user.
    async fn put_current(world: &World, arn: &str, user: &str, password: &str) {
        let mut value = world.value(arn, "AWSCURRENT").await.unwrap();
        value["username"] = json!(user);
        value["password"] = json!(password);
        world
            .client()
            .put_secret_value()
            .secret_id(arn)
            .secret_string(value.to_string())
            .send()
            .await
            .expect("PutSecretValue works");
    }

    #[tokio::test]
    async fn a_self_made_clone_cannot_take_over_a_privileged_original() {
        let world = World::new().await;
        let db = world.mariadb();
        let (arn, team, team_password) = team_with_create_user(&world).await;
        // A privileged account that is nobody's pair (it stands for an administrator).
        let boss = unique("b");
        let boss_account = format!("{}@'%'", mysql_literal(&boss));
        mysql_admin(
            db,
            &[
                format!("CREATE USER {boss_account} IDENTIFIED BY 'Boss-Pass-1'"),
                format!("GRANT ALL PRIVILEGES ON *.* TO {boss_account} WITH GRANT OPTION"),
            ],
        )
        .await;
        let fake_clone = clone_of(&boss);
        run_as(
            db,
            &team,
            &team_password,
            &[format!(
                "CREATE USER {}@'%' IDENTIFIED BY 'Fake-Clone-1'",
                mysql_literal(&fake_clone)
            )],
        )
        .await;
        put_current(&world, &arn, &fake_clone, "Fake-Clone-1").await;

        let function = world.function(BIN, &[]).await;
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        mysql_login(db.port(), &boss, "Boss-Pass-1")
            .await
            .unwrap_or_else(|e| panic!("the privileged account's password was changed: {e}"));
        let failure = report
            .failure()
            .unwrap_or_else(|| panic!("the rotation must fail: {report}"));
        assert_eq!(failure.step, "setSecret");
        assert_error(
            &failure.invocation,
            "TargetError",
            "is not proven to be its clone",
        );
        assert_error(&failure.invocation, "TargetError", &format!("{boss}@%"));
        assert_error(&failure.invocation, "TargetError", &fake_clone);
        assert_eq!(
            world.value(&arn, "AWSCURRENT").await.unwrap()["username"],
            json!(fake_clone)
        );
    }

    #[tokio::test]
    async fn a_self_made_original_cannot_adopt_another_teams_clone() {
        let world = World::new().await;
        let db = world.mariadb();
        let (arn, team, team_password) = team_with_create_user(&world).await;
        // Another team's user that ends in _clone (its original is gone, or never was), with
        // that team's data.
        let name = unique("o");
        let other = clone_of(&name);
        let vault = unique("v");
        let other_account = format!("{}@'%'", mysql_literal(&other));
        mysql_admin(
            db,
            &[
                format!("CREATE DATABASE `{vault}`"),
                format!("CREATE USER {other_account} IDENTIFIED BY 'Other-Pass-1'"),
                format!("GRANT SELECT ON `{vault}`.* TO {other_account}"),
            ],
        )
        .await;
        run_as(
            db,
            &team,
            &team_password,
            &[format!(
                "CREATE USER {}@'%' IDENTIFIED BY 'Fake-Original-1'",
                mysql_literal(&name)
            )],
        )
        .await;
        put_current(&world, &arn, &name, "Fake-Original-1").await;

        let function = world.function(BIN, &[]).await;
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        mysql_login(db.port(), &other, "Other-Pass-1")
            .await
            .unwrap_or_else(|e| panic!("the other team's password was changed: {e}"));
        let failure = report
            .failure()
            .unwrap_or_else(|| panic!("the rotation must fail: {report}"));
        assert_eq!(failure.step, "setSecret");
        assert_error(&failure.invocation, "TargetError", "holds nothing beyond");
        assert_error(&failure.invocation, "TargetError", &format!("{other}@%"));
        assert_error(&failure.invocation, "TargetError", &format!("`{vault}`.*"));
        assert_eq!(
            world.value(&arn, "AWSCURRENT").await.unwrap()["username"],
            json!(name)
        );
    }
}
