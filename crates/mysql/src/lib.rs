//! # rotation-mysql
//!
//! MySQL, Aurora MySQL and MariaDB rotators, over mysql_async and rustls.
//!
//! The server's flavour and version are read and parsed ([`version`]), and the password
//! statement chosen from them ([`sql`]). MariaDB writes password statements to its general log
//! as they are, so it gets a hash computed here (`SET PASSWORD = '*…'`); MySQL 5.7.6 and later
//! get `ALTER USER CURRENT_USER() IDENTIFIED BY …`, which keeps the account's authentication
//! plugin and which MySQL masks in its logs.
//!
//! Two rotators: `mysql-single-user` ([`single_user_from_env`]) and `mysql-multi-user`
//! ([`multi_user_from_env`]: `user` and `user_clone` take turns, set by the master user, on
//! every host entry, with grants, options, TLS requirements and limits copied: see
//! [`multi_user`]).
#![warn(missing_docs)]

pub mod database;
pub mod grants;
pub mod multi_user;
pub mod sql;
pub mod version;

use rotation_core::PasswordPolicy;
use rotation_core::config::{ConfigError, Environment, number_var};
use rotation_core::password::MYSQL_EXCLUDED;
use rotation_db::{Connector, DbSettings, MultiUser, SingleUser};

pub use database::{DEFAULT_USERNAME_LIMIT, MySql, Session};

/// The `mysql-single-user` rotator: the user changes its own password.
pub type MySqlSingleUser = SingleUser<MySql>;

/// The `mysql-multi-user` rotator: `user` and `user_clone` take turns, through the master
/// secret.
pub type MySqlMultiUser = MultiUser<MySql>;

/// The variable that bounds user names in multi-user rotation (AWS's name and default, 16).
pub const USERNAME_LIMIT_VARIABLE: &str = "USERNAME_CHARACTER_LIMIT";

/// Builds `mysql-single-user` from the environment: AWS's password variables (default
/// `EXCLUDE_CHARACTERS` `/@"'\`), `DATABASE_CA_BUNDLE`, `DATABASE_CONNECT_TIMEOUT`,
/// `DATABASE_STATEMENT_TIMEOUT`. A bad value is an error naming the variable.
pub fn single_user_from_env(env: &dyn Environment) -> Result<MySqlSingleUser, ConfigError> {
    let policy = PasswordPolicy::from_env(env, MYSQL_EXCLUDED)?;
    let settings = DbSettings::from_env(env)?;
    Ok(SingleUser::new(
        Connector::new(MySql::default(), settings),
        policy,
    ))
}

/// Builds `mysql-multi-user` from the environment: the variables of [`single_user_from_env`]
/// and `USERNAME_CHARACTER_LIMIT` (1 to 80, default 16: MySQL 5.7+ allows 32 characters,
/// MariaDB 80).
pub fn multi_user_from_env(env: &dyn Environment) -> Result<MySqlMultiUser, ConfigError> {
    let policy = PasswordPolicy::from_env(env, MYSQL_EXCLUDED)?;
    let settings = DbSettings::from_env(env)?;
    let limit = number_var(
        env,
        USERNAME_LIMIT_VARIABLE,
        DEFAULT_USERNAME_LIMIT as u64,
        1,
        80,
    )?;
    let limit = usize::try_from(limit)
        .map_err(|_| ConfigError::new(USERNAME_LIMIT_VARIABLE, "is out of range"))?;
    Ok(MultiUser::new(
        Connector::new(MySql::with_username_limit(limit), settings),
        policy,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_username_limit_comes_from_aws_variable() {
        let built = multi_user_from_env(&[("USERNAME_CHARACTER_LIMIT", "32")]);
        assert!(built.is_ok());
        assert!(multi_user_from_env(&[("USERNAME_CHARACTER_LIMIT", "")]).is_ok());
        for bad in ["0", "sixteen", "81", "-1"] {
            let error = multi_user_from_env(&[("USERNAME_CHARACTER_LIMIT", bad)])
                .expect_err("a bad limit is refused");
            assert!(
                format!("{error}").contains("USERNAME_CHARACTER_LIMIT"),
                "{error}"
            );
        }
    }
}
