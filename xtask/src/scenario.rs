//! The pieces the demo and the benchmark share: a database user with its secret, and the
//! rotator running under the local Runtime API.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use mysql_async::prelude::Queryable;
use rotation_local::{FunctionOptions, LocalFunction};
use rotation_stack::{MariaDbServer, PostgresServer};
use serde_json::{Value, json};
use tokio_postgres::NoTls;

/// How a rotator changes passwords.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The user changes its own password.
    SingleUser,
    /// `user` and `user_clone` alternate, through a master secret.
    MultiUser,
}

/// A database of the local stack, with what the demo and bench need to know about it.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// The stack's PostgreSQL.
    Postgres(&'a PostgresServer),
    /// The stack's MariaDB.
    MariaDb(&'a MariaDbServer),
}

impl<'a> Target<'a> {
    /// The rotator binary for this database and strategy.
    pub fn binary(self, strategy: Strategy) -> &'static str {
        match (self, strategy) {
            (Target::Postgres(_), Strategy::SingleUser) => "postgres-single-user",
            (Target::Postgres(_), Strategy::MultiUser) => "postgres-multi-user",
            (Target::MariaDb(_), Strategy::SingleUser) => "mysql-single-user",
            (Target::MariaDb(_), Strategy::MultiUser) => "mysql-multi-user",
        }
    }

    /// The master secret of the multi-user rotators: the server's superuser.
    pub fn master_json(self) -> Value {
        match self {
            Target::Postgres(server) => {
                self.secret_json(server.superuser(), server.superuser_password())
            }
            Target::MariaDb(server) => self.secret_json(server.root_user(), server.root_password()),
        }
    }

    /// A readable name.
    pub fn name(self) -> &'static str {
        match self {
            Target::Postgres(_) => "PostgreSQL",
            Target::MariaDb(_) => "MariaDB",
        }
    }

    /// The certificate that verifies the server.
    pub fn ca_cert_path(self) -> &'a Path {
        match self {
            Target::Postgres(server) => server.ca_cert_path(),
            Target::MariaDb(server) => server.ca_cert_path(),
        }
    }

    /// The secret of a user: RDS JSON with verified TLS (`"ssl": true`).
    pub fn secret_json(self, user: &str, password: &str) -> Value {
        match self {
            Target::Postgres(server) => json!({
                "engine": "postgres", "host": server.host(), "port": server.port(),
                "username": user, "password": password, "dbname": "postgres", "ssl": true,
            }),
            Target::MariaDb(server) => json!({
                "engine": "mariadb", "host": "localhost", "port": server.port(),
                "username": user, "password": password, "ssl": true,
            }),
        }
    }

    /// Creates (or re-creates) a login user, without logging the statement.
    pub async fn create_user(self, user: &str, password: &str) -> anyhow::Result<()> {
        match self {
            Target::Postgres(server) => {
                let admin = pg_connect(server, server.superuser(), server.superuser_password())
                    .await
                    .context("logging in as the stack's PostgreSQL superuser")?;
                let role = format!("\"{}\"", user.replace('"', "\"\""));
                let password = format!("'{}'", password.replace('\'', "''"));
                admin
                    .batch_execute(&format!(
                        "SET log_statement = 'none'; DROP ROLE IF EXISTS {role}; \
                         CREATE ROLE {role} LOGIN PASSWORD {password}"
                    ))
                    .await
                    .with_context(|| format!("creating role {user}"))?;
            }
            Target::MariaDb(server) => {
                let mut admin = maria_connect(server, server.root_user(), server.root_password())
                    .await
                    .context("logging in as the stack's MariaDB root")?;
                let account = format!("'{}'@'%'", user.replace('\'', "''"));
                let password = format!("'{}'", password.replace('\'', "''"));
                admin
                    .query_drop(format!(
                        "SET SESSION sql_log_off = 1; DROP USER IF EXISTS {account}; \
                         CREATE USER {account} IDENTIFIED BY {password}"
                    ))
                    .await
                    .with_context(|| format!("creating user {user}"))?;
                let _ = admin.disconnect().await;
            }
        }
        Ok(())
    }

    /// Whether a user logs in with a password.
    pub async fn logs_in(self, user: &str, password: &str) -> bool {
        match self {
            Target::Postgres(server) => pg_connect(server, user, password).await.is_ok(),
            Target::MariaDb(server) => match maria_connect(server, user, password).await {
                Ok(conn) => {
                    let _ = conn.disconnect().await;
                    true
                }
                Err(_) => false,
            },
        }
    }
}

async fn pg_connect(
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

async fn maria_connect(
    server: &MariaDbServer,
    user: &str,
    password: &str,
) -> Result<mysql_async::Conn, mysql_async::Error> {
    let options = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(server.port())
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false);
    mysql_async::Conn::new(options).await
}

/// Creates a secret; returns its ARN.
pub async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &Value,
) -> anyhow::Result<String> {
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

/// Starts a rotator with the variables it needs: the Secrets Manager `endpoint` and the CA
/// bundle that verifies the database.
pub async fn start_function(
    binary: &Path,
    endpoint: &str,
    ca_bundle: &Path,
) -> anyhow::Result<LocalFunction> {
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
            ("DATABASE_CA_BUNDLE".into(), ca_bundle.display().to_string()),
        ],
    };
    LocalFunction::start(binary, options)
        .await
        .with_context(|| format!("starting {}", binary.display()))
}
