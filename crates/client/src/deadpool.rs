//! tokio-postgres through deadpool-postgres: a [`deadpool_postgres::Connect`] that logs in
//! with the secret's current credentials.
//!
//! deadpool-postgres rather than bb8: its `Manager::from_connect` is a documented extension
//! point, so the application keeps the `deadpool_postgres::Pool` type (statement cache,
//! recycling methods) and changes one line where it builds the manager; bb8 would need a manager
//! of our own type. Only new connections log in; a connection the pool recycles keeps its
//! session (a password change does not end sessions).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use deadpool_postgres::Connect;
use tokio::task::JoinHandle;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{Client, Config, Socket};

use crate::credentials::{ConnectError, RotatingCredentials};
use crate::secret::DatabaseSecret;

/// Logs in with the current credentials of a secret, for
/// [`deadpool_postgres::Manager::from_connect`].
///
/// The manager's `Config` is the base: its settings (application name, timeouts, TLS mode)
/// apply, and the secret sets host, port, user, password, database, and `ssl` when it has
/// one. deadpool's error type is tokio-postgres's own, which this crate cannot build: when the
/// secret cannot be read, or every version was refused within the cool-down, the reason (naming
/// the secret, never a value) is logged at `warn` and the login is attempted with the base
/// `Config` alone, whose error deadpool then returns (leave the password out of it).
#[derive(Debug, Clone)]
pub struct RotatingConnect<T> {
    credentials: Arc<RotatingCredentials<DatabaseSecret>>,
    tls: T,
}

impl<T> RotatingConnect<T> {
    /// Logs in with `credentials`, through `tls` (`tokio_postgres::NoTls`, or a rustls or
    /// native-tls connector).
    pub fn new(credentials: Arc<RotatingCredentials<DatabaseSecret>>, tls: T) -> Self {
        RotatingConnect { credentials, tls }
    }
}

/// `config` with the secret's host, port, user, password, database and `ssl`.
pub fn with_secret(config: &Config, secret: &DatabaseSecret) -> Config {
    let mut config = config.clone();
    config
        .host(&secret.host)
        .user(&secret.username)
        .password(secret.password.expose());
    if let Some(port) = secret.port {
        config.port(port);
    }
    if let Some(dbname) = &secret.dbname {
        config.dbname(dbname);
    }
    match secret.ssl {
        Some(false) => {
            config.ssl_mode(SslMode::Disable);
        }
        Some(true) if config.get_ssl_mode() != SslMode::Require => {
            config.ssl_mode(SslMode::Require);
        }
        _ => {}
    }
    config
}

/// SQLSTATE `28P01` (invalid_password).
pub fn is_refused(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&SqlState::INVALID_PASSWORD)
}

type Connected = Result<(Client, JoinHandle<()>), tokio_postgres::Error>;

impl<T> Connect for RotatingConnect<T>
where
    T: MakeTlsConnect<Socket> + Clone + Sync + Send + 'static,
    T::Stream: Sync + Send,
    T::TlsConnect: Sync + Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    fn connect(&self, base: &Config) -> Pin<Box<dyn Future<Output = Connected> + Send + '_>> {
        let base = base.clone();
        Box::pin(async move {
            let connected = self
                .credentials
                .connect(is_refused, |version| {
                    let config = with_secret(&base, &version.value);
                    let tls = self.tls.clone();
                    async move { config.connect(tls).await }
                })
                .await;
            let (client, connection) = match connected {
                Ok(((client, connection), _)) => (client, connection),
                Err(ConnectError::Failed(error))
                | Err(ConnectError::Refused {
                    last: Some(error), ..
                }) => return Err(error),
                Err(ConnectError::Credentials(error))
                | Err(ConnectError::Refused { error, last: None }) => {
                    tracing::warn!(%error, "logging in with the pool's own configuration instead");
                    base.connect(self.tls.clone()).await?
                }
            };
            let task = tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "a pooled PostgreSQL connection ended");
                }
            });
            Ok((client, task))
        })
    }
}
