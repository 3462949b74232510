//! Shared set-up of the end-to-end tests: one private stack per test binary (moto and
//! PostgreSQL, started on first use, killed with the process), the rotator binaries, and an
//! independent PostgreSQL client (sqlx) to check what the rotator did.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use rand::RngExt;
use rotation_local::{FunctionOptions, LocalFunction, SecretsManagerDriver};
use rotation_stack::{Lifetime, MariaDbServer, PostgresServer, PythonTool, Stack};
use serde_json::{Value, json};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};

pub use rotation_local::{Invocation, Outcome, RotationReport};
pub use targets::{DatabaseTarget, Rotator};

pub mod scenarios;
pub mod survival;
mod targets;

/// The AWS CLI, in a venv under `target/` (installed on first use): the runbook's commands
/// run with it.
pub const AWS_CLI: PythonTool = PythonTool::new("awscli", &["awscli==1.46.3"], "aws");

/// The stack shared by the tests of one binary.
pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        Stack::start(Lifetime::WithProcess)
            .unwrap_or_else(|error| panic!("cannot start the local stack: {error}"))
    })
}

/// A rotator binary built by cargo next to this test binary.
pub fn rotator_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build -p {name}` (`cargo xtask test` does)",
        path.display()
    );
    path
}

/// A name no other test uses: `prefix` and 8 random hex digits.
pub fn unique(prefix: &str) -> String {
    let n: u32 = rand::rng().random();
    format!("{prefix}{n:08x}")
}

/// PostgreSQL identifier quoting, for the test's own set-up statements.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// PostgreSQL literal quoting, for the test's own set-up statements.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Logs in with sqlx (plaintext) and runs `SELECT 1`.
pub async fn login(port: u16, user: &str, password: &str) -> Result<(), String> {
    let options = PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username(user)
        .password(password)
        .database("postgres")
        .ssl_mode(PgSslMode::Disable);
    let mut connection = PgConnection::connect_with(&options)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::query("SELECT 1")
        .execute(&mut connection)
        .await
        .map_err(|e| e.to_string())?;
    let _ = connection.close().await;
    Ok(())
}

/// Runs statements in one sqlx session of a user (plaintext); returns, for each statement, the
/// first column of its first row as text (`None` when it returns no row). Cast to `::text`.
pub async fn run_as(
    port: u16,
    user: &str,
    password: &str,
    statements: &[&str],
) -> Result<Vec<Option<String>>, String> {
    use sqlx::Row;
    let options = PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username(user)
        .password(password)
        .database("postgres")
        .ssl_mode(PgSslMode::Disable);
    let mut connection = PgConnection::connect_with(&options)
        .await
        .map_err(|e| e.to_string())?;
    let mut results = Vec::new();
    for statement in statements {
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_string()))
            .fetch_all(&mut connection)
            .await
            .map_err(|e| format!("{statement}: {e}"))?;
        results.push(match rows.first() {
            Some(row) => row
                .try_get::<Option<String>, _>(0)
                .map_err(|e| format!("{statement}: {e}"))?,
            None => None,
        });
    }
    let _ = connection.close().await;
    Ok(results)
}

/// Runs statements as the superuser of a server. The session does not log its statements, so
/// the server log shows only what the rotators send (the set-up creates roles with plaintext
/// passwords).
pub async fn admin(server: &PostgresServer, statements: &[String]) {
    let options = PgConnectOptions::new()
        .host("127.0.0.1")
        .port(server.port())
        .username(server.superuser())
        .password(server.superuser_password())
        .database("postgres")
        .ssl_mode(PgSslMode::Disable);
    let mut connection = PgConnection::connect_with(&options)
        .await
        .expect("the superuser logs in");
    sqlx::raw_sql("SET log_statement = 'none'")
        .execute(&mut connection)
        .await
        .expect("the superuser may turn statement logging off");
    for statement in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&mut connection)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    let _ = connection.close().await;
}

/// Creates a login role with a password on a server.
pub async fn create_role(server: &PostgresServer, name: &str, password: &str) {
    admin(
        server,
        &[format!(
            "CREATE ROLE {} LOGIN PASSWORD {}",
            quote_ident(name),
            quote_literal(password)
        )],
    )
    .await;
}

/// The RDS secret JSON for a user of a server, in plaintext (`"ssl": false`): the stack's
/// servers present certificates of their own CAs, which a rotator trusts only when told, and
/// with `ssl` absent a certificate it cannot verify stops the login. The TLS tests remove the
/// key or set their own.
pub fn secret_json(server: &PostgresServer, user: &str, password: &str) -> Value {
    json!({
        "engine": "postgres",
        "host": server.host(),
        "port": server.port(),
        "username": user,
        "password": password,
        "dbname": "postgres",
        "ssl": false,
    })
}

/// A test's view of the stack: Secrets Manager client and driver.
pub struct World {
    /// The Secrets Manager driver (plays the service's rotation side).
    pub driver: SecretsManagerDriver,
}

impl World {
    /// Starts (or joins) the stack.
    pub async fn new() -> World {
        let stack = stack();
        World {
            driver: SecretsManagerDriver::new(&stack.moto.endpoint()).await,
        }
    }

    /// The stack's PostgreSQL.
    pub fn postgres(&self) -> &'static PostgresServer {
        &stack().postgres
    }

    /// The Secrets Manager client.
    pub fn client(&self) -> &Client {
        self.driver.client()
    }

    /// Creates a secret and returns its ARN.
    pub async fn create_secret(&self, name: &str, value: &str) -> String {
        self.client()
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("CreateSecret works")
            .arn()
            .expect("moto returns an ARN")
            .to_owned()
    }

    /// A role and its secret on the stack's PostgreSQL; returns (arn, role, password).
    pub async fn user_with_secret(&self, prefix: &str) -> (String, String, String) {
        let role = unique(&format!("{prefix}_"));
        let password = unique("Initial-Pass-");
        create_role(self.postgres(), &role, &password).await;
        let secret = secret_json(self.postgres(), &role, &password).to_string();
        let arn = self
            .create_secret(&unique(&format!("{prefix}-")), &secret)
            .await;
        (arn, role, password)
    }

    /// A master secret holding the stack PostgreSQL's superuser (a full RDS secret whose
    /// `dbname` names no database: the rotator must use the child's); returns its ARN.
    pub async fn master_secret(&self) -> String {
        let pg = self.postgres();
        let mut value = secret_json(pg, pg.superuser(), pg.superuser_password());
        value["dbname"] = serde_json::json!("no_such_database");
        self.create_secret(&unique("master-"), &value.to_string())
            .await
    }

    /// A role, a master secret and a multi-user secret naming it in `masterarn`;
    /// returns (arn, role, password).
    pub async fn multi_user_with_secret(&self, prefix: &str) -> (String, String, String) {
        let role = unique(&format!("{prefix}_"));
        let password = unique("Initial-Pass-");
        create_role(self.postgres(), &role, &password).await;
        let master = self.master_secret().await;
        let mut secret = secret_json(self.postgres(), &role, &password);
        secret["masterarn"] = serde_json::json!(master);
        let arn = self
            .create_secret(&unique(&format!("{prefix}-")), &secret.to_string())
            .await;
        (arn, role, password)
    }

    /// Starts the rotator binary with the stack's Secrets Manager endpoint and `extra` variables.
    pub async fn function(&self, binary: &str, extra: &[(&str, &str)]) -> LocalFunction {
        self.function_at(binary, &stack().moto.endpoint(), extra)
            .await
    }

    /// Same, with another Secrets Manager endpoint (e.g. a fault proxy).
    pub async fn function_at(
        &self,
        binary: &str,
        endpoint: &str,
        extra: &[(&str, &str)],
    ) -> LocalFunction {
        self.function_with(binary, endpoint, Duration::from_secs(30), extra)
            .await
    }

    /// Same, with another Lambda timeout: each event's deadline is that far ahead.
    pub async fn function_with(
        &self,
        binary: &str,
        endpoint: &str,
        timeout: Duration,
        extra: &[(&str, &str)],
    ) -> LocalFunction {
        let mut env: Vec<(String, String)> = vec![
            ("SECRETS_MANAGER_ENDPOINT".into(), endpoint.into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_ENDPOINT_URL".into(), endpoint.into()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let options = FunctionOptions {
            name: binary.to_owned(),
            timeout,
            env,
        };
        LocalFunction::start(rotator_binary(binary), options)
            .await
            .expect("the rotator starts")
    }

    /// A version's value as JSON (`None` when it has none).
    pub async fn value(&self, arn: &str, stage: &str) -> Option<Value> {
        let output = self
            .client()
            .get_secret_value()
            .secret_id(arn)
            .version_stage(stage)
            .send()
            .await
            .ok()?;
        serde_json::from_str(output.secret_string()?).ok()
    }

    /// A version's value by id.
    pub async fn value_of_version(&self, arn: &str, version: &str) -> Option<String> {
        let output = self
            .client()
            .get_secret_value()
            .secret_id(arn)
            .version_id(version)
            .send()
            .await
            .ok()?;
        output.secret_string().map(str::to_owned)
    }

    /// Asserts that the `AWSCURRENT` text of `arn` holds [`EXACT_NUMBERS`] as they were
    /// written ([`with_exact_numbers`]), not as serde_json would print them.
    pub async fn assert_exact_numbers_kept(&self, arn: &str) {
        let version = self.version_with(arn, "AWSCURRENT").await.unwrap();
        let text = self.value_of_version(arn, &version).await.unwrap();
        for (key, number) in EXACT_NUMBERS {
            let member = format!("\"{key}\":{number}");
            assert!(text.contains(&member), "{member} is kept as it was written");
        }
    }

    /// Version id -> labels.
    pub async fn labels(&self, arn: &str) -> BTreeMap<String, Vec<String>> {
        self.driver.labels(arn).await.expect("DescribeSecret works")
    }

    /// The version carrying a label.
    pub async fn version_with(&self, arn: &str, label: &str) -> Option<String> {
        self.labels(arn)
            .await
            .into_iter()
            .find(|(_, labels)| labels.iter().any(|l| l == label))
            .map(|(version, _)| version)
    }
}

/// The password of a JSON secret value.
pub fn password_of(value: &Value) -> String {
    value["password"]
        .as_str()
        .expect("the secret has a password")
        .to_owned()
}

/// Asserts an invocation failed with an error of a type whose message contains `needle`.
pub fn assert_error(invocation: &Invocation, kind: &str, needle: &str) {
    match &invocation.outcome {
        Outcome::Error {
            error_type,
            error_message,
        } => {
            assert_eq!(error_type, kind, "{error_message}");
            assert!(
                error_message.contains(needle),
                "expected {needle:?} in {error_message:?}"
            );
        }
        other => panic!("expected a {kind} error, got {other:?}"),
    }
}

/// Logs in to MariaDB with sqlx (plaintext) and runs `SELECT 1`.
pub async fn mysql_login(port: u16, user: &str, password: &str) -> Result<(), String> {
    use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
    let options = MySqlConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username(user)
        .password(password)
        .ssl_mode(MySqlSslMode::Disabled);
    let mut connection = MySqlConnection::connect_with(&options)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::query("SELECT 1")
        .execute(&mut connection)
        .await
        .map_err(|e| e.to_string())?;
    let _ = connection.close().await;
    Ok(())
}

/// Runs statements as MariaDB's root. The session is kept out of the general log
/// (`sql_log_off`), so the log shows only what the rotators send.
pub async fn mysql_admin(server: &MariaDbServer, statements: &[String]) {
    use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
    let options = MySqlConnectOptions::new()
        .host("127.0.0.1")
        .port(server.port())
        .username(server.root_user())
        .password(server.root_password())
        .ssl_mode(MySqlSslMode::Disabled);
    let mut connection = MySqlConnection::connect_with(&options)
        .await
        .expect("MariaDB's root logs in");
    sqlx::raw_sql("SET SESSION sql_log_off = 1")
        .execute(&mut connection)
        .await
        .expect("root may turn the general log off for its session");
    for statement in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&mut connection)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    let _ = connection.close().await;
}

/// MySQL string literal quoting (backslash escapes on), for the test's own set-up.
pub fn mysql_literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// Creates `'name'@'%'` with a password on MariaDB.
pub async fn create_mysql_user(server: &MariaDbServer, name: &str, password: &str) {
    mysql_admin(
        server,
        &[format!(
            "CREATE USER {}@'%' IDENTIFIED BY {}",
            mysql_literal(name),
            mysql_literal(password)
        )],
    )
    .await;
}

/// The RDS secret JSON for a MariaDB user, in plaintext (`"ssl": false`, as [`secret_json`]).
pub fn mysql_secret_json(server: &MariaDbServer, user: &str, password: &str) -> Value {
    json!({
        "engine": "mariadb",
        "host": server.host(),
        "port": server.port(),
        "username": user,
        "password": password,
        "ssl": false,
    })
}

impl World {
    /// The stack's MariaDB.
    pub fn mariadb(&self) -> &'static MariaDbServer {
        &stack().mariadb
    }

    /// A MariaDB user and its secret; returns (arn, user, password).
    pub async fn mysql_user_with_secret(&self, prefix: &str) -> (String, String, String) {
        let user = unique(&format!("{prefix}_"));
        let password = unique("Initial-Pass-");
        create_mysql_user(self.mariadb(), &user, &password).await;
        let secret = mysql_secret_json(self.mariadb(), &user, &password).to_string();
        let arn = self
            .create_secret(&unique(&format!("{prefix}-")), &secret)
            .await;
        (arn, user, password)
    }
}

/// Numbers that serde_json would print otherwise (beyond 64 bits, a float's own digits),
/// as they appear in a secret's text.
pub const EXACT_NUMBERS: [(&str, &str); 3] = [
    ("big", "123456789012345678901234567890"),
    ("ratio", "1.50"),
    ("avogadro", "6.02214076e23"),
];

/// A secret's text with [`EXACT_NUMBERS`] added at the end, written as they are.
pub fn with_exact_numbers(value: &Value) -> String {
    let text = value.to_string();
    let members: String = EXACT_NUMBERS
        .iter()
        .map(|(key, number)| format!(",\"{key}\":{number}"))
        .collect();
    format!("{}{members}}}", text.strip_suffix('}').expect("an object"))
}
