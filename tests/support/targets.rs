//! The four database rotators as targets of the rotation contract (`rotation-testkit`), on
//! the stack's PostgreSQL and MariaDB.

use std::path::PathBuf;

use rotation_testkit::{AfterRotation, Contract, Setup, Target, TargetError, async_trait};
use serde_json::{Value, json};

use crate::{
    create_mysql_user, create_role, login, mysql_login, mysql_secret_json, secret_json, stack,
    unique,
};

/// The database rotators this workspace ships.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotator {
    /// `postgres-single-user`.
    PostgresSingleUser,
    /// `postgres-multi-user`.
    PostgresMultiUser,
    /// `mysql-single-user`, against MariaDB.
    MySqlSingleUser,
    /// `mysql-multi-user`, against MariaDB.
    MySqlMultiUser,
}

impl Rotator {
    /// The binary's name.
    pub fn binary_name(self) -> &'static str {
        match self {
            Rotator::PostgresSingleUser => "postgres-single-user",
            Rotator::PostgresMultiUser => "postgres-multi-user",
            Rotator::MySqlSingleUser => "mysql-single-user",
            Rotator::MySqlMultiUser => "mysql-multi-user",
        }
    }

    /// Whether it alternates two users through a master secret.
    pub fn is_multi_user(self) -> bool {
        matches!(self, Rotator::PostgresMultiUser | Rotator::MySqlMultiUser)
    }

    /// Whether it rotates PostgreSQL (else MariaDB).
    pub fn is_postgres(self) -> bool {
        matches!(
            self,
            Rotator::PostgresSingleUser | Rotator::PostgresMultiUser
        )
    }
}

/// A database rotator and the stack's server it rotates users of.
#[derive(Clone, Copy, Debug)]
pub struct DatabaseTarget(pub Rotator);

impl DatabaseTarget {
    /// Runs the whole rotation contract against this rotator (panics with every failure).
    pub async fn assert_contract(self) {
        let contract = Contract::with_endpoint(&stack().moto.endpoint()).await;
        match contract.run(&self).await {
            Ok(report) => eprintln!("{}: {report}", self.0.binary_name()),
            Err(failure) => panic!("{}: {failure}", self.0.binary_name()),
        }
    }

    /// The master secret value: the server's administrative account (a full RDS secret).
    fn master_value(self) -> Value {
        if self.0.is_postgres() {
            let pg = &stack().postgres;
            secret_json(pg, pg.superuser(), pg.superuser_password())
        } else {
            let db = &stack().mariadb;
            mysql_secret_json(db, db.root_user(), db.root_password())
        }
    }
}

#[async_trait]
impl Target for DatabaseTarget {
    fn binary(&self) -> PathBuf {
        crate::rotator_binary(self.0.binary_name())
    }

    async fn new_account(&self, setup: &Setup) -> Result<String, TargetError> {
        // Short: `u` and 8 hex digits, `_clone` included fits MySQL's default limit of 16.
        let user = unique("u");
        let password = unique("Initial-Pass-");
        let mut value = if self.0.is_postgres() {
            create_role(&stack().postgres, &user, &password).await;
            secret_json(&stack().postgres, &user, &password)
        } else {
            create_mysql_user(&stack().mariadb, &user, &password).await;
            mysql_secret_json(&stack().mariadb, &user, &password)
        };
        if self.0.is_multi_user() {
            let master = setup
                .create_secret("master-", &self.master_value().to_string())
                .await?;
            value["masterarn"] = json!(master);
        }
        Ok(value.to_string())
    }

    async fn check(&self, secret: &str) -> Result<(), TargetError> {
        let secret: Value = serde_json::from_str(secret)?;
        let user = secret["username"].as_str().ok_or("no username")?;
        let password = secret["password"].as_str().ok_or("no password")?;
        let logged_in = if self.0.is_postgres() {
            login(stack().postgres.port(), user, password).await
        } else {
            mysql_login(stack().mariadb.port(), user, password).await
        };
        logged_in.map_err(|error| format!("{user} cannot log in: {error}").into())
    }

    fn after_rotation(&self) -> AfterRotation {
        if self.0.is_multi_user() {
            AfterRotation::PreviousKept
        } else {
            AfterRotation::PreviousRevoked
        }
    }

    async fn target_log(&self) -> Result<Option<String>, TargetError> {
        let path = if self.0.is_postgres() {
            stack().postgres.log_path()
        } else {
            stack().mariadb.general_log_path()
        };
        Ok(Some(std::fs::read_to_string(path)?))
    }
}
