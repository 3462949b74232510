//! PostgreSQL as a [`Database`]: tokio-postgres over rustls.

use async_trait::async_trait;
use rotation_core::{EngineFamily, SecretString};
use rotation_db::{Database, Endpoint, LoginError, TlsRequest};
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};
use tracing::debug;

use crate::sql;
use crate::tls::RecordingConnect;

/// The database used when the secret has no `dbname` (AWS's default).
pub const DEFAULT_DATABASE: &str = "postgres";

/// PostgreSQL (and Aurora PostgreSQL).
#[derive(Debug, Clone, Copy, Default)]
pub struct Postgres;

/// An open session; the connection task ends when it is dropped.
pub struct Session {
    client: Client,
    tls_version: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Session {
    /// The tokio-postgres client (for rotators that need more than the trait offers).
    pub fn client(&self) -> &Client {
        &self.client
    }
}

#[async_trait]
impl Database for Postgres {
    type Session = Session;

    fn family(&self) -> EngineFamily {
        EngineFamily::Postgres
    }

    async fn open(
        &self,
        endpoint: &Endpoint,
        user: &str,
        password: &SecretString,
        tls: Option<TlsRequest<'_>>,
    ) -> Result<Session, LoginError> {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&endpoint.host)
            .port(endpoint.port)
            .user(user)
            .password(password.expose())
            .dbname(endpoint.dbname.as_deref().unwrap_or(DEFAULT_DATABASE))
            .application_name("secrets-manager-rotation");
        let client = match tls {
            None => {
                config.ssl_mode(SslMode::Disable);
                let (client, connection) = config.connect(NoTls).await.map_err(classify)?;
                spawn_connection(connection);
                client
            }
            Some(tls) => {
                // Require, not Prefer: an `N` answer comes back as an error that `classify`
                // names NoTls, and the Connector decides what the secret allows then.
                config.ssl_mode(SslMode::Require);
                let (connector, version) = RecordingConnect::new(tls.client_config());
                let (client, connection) = config.connect(connector).await.map_err(classify)?;
                spawn_connection(connection);
                return Ok(Session {
                    client,
                    tls_version: version.get().cloned(),
                });
            }
        };
        Ok(Session {
            client,
            tls_version: None,
        })
    }

    async fn set_own_password(
        &self,
        session: &mut Session,
        user: &str,
        password: &SecretString,
    ) -> Result<(), String> {
        session
            .client
            .batch_execute(&sql::alter_password(user, password))
            .await
            .map_err(|error| describe(&error))
    }

    async fn probe(&self, session: &mut Session) -> Result<(), String> {
        session
            .client
            .simple_query("SELECT now()")
            .await
            .map(|_| ())
            .map_err(|error| describe(&error))
    }

    fn tls_version(&self, session: &Session) -> Option<String> {
        session.tls_version.clone()
    }
}

fn spawn_connection<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            debug!(error = %describe(&error), "PostgreSQL connection ended");
        }
    });
}

/// The error with its causes, and the server's SQLSTATE when there is one.
pub fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What tokio-postgres says when the server answers `N` to the SSLRequest.
const NO_TLS: &str = "server does not support TLS";

/// Sorts a connection error into refused, unreachable, no TLS, TLS failed, or other.
fn classify(error: tokio_postgres::Error) -> LoginError {
    let reason = describe(&error);
    if let Some(db) = error.as_db_error() {
        let code = db.code();
        return if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            || *code == SqlState::INVALID_CATALOG_NAME
        {
            LoginError::Rejected(reason)
        } else if *code == SqlState::TOO_MANY_CONNECTIONS
            || *code == SqlState::CANNOT_CONNECT_NOW
            || *code == SqlState::ADMIN_SHUTDOWN
        {
            LoginError::Unreachable(reason)
        } else {
            LoginError::Failed(reason)
        };
    }
    let kind = error.to_string();
    match kind.as_str() {
        // tokio-postgres's words for an `N` answer to the SSLRequest (SslMode::Require).
        "error performing TLS handshake" if reason.ends_with(NO_TLS) => LoginError::NoTls(reason),
        "error performing TLS handshake" => LoginError::Tls(reason),
        "error connecting to server"
        | "error communicating with the server"
        | "timeout waiting for server"
        | "connection closed" => LoginError::Unreachable(reason),
        "authentication error" => LoginError::Rejected(reason),
        _ => LoginError::Failed(reason),
    }
}
