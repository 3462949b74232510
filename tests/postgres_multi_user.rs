//! postgres-multi-user, end to end: the real binary under the Lambda Runtime API, moto's
//! Secrets Manager, a real PostgreSQL that logs every statement, and a master secret holding
//! the stack's superuser.
//!
//! The rotation contract (`rotation-testkit`) and the database scenarios every rotator shares
//! (`rotation_e2e::scenarios`) run here through `database_scenarios!` at the end; the tests
//! written out below are the ones particular to this rotator.

use rotation_e2e::*;
use serde_json::{Value, json};

const BIN: &str = "postgres-multi-user";

fn clone_of(user: &str) -> String {
    format!("{user}_clone")
}

/// Puts a value on a rotation's pending version by hand (as a broken createSecret would).
async fn put_pending(world: &World, arn: &str, token: &str, value: &Value) {
    world
        .client()
        .put_secret_value()
        .secret_id(arn)
        .client_request_token(token)
        .secret_string(value.to_string())
        .version_stages("AWSPENDING")
        .send()
        .await
        .expect("PutSecretValue works");
}

/// The first column of a query run by a user, as text.
async fn text_as(port: u16, user: &str, password: &str, sql: &str) -> Option<String> {
    run_as(port, user, password, &[sql])
        .await
        .unwrap_or_else(|e| panic!("{user}: {e}"))
        .remove(0)
}

#[tokio::test]
async fn happy_path_creates_the_clone_and_keeps_every_other_field() {
    let world = World::new().await;
    let pg = world.postgres();
    let role = unique("happy_");
    create_role(pg, &role, "Old-Pass-1").await;
    let master = world.master_secret().await;
    let secret = json!({
        "engine": "postgres", "host": pg.host(), "port": pg.port().to_string(),
        "username": role, "password": "Old-Pass-1", "dbname": "postgres",
        "masterarn": master, "team": {"owner": "payments", "tags": [1, 2]},
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
    assert_ne!(new_password, "Old-Pass-1");
    let mut expected = secret.clone();
    expected["username"] = json!(clone_of(&role));
    expected["password"] = json!(new_password);
    assert_eq!(
        current, expected,
        "only the username and password may change"
    );
    login(pg.port(), &clone_of(&role), &new_password)
        .await
        .unwrap();
    login(pg.port(), &role, "Old-Pass-1").await.unwrap();
    assert_eq!(
        text_as(
            pg.port(),
            &clone_of(&role),
            &new_password,
            "SELECT current_user::text"
        )
        .await
        .as_deref(),
        Some(role.as_str()),
        "a clone session acts as the original"
    );
}

#[tokio::test]
async fn three_rotations_alternate_and_the_previous_user_still_logs_in() {
    let world = World::new().await;
    let pg = world.postgres();
    let (arn, role, first_password) = world.multi_user_with_secret("three").await;
    let function = world.function(BIN, &[]).await;
    let mut previous = (role.clone(), first_password);
    for (round, expected_user) in [
        (1, clone_of(&role)),
        (2, role.clone()),
        (3, clone_of(&role)),
    ] {
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        assert!(report.succeeded(), "round {round}: {report}");
        let current = world.value(&arn, "AWSCURRENT").await.unwrap();
        assert_eq!(current["username"], json!(expected_user), "round {round}");
        let password = password_of(&current);
        login(pg.port(), &expected_user, &password).await.unwrap();
        login(pg.port(), &previous.0, &previous.1)
            .await
            .unwrap_or_else(|e| panic!("round {round}: the previous user must still log in: {e}"));
        let aws_previous = world.value(&arn, "AWSPREVIOUS").await.unwrap();
        assert_eq!(aws_previous["username"], json!(previous.0), "round {round}");
        assert_eq!(password_of(&aws_previous), previous.1, "round {round}");
        previous = (expected_user, password);
    }
}

/// Runs a rotation up to setSecret and returns the setSecret invocation's report.
async fn set_secret_failure(world: &World, arn: &str) -> (String, rotation_e2e::RotationReport) {
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, arn).await.unwrap();
    let output = function.stop().await;
    (output, report)
}

#[tokio::test]
async fn a_missing_masterarn_is_a_clear_error_naming_it() {
    let world = World::new().await;
    let (_, role, password) = world.user_with_secret("nomaster").await;
    let secret = secret_json(world.postgres(), &role, &password);
    let arn = world
        .create_secret(&unique("nomaster-"), &secret.to_string())
        .await;
    let current_before = world.version_with(&arn, "AWSCURRENT").await.unwrap();
    let (output, report) = set_secret_failure(&world, &arn).await;
    let failure = report.failure().expect("setSecret must fail");
    assert_eq!(failure.step, "setSecret");
    assert_error(
        &failure.invocation,
        "InvalidSecret",
        "masterarn key in secret JSON is missing",
    );
    assert_error(&failure.invocation, "InvalidSecret", &arn);
    assert_eq!(
        world.version_with(&arn, "AWSCURRENT").await.unwrap(),
        current_before
    );
    assert!(!output.contains(&password));
}

#[tokio::test]
async fn master_secrets_that_cannot_be_used_are_clear_errors_naming_them() {
    let world = World::new().await;
    let pg = world.postgres();
    let wrong = world
        .create_secret(
            &unique("badmaster-"),
            &secret_json(pg, pg.superuser(), "Not-The-Master-Password").to_string(),
        )
        .await;
    let mut elsewhere_value = secret_json(pg, pg.superuser(), pg.superuser_password());
    elsewhere_value["host"] = json!("replica.example.invalid");
    let elsewhere = world
        .create_secret(&unique("elsewhere-"), &elsewhere_value.to_string())
        .await;
    let no_host = world
        .create_secret(
            &unique("nohost-"),
            &json!({"engine": "postgres", "username": "admin", "password": "x"}).to_string(),
        )
        .await;
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-master-AbCdEf";
    let cases = [
        (
            wrong.clone(),
            "TargetError",
            format!("Unable to log into database using credentials in master secret {wrong}"),
        ),
        (
            elsewhere.clone(),
            "TargetError",
            format!(
                "Current database host {}:{port} is not the same host as/rds replica of master replica.example.invalid:{port}",
                pg.host(),
                port = pg.port()
            ),
        ),
        (
            no_host.clone(),
            "InvalidSecret",
            format!("host key is missing from secret JSON (AWSCURRENT value of secret {no_host})"),
        ),
        (
            missing.to_owned(),
            "TargetError",
            format!("the master secret {missing} (masterarn) has no AWSCURRENT value"),
        ),
    ];
    for (master, kind, needle) in cases {
        let role = unique("master_");
        create_role(pg, &role, "Child-Pass-1").await;
        let mut secret = secret_json(pg, &role, "Child-Pass-1");
        secret["masterarn"] = json!(master);
        let arn = world
            .create_secret(&unique("child-"), &secret.to_string())
            .await;
        let (output, report) = set_secret_failure(&world, &arn).await;
        let failure = report.failure().expect("setSecret must fail");
        assert_eq!(failure.step, "setSecret", "{needle}");
        assert_error(&failure.invocation, kind, &needle);
        assert!(!output.contains(pg.superuser_password()));
        assert!(!output.contains("Not-The-Master-Password"));
        assert!(login(pg.port(), &clone_of(&role), "x").await.is_err());
    }
}

#[tokio::test]
async fn a_master_secret_with_only_username_and_password_is_used_on_a_host_the_operator_lists() {
    let world = World::new().await;
    let pg = world.postgres();
    let master = world
        .create_secret(
            &unique("rdsmaster-"),
            &json!({"username": pg.superuser(), "password": pg.superuser_password()}).to_string(),
        )
        .await;
    let role = unique("rdsmaster_");
    create_role(pg, &role, "Child-Pass-1").await;
    let mut secret = secret_json(pg, &role, "Child-Pass-1");
    secret["masterarn"] = json!(master);
    let arn = world
        .create_secret(&unique("rdsmaster-"), &secret.to_string())
        .await;
    // Not the child's host: the operator's list (or RDS, see tests/master_trust.rs) says where.
    let allowed = format!("{}:{}", pg.host(), pg.port());
    let function = world.function(BIN, &[("MASTER_HOSTS", &allowed)]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let current = world.value(&arn, "AWSCURRENT").await.unwrap();
    login(pg.port(), &clone_of(&role), &password_of(&current))
        .await
        .unwrap();
}

#[tokio::test]
async fn current_credentials_that_no_longer_log_in_stop_set_secret() {
    let world = World::new().await;
    let pg = world.postgres();
    let (arn, role, _) = world.multi_user_with_secret("deputy").await;
    admin(
        pg,
        &[format!(
            "ALTER ROLE {} PASSWORD 'Changed-Elsewhere-1'",
            quote_ident(&role)
        )],
    )
    .await;
    let (_, report) = set_secret_failure(&world, &arn).await;
    let failure = report.failure().expect("setSecret must fail");
    assert_error(
        &failure.invocation,
        "TargetError",
        &format!("Unable to log into database using current credentials for secret {arn}"),
    );
    assert!(
        text_as(
            pg.port(),
            pg.superuser(),
            pg.superuser_password(),
            &format!(
                "SELECT count(*)::text FROM pg_roles WHERE rolname = {}",
                quote_literal(&clone_of(&role))
            )
        )
        .await
            == Some("0".into()),
        "no clone may be created"
    );
}

#[tokio::test]
async fn a_pending_user_or_host_other_than_the_alternate_is_refused() {
    let world = World::new().await;
    let pg = world.postgres();
    let function = world.function(BIN, &[]).await;
    let (_, victim, _) = world.user_with_secret("victim").await;
    for (field, value, needle) in [
        (
            "username",
            json!(victim),
            "other than current user or clone",
        ),
        (
            "host",
            json!("elsewhere.invalid"),
            "other than current host",
        ),
    ] {
        let (arn, role, password) = world.multi_user_with_secret("wrongpending").await;
        let token = world.driver.start_rotation(&arn).await.unwrap();
        let mut pending = world.value(&arn, "AWSCURRENT").await.unwrap();
        pending["username"] = json!(clone_of(&role));
        pending["password"] = json!("Attacker-Pass-1");
        pending[field] = value;
        put_pending(&world, &arn, &token, &pending).await;
        let report = world
            .driver
            .run_steps(&function, &arn, &token, &["setSecret"])
            .await;
        let failure = report.failure().expect("setSecret must fail");
        assert_error(&failure.invocation, "TargetError", needle);
        login(pg.port(), &role, &password).await.unwrap();
    }
    assert!(login(pg.port(), &victim, "Attacker-Pass-1").await.is_err());
}

/// Creates a table, a sequence and a view named after `tag` in `schema`, as a user.
async fn create_objects(port: u16, user: &str, password: &str, schema: &str, tag: &str) {
    let s = quote_ident(schema);
    run_as(
        port,
        user,
        password,
        &[
            &format!("CREATE TABLE {s}.t_{tag} (id int PRIMARY KEY, v text)"),
            &format!("CREATE SEQUENCE {s}.q_{tag}"),
            &format!("CREATE VIEW {s}.v_{tag} AS SELECT id, v FROM {s}.t_{tag}"),
            &format!("INSERT INTO {s}.t_{tag} VALUES (1, 'by {tag}')"),
        ],
    )
    .await
    .unwrap_or_else(|e| panic!("{user} creates {tag}: {e}"));
}

/// Uses every object of `tags` as a user: SELECT through the view, INSERT, nextval.
async fn use_objects(port: u16, user: &str, password: &str, schema: &str, tags: &[String], n: i32) {
    let s = quote_ident(schema);
    for tag in tags {
        run_as(
            port,
            user,
            password,
            &[
                &format!("SELECT count(*)::text FROM {s}.v_{tag}"),
                &format!("INSERT INTO {s}.t_{tag} VALUES ({n}, 'used')"),
                &format!("SELECT nextval('{s}.q_{tag}')::text"),
                &format!("UPDATE {s}.t_{tag} SET v = 'updated' WHERE id = {n}"),
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("{user} uses {tag}: {e}"));
    }
}

#[tokio::test]
async fn objects_created_by_either_user_are_usable_by_the_other_over_three_rotations() {
    let world = World::new().await;
    let pg = world.postgres();
    let (arn, role, password) = world.multi_user_with_secret("owner").await;
    let schema = unique("app_schema_");
    admin(
        pg,
        &[format!(
            "CREATE SCHEMA {} AUTHORIZATION {}",
            quote_ident(&schema),
            quote_ident(&role)
        )],
    )
    .await;
    create_objects(pg.port(), &role, &password, &schema, "r0").await;
    let mut tags = vec!["r0".to_string()];
    let function = world.function(BIN, &[]).await;
    let mut previous = (role.clone(), password);
    for round in 1..=3 {
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        assert!(report.succeeded(), "round {round}: {report}");
        let current = world.value(&arn, "AWSCURRENT").await.unwrap();
        let user = current["username"].as_str().unwrap().to_owned();
        let password = password_of(&current);
        let tag = format!("r{round}");
        create_objects(pg.port(), &user, &password, &schema, &tag).await;
        tags.push(tag);
        // Both users, the current one and the one it replaced, use everything either created.
        use_objects(pg.port(), &user, &password, &schema, &tags, 100 + round).await;
        use_objects(
            pg.port(),
            &previous.0,
            &previous.1,
            &schema,
            &tags,
            200 + round,
        )
        .await;
        previous = (user, password);
    }
    // A pooler's DISCARD ALL and a client's RESET ROLE keep the clone acting as the original.
    let clone = clone_of(&role);
    let clone_password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
    let s = quote_ident(&schema);
    run_as(
        pg.port(),
        &clone,
        &clone_password,
        &[
            "DISCARD ALL",
            "RESET ROLE",
            &format!("CREATE TABLE {s}.t_after_reset (id int)"),
        ],
    )
    .await
    .unwrap();
    let owners = text_as(
        pg.port(),
        pg.superuser(),
        pg.superuser_password(),
        &format!(
            "SELECT string_agg(DISTINCT pg_get_userbyid(c.relowner)::text, ',') FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = {}",
            quote_literal(&schema)
        ),
    )
    .await;
    assert_eq!(owners, Some(role.clone()), "the original owns every object");
}

#[tokio::test]
async fn attributes_settings_and_memberships_reach_the_clone_and_drift_is_repaired() {
    let world = World::new().await;
    let pg = world.postgres();
    let (arn, role, _) = world.multi_user_with_secret("attrs").await;
    let clone = clone_of(&role);
    let (r, c) = (quote_ident(&role), quote_ident(&clone));
    let group = unique("readers_");
    let later_group = unique("writers_");
    admin(
        pg,
        &[
            format!(
                "ALTER ROLE {r} CREATEDB CONNECTION LIMIT 5 VALID UNTIL '2100-01-01 00:00:00+00'"
            ),
            format!("ALTER ROLE {r} SET search_path = 'my schema', 'public'"),
            format!("ALTER ROLE {r} IN DATABASE postgres SET work_mem = '8MB'"),
            format!("CREATE ROLE {}", quote_ident(&group)),
            format!("GRANT {} TO {r}", quote_ident(&group)),
            format!("CREATE ROLE {}", quote_ident(&later_group)),
        ],
    )
    .await;
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let clone_password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
    let su = |sql: String| async move {
        text_as(pg.port(), pg.superuser(), pg.superuser_password(), &sql).await
    };
    let attributes = |name: String| {
        format!(
            "SELECT concat_ws(' ', rolcreatedb, rolconnlimit, rolvaliduntil, rolinherit) \
             FROM pg_roles WHERE rolname = {}",
            quote_literal(&name)
        )
    };
    let original_attributes = su(attributes(role.clone())).await;
    assert_eq!(su(attributes(clone.clone())).await, original_attributes);
    assert!(
        original_attributes
            .as_deref()
            .unwrap()
            .starts_with("t 5 2100-01-01"),
        "{original_attributes:?}"
    );
    let in_clone_session = run_as(
        pg.port(),
        &clone,
        &clone_password,
        &[
            "SHOW search_path",
            "SHOW work_mem",
            &format!(
                "SELECT pg_has_role({}, 'USAGE')::text",
                quote_literal(&group)
            ),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        in_clone_session,
        vec![
            Some("\"my schema\", public".to_string()),
            Some("8MB".into()),
            Some("true".into())
        ]
    );

    // Drift: the original changes, the clone gets a setting and a membership of its own.
    admin(
        pg,
        &[
            format!("ALTER ROLE {r} CONNECTION LIMIT 7"),
            format!("ALTER ROLE {r} SET statement_timeout = '7s'"),
            format!("ALTER ROLE {c} CONNECTION LIMIT 1"),
            format!("ALTER ROLE {c} SET lock_timeout = '3s'"),
            format!("GRANT {} TO {c}", quote_ident(&later_group)),
        ],
    )
    .await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    assert_eq!(
        su(attributes(clone.clone())).await,
        su(attributes(role.clone())).await
    );
    let in_clone_session = run_as(
        pg.port(),
        &clone,
        &clone_password,
        &[
            "SHOW statement_timeout",
            "SHOW lock_timeout",
            "SHOW search_path",
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        in_clone_session,
        vec![
            Some("7s".to_string()),
            Some("0".into()),
            Some("\"my schema\", public".into())
        ]
    );
    let original_is_member = su(format!(
        "SELECT pg_has_role({}, {}, 'MEMBER')::text",
        quote_literal(&role),
        quote_literal(&later_group)
    ))
    .await;
    assert_eq!(original_is_member.as_deref(), Some("true"));
    // A third rotation finds the pair in step and changes nothing but the password.
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    assert_eq!(
        su(attributes(clone.clone())).await,
        su(attributes(role.clone())).await
    );
}

#[tokio::test]
async fn a_pre_created_clone_is_adopted_not_re_created() {
    let world = World::new().await;
    let pg = world.postgres();
    let (arn, role, _) = world.multi_user_with_secret("adopt").await;
    let clone = clone_of(&role);
    admin(
        pg,
        &[
            format!("CREATE ROLE {} NOLOGIN", quote_ident(&clone)),
            format!(
                "COMMENT ON ROLE {} IS 'made by the operator'",
                quote_ident(&clone)
            ),
        ],
    )
    .await;
    let oid = |name: String| async move {
        text_as(
            pg.port(),
            pg.superuser(),
            pg.superuser_password(),
            &format!(
                "SELECT oid::text FROM pg_roles WHERE rolname = {}",
                quote_literal(&name)
            ),
        )
        .await
    };
    let before = oid(clone.clone()).await;
    let function = world.function(BIN, &[]).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    assert_eq!(oid(clone.clone()).await, before, "the clone was re-created");
    let password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
    assert_eq!(
        text_as(pg.port(), &clone, &password, "SELECT current_user::text").await,
        Some(role.clone())
    );
}

#[tokio::test]
async fn no_password_reaches_the_rotator_output_or_the_database_log() {
    let world = World::new().await;
    let pg = world.postgres();
    let (arn, role, old_password) = world.multi_user_with_secret("nolog").await;
    let function = world.function(BIN, &[("RUST_LOG", "trace")]).await;
    let mut passwords = vec![old_password];
    for _ in 0..2 {
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        assert!(report.succeeded(), "{report}");
        passwords.push(password_of(&world.value(&arn, "AWSCURRENT").await.unwrap()));
    }
    let output = function.stop().await;
    let server_log = std::fs::read_to_string(pg.log_path()).unwrap();
    for statement in [
        format!("CREATE ROLE \"{role}_clone\" WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:"),
        format!("ALTER ROLE \"{role}\" WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:"),
    ] {
        assert!(
            server_log.contains(&statement),
            "the server log should show {statement}"
        );
    }
    passwords.push(pg.superuser_password().to_owned());
    for (name, text) in [("rotator output", &output), ("PostgreSQL log", &server_log)] {
        for (i, password) in passwords.iter().enumerate() {
            assert!(
                !text.contains(password.as_str()),
                "password {i} in the {name}"
            );
        }
    }
}

rotation_e2e::database_scenarios!(Rotator::PostgresMultiUser);
