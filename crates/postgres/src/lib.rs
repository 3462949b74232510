//! # rotation-postgres
//!
//! PostgreSQL rotators (PostgreSQL and Aurora PostgreSQL), over tokio-postgres and rustls.
//!
//! A new password never reaches the server in plaintext: the rotator computes its
//! SCRAM-SHA-256 verifier and sends `ALTER ROLE "user" PASSWORD 'SCRAM-SHA-256$...'`, so a
//! server that logs every statement logs no password ([`sql`]). Role names are quoted, so names
//! with quotes, semicolons and non-ASCII characters rotate correctly.
//!
//! Two rotators: `postgres-single-user` ([`single_user_from_env`]: the user changes its own
//! password) and `postgres-multi-user` ([`multi_user_from_env`]: `user` and `user_clone` take
//! turns, set by the master user, without AWS's ownership trap: see [`multi_user`]).
#![warn(missing_docs)]

pub mod database;
pub mod multi_user;
pub mod role;
pub mod sql;
pub mod tls;

use rotation_core::PasswordPolicy;
use rotation_core::config::{ConfigError, Environment};
use rotation_core::master_arns::MasterSecretArns;
use rotation_db::{Connector, Database, DbSettings, MasterHosts, MultiUser, SingleUser};

pub use database::{POSTGRES, Postgres, Session};

/// The `postgres-single-user` rotator: the user changes its own password.
pub type PostgresSingleUser = SingleUser<Postgres>;

/// The `postgres-multi-user` rotator: `user` and `user_clone` take turns, through the master
/// secret (see [`multi_user`] for how the pair shares what either creates).
pub type PostgresMultiUser = MultiUser<Postgres>;

/// Builds `postgres-single-user` from the environment: AWS's password variables (default
/// `EXCLUDE_CHARACTERS` `:/@"'\`), `DATABASE_CA_BUNDLE`, `DATABASE_CONNECT_TIMEOUT`,
/// `DATABASE_STATEMENT_TIMEOUT`. A bad value is an error naming the variable.
pub fn single_user_from_env(env: &dyn Environment) -> Result<PostgresSingleUser, ConfigError> {
    let policy = PasswordPolicy::from_env(env, Postgres::ENGINE.default_excluded())?;
    let settings = DbSettings::from_env(env)?;
    Ok(SingleUser::new(Connector::new(Postgres, settings), policy))
}

/// Builds `postgres-multi-user` from the environment: the same variables as
/// [`single_user_from_env`], and `MASTER_HOSTS` (where a master secret without `host` may be
/// used; see [`rotation_db::master`]).
pub fn multi_user_from_env(env: &dyn Environment) -> Result<PostgresMultiUser, ConfigError> {
    let policy = PasswordPolicy::from_env(env, Postgres::ENGINE.default_excluded())?;
    let settings = DbSettings::from_env(env)?;
    Ok(MultiUser::new(Connector::new(Postgres, settings), policy)
        .with_master_hosts(MasterHosts::from_env(env)?)
        .with_master_secret_arns(MasterSecretArns::from_env(env)?))
}
