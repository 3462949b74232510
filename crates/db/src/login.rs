//! Logging in to a database: the engine-neutral part (TLS policy, fallback, time budget).

use std::time::Duration;

use async_trait::async_trait;
use rotation_core::config::{ConfigError, Environment, seconds_var};
use rotation_core::{Deadline, EngineFamily, SecretString};
use tracing::{debug, warn};

use crate::tls::{TlsMode, TlsRequest, TlsSettings};

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Database to open, when the secret names one.
    pub dbname: Option<String>,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// One set of credentials to try.
#[derive(Debug, Clone)]
pub struct Login<'a> {
    /// Where.
    pub endpoint: Endpoint,
    /// Who.
    pub user: &'a str,
    /// The password.
    pub password: &'a SecretString,
    /// How to protect the connection.
    pub tls: TlsMode,
}

/// Why a login failed. The reasons come from the driver and never contain the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// The server refused the credentials (wrong password, unknown user, no access).
    #[error("credentials refused: {0}")]
    Rejected(String),
    /// The server could not be reached, or did not answer in time.
    #[error("database unreachable: {0}")]
    Unreachable(String),
    /// The TLS handshake failed (no TLS on the server, untrusted certificate, wrong host name).
    #[error("TLS failed: {0}")]
    Tls(String),
    /// Anything else the server said.
    #[error("{0}")]
    Failed(String),
}

impl LoginError {
    /// Whether trying other credentials on the same host can help: only when these were refused.
    pub fn is_rejection(&self) -> bool {
        matches!(self, LoginError::Rejected(_))
    }
}

/// What an engine supplies: open a session, change the session user's own password, run a
/// probe query. Time limits are the caller's job.
#[async_trait]
pub trait Database: Send + Sync + 'static {
    /// An open, authenticated session.
    type Session: Send;

    /// The `engine` values this database serves.
    fn family(&self) -> EngineFamily;

    /// Opens a session; `tls` is `None` for plaintext, else TLS as requested is required.
    async fn open(
        &self,
        endpoint: &Endpoint,
        user: &str,
        password: &SecretString,
        tls: Option<TlsRequest<'_>>,
    ) -> Result<Self::Session, LoginError>;

    /// Changes the password of the session's own user (single-user rotation).
    async fn set_own_password(
        &self,
        session: &mut Self::Session,
        user: &str,
        password: &SecretString,
    ) -> Result<(), String>;

    /// Runs a trivial query to prove the session works.
    async fn probe(&self, session: &mut Self::Session) -> Result<(), String>;
}

/// Connection settings of the process.
#[derive(Debug)]
pub struct DbSettings {
    /// Trusted roots.
    pub tls: TlsSettings,
    /// Longest wait for one login, connect to authenticated (`DATABASE_CONNECT_TIMEOUT`, seconds,
    /// default 5, as AWS's templates).
    pub connect_timeout: Duration,
    /// Longest wait for one statement (`DATABASE_STATEMENT_TIMEOUT`, seconds, default 10).
    pub statement_timeout: Duration,
}

impl DbSettings {
    /// Reads `DATABASE_CA_BUNDLE`, `DATABASE_CONNECT_TIMEOUT` and `DATABASE_STATEMENT_TIMEOUT`.
    pub fn from_env(env: &dyn Environment) -> Result<Self, ConfigError> {
        Ok(DbSettings {
            tls: TlsSettings::from_env(env)?,
            connect_timeout: seconds_var(
                env,
                "DATABASE_CONNECT_TIMEOUT",
                Duration::from_secs(5),
                0.1,
                60.0,
            )?,
            statement_timeout: seconds_var(
                env,
                "DATABASE_STATEMENT_TIMEOUT",
                Duration::from_secs(10),
                0.1,
                300.0,
            )?,
        })
    }
}

/// A database with the process's connection settings: logs in with the TLS policy and within
/// the time budget.
#[derive(Debug)]
pub struct Connector<D> {
    db: D,
    settings: DbSettings,
}

impl<D: Database> Connector<D> {
    /// Pairs an engine with settings.
    pub fn new(db: D, settings: DbSettings) -> Self {
        Connector { db, settings }
    }

    /// The engine.
    pub fn database(&self) -> &D {
        &self.db
    }

    /// Logs in. A TLS failure is retried in plaintext only when the mode allows it (and says
    /// so in a WARN log); a refusal or a silent host is reported at once.
    pub async fn login(
        &self,
        login: &Login<'_>,
        deadline: Deadline,
    ) -> Result<D::Session, LoginError> {
        let Some(verification) = login.tls.first_attempt() else {
            return self.attempt(login, None, deadline).await;
        };
        let request = TlsRequest::new(verification, &self.settings.tls);
        match self.attempt(login, Some(request), deadline).await {
            Err(LoginError::Tls(reason)) if login.tls.falls_back() => {
                warn!(
                    host = %login.endpoint.host,
                    port = login.endpoint.port,
                    user = login.user,
                    reason = %reason,
                    "TLS to the database failed; retrying in PLAINTEXT because the secret does not \
                     require TLS (set \"ssl\": true or an \"sslmode\" to forbid this, and \
                     DATABASE_CA_BUNDLE to trust a private CA)"
                );
                self.attempt(login, None, deadline).await
            }
            other => other,
        }
    }

    async fn attempt(
        &self,
        login: &Login<'_>,
        tls: Option<TlsRequest<'_>>,
        deadline: Deadline,
    ) -> Result<D::Session, LoginError> {
        let limit = deadline.cap(self.settings.connect_timeout);
        let with_tls = tls.is_some();
        let started = std::time::Instant::now();
        let open = self
            .db
            .open(&login.endpoint, login.user, login.password, tls);
        let result = match tokio::time::timeout(limit, open).await {
            Ok(result) => result,
            Err(_) => Err(LoginError::Unreachable(format!(
                "{} did not complete a login within {} ms",
                login.endpoint,
                limit.as_millis()
            ))),
        };
        debug!(
            endpoint = %login.endpoint,
            user = login.user,
            tls = with_tls,
            ok = result.is_ok(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "login attempt"
        );
        result
    }

    /// Runs a statement-level operation within the statement timeout and the deadline.
    pub async fn bounded<T>(
        &self,
        what: &str,
        deadline: Deadline,
        operation: impl Future<Output = Result<T, String>>,
    ) -> Result<T, String> {
        let limit = deadline.cap(self.settings.statement_timeout);
        match tokio::time::timeout(limit, operation).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "{what} did not finish within {} ms",
                limit.as_millis()
            )),
        }
    }
}
