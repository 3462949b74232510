//! mysql-multi-user, end to end: the real binary under the Lambda Runtime API, moto's Secrets
//! Manager, a real MariaDB that writes every statement to its general log, and a master secret
//! holding MariaDB's root.
//!
//! The rotation contract (`rotation-testkit`) and the database scenarios every rotator shares
//! (`rotation_e2e::scenarios`) run here through `database_scenarios!` at the end; the tests
//! written out below are the ones particular to this rotator.

use rotation_e2e::*;
use rotation_local::RotationDriver;
use rotation_stack::MariaDbServer;
use serde_json::{Value, json};

const BIN: &str = "mysql-multi-user";
const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

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

    // Drift: a grant added to the original reaches the clone at the next rotation.
    mysql_admin(db, &[format!("GRANT UPDATE ON `{extra}`.* TO {loopback}")]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let grants = grants_of(db, &clone, "127.0.0.1").await;
    assert!(
        has_grant(&grants, &format!("GRANT UPDATE ON `{extra}`.* TO"), "`"),
        "{grants:?}"
    );
    let current = world.value(&arn, "AWSCURRENT").await.unwrap();
    assert_eq!(current["username"], json!(user));
    mysql_login(db.port(), &user, &password_of(&current))
        .await
        .unwrap();
    mysql_login(db.port(), &clone, &password).await.unwrap();
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
            &format!("GRANT SELECT ON `{only_clone}`.* TO"),
            "`"
        ),
        "grants are only added, never revoked: {grants:?}"
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
        .invoke(&RotationDriver::event("createSecret", &arn, &token))
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
        .run_steps(&function, &arn, &token, &STEPS)
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
