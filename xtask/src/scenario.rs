//! The pieces the demo and the benchmark share: a database user with its secret, and the
//! rotator running under the local Runtime API.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use rotation_local::{FunctionOptions, LocalFunction};
use rotation_stack::{PostgresServer, Stack};
use serde_json::json;
use tokio_postgres::NoTls;

/// Quotes a PostgreSQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a PostgreSQL literal.
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Connects to a server as a user (plaintext); `Err` carries the server's refusal.
pub async fn connect(
    server: &PostgresServer,
    user: &str,
    password: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(server.port())
        .user(user)
        .password(password)
        .dbname("postgres")
        .connect_timeout(Duration::from_secs(5));
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Creates (or resets) a login role with a password, without logging the statement.
pub async fn create_user(
    server: &PostgresServer,
    user: &str,
    password: &str,
) -> anyhow::Result<()> {
    let admin = connect(server, server.superuser(), server.superuser_password())
        .await
        .context("logging in as the stack's superuser")?;
    let role = quote_ident(user);
    let password = quote_literal(password);
    admin
        .batch_execute(&format!(
            "SET log_statement = 'none'; DROP ROLE IF EXISTS {role}; \
             CREATE ROLE {role} LOGIN PASSWORD {password}"
        ))
        .await
        .with_context(|| format!("creating role {user}"))?;
    Ok(())
}

/// Whether a user logs in with a password.
pub async fn logs_in(server: &PostgresServer, user: &str, password: &str) -> bool {
    connect(server, user, password).await.is_ok()
}

/// Creates a secret holding the RDS JSON of a user; returns its ARN.
pub async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    server: &PostgresServer,
    user: &str,
    password: &str,
) -> anyhow::Result<String> {
    let value = json!({
        "engine": "postgres",
        "host": server.host(),
        "port": server.port(),
        "username": user,
        "password": password,
        "dbname": "postgres",
        "ssl": true,
    });
    let output = client
        .create_secret()
        .name(name)
        .secret_string(value.to_string())
        .send()
        .await
        .with_context(|| format!("creating secret {name}"))?;
    output
        .arn()
        .map(str::to_owned)
        .context("CreateSecret returned no ARN")
}

/// Starts the rotator with the variables it needs for the stack (`endpoint` is the Secrets
/// Manager endpoint it should use).
pub async fn start_function(
    binary: &Path,
    stack: &Stack,
    endpoint: &str,
) -> anyhow::Result<LocalFunction> {
    let ca_bundle = stack.postgres.ca_cert_path().display().to_string();
    let options = FunctionOptions {
        name: binary
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "rotator".into()),
        timeout: Duration::from_secs(30),
        env: vec![
            ("SECRETS_MANAGER_ENDPOINT".into(), endpoint.into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("DATABASE_CA_BUNDLE".into(), ca_bundle),
        ],
    };
    LocalFunction::start(binary, options)
        .await
        .with_context(|| format!("starting {}", binary.display()))
}
