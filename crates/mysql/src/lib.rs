//! # rotation-mysql
//!
//! MySQL, Aurora MySQL and MariaDB rotators, over mysql_async and rustls.
//!
//! The server's flavour and version are read and parsed ([`version`]), and the password
//! statement chosen from them ([`sql`]). MariaDB writes password statements to its general log
//! as they are, so it gets a hash computed here (`SET PASSWORD = '*…'`); MySQL 5.7.6 and later
//! get `ALTER USER CURRENT_USER() IDENTIFIED BY …`, which keeps the account's authentication
//! plugin and which MySQL masks in its logs. With `MYSQL_RETAIN_CURRENT_PASSWORD` on, MySQL
//! 8.0.14 and later get `… RETAIN CURRENT PASSWORD` (the previous password stays valid until the
//! next rotation) and any other server fails setSecret before anything changes.
//!
//! Two rotators: `mysql-single-user` ([`single_user_from_env`]) and `mysql-multi-user`
//! ([`multi_user_from_env`]: `user` and `user_clone` take turns, set by the master user, on
//! every host entry, with grants, options, TLS requirements and limits copied: see
//! [`multi_user`]).
#![warn(missing_docs)]

pub mod database;
pub mod grants;
pub mod multi_user;
pub mod pair;
pub mod sql;
pub mod version;

use rotation_core::PasswordPolicy;
use rotation_core::config::{ConfigError, Environment, bool_var, number_var};
use rotation_core::master_arns::MasterSecretArns;
use rotation_db::{Connector, Database, DbSettings, MasterHosts, MultiUser, SingleUser};

pub use database::{DEFAULT_USERNAME_LIMIT, MYSQL, MySql, Session};

/// The `mysql-single-user` rotator: the user changes its own password.
pub type MySqlSingleUser = SingleUser<MySql>;

/// The `mysql-multi-user` rotator: `user` and `user_clone` take turns, through the master
/// secret.
pub type MySqlMultiUser = MultiUser<MySql>;

/// The variable that bounds user names in multi-user rotation (AWS's name and default, 16).
pub const USERNAME_LIMIT_VARIABLE: &str = "USERNAME_CHARACTER_LIMIT";

/// The variable that turns on dual-password single-user rotation (`RETAIN CURRENT PASSWORD`,
/// MySQL 8.0.14 and later; default false).
pub const RETAIN_CURRENT_PASSWORD_VARIABLE: &str = "MYSQL_RETAIN_CURRENT_PASSWORD";

/// Builds `mysql-single-user` from the environment: AWS's password variables (default
/// `EXCLUDE_CHARACTERS` `/@"'\`), `DATABASE_CA_BUNDLE`, `DATABASE_CONNECT_TIMEOUT`,
/// `DATABASE_STATEMENT_TIMEOUT`, and `MYSQL_RETAIN_CURRENT_PASSWORD` (boolean, default false:
/// keep the previous password valid as the secondary until the next rotation; MySQL 8.0.14 and
/// later only, any other server fails setSecret with an error naming the variable). A bad
/// value is an error naming the variable.
pub fn single_user_from_env(env: &dyn Environment) -> Result<MySqlSingleUser, ConfigError> {
    let policy = PasswordPolicy::from_env(env, MySql::ENGINE.default_excluded())?;
    let settings = DbSettings::from_env(env)?;
    let retain = bool_var(env, RETAIN_CURRENT_PASSWORD_VARIABLE, false)?;
    Ok(SingleUser::new(
        Connector::new(
            MySql::default().with_retain_current_password(retain),
            settings,
        ),
        policy,
    ))
}

/// Builds `mysql-multi-user` from the environment: the variables of [`single_user_from_env`]
/// `USERNAME_CHARACTER_LIMIT` (1 to 80, default 16: MySQL 5.7+ allows 32 characters,
/// MariaDB 80) and `MASTER_HOSTS` (where a master secret without `host` may be used; see
/// [`rotation_db::master`]).
pub fn multi_user_from_env(env: &dyn Environment) -> Result<MySqlMultiUser, ConfigError> {
    let policy = PasswordPolicy::from_env(env, MySql::ENGINE.default_excluded())?;
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
    )
    .with_master_hosts(MasterHosts::from_env(env)?)
    .with_master_secret_arns(MasterSecretArns::from_env(env)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retaining_is_opt_in_and_a_bad_value_names_the_variable() {
        assert!(!MySql::default().retains_current_password());
        assert!(!MySql::with_username_limit(32).retains_current_password());
        assert!(single_user_from_env(&[]).is_ok());
        for good in ["true", "false", "1", "no", ""] {
            assert!(
                single_user_from_env(&[("MYSQL_RETAIN_CURRENT_PASSWORD", good)]).is_ok(),
                "{good}"
            );
        }
        let error = single_user_from_env(&[("MYSQL_RETAIN_CURRENT_PASSWORD", "maybe")])
            .expect_err("a bad boolean is refused");
        assert_eq!(error.variable, "MYSQL_RETAIN_CURRENT_PASSWORD");
    }

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
