//! sqlx pools whose new connections log in with the secret's current credentials.
//!
//! sqlx 0.9 has no hook around a pool's own connect, but a pool's connect options can be
//! replaced at any time (`Pool::set_connect_options`): new connections take them, existing ones
//! are left alone (a password change does not end sessions). [`RotatingPool::acquire`] keeps
//! the options on the version [`RotatingCredentials::current`] chooses and, when the pool's
//! connect is refused, finds the version that works with a login of its own
//! ([`RotatingCredentials::recover`]), sets it, and acquires once more.

use std::sync::{Arc, Mutex, PoisonError};

use sqlx::pool::{PoolConnection, PoolOptions};
use sqlx::{ConnectOptions, Connection, Database, Pool};

use crate::credentials::{ConnectError, RECOVERY_ROUNDS, RotatingCredentials};
use crate::error::ClientError;
use crate::secret::{DatabaseSecret, Versioned};

/// A database sqlx can pool, with what rotation needs to know about it.
pub trait Engine: Database {
    /// `base` (the application's options: TLS, timeouts, application name) with the secret's
    /// host, port, user, password, database and `ssl`.
    fn with_secret(
        base: &<Self::Connection as Connection>::Options,
        secret: &DatabaseSecret,
    ) -> <Self::Connection as Connection>::Options;

    /// Whether the server refused the login (a wrong password), as opposed to any other
    /// failure.
    fn is_refused(error: &sqlx::Error) -> bool;
}

#[cfg(feature = "sqlx-postgres")]
impl Engine for sqlx::Postgres {
    fn with_secret(
        base: &sqlx::postgres::PgConnectOptions,
        secret: &DatabaseSecret,
    ) -> sqlx::postgres::PgConnectOptions {
        use sqlx::postgres::PgSslMode;
        let mut options = base
            .clone()
            .host(&secret.host)
            .username(&secret.username)
            .password(secret.password.expose());
        if let Some(port) = secret.port {
            options = options.port(port);
        }
        if let Some(dbname) = &secret.dbname {
            options = options.database(dbname);
        }
        match secret.ssl {
            Some(false) => options.ssl_mode(PgSslMode::Disable),
            Some(true)
                if matches!(
                    options.get_ssl_mode(),
                    PgSslMode::Disable | PgSslMode::Allow | PgSslMode::Prefer
                ) =>
            {
                options.ssl_mode(PgSslMode::Require)
            }
            _ => options,
        }
    }

    /// SQLSTATE `28P01` (invalid_password).
    fn is_refused(error: &sqlx::Error) -> bool {
        match error {
            sqlx::Error::Database(error) => error.code().as_deref() == Some("28P01"),
            _ => false,
        }
    }
}

#[cfg(feature = "sqlx-mysql")]
impl Engine for sqlx::MySql {
    fn with_secret(
        base: &sqlx::mysql::MySqlConnectOptions,
        secret: &DatabaseSecret,
    ) -> sqlx::mysql::MySqlConnectOptions {
        use sqlx::mysql::MySqlSslMode;
        let mut options = base
            .clone()
            .host(&secret.host)
            .username(&secret.username)
            .password(secret.password.expose());
        if let Some(port) = secret.port {
            options = options.port(port);
        }
        if let Some(dbname) = &secret.dbname {
            options = options.database(dbname);
        }
        match secret.ssl {
            Some(false) => options.ssl_mode(MySqlSslMode::Disabled),
            Some(true)
                if matches!(
                    options.get_ssl_mode(),
                    MySqlSslMode::Disabled | MySqlSslMode::Preferred
                ) =>
            {
                options.ssl_mode(MySqlSslMode::Required)
            }
            _ => options,
        }
    }

    /// Server error 1045 (ER_ACCESS_DENIED_ERROR).
    fn is_refused(error: &sqlx::Error) -> bool {
        match error {
            sqlx::Error::Database(error) => error
                .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .is_some_and(|error| error.number() == 1045),
            _ => false,
        }
    }
}

/// Why [`RotatingPool::acquire`] failed.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The secret could not be read, or every version was refused (the error names the
    /// secret and the versions, never a value).
    #[error(transparent)]
    Credentials(#[from] ClientError),
    /// sqlx's own error: unreachable, TLS, pool timed out or closed, ...
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
}

impl From<ConnectError<sqlx::Error>> for PoolError {
    fn from(error: ConnectError<sqlx::Error>) -> Self {
        match error {
            ConnectError::Credentials(error) | ConnectError::Refused { error, .. } => {
                PoolError::Credentials(error)
            }
            ConnectError::Failed(error) => PoolError::Sqlx(error),
        }
    }
}

/// A sqlx pool whose new connections log in with the current credentials of a secret.
///
/// `RotatingPool<sqlx::Postgres>` and `RotatingPool<sqlx::MySql>` (MySQL, Aurora MySQL,
/// MariaDB). Take connections with [`RotatingPool::acquire`]: queries run straight on
/// [`RotatingPool::pool`] also take the current credentials, but without the recovery that
/// follows a refused login.
#[derive(Debug)]
pub struct RotatingPool<DB: Engine> {
    pool: Pool<DB>,
    credentials: Arc<RotatingCredentials<DatabaseSecret>>,
    base: <DB::Connection as Connection>::Options,
    /// The version of the pool's connect options.
    in_pool: Mutex<InPool>,
}

/// The version a pool logs in with: its id and creation date.
#[derive(Debug, Clone, PartialEq, Eq)]
struct InPool {
    version_id: String,
    created: Option<std::time::SystemTime>,
}

impl InPool {
    fn of(version: &Versioned<DatabaseSecret>) -> InPool {
        InPool {
            version_id: version.version_id.clone(),
            created: version.created,
        }
    }

    /// Whether a pool on this version moves to `to`: never to a refused version; to an older
    /// one (or one of the same second: dates can be whole seconds) only when this one was
    /// refused. A task that chose from a cache that lags behind, or whose recovery proved a
    /// version after another task's proved a newer one, must not move the pool back: its
    /// logins would be refused until a recovery moved it on again, and an acquire that meets
    /// that more than `RECOVERY_ROUNDS` times fails.
    fn moves_to(&self, to: &InPool, to_refused: bool, self_refused: bool) -> bool {
        if self.version_id == to.version_id || to_refused {
            return false;
        }
        self_refused
            || match (to.created, self.created) {
                (Some(to), Some(from)) => to > from,
                _ => true,
            }
    }
}

impl<DB: Engine> RotatingPool<DB> {
    /// A pool (`options`, e.g. its size and `max_lifetime`) that logs in with the secret's
    /// current version over `base` (the application's connect options: TLS, timeouts; the
    /// secret sets host, port, user, password, database, and `ssl` when it has one).
    ///
    /// Reads the secret; connects lazily, on the first acquire.
    pub async fn new(
        credentials: Arc<RotatingCredentials<DatabaseSecret>>,
        options: PoolOptions<DB>,
        base: <DB::Connection as Connection>::Options,
    ) -> Result<RotatingPool<DB>, ClientError> {
        let version = credentials.current().await?;
        let pool = options.connect_lazy_with(DB::with_secret(&base, &version.value));
        Ok(RotatingPool {
            pool,
            credentials,
            base,
            in_pool: Mutex::new(InPool::of(&version)),
        })
    }

    /// A connection from the pool; a new one logs in with the current credentials, following
    /// a rotation when the login is refused (see [`RotatingCredentials`]).
    ///
    /// A refusal starts a recovery, which proves a version with a login of its own and puts it
    /// in the pool's options. If the pool's login is refused again (a rotation can land in
    /// between: rotations that close together are rare outside tests), another recovery
    /// follows, up to `RECOVERY_ROUNDS` (4); then the error.
    pub async fn acquire(&self) -> Result<PoolConnection<DB>, PoolError> {
        let mut rounds = 0;
        loop {
            let version = self.credentials.current().await?;
            // The version the pool logs in with: a refusal is about this one, even if another
            // task has moved the pool on meanwhile.
            let in_pool = self.use_version(&version);
            if self.credentials.cooling_down(&in_pool) {
                return Err(self.refused(in_pool));
            }
            let error = match self.pool.acquire().await {
                Ok(connection) => return Ok(connection),
                Err(error) if !DB::is_refused(&error) => return Err(PoolError::Sqlx(error)),
                Err(_) if rounds == RECOVERY_ROUNDS => return Err(self.refused(in_pool)),
                Err(error) => error,
            };
            rounds += 1;
            let (probe, version) = self
                .credentials
                .recover(&in_pool, error, DB::is_refused, |version| {
                    let options = DB::with_secret(&self.base, &version.value);
                    async move { options.connect().await }
                })
                .await?;
            // The probe proved the version; the pool makes its own connections.
            let _ = probe.close().await;
            self.use_version(&version);
        }
    }

    /// The sqlx pool itself.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// The credentials it follows.
    pub fn credentials(&self) -> &Arc<RotatingCredentials<DatabaseSecret>> {
        &self.credentials
    }

    fn refused(&self, tried: String) -> PoolError {
        PoolError::Credentials(ClientError::Refused {
            secret_id: self.credentials.secret_id().to_owned(),
            tried,
        })
    }

    /// Puts `version` in the pool's connect options when the pool may move to it
    /// ([`InPool::moves_to`]); returns the id of the version the pool then uses.
    fn use_version(&self, version: &Versioned<DatabaseSecret>) -> String {
        let mut in_pool = self.in_pool.lock().unwrap_or_else(PoisonError::into_inner);
        let to = InPool::of(version);
        if in_pool.moves_to(
            &to,
            self.credentials.is_refused(&to.version_id),
            self.credentials.is_refused(&in_pool.version_id),
        ) {
            self.pool
                .set_connect_options(DB::with_secret(&self.base, &version.value));
            *in_pool = to;
        }
        in_pool.version_id.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::InPool;

    fn version(id: &str, second: Option<u64>) -> InPool {
        InPool {
            version_id: id.to_owned(),
            created: second.map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s)),
        }
    }

    #[test]
    fn a_pool_moves_forward_and_back_only_from_a_refused_version() {
        let on = version("v2", Some(20));
        // (to, to refused, on refused) -> moves
        let table = [
            (version("v3", Some(30)), false, false, true),
            (version("v3", Some(30)), true, false, false),
            (version("v1", Some(10)), false, false, false),
            (version("v1", Some(10)), false, true, true),
            (version("v3", Some(20)), false, false, false),
            (version("v3", Some(20)), false, true, true),
            (version("v3", None), false, false, true),
            (version("v2", Some(20)), false, true, false),
        ];
        for (to, to_refused, on_refused, moves) in table {
            assert_eq!(
                on.moves_to(&to, to_refused, on_refused),
                moves,
                "{to:?} to_refused={to_refused} on_refused={on_refused}"
            );
        }
    }
}
