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
        "masterarn": master, "team": {"owner": "payments", "tags": [1, 2]}, "ssl": false,
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
    // The RDS form has no TLS settings: verified TLS, so the stack's CA must be trusted.
    let ca = pg.ca_cert_path().to_str().unwrap();
    let env = [
        ("MASTER_HOSTS", allowed.as_str()),
        ("DATABASE_CA_BUNDLE", ca),
    ];
    let function = world.function(BIN, &env).await;
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
    // The second rotation makes the original pending: the clone is AWSCURRENT, so it keeps
    // its drift; the original gets the role granted to the clone.
    let clone_before = su(attributes(clone.clone())).await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    assert_eq!(su(attributes(clone.clone())).await, clone_before);
    let in_clone_session = run_as(
        pg.port(),
        &clone,
        &clone_password,
        &["SHOW lock_timeout", "SHOW search_path"],
    )
    .await
    .unwrap();
    assert_eq!(
        in_clone_session,
        vec![Some("3s".to_string()), Some("\"my schema\", public".into())]
    );
    let original_is_member = su(format!(
        "SELECT pg_has_role({}, {}, 'MEMBER')::text",
        quote_literal(&role),
        quote_literal(&later_group)
    ))
    .await;
    assert_eq!(original_is_member.as_deref(), Some("true"));
    // The third makes the clone pending: its drift is repaired from the original.
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}");
    assert_eq!(
        su(attributes(clone.clone())).await,
        su(attributes(role.clone())).await
    );
    let clone_password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());
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
    // A fourth rotation finds the pair in step and changes nothing but the password.
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

// ---------------------------------------------------------------------------------------------
// Issue 12, points 2 and 4 (PostgreSQL): what the database user controls (its role's settings,
// its database's settings, the names it picks) is data to the master session, never code; and
// setSecret changes only the pending user.
// ---------------------------------------------------------------------------------------------

mod trust {
    use super::*;
    use sqlx::Connection;
    use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};

    /// A session of a user kept open (a client that stays connected through a rotation).
    async fn open_session(port: u16, user: &str, password: &str) -> Result<PgConnection, String> {
        let options = PgConnectOptions::new()
            .host("127.0.0.1")
            .port(port)
            .username(user)
            .password(password)
            .database("postgres")
            .ssl_mode(PgSslMode::Disable);
        PgConnection::connect_with(&options)
            .await
            .map_err(|e| e.to_string())
    }

    /// A query run by the superuser, first column as text.
    async fn su(sql: String) -> Option<String> {
        let pg = &stack().postgres;
        text_as(pg.port(), pg.superuser(), pg.superuser_password(), &sql).await
    }

    /// A role's settings as `database:name=value` lines (`*` for every database), sorted,
    /// without the `role` setting that makes a clone act as its original.
    fn settings_of(role: &str) -> String {
        format!(
            "SELECT coalesce(string_agg(coalesce(d.datname::text, '*') || ':' || c, E'\\n' \
             ORDER BY coalesce(d.datname::text, '*') || ':' || c), '') \
             FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase, \
             unnest(s.setconfig) c \
             WHERE s.setrole = (SELECT oid FROM pg_roles WHERE rolname = {}) \
             AND c NOT LIKE 'role=%'",
            quote_literal(role)
        )
    }

    /// A role's attributes as one line.
    fn attributes_of(role: &str) -> String {
        format!(
            "SELECT concat_ws(' ', rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, \
             rolconnlimit, coalesce(rolvaliduntil::text, 'never')) \
             FROM pg_roles WHERE rolname = {}",
            quote_literal(role)
        )
    }

    async fn role_count(name: &str) -> String {
        su(format!(
            "SELECT count(*)::text FROM pg_roles WHERE rolname = {}",
            quote_literal(name)
        ))
        .await
        .unwrap_or_default()
    }

    #[tokio::test]
    async fn a_backslash_quote_payload_in_a_role_setting_never_runs_as_the_master() {
        let world = World::new().await;
        let pg = world.postgres();
        let role = unique("victim_");
        let password = unique("Initial-Pass-");
        create_role(pg, &role, &password).await;
        let database = unique("appdb_");
        admin(
            pg,
            &[format!(
                "CREATE DATABASE {} OWNER {}",
                quote_ident(&database),
                quote_ident(&role)
            )],
        )
        .await;
        // Everything below is done by the user itself, with no privilege but owning its
        // database: standard_conforming_strings off there (where the master session opens),
        // and two settings of its own role whose values end a literal written with only the
        // single quote doubled.
        let pwned = unique("pwned_");
        let creates_a_role = format!("x\\'; CREATE ROLE {pwned} SUPERUSER LOGIN; --");
        let makes_itself_superuser =
            format!("y\\'; ALTER ROLE {} SUPERUSER; --", quote_ident(&role));
        run_as(
            pg.port(),
            &role,
            &password,
            &[
                &format!(
                    "ALTER DATABASE {} SET standard_conforming_strings = off",
                    quote_ident(&database)
                ),
                &format!(
                    "ALTER ROLE {} SET application_name = {}",
                    quote_ident(&role),
                    quote_literal(&creates_a_role)
                ),
                &format!(
                    "ALTER ROLE {} IN DATABASE {} SET application_name = {}",
                    quote_ident(&role),
                    quote_ident(&database),
                    quote_literal(&makes_itself_superuser)
                ),
            ],
        )
        .await
        .expect("a user may set these on itself and on the database it owns");
        let master = world.master_secret().await;
        let mut secret = secret_json(pg, &role, &password);
        secret["dbname"] = json!(database);
        secret["masterarn"] = json!(master);
        let arn = world
            .create_secret(&unique("payload-"), &secret.to_string())
            .await;

        let function = world.function(BIN, &[]).await;
        let report = world.driver.rotate(&function, &arn).await.unwrap();

        assert_eq!(role_count(&pwned).await, "0", "the payload created a role");
        assert_eq!(
            su(attributes_of(&role))
                .await
                .unwrap_or_default()
                .split(' ')
                .next(),
            Some("f"),
            "the payload made the user a superuser"
        );
        // The rotation either copies the settings verbatim or fails clearly; here it copies.
        assert!(report.succeeded(), "{report}");
        let expected = su(settings_of(&role)).await;
        assert!(
            expected
                .as_deref()
                .unwrap_or_default()
                .contains(&creates_a_role),
            "{expected:?}"
        );
        assert_eq!(su(settings_of(&clone_of(&role))).await, expected);
        let current = world.value(&arn, "AWSCURRENT").await.unwrap();
        login(pg.port(), &clone_of(&role), &password_of(&current))
            .await
            .unwrap();
    }

    /// Runs statements as a user in a given database (the helpers use `postgres`).
    async fn run_in(port: u16, database: &str, user: &str, password: &str, statements: &[String]) {
        let options = PgConnectOptions::new()
            .host("127.0.0.1")
            .port(port)
            .username(user)
            .password(password)
            .database(database)
            .ssl_mode(PgSslMode::Disable);
        let mut connection = PgConnection::connect_with(&options)
            .await
            .unwrap_or_else(|e| panic!("{user} logs in to {database}: {e}"));
        for statement in statements {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
                .execute(&mut connection)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        let _ = connection.close().await;
    }

    #[tokio::test]
    async fn an_operator_the_user_created_never_runs_in_the_master_session() {
        let world = World::new().await;
        let pg = world.postgres();
        let role = unique("shadow_");
        let password = unique("Initial-Pass-");
        create_role(pg, &role, &password).await;
        let database = unique("shadowdb_");
        admin(
            pg,
            &[format!(
                "CREATE DATABASE {} OWNER {}",
                quote_ident(&database),
                quote_ident(&role)
            )],
        )
        .await;
        // The user, owner of its database: an `=` on `name` in a schema of its own that makes
        // whoever calls it a superuser's accomplice, and that schema before pg_catalog in the
        // database's search_path, so the master's `rolname = $1` would resolve to it.
        let r = quote_ident(&role);
        run_in(
            pg.port(),
            &database,
            &role,
            &password,
            &[
                "CREATE SCHEMA trap".to_string(),
                format!(
                    "CREATE FUNCTION trap.eq(name, name) RETURNS boolean LANGUAGE sql \
                     AS $$ ALTER ROLE {r} SUPERUSER; SELECT $1 OPERATOR(pg_catalog.=) $2 $$"
                ),
                "CREATE OPERATOR trap.= (LEFTARG = name, RIGHTARG = name, FUNCTION = trap.eq)"
                    .to_string(),
                format!(
                    "ALTER DATABASE {} SET search_path = trap, pg_catalog",
                    quote_ident(&database)
                ),
            ],
        )
        .await;
        let mut secret = secret_json(pg, &role, &password);
        secret["dbname"] = json!(database);
        secret["masterarn"] = json!(world.master_secret().await);
        let arn = world
            .create_secret(&unique("shadow-"), &secret.to_string())
            .await;

        let function = world.function(BIN, &[]).await;
        let report = world.driver.rotate(&function, &arn).await.unwrap();

        assert_eq!(
            su(attributes_of(&role))
                .await
                .unwrap_or_default()
                .split(' ')
                .next(),
            Some("f"),
            "the user's operator ran as the master and made it a superuser"
        );
        assert!(report.succeeded(), "{report}");
    }

    #[tokio::test]
    async fn hostile_names_and_setting_values_are_copied_verbatim_in_both_directions() {
        let world = World::new().await;
        let pg = world.postgres();
        let role = unique("o'k\"; \\ü_");
        let password = unique("Initial-Pass-");
        create_role(pg, &role, &password).await;
        let database = unique("d'b\"; \\ö ");
        let r = quote_ident(&role);
        admin(
            pg,
            &[
                format!("CREATE DATABASE {} OWNER {r}", quote_ident(&database)),
                format!(
                    "ALTER DATABASE {} SET standard_conforming_strings = off",
                    quote_ident(&database)
                ),
                format!(
                    "ALTER ROLE {r} SET application_name = {}",
                    quote_literal("a'b\\'c; \\\\ d\\n ü -- /*")
                ),
                format!(
                    "ALTER ROLE {r} IN DATABASE {} SET search_path = {}, {}, {}",
                    quote_ident(&database),
                    quote_literal("sch'ema"),
                    quote_literal("back\\slash\\'; x"),
                    quote_literal("\"quoted\", ü")
                ),
                format!("ALTER ROLE {r} SET statement_timeout = '5s'"),
                format!(
                    "ALTER ROLE {r} SET \"myapp.tenant\" = {}",
                    quote_literal("t\\'; DROP ROLE x; --")
                ),
            ],
        )
        .await;
        let master = world.master_secret().await;
        let mut secret = secret_json(pg, &role, &password);
        secret["dbname"] = json!(database);
        secret["masterarn"] = json!(master);
        let arn = world
            .create_secret(&unique("hostile-"), &secret.to_string())
            .await;
        let expected = su(settings_of(&role)).await;
        assert_eq!(
            expected.as_deref().map(|s| s.lines().count()),
            Some(4),
            "{expected:?}"
        );
        let function = world.function(BIN, &[]).await;
        for round in 1..=3 {
            let report = world.driver.rotate(&function, &arn).await.unwrap();
            assert!(report.succeeded(), "round {round}: {report}");
            assert_eq!(su(settings_of(&role)).await, expected, "round {round}");
            assert_eq!(
                su(settings_of(&clone_of(&role))).await,
                expected,
                "round {round}"
            );
            let current = world.value(&arn, "AWSCURRENT").await.unwrap();
            let user = current["username"].as_str().unwrap().to_owned();
            login(pg.port(), &user, &password_of(&current))
                .await
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
    }

    #[tokio::test]
    async fn set_secret_leaves_the_live_clone_alone_and_repairs_it_when_it_is_pending() {
        let world = World::new().await;
        let pg = world.postgres();
        let (arn, role, first_password) = world.multi_user_with_secret("live").await;
        let clone = clone_of(&role);
        let function = world.function(BIN, &[]).await;
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        assert!(report.succeeded(), "{report}");
        let clone_password = password_of(&world.value(&arn, "AWSCURRENT").await.unwrap());

        // The operator changes the original; the clone (AWSCURRENT now) differs from it.
        let r = quote_ident(&role);
        admin(
            pg,
            &[
                format!("ALTER ROLE {r} CONNECTION LIMIT 1 VALID UNTIL '2099-01-01 00:00:00+00'"),
                format!("ALTER ROLE {r} SET lock_timeout = '2s'"),
            ],
        )
        .await;
        let clone_attributes = su(attributes_of(&clone)).await;
        let clone_settings = su(settings_of(&clone)).await;
        assert_ne!(clone_attributes, su(attributes_of(&role)).await);

        // A client of the current user stays connected through the rotation.
        let held = open_session(pg.port(), &clone, &clone_password)
            .await
            .unwrap();
        let token = world.driver.start_rotation(&arn).await.unwrap();
        let report = world
            .driver
            .run_steps(&function, &arn, &token, &["createSecret", "setSecret"])
            .await;
        assert!(report.succeeded(), "{report}");
        // setSecret changed the original (pending) only: the current user logs in again
        // while its first session is still open, with the attributes and settings it had.
        login(pg.port(), &clone, &clone_password)
            .await
            .unwrap_or_else(|e| panic!("the current user must keep logging in: {e}"));
        assert_eq!(su(attributes_of(&clone)).await, clone_attributes);
        assert_eq!(su(settings_of(&clone)).await, clone_settings);
        let report = world
            .driver
            .run_steps(&function, &arn, &token, &["testSecret", "finishSecret"])
            .await;
        assert!(report.succeeded(), "{report}");
        login(pg.port(), &clone, &clone_password)
            .await
            .unwrap_or_else(|e| panic!("AWSPREVIOUS must keep logging in: {e}"));
        assert_eq!(su(attributes_of(&clone)).await, clone_attributes);
        assert_ne!(
            password_of(&world.value(&arn, "AWSCURRENT").await.unwrap()),
            first_password
        );
        drop(held);

        // The next rotation makes the clone pending: now it is brought in line.
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        assert!(report.succeeded(), "{report}");
        assert_eq!(
            su(attributes_of(&clone)).await,
            su(attributes_of(&role)).await
        );
        assert_eq!(su(settings_of(&clone)).await, su(settings_of(&role)).await);
    }
}

// A user with CREATEROLE (common for an application's own admin user) can create a role named
// like the clone of a role it does not hold, or like the original of an existing role, and
// write that name into its own secret. The current-credentials check proves only that it holds
// the current user; the pair must be proven too (the clone a member of the original), else the
// master would hand the team another role's password.
mod pair {
    use super::*;

    /// The team's user, with CREATEROLE, and its secret; returns (arn, user, password).
    async fn team_with_createrole(world: &World) -> (String, String, String) {
        let pg = world.postgres();
        let (arn, role, password) = world.multi_user_with_secret("team").await;
        admin(
            pg,
            &[format!("ALTER ROLE {} CREATEROLE", quote_ident(&role))],
        )
        .await;
        (arn, role, password)
    }

    /// What the team can do with PutSecretValue on its own secret: a new AWSCURRENT value.
    async fn put_current(world: &World, arn: &str, value: &Value) {
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
    async fn a_self_made_clone_cannot_take_over_an_existing_original() {
        let world = World::new().await;
        let pg = world.postgres();
        let (arn, team, team_password) = team_with_createrole(&world).await;
        // A superuser that is nobody's pair (it stands for the master user).
        let boss = unique("boss_");
        admin(
            pg,
            &[format!(
                "CREATE ROLE {} SUPERUSER LOGIN PASSWORD 'Boss-Pass-1'",
                quote_ident(&boss)
            )],
        )
        .await;
        let fake_clone = clone_of(&boss);
        run_as(
            pg.port(),
            &team,
            &team_password,
            &[&format!(
                "CREATE ROLE {} LOGIN PASSWORD 'Fake-Clone-1'",
                quote_ident(&fake_clone)
            )],
        )
        .await
        .expect("CREATEROLE creates any role that does not exist");
        let mut value = world.value(&arn, "AWSCURRENT").await.unwrap();
        value["username"] = json!(fake_clone);
        value["password"] = json!("Fake-Clone-1");
        put_current(&world, &arn, &value).await;

        let function = world.function(BIN, &[]).await;
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        login(pg.port(), &boss, "Boss-Pass-1")
            .await
            .unwrap_or_else(|e| panic!("the master-like role's password was changed: {e}"));
        let failure = report
            .failure()
            .unwrap_or_else(|| panic!("the rotation must fail: {report}"));
        assert_eq!(failure.step, "setSecret");
        assert_error(&failure.invocation, "TargetError", "is not a member of it");
        assert_error(&failure.invocation, "TargetError", &boss);
        assert_eq!(
            world.value(&arn, "AWSCURRENT").await.unwrap()["username"],
            json!(fake_clone)
        );
    }

    #[tokio::test]
    async fn a_self_made_original_cannot_adopt_a_role_that_holds_anything() {
        let world = World::new().await;
        let pg = world.postgres();
        let (arn, team, team_password) = team_with_createrole(&world).await;
        // Another team's user, that happens to end in _clone, and its group.
        let name = unique("other_");
        let other = clone_of(&name);
        let group = unique("vault_");
        admin(
            pg,
            &[
                format!("CREATE ROLE {}", quote_ident(&group)),
                format!(
                    "CREATE ROLE {} LOGIN PASSWORD 'Other-Pass-1'",
                    quote_ident(&other)
                ),
                format!("GRANT {} TO {}", quote_ident(&group), quote_ident(&other)),
            ],
        )
        .await;
        run_as(
            pg.port(),
            &team,
            &team_password,
            &[&format!(
                "CREATE ROLE {} LOGIN PASSWORD 'Fake-Original-1'",
                quote_ident(&name)
            )],
        )
        .await
        .expect("CREATEROLE creates any role that does not exist");
        let mut value = world.value(&arn, "AWSCURRENT").await.unwrap();
        value["username"] = json!(name);
        value["password"] = json!("Fake-Original-1");
        put_current(&world, &arn, &value).await;

        let function = world.function(BIN, &[]).await;
        let report = world.driver.rotate(&function, &arn).await.unwrap();
        login(pg.port(), &other, "Other-Pass-1")
            .await
            .unwrap_or_else(|e| panic!("the other team's password was changed: {e}"));
        let failure = report
            .failure()
            .unwrap_or_else(|| panic!("the rotation must fail: {report}"));
        assert_eq!(failure.step, "setSecret");
        assert_error(
            &failure.invocation,
            "TargetError",
            "adopts only a blank role",
        );
        assert_error(&failure.invocation, "TargetError", &other);
    }

    #[tokio::test]
    async fn a_secret_that_starts_with_a_clone_user_creates_the_original_and_alternates() {
        let world = World::new().await;
        let pg = world.postgres();
        let clone = clone_of(&unique("startclone_"));
        create_role(pg, &clone, "Clone-Pass-1").await;
        let mut secret = secret_json(pg, &clone, "Clone-Pass-1");
        secret["masterarn"] = json!(world.master_secret().await);
        let arn = world
            .create_secret(&unique("startclone-"), &secret.to_string())
            .await;
        let function = world.function(BIN, &[]).await;
        let mut previous = (clone.clone(), "Clone-Pass-1".to_string());
        for round in 1..=3 {
            let report = world.driver.rotate(&function, &arn).await.unwrap();
            assert!(report.succeeded(), "round {round}: {report}");
            let current = world.value(&arn, "AWSCURRENT").await.unwrap();
            let user = current["username"].as_str().unwrap().to_owned();
            login(pg.port(), &user, &password_of(&current))
                .await
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            login(pg.port(), &previous.0, &previous.1)
                .await
                .unwrap_or_else(|e| panic!("round {round}: the previous user: {e}"));
            previous = (user, password_of(&current));
        }
    }
}

// ---- fix-admin: MASTER_SECRET_ARNS pins the master secrets a masterarn may name ----

#[tokio::test]
async fn master_secret_arns_pins_the_master_secret() {
    let world = World::new().await;
    let pg = world.postgres();
    let (arn, role, password) = world.multi_user_with_secret("pinned").await;
    let other = world.master_secret().await;
    let function = world
        .function(BIN, &[("MASTER_SECRET_ARNS", other.as_str())])
        .await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    let failure = report
        .failure()
        .unwrap_or_else(|| panic!("a master secret outside MASTER_SECRET_ARNS was used\n{report}"));
    assert_eq!(failure.step, "setSecret");
    assert_error(&failure.invocation, "TargetError", "masterarn");
    assert_error(&failure.invocation, "TargetError", "MASTER_SECRET_ARNS");
    assert!(
        login(pg.port(), &clone_of(&role), "x").await.is_err(),
        "nothing was done with the master"
    );
    login(pg.port(), &role, &password).await.unwrap();

    // The master it names is listed: the rotation works (a fresh secret: the failed
    // rotation above left its AWSPENDING behind).
    let (arn, _, _) = world.multi_user_with_secret("pinned").await;
    let master = world.value(&arn, "AWSCURRENT").await.unwrap()["masterarn"]
        .as_str()
        .unwrap()
        .to_owned();
    let function = world
        .function(BIN, &[("MASTER_SECRET_ARNS", &format!("{other},{master}"))])
        .await;
    let report = world.driver.rotate(&function, &arn).await.unwrap();
    assert!(report.succeeded(), "{report}\n{}", function.output());
}
