//! The fan-out's preflight: the engine rotator's checks on the primary, then the replicas
//! (each reached, and accepting the current credentials in replicated mode), the time
//! `REPLICA_WAIT_SECONDS` needs against the function's timeout, and the linked secrets read.

use futures_util::future::join_all;
use rotation_core::{Report, SecretString, StepContext};
use rotation_db::{Credentials, Database};

use super::{Fanout, on_replica};
use crate::spec::Mode;

impl<D: Database> Fanout<D> {
    /// Every check of a fan-out secret (see the module's documentation).
    pub(super) async fn preflight_checks(
        &self,
        ctx: &StepContext<'_>,
        current: &SecretString,
        report: &mut Report,
    ) {
        self.replica_wait(ctx, report);
        let spec = match Self::spec(ctx, current) {
            Ok(spec) => spec,
            Err(problem) => {
                report.fail(
                    "replicas",
                    problem.to_string(),
                    "correct the secret's replicas, replicaMode or replicaSecretArns",
                );
                return;
            }
        };
        let strategy = self.strategy(current);
        self.inner(strategy).preflight(ctx, current, report).await;
        match self.credentials(ctx, current, "AWSCURRENT") {
            Ok(primary) => {
                self.replicas(ctx, &primary, &spec.replicas, spec.mode, report)
                    .await
            }
            Err(_) => report.skip("replicas", "needs a valid secret"),
        }
        for arn in &spec.linked {
            match ctx.other_secret(arn).await {
                Ok(Some(_)) => report.pass("linked-secret", format!("{arn} is readable")),
                Ok(None) => report.fail(
                    "linked-secret",
                    format!("{arn} (replicaSecretArns) has no AWSCURRENT value"),
                    "give the linked secret its initial value, naming this secret in its \
                     primarySecretArn",
                ),
                Err(problem) => report.fail(
                    "linked-secret",
                    problem.to_string(),
                    format!(
                        "the function's role needs secretsmanager:GetSecretValue and \
                         PutSecretValue on {arn}"
                    ),
                ),
            }
        }
    }

    /// Whether the function's time covers `REPLICA_WAIT_SECONDS` and the primary's own work.
    fn replica_wait(&self, ctx: &StepContext<'_>, report: &mut Report) {
        let budget = ctx.deadline.remaining();
        let settings = self.connector.settings();
        let own_work = settings.connect_timeout + settings.statement_timeout;
        let Some(wait) = self.settings.wait else {
            report.pass(
                "replica-wait",
                "REPLICA_WAIT_SECONDS is not set: setSecret waits for replicas until shortly \
                 before the function's deadline",
            );
            return;
        };
        let needed = wait + own_work;
        if needed <= budget {
            report.pass(
                "replica-wait",
                format!(
                    "REPLICA_WAIT_SECONDS={} fits the {} s the function has (the primary's \
                     login and statement take up to {} s more)",
                    wait.as_secs_f64(),
                    budget.as_secs(),
                    own_work.as_secs_f64()
                ),
            );
        } else {
            report.fail(
                "replica-wait",
                format!(
                    "REPLICA_WAIT_SECONDS={} plus the primary's login and statement (up to {} \
                     s) is more than the {} s this invocation has: setSecret would be cut off \
                     by the deadline before its wait ends",
                    wait.as_secs_f64(),
                    own_work.as_secs_f64(),
                    budget.as_secs()
                ),
                format!(
                    "raise the function's timeout to at least {} s, or lower \
                     REPLICA_WAIT_SECONDS",
                    needed.as_secs() + 2
                ),
            );
        }
    }

    /// Each replica answers, and (replicated mode) accepts the current credentials.
    async fn replicas(
        &self,
        ctx: &StepContext<'_>,
        primary: &Credentials,
        replicas: &[crate::spec::Replica],
        mode: Mode,
        report: &mut Report,
    ) {
        if replicas.is_empty() {
            report.pass("replicas", "the secret lists no replica");
            return;
        }
        let outcomes = join_all(replicas.iter().map(|replica| async move {
            let credentials = on_replica(primary, replica);
            let login = credentials.login();
            let logged_in = self.connector.login(&login, ctx.deadline).await;
            (replica, logged_in.map(|_| ()))
        }))
        .await;
        for (replica, outcome) in outcomes {
            match outcome {
                Ok(()) => report.pass(
                    "replicas",
                    format!("replica {replica} accepts AWSCURRENT's credentials"),
                ),
                Err(error) if error.is_rejection() && mode == Mode::Independent => report.warn(
                    "replicas",
                    format!("replica {replica} refuses AWSCURRENT's credentials: {error}"),
                    "in independent mode each host keeps its own password: set this host's \
                     password to the secret's before the first rotation",
                ),
                Err(error) => report.fail(
                    "replicas",
                    format!("replica {replica}: {error}"),
                    if error.is_rejection() {
                        "the replica must accept the primary's current credentials (a replica \
                         of the primary replicates its users; else use replicaMode \
                         \"independent\")"
                    } else {
                        "the function must reach every replica: its security group must be \
                         allowed on the replica's port"
                    },
                ),
            }
        }
    }
}
