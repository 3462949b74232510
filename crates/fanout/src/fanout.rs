//! The fan-out around a database rotator of the earlier issues: the same steps on the primary,
//! plus the replicas (waited for, or changed one by one), plus the linked secrets.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};
use rotation_core::{
    Deadline, JsonSecret, RotationError, Rotator, SecretString, StepContext, ValueSource,
};
use rotation_db::{Connector, Credentials, Database};
use serde_json::Value;
use tracing::{debug, info, warn};

use crate::linked;
use crate::settings::{FanoutSettings, StrategyChoice};
use crate::spec::{FanoutSpec, Mode, Replica, at_host};
use crate::undo::{self, HostOutcome, UndoOutcome};
use crate::wait::{self, Behind, Next, UNREACHABLE_GRACE};

mod preflight;

/// The first pause between two rounds of replica logins; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);
/// The longest pause between two rounds of replica logins.
const MAX_PAUSE: Duration = Duration::from_secs(2);
/// The most of the Lambda's remaining time kept back to report a replica that is behind.
const REPORT_MARGIN: Duration = Duration::from_secs(2);

/// The strategy chosen for one secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    SingleUser,
    MultiUser,
}

/// Fan-out for one engine: the single-user and multi-user rotators of that engine, and a
/// connector that logs in to replicas.
pub struct Fanout<D: Database> {
    single: Box<dyn Rotator>,
    multi: Box<dyn Rotator>,
    connector: Connector<D>,
    settings: Arc<FanoutSettings>,
}

impl<D: Database> Fanout<D> {
    /// Fan-out around the engine's two rotators; `connector` logs in to replicas.
    pub fn new(
        single: Box<dyn Rotator>,
        multi: Box<dyn Rotator>,
        connector: Connector<D>,
        settings: Arc<FanoutSettings>,
    ) -> Self {
        Fanout {
            single,
            multi,
            connector,
            settings,
        }
    }

    fn strategy(&self, current: &SecretString) -> Strategy {
        match self.settings.strategy {
            StrategyChoice::SingleUser => Strategy::SingleUser,
            StrategyChoice::MultiUser => Strategy::MultiUser,
            StrategyChoice::FromSecret => {
                let has_master = serde_json::from_str::<Value>(current.expose())
                    .ok()
                    .and_then(|value| value.get("masterarn").cloned())
                    .is_some_and(|master| !master.is_null());
                if has_master {
                    Strategy::MultiUser
                } else {
                    Strategy::SingleUser
                }
            }
        }
    }

    fn inner(&self, strategy: Strategy) -> &dyn Rotator {
        match strategy {
            Strategy::SingleUser => self.single.as_ref(),
            Strategy::MultiUser => self.multi.as_ref(),
        }
    }

    fn spec(ctx: &StepContext<'_>, current: &SecretString) -> Result<FanoutSpec, RotationError> {
        Ok(FanoutSpec::parse(
            current,
            &ValueSource::new(ctx.arn, "AWSCURRENT"),
        )?)
    }

    fn credentials(
        &self,
        ctx: &StepContext<'_>,
        value: &SecretString,
        version: &str,
    ) -> Result<Credentials, RotationError> {
        Credentials::parse(value, D::ENGINE, &ValueSource::new(ctx.arn, version))
    }

    /// When waiting for replicas must stop: `REPLICA_WAIT_SECONDS` from now, and in any case
    /// early enough before the Lambda deadline to report which replica is behind.
    fn wait_limit(&self, deadline: Deadline) -> Instant {
        let margin = REPORT_MARGIN.min(deadline.remaining() / 5);
        let by_deadline = deadline.instant().into_std() - margin;
        match self.settings.wait {
            Some(wait) => by_deadline.min(Instant::now() + wait),
            None => by_deadline,
        }
    }

    /// Logs in with the pending credentials on every replica, again and again with growing
    /// pauses, until all accept them, the wait is over, or one has been out of reach for
    /// [`UNREACHABLE_GRACE`].
    async fn await_replicas(
        &self,
        ctx: &StepContext<'_>,
        pending: &Credentials,
        replicas: &[Replica],
    ) -> Result<(), RotationError> {
        if replicas.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let limit = self.wait_limit(ctx.deadline);
        let mut waiting: Vec<(&Replica, Option<Behind>)> =
            replicas.iter().map(|replica| (replica, None)).collect();
        let mut pause = FIRST_PAUSE;
        let mut rounds = 0;
        loop {
            rounds += 1;
            let round = Instant::now();
            let attempt = Deadline::after(limit.saturating_duration_since(round));
            let targets: Vec<Credentials> = waiting
                .iter()
                .map(|(replica, _)| on_replica(pending, replica))
                .collect();
            let outcomes = join_all(targets.iter().map(|credentials| async move {
                self.connector
                    .login(&credentials.login(), attempt)
                    .await
                    .map(drop)
            }))
            .await;
            waiting = waiting
                .into_iter()
                .zip(outcomes)
                .filter_map(|((replica, before), outcome)| {
                    let error = outcome.err()?;
                    Some((replica, Some(Behind::after(before.as_ref(), error, round))))
                })
                .collect();
            let behind: Vec<&Behind> = waiting.iter().filter_map(|(_, b)| b.as_ref()).collect();
            let decision = wait::next(&behind, Instant::now(), pause, limit, UNREACHABLE_GRACE);
            let why = match decision {
                Next::Done => {
                    info!(
                        replicas = replicas.len(),
                        rounds,
                        waited_ms = started.elapsed().as_millis() as u64,
                        "setSecret: every replica accepts the pending credentials"
                    );
                    return Ok(());
                }
                Next::Pause => {
                    debug!(
                        behind = waiting.len(),
                        pause_ms = pause.as_millis() as u64,
                        "setSecret: replicas not caught up yet"
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                    continue;
                }
                Next::Unreachable => format!(
                    "a replica out of reach for {} s fails the step at once; only one that \
                     refuses the new credentials (replication lag) is waited for",
                    UNREACHABLE_GRACE.as_secs()
                ),
                Next::WaitOver => "REPLICA_WAIT_SECONDS sets the longest wait".to_owned(),
            };
            return Err(not_caught_up(ctx, &waiting, &why, started));
        }
    }

    /// Independent mode: the strategy's setSecret on every host (the primary first in the
    /// list), a few at a time; if any fails, every host that may have taken the change is set
    /// back ([`undo`]).
    async fn set_everywhere(
        &self,
        ctx: &StepContext<'_>,
        strategy: Strategy,
        spec: &FanoutSpec,
    ) -> Result<(), RotationError> {
        let versions = Versions {
            current: ctx.current().await?.clone(),
            pending: ctx.pending().await?.clone(),
            previous: ctx.previous().await?.cloned(),
        };
        let primary = self.credentials(ctx, &versions.current, "AWSCURRENT")?;
        let pending_credentials = self.credentials(ctx, &versions.pending, "AWSPENDING")?;
        let hosts: Vec<Replica> = std::iter::once(Replica {
            host: primary.secret.host.clone(),
            port: Some(primary.secret.port),
        })
        .chain(spec.replicas.iter().cloned())
        .collect();
        let changes = self
            .change_every_host(ctx, strategy, &versions, &hosts)
            .await;
        if changes.iter().all(Result::is_ok) {
            info!(
                hosts = hosts.len(),
                "setSecret: every host accepts the pending credentials"
            );
            return Ok(());
        }
        let outcomes = self
            .ask_failed_hosts(ctx, changes, &hosts, &pending_credentials)
            .await;
        let undone = self
            .set_back(ctx, strategy, &versions, &hosts, &outcomes)
            .await;
        for (i, outcome) in &undone {
            if let Err(error) = outcome {
                warn!(host = %hosts[*i], error = %error, "setSecret: could not set a host back");
            }
        }
        Err(ctx.fail(format!(
            "independent mode: {}; AWSCURRENT stays where it is",
            undo::report(&hosts, &outcomes, &undone)
        )))
    }

    /// The strategy's setSecret on every host, a few at a time; the outcomes in host order.
    async fn change_every_host(
        &self,
        ctx: &StepContext<'_>,
        strategy: Strategy,
        versions: &Versions,
        hosts: &[Replica],
    ) -> Vec<Result<(), RotationError>> {
        let inner = self.inner(strategy);
        // Indices rather than references: the stream's closures must not be generic over a
        // lifetime for the future to be `Send`.
        let mut changes = stream::iter(0..hosts.len())
            .map(|i| {
                let on_host = versions.at(ctx, &hosts[i]);
                async move { (i, inner.set(&on_host).await) }
            })
            .buffer_unordered(self.settings.concurrency)
            .collect::<Vec<_>>()
            .await;
        changes.sort_by_key(|(i, _)| *i);
        changes.into_iter().map(|(_, outcome)| outcome).collect()
    }

    /// What each host's change came to: a failed host may have taken the change all the same
    /// (the answer was lost), so it is asked by logging in with the pending credentials.
    async fn ask_failed_hosts(
        &self,
        ctx: &StepContext<'_>,
        changes: Vec<Result<(), RotationError>>,
        hosts: &[Replica],
        pending: &Credentials,
    ) -> Vec<HostOutcome> {
        join_all(
            changes
                .into_iter()
                .zip(hosts)
                .map(|(outcome, host)| async move {
                    match outcome {
                        Ok(()) => HostOutcome::Changed,
                        Err(error) => HostOutcome::Failed {
                            error: error.to_string(),
                            pending_login: self
                                .connector
                                .login(&on_replica(pending, host).login(), ctx.deadline)
                                .await
                                .map(drop),
                        },
                    }
                }),
        )
        .await
    }

    /// Undo: the same rotator, with the value to restore as the pending one, on every host
    /// that may have changed; for each, whether it was set back (or why not).
    async fn set_back(
        &self,
        ctx: &StepContext<'_>,
        strategy: Strategy,
        versions: &Versions,
        hosts: &[Replica],
        outcomes: &[HostOutcome],
    ) -> Vec<(usize, UndoOutcome)> {
        let inner = self.inner(strategy);
        let to_undo: Vec<usize> = (0..hosts.len())
            .filter(|&i| outcomes[i].may_have_changed())
            .collect();
        stream::iter(to_undo)
            .map(|i| {
                let restore = versions.restoring(ctx, strategy, &hosts[i]);
                async move {
                    let outcome: UndoOutcome = match restore {
                        Some(on_host) => inner
                            .set(&on_host)
                            .await
                            .map(|()| true)
                            .map_err(|error| error.to_string()),
                        None => Ok(false),
                    };
                    (i, outcome)
                }
            })
            .buffer_unordered(self.settings.concurrency)
            .collect::<Vec<_>>()
            .await
    }

    /// Every replica accepts the pending credentials and runs the test query.
    async fn test_replicas(
        &self,
        ctx: &StepContext<'_>,
        pending: &Credentials,
        replicas: &[Replica],
    ) -> Result<(), RotationError> {
        let targets: Vec<(&Replica, Credentials)> = replicas
            .iter()
            .map(|replica| (replica, on_replica(pending, replica)))
            .collect();
        let outcomes = join_all(targets.iter().map(|(replica, credentials)| async move {
            let mut session = self
                .connector
                .login(&credentials.login(), ctx.deadline)
                .await
                .map_err(|error| {
                    format!("replica {replica} does not accept the pending credentials ({error})")
                })?;
            let db = self.connector.database();
            self.connector
                .bounded("the test query", ctx.deadline, db.probe(&mut session))
                .await
                .map_err(|reason| format!("the test query failed on replica {replica}: {reason}"))
        }))
        .await;
        let failures: Vec<String> = outcomes.into_iter().filter_map(Result::err).collect();
        if failures.is_empty() {
            if !replicas.is_empty() {
                info!(
                    replicas = replicas.len(),
                    "testSecret: every replica accepts the pending credentials"
                );
            }
            Ok(())
        } else {
            Err(ctx.fail(failures.join("; ")))
        }
    }

    /// Reads every linked secret and checks that it lets this rotation write it
    /// ([`linked::check`]); returns the new values of those that do not hold the pending user
    /// name and password yet. Nothing is written here, so one refusal leaves every linked
    /// secret as it was.
    async fn plan_linked(
        &self,
        ctx: &StepContext<'_>,
        linked: &[String],
    ) -> Result<Vec<(String, SecretString)>, RotationError> {
        if linked.is_empty() {
            return Ok(Vec::new());
        }
        let current = JsonSecret::parse(
            ctx.current().await?,
            &ValueSource::new(ctx.arn, "AWSCURRENT"),
        )?;
        let pending = JsonSecret::parse(
            ctx.pending().await?,
            &ValueSource::new(ctx.arn, "AWSPENDING"),
        )?;
        let users: Vec<&str> = [&current, &pending]
            .iter()
            .filter_map(|value| value.get("username").and_then(Value::as_str))
            .collect();
        let mut writes = Vec::new();
        for arn in linked {
            let value = ctx.other_secret(arn).await?.ok_or_else(|| {
                ctx.fail(format!(
                    "the linked secret {arn} (replicaSecretArns) has no AWSCURRENT value"
                ))
            })?;
            let mut mirror =
                JsonSecret::parse(&value, &ValueSource::new(arn.as_str(), "AWSCURRENT"))?;
            linked::check(&mirror, ctx.arn, &users).map_err(|refusal| {
                ctx.fail(format!(
                    "the linked secret {arn} (replicaSecretArns) does not let this rotation \
                     write it: {refusal}; nothing was written and AWSCURRENT stays where it \
                     is. A linked secret is written only when its own AWSCURRENT value names \
                     this secret back: add \"{key}\": \"{primary}\" to it (with the user this \
                     secret rotates as its username, or none), or take it out of \
                     replicaSecretArns",
                    key = linked::PRIMARY_SECRET_ARN,
                    primary = ctx.arn,
                ))
            })?;
            let same = |key: &str| mirror.get(key) == pending.get(key);
            if same("username") && same("password") {
                info!(linked = %arn, "finishSecret: the linked secret has the new credentials already");
                continue;
            }
            for key in ["username", "password"] {
                if let Some(Value::String(text)) = pending.get(key) {
                    mirror.set_string(key, text);
                }
            }
            writes.push((arn.clone(), mirror.to_secret_string()));
        }
        Ok(writes)
    }

    /// Stores the new values of the linked secrets that [`Self::plan_linked`] accepted.
    async fn update_linked(
        &self,
        ctx: &StepContext<'_>,
        writes: &[(String, SecretString)],
    ) -> Result<(), RotationError> {
        for (arn, value) in writes {
            ctx.put_other_secret_current(arn, value).await?;
            info!(linked = %arn, "finishSecret: the linked secret has the new credentials");
        }
        Ok(())
    }
}

/// The same credentials on a replica: its host, its port or else the primary's, the same TLS
/// mode and database.
fn on_replica(primary: &Credentials, replica: &Replica) -> Credentials {
    let mut credentials = primary.clone();
    credentials.secret.host = replica.host.clone();
    if let Some(port) = replica.port {
        credentials.secret.port = port;
    }
    credentials
}

#[async_trait]
impl<D: Database> Rotator for Fanout<D> {
    async fn preflight(
        &self,
        ctx: &StepContext<'_>,
        current: &SecretString,
        report: &mut rotation_core::Report,
    ) {
        self.preflight_checks(ctx, current, report).await;
    }

    async fn create(
        &self,
        ctx: &StepContext<'_>,
        current: &SecretString,
    ) -> Result<SecretString, RotationError> {
        // The fan-out keys are checked before anything is generated.
        Self::spec(ctx, current)?;
        self.inner(self.strategy(current))
            .create(ctx, current)
            .await
    }

    async fn set(&self, ctx: &StepContext<'_>) -> Result<(), RotationError> {
        let current = ctx.current().await?;
        let spec = Self::spec(ctx, current)?;
        let strategy = self.strategy(current);
        match spec.mode {
            Mode::Replicated => {
                self.inner(strategy).set(ctx).await?;
                let pending = self.credentials(ctx, ctx.pending().await?, "AWSPENDING")?;
                self.await_replicas(ctx, &pending, &spec.replicas).await
            }
            Mode::Independent => self.set_everywhere(ctx, strategy, &spec).await,
        }
    }

    async fn test(
        &self,
        ctx: &StepContext<'_>,
        pending: &SecretString,
    ) -> Result<(), RotationError> {
        let current = ctx.current().await?;
        let spec = Self::spec(ctx, current)?;
        self.inner(self.strategy(current))
            .test(ctx, pending)
            .await?;
        let pending = self.credentials(ctx, pending, "AWSPENDING")?;
        self.test_replicas(ctx, &pending, &spec.replicas).await
    }

    async fn before_finish(&self, ctx: &StepContext<'_>) -> Result<(), RotationError> {
        let current = ctx.current().await?;
        let spec = Self::spec(ctx, current)?;
        // Every linked secret is checked before anything is done or written.
        let writes = self.plan_linked(ctx, &spec.linked).await?;
        self.inner(self.strategy(current))
            .before_finish(ctx)
            .await?;
        self.update_linked(ctx, &writes).await
    }

    async fn finish(&self, ctx: &StepContext<'_>) -> Result<(), RotationError> {
        let current = ctx.current().await?;
        self.inner(self.strategy(current)).finish(ctx).await
    }
}

/// The error of replicas that did not take the pending credentials in time, naming each with
/// its last login error.
fn not_caught_up(
    ctx: &StepContext<'_>,
    waiting: &[(&Replica, Option<Behind>)],
    why: &str,
    started: Instant,
) -> RotationError {
    let named: Vec<String> = waiting
        .iter()
        .map(|(replica, behind)| match behind {
            Some(behind) => format!("{replica} ({})", behind.error),
            None => replica.to_string(),
        })
        .collect();
    ctx.fail(format!(
        "replica {} did not accept the pending credentials within {:.1} s ({why}); \
         AWSCURRENT stays where it is, and the next attempt waits again without changing the \
         password",
        named.join(", replica "),
        started.elapsed().as_secs_f64()
    ))
}

/// The values of one rotation, pointed at one host at a time (independent mode).
struct Versions {
    current: SecretString,
    pending: SecretString,
    previous: Option<SecretString>,
}

impl Versions {
    /// `ctx` with these values at `host`.
    fn at<'a>(&self, ctx: &StepContext<'a>, host: &Replica) -> StepContext<'a> {
        ctx.with_values(
            Some(at_host(&self.current, host)),
            Some(at_host(&self.pending, host)),
            self.previous.as_ref().map(|value| at_host(value, host)),
        )
    }

    /// `ctx` with the values that set `host` back through the strategy's setSecret (the value
    /// to restore as the pending one); `None` when there is nothing to restore.
    fn restoring<'a>(
        &self,
        ctx: &StepContext<'a>,
        strategy: Strategy,
        host: &Replica,
    ) -> Option<StepContext<'a>> {
        match strategy {
            // The user changed its own password: log in with the new one and set the current
            // one again.
            Strategy::SingleUser => Some(ctx.with_values(
                Some(at_host(&self.pending, host)),
                Some(at_host(&self.current, host)),
                None,
            )),
            // The current user was never touched; give the alternate user back the password
            // AWSPREVIOUS holds for it, if there is one.
            Strategy::MultiUser => self.previous.as_ref().map(|previous| {
                ctx.with_values(
                    Some(at_host(&self.current, host)),
                    Some(at_host(previous, host)),
                    None,
                )
            }),
        }
    }
}
