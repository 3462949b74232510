//! # rotation-fanout
//!
//! The `replica-fanout` rotator: rotate the database user of a primary and make sure that,
//! before `AWSCURRENT` moves, the new credentials work on every read replica and reader
//! endpoint that clients use. No AWS template does this.
//!
//! The secret is the RDS JSON of the primary plus, all optional ([`spec`]):
//!
//! - `replicas`: `[{"host": "...", "port": 5432}, ...]` (port optional: the primary's);
//! - `replicaMode`: `"replicated"` (default) or `"independent"`;
//! - `replicaSecretArns`: secrets of replica endpoints that carry the same credentials; each
//!   names this secret back in its `primarySecretArn`.
//!
//! The database work is done by the rotators of the engine (`rotation-postgres`,
//! `rotation-mysql`), single-user or multi-user ([`settings::StrategyChoice`]), unchanged;
//! this crate only points them at other hosts and waits:
//!
//! - **replicated**: the strategy's setSecret on the primary only; then setSecret logs in with
//!   the pending credentials on every replica, again with growing pauses (100 ms to 2 s) until
//!   all accept them, within `REPLICA_WAIT_SECONDS` and the Lambda deadline; a replica that
//!   cannot be reached at all fails the step after [`UNREACHABLE_GRACE`] (5 s). A replica
//!   still behind fails the step naming it, and `AWSCURRENT` does not move; the next attempt
//!   finds the password set on the primary (the strategy's own check) and only waits again.
//! - **independent** (hosts that do not replicate users): the strategy's setSecret on every
//!   host, `REPLICA_CONCURRENCY` at a time; if any fails, every host that may have taken the
//!   change (it reported success, or it failed and then accepts the pending credentials, or
//!   cannot be asked) is set back (single-user: to the current password; multi-user: the
//!   alternate user to its `AWSPREVIOUS` password), so the current secret keeps working
//!   everywhere; the error names any host that could not be set back.
//! - testSecret: the strategy's test on the primary and a login and test query on every
//!   replica.
//! - finishSecret: before `AWSCURRENT` moves, every linked secret gets the new user name and
//!   password (skipped when it has them already, so a retry writes nothing twice); each must
//!   name the rotated secret back in its own `primarySecretArn` and hold this rotation's user
//!   ([`linked`]), else the step fails before anything is written.
#![warn(missing_docs)]

pub mod fanout;
pub mod linked;
pub mod settings;
pub mod spec;
mod undo;
mod wait;

use std::sync::Arc;

use async_trait::async_trait;
use rotation_core::config::{ConfigError, Environment};
use rotation_core::{
    JsonSecret, Report, RotationError, Rotator, SecretString, StepContext, ValueSource,
};
use rotation_db::{Connector, Database, DbSettings, EngineDescriptor, engine};
use rotation_mysql::MySql;
use rotation_postgres::Postgres;

pub use fanout::Fanout;
pub use settings::{FanoutSettings, StrategyChoice};
pub use spec::{FanoutSpec, Mode, Replica};
pub use wait::UNREACHABLE_GRACE;

/// The `replica-fanout` rotator: a fan-out per engine, chosen per secret by its `engine`
/// among the engines added ([`ReplicaFanout::with_engine`]).
#[derive(Default)]
pub struct ReplicaFanout {
    engines: Vec<Served>,
}

/// One engine of a [`ReplicaFanout`]: the `engine` values that route to it, and its fan-out.
struct Served {
    engine: &'static EngineDescriptor,
    fanout: Box<dyn Rotator>,
}

/// Builds `replica-fanout` from the environment: the variables of the four database rotators
/// (password policy with each engine's default `EXCLUDE_CHARACTERS`, `DATABASE_CA_BUNDLE`,
/// `DATABASE_CONNECT_TIMEOUT`, `DATABASE_STATEMENT_TIMEOUT`, `USERNAME_CHARACTER_LIMIT`,
/// `MYSQL_RETAIN_CURRENT_PASSWORD`) and `ROTATION_STRATEGY`, `REPLICA_WAIT_SECONDS`,
/// `REPLICA_CONCURRENCY` ([`FanoutSettings::from_env`]). A bad value is an error naming the
/// variable.
pub fn replica_fanout_from_env(env: &dyn Environment) -> Result<ReplicaFanout, ConfigError> {
    let settings = Arc::new(FanoutSettings::from_env(env)?);
    Ok(ReplicaFanout::default()
        .with_engine(Fanout::new(
            Box::new(rotation_postgres::single_user_from_env(env)?),
            Box::new(rotation_postgres::multi_user_from_env(env)?),
            Connector::new(Postgres, DbSettings::from_env(env)?),
            Arc::clone(&settings),
        ))
        .with_engine(Fanout::new(
            Box::new(rotation_mysql::single_user_from_env(env)?),
            Box::new(rotation_mysql::multi_user_from_env(env)?),
            Connector::new(MySql::default(), DbSettings::from_env(env)?),
            settings,
        )))
}

impl ReplicaFanout {
    /// Serves one more engine: a secret whose `engine` is one of `D::ENGINE`'s goes to
    /// `fanout` (the first engine added that lists it, should two list the same value).
    pub fn with_engine<D: Database>(mut self, fanout: Fanout<D>) -> Self {
        self.engines.push(Served {
            engine: D::ENGINE,
            fanout: Box::new(fanout),
        });
        self
    }

    /// The fan-out for a secret value, from its `engine` key; AWS's message naming every
    /// accepted value when no engine serves it.
    fn for_value(
        &self,
        ctx: &StepContext<'_>,
        value: &SecretString,
        version: &str,
    ) -> Result<&dyn Rotator, RotationError> {
        let source = ValueSource::new(ctx.arn, version);
        let json = JsonSecret::parse(value, &source)?;
        let served = engine::choose(&self.engines, |served| served.engine, &json, &source)?;
        Ok(served.fanout.as_ref())
    }

    async fn for_current(&self, ctx: &StepContext<'_>) -> Result<&dyn Rotator, RotationError> {
        self.for_value(ctx, ctx.current().await?, "AWSCURRENT")
    }
}

#[async_trait]
impl Rotator for ReplicaFanout {
    async fn create(
        &self,
        ctx: &StepContext<'_>,
        current: &SecretString,
    ) -> Result<SecretString, RotationError> {
        self.for_value(ctx, current, "AWSCURRENT")?
            .create(ctx, current)
            .await
    }
    async fn set(&self, ctx: &StepContext<'_>) -> Result<(), RotationError> {
        self.for_current(ctx).await?.set(ctx).await
    }

    async fn test(
        &self,
        ctx: &StepContext<'_>,
        pending: &SecretString,
    ) -> Result<(), RotationError> {
        self.for_current(ctx).await?.test(ctx, pending).await
    }

    async fn before_finish(&self, ctx: &StepContext<'_>) -> Result<(), RotationError> {
        self.for_current(ctx).await?.before_finish(ctx).await
    }

    async fn finish(&self, ctx: &StepContext<'_>) -> Result<(), RotationError> {
        self.for_current(ctx).await?.finish(ctx).await
    }

    async fn preflight(&self, ctx: &StepContext<'_>, current: &SecretString, report: &mut Report) {
        match self.for_value(ctx, current, "AWSCURRENT") {
            Ok(fanout) => fanout.preflight(ctx, current, report).await,
            Err(problem) => report.fail(
                "secret-json",
                problem.to_string(),
                "the secret's \"engine\" must be one this rotator serves",
            ),
        }
    }
}
