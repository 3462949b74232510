//! Logging in to a database: the engine-neutral part (TLS policy, fallback, time budget).

use std::time::Duration;

use async_trait::async_trait;
use rotation_core::config::{ConfigError, Environment, seconds_var};
use rotation_core::{Deadline, SecretString};
use tracing::{debug, info, warn};

use crate::engine::EngineDescriptor;
use crate::error::SessionError;
use crate::tls::{TlsMode, TlsRequest, TlsSettings, Verification};

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
    /// The server offers no TLS at all (PostgreSQL answered `N` to the SSLRequest; a MySQL
    /// server without the SSL capability): the one case `ssl` absent logs in in plaintext.
    #[error("the server offers no TLS: {0}")]
    NoTls(String),
    /// The server offers TLS, and the handshake failed (a certificate that does not chain to a
    /// trusted root, a wrong host name, no common protocol).
    #[error(
        "TLS failed: {0}; to trust the server's certificate authority, give its PEM in \
         DATABASE_CA_BUNDLE (the RDS and Aurora CAs, the Mozilla roots and the system bundle are \
         trusted already), or set \"sslmode\" in the secret for an explicit choice (\"require\": \
         encrypted without verifying the certificate)"
    )]
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

    /// The engine as data: the `engine` values of the secrets it serves, its default port,
    /// its default excluded password characters, the log targets of its client.
    const ENGINE: &'static EngineDescriptor;

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
    ) -> Result<(), SessionError>;

    /// Runs a trivial query to prove the session works.
    async fn probe(&self, session: &mut Self::Session) -> Result<(), SessionError>;

    /// For the preflight's look at the server's certificate ([`Connector::server_certificate`]):
    /// brings a new connection to where the client's TLS handshake starts (PostgreSQL: the
    /// SSLRequest answered `S`; MySQL: the server's greeting read and an SSL request sent).
    /// `Ok(false)` when the server offers no TLS. The default: the engine cannot.
    async fn tls_preamble(&self, stream: &mut tokio::net::TcpStream) -> Result<bool, SessionError> {
        let _ = stream;
        Err(SessionError::Precondition(
            "this engine cannot show the server's certificate".to_owned(),
        ))
    }

    /// The TLS protocol version of a session opened with TLS (`TLSv1.3`), for the login log;
    /// `None` when the engine cannot tell.
    fn tls_version(&self, _session: &Self::Session) -> Option<String> {
        None
    }
}

/// Whether a failed TLS attempt is retried in plaintext: a server without TLS when the mode
/// accepts one, a failed handshake only for libpq's `prefer` (which never verifies).
pub fn plaintext_after(mode: TlsMode, error: &LoginError) -> bool {
    match error {
        LoginError::NoTls(_) => mode.accepts_a_server_without_tls(),
        LoginError::Tls(_) => mode.retries_a_failed_handshake(),
        _ => false,
    }
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
    /// Pairs an engine with settings. The engine's client logs only under a connector, so
    /// this is where its log targets are capped ([`EngineDescriptor::log_targets`]).
    pub fn new(db: D, settings: DbSettings) -> Self {
        rotation_core::logging::quiet(D::ENGINE.log_targets());
        Connector { db, settings }
    }

    /// The engine.
    pub fn database(&self) -> &D {
        &self.db
    }

    /// The connection settings.
    pub fn settings(&self) -> &DbSettings {
        &self.settings
    }

    /// Logs in as [`Connector::login`] does, and says how the session is protected: the
    /// verification level of its TLS, `None` for plaintext (after a fallback the secret
    /// allows).
    pub async fn login_with_protection(
        &self,
        login: &Login<'_>,
        deadline: Deadline,
    ) -> Result<(D::Session, Option<Verification>), LoginError> {
        let Some(verification) = login.tls.first_attempt() else {
            let session = self.attempt(login, None, deadline).await?;
            return Ok((session, None));
        };
        let request = TlsRequest::new(verification, &self.settings.tls);
        match self.attempt(login, Some(request), deadline).await {
            Err(error) if plaintext_after(login.tls, &error) => {
                warn!(
                    host = %login.endpoint.host,
                    port = login.endpoint.port,
                    user = login.user,
                    reason = %error,
                    "no TLS to the database; logging in in PLAINTEXT because the secret does not \
                     require TLS (set \"ssl\": true or an \"sslmode\" to forbid this)"
                );
                let session = self.attempt(login, None, deadline).await?;
                Ok((session, None))
            }
            other => other.map(|session| (session, Some(verification))),
        }
    }

    /// Logs in. A failed TLS attempt is retried in plaintext only as [`plaintext_after`]
    /// allows (and says so in a WARN log); a refusal or a silent host is reported at once.
    pub async fn login(
        &self,
        login: &Login<'_>,
        deadline: Deadline,
    ) -> Result<D::Session, LoginError> {
        let (session, _) = self.login_with_protection(login, deadline).await?;
        Ok(session)
    }

    async fn attempt(
        &self,
        login: &Login<'_>,
        tls: Option<TlsRequest<'_>>,
        deadline: Deadline,
    ) -> Result<D::Session, LoginError> {
        let limit = deadline.cap(self.settings.connect_timeout);
        let mode = tls.map_or("plaintext", |tls| tls.verification.as_str());
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
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        match &result {
            Ok(session) => {
                let version = tls.and_then(|_| self.db.tls_version(session));
                info!(
                    endpoint = %login.endpoint,
                    user = login.user,
                    tls = mode,
                    tls_version = version.as_deref().unwrap_or(if tls.is_some() {
                        "unknown"
                    } else {
                        "none"
                    }),
                    elapsed_ms,
                    "logged in to the database"
                );
            }
            Err(error) => debug!(
                endpoint = %login.endpoint,
                user = login.user,
                tls = mode,
                error = %error,
                elapsed_ms,
                "login attempt failed"
            ),
        }
        result
    }

    /// Runs a statement-level operation within the statement timeout and the deadline
    /// ([`SessionError::TimedOut`] naming `what` when it runs out).
    pub async fn bounded<T>(
        &self,
        what: &str,
        deadline: Deadline,
        operation: impl Future<Output = Result<T, SessionError>>,
    ) -> Result<T, SessionError> {
        let limit = deadline.cap(self.settings.statement_timeout);
        match tokio::time::timeout(limit, operation).await {
            Ok(result) => result,
            Err(_) => Err(SessionError::TimedOut {
                what: what.to_owned(),
                limit_ms: limit.as_millis(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_follows_only_a_server_without_tls_unless_the_mode_never_verifies() {
        let no_tls = LoginError::NoTls("server does not support TLS".into());
        let failed = LoginError::Tls("invalid peer certificate: UnknownIssuer".into());
        let refused = LoginError::Rejected("password authentication failed".into());
        let silent = LoginError::Unreachable("timeout".into());
        // (mode, after no TLS, after a failed handshake)
        let cases = [
            (TlsMode::Prefer { verify: true }, true, false),
            (TlsMode::Prefer { verify: false }, true, true),
            (TlsMode::Require, false, false),
            (TlsMode::VerifyCa, false, false),
            (TlsMode::VerifyFull, false, false),
        ];
        for (mode, after_no_tls, after_failure) in cases {
            assert_eq!(plaintext_after(mode, &no_tls), after_no_tls, "{mode:?}");
            assert_eq!(plaintext_after(mode, &failed), after_failure, "{mode:?}");
            assert!(!plaintext_after(mode, &refused), "{mode:?}");
            assert!(!plaintext_after(mode, &silent), "{mode:?}");
        }
    }

    #[test]
    fn a_tls_failure_says_the_way_out() {
        let text = LoginError::Tls("invalid peer certificate: UnknownIssuer".into()).to_string();
        for needle in ["UnknownIssuer", "DATABASE_CA_BUNDLE", "sslmode"] {
            assert!(text.contains(needle), "{needle:?} in {text}");
        }
    }
}
