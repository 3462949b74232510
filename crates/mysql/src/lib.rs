//! # rotation-mysql
//!
//! MySQL, Aurora MySQL and MariaDB rotators, over mysql_async and rustls.
//!
//! The server's flavour and version are read and parsed ([`version`]), and the password
//! statement chosen from them ([`sql`]). MariaDB writes password statements to its general log
//! as they are, so it gets a hash computed here (`SET PASSWORD = '*…'`); MySQL 5.7.6 and later
//! get `ALTER USER CURRENT_USER() IDENTIFIED BY …`, which keeps the account's authentication
//! plugin and which MySQL masks in its logs.
#![warn(missing_docs)]

pub mod database;
pub mod sql;
pub mod version;

use rotation_core::PasswordPolicy;
use rotation_core::config::{ConfigError, Environment};
use rotation_core::password::MYSQL_EXCLUDED;
use rotation_db::{Connector, DbSettings, SingleUser};

pub use database::{MySql, Session};

/// The `mysql-single-user` rotator: the user changes its own password.
pub type MySqlSingleUser = SingleUser<MySql>;

/// Builds `mysql-single-user` from the environment: AWS's password variables (default
/// `EXCLUDE_CHARACTERS` `/@"'\`), `DATABASE_CA_BUNDLE`, `DATABASE_CONNECT_TIMEOUT`,
/// `DATABASE_STATEMENT_TIMEOUT`. A bad value is an error naming the variable.
pub fn single_user_from_env(env: &dyn Environment) -> Result<MySqlSingleUser, ConfigError> {
    let policy = PasswordPolicy::from_env(env, MYSQL_EXCLUDED)?;
    let settings = DbSettings::from_env(env)?;
    Ok(SingleUser::new(Connector::new(MySql, settings), policy))
}
