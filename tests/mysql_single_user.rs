//! mysql-single-user, end to end: the real binary under the Lambda Runtime API, moto's
//! Secrets Manager, and a real MariaDB that writes every statement to its general log.
//!
//! The rotation contract (`rotation-testkit`) and the database scenarios every rotator shares
//! (`rotation_e2e::scenarios`) run here through `database_scenarios!` at the end; the tests
//! written out below are the ones particular to this rotator.

use rotation_e2e::*;

const BIN: &str = "mysql-single-user";

#[tokio::test]
async fn no_password_reaches_the_rotator_output_or_the_general_log() {
    let world = World::new().await;
    let db = world.mariadb();
    let (arn, user, old_password) = world.mysql_user_with_secret("nolog").await;
    let function = world.function(BIN, &[("RUST_LOG", "trace")]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let new_password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
    let output = function.stop().await;
    let general_log = std::fs::read_to_string(db.general_log_path()).unwrap();
    assert!(
        general_log.contains("SET PASSWORD = '*"),
        "the general log should show the hashed statement"
    );
    assert!(
        general_log.contains(&user),
        "the general log should show the user's session"
    );
    for (name, text) in [("rotator output", &output), ("general log", &general_log)] {
        assert!(!text.contains(&new_password), "new password in the {name}");
        assert!(!text.contains(&old_password), "old password in the {name}");
    }
}

#[tokio::test]
async fn retain_current_password_on_mariadb_fails_set_secret_clearly_and_changes_nothing() {
    let world = World::new().await;
    let db = world.mariadb();
    let (arn, user, password) = world.mysql_user_with_secret("retain").await;
    let current_before = world.version_with(&arn, "AWSCURRENT").await.unwrap();
    let function = world
        .function(BIN, &[("MYSQL_RETAIN_CURRENT_PASSWORD", "true")])
        .await;
    let token = world.driver.start_rotation(&arn).await.unwrap();
    let report = world
        .driver
        .run_steps(&function, &arn, &token, &["createSecret"])
        .await;
    assert!(report.succeeded(), "{report}");
    let report = world
        .driver
        .run_steps(&function, &arn, &token, &["setSecret"])
        .await;
    let failure = report.failure().expect("setSecret must fail on MariaDB");
    assert_eq!(failure.step, "setSecret");
    assert_error(
        &failure.invocation,
        "TargetError",
        "MYSQL_RETAIN_CURRENT_PASSWORD needs MySQL 8.0.14 or later (dual passwords); the server \
         is MariaDB ",
    );
    assert_error(
        &failure.invocation,
        "TargetError",
        ": turn the variable off or upgrade the server",
    );
    // Nothing changed: the old password still logs in, the pending one does not, and
    // AWSCURRENT did not move.
    mysql_login(db.port(), &user, &password).await.unwrap();
    let pending = world.value_of_version(&arn, &token).await.unwrap();
    let pending = password_of(&serde_json::from_str(&pending).unwrap());
    assert!(mysql_login(db.port(), &user, &pending).await.is_err());
    assert_eq!(
        world.version_with(&arn, "AWSCURRENT").await.unwrap(),
        current_before
    );
    let general_log = std::fs::read_to_string(db.general_log_path()).unwrap();
    assert!(
        !general_log.contains(&pending),
        "pending password in the log"
    );
}

rotation_e2e::database_scenarios!(Rotator::MySqlSingleUser);
