//! The framework's side of a step: validate, dispatch, time, log.

use std::time::Instant;

use serde_json::{Value, json};
use tracing::{Instrument, debug, error, info, info_span};

use crate::deadline::Deadline;
use crate::error::RotationError;
use crate::event::{RequestedStep, RotationEvent, VersionToken, new_uuid};
use crate::metrics::{Metrics, StepMetrics};
use crate::preflight::{PreflightRequest, ReadOnlyStore, Report, Status, secrets_manager_checks};
use crate::rotator::{Known, Prefetched, Rotator, StepContext};
use crate::stage::Stage;
use crate::step::Step;
use crate::store::{DeadlineStore, SecretStore, VersionRef};
use crate::validate::{Decision, SecretMetadata, validate};
use crate::versions::VersionCache;

/// The time a preflight keeps to answer its report after its checks are cut off.
const PREFLIGHT_RESERVE: std::time::Duration = std::time::Duration::from_secs(1);

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// The token was already `AWSCURRENT`: nothing to do.
    AlreadyCurrent,
    /// createSecret found a value for the token already and kept it.
    PendingExists,
    /// The step ran to completion.
    Done,
}

impl StepOutcome {
    fn as_str(self) -> &'static str {
        match self {
            StepOutcome::AlreadyCurrent => "already-current",
            StepOutcome::PendingExists => "pending-exists",
            StepOutcome::Done => "done",
        }
    }
}

/// The handler of rotation events (what a rotation Lambda runs for each invocation): a
/// [`Rotator`] for the target and a store for Secrets Manager; it validates each event,
/// runs the step and moves the labels.
pub struct RotationHandler<R> {
    rotator: R,
    store: Box<dyn SecretStore>,
    /// The values of the versions read or written in this process, so the later steps of a
    /// rotation in a warm process read none again.
    versions: VersionCache,
    /// The step lines' Embedded Metric Format, when on.
    metrics: Option<Metrics>,
    /// The rotator's name, in preflight reports.
    name: &'static str,
}

impl<R: Rotator> RotationHandler<R> {
    /// Pairs a rotator with a store.
    pub fn new(rotator: R, store: impl SecretStore + 'static) -> Self {
        RotationHandler {
            rotator,
            store: Box::new(store),
            versions: VersionCache::default(),
            metrics: None,
            name: "custom",
        }
    }

    /// The same handler, naming its rotator `name` in preflight reports (the binary's name,
    /// as in the metrics' `Rotator` dimension; `custom` when not named).
    pub fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// The same handler, its step lines carrying `metrics` (CloudWatch's Embedded Metric
    /// Format; see [`crate::metrics`]). `None` leaves them plain.
    pub fn with_metrics(mut self, metrics: Option<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Forgets the versions read or written so far, as a new process would.
    #[cfg(test)]
    pub(crate) fn forget_versions(&mut self) {
        self.versions = VersionCache::default();
    }

    /// Handles one event payload: the Lambda handler's whole job. Returns a small JSON summary
    /// (Secrets Manager ignores it; it is for people invoking the function by hand).
    pub async fn handle(
        &self,
        payload: &Value,
        deadline: Deadline,
    ) -> Result<Value, RotationError> {
        let event = match RotationEvent::from_json(payload) {
            Ok(event) => event,
            Err(problem) => {
                error!(error = %problem, "rejected event");
                return Err(problem.into());
            }
        };
        let span = info_span!(
            "rotation",
            secret = %event.secret_id,
            token = %event.token,
            step = %event.step,
        );
        let started = Instant::now();
        let metered = match (&self.metrics, &event.step) {
            (Some(metrics), RequestedStep::Known(step)) => Some((metrics, *step)),
            _ => None,
        };
        if let Some((metrics, step)) = metered {
            metrics.step_starts(&event.secret_id, event.token.as_str(), step, started);
        }
        let result = self
            .handle_event(&event, deadline)
            .instrument(span.clone())
            .await;
        let ended = Instant::now();
        let duration_ms = ended.duration_since(started).as_secs_f64() * 1000.0;
        let metrics = metered.map(|(metrics, step)| {
            let secret = event.secret_id.as_str();
            let token = event.token.as_str();
            metrics.step_ends(secret, token, step, result.is_ok(), duration_ms, ended)
        });
        let _entered = span.enter();
        // The step's last line; with metrics, also an EMF document (its dimensions and metrics
        // are top-level fields, `_aws` names them). An absent `Option` field is not written.
        let emf = metrics.as_ref();
        let (rotator, step) = (emf.map(|m| m.rotator), emf.map(|m| m.step));
        let step_duration = emf.map(|m| m.duration_ms);
        let rotation_duration = emf.and_then(|m| m.rotation_ms);
        let (succeeded, failed) = (emf.map(|m| m.succeeded), emf.map(|m| 1 - m.succeeded));
        let aws = emf.map(|m: &StepMetrics| m.aws.as_str());
        match result {
            Ok(outcome) => {
                info!(
                    outcome = outcome.as_str(),
                    duration_ms,
                    Rotator = rotator,
                    Step = step,
                    StepDuration = step_duration,
                    StepSucceeded = succeeded,
                    StepFailed = failed,
                    RotationDuration = rotation_duration,
                    _aws = aws,
                    "step succeeded"
                );
                Ok(json!({
                    "step": event.step.to_string(),
                    "secret": event.secret_id,
                    "token": event.token.as_str(),
                    "outcome": outcome.as_str(),
                }))
            }
            Err(problem) => {
                error!(
                    error = %problem,
                    kind = problem.kind(),
                    duration_ms,
                    Rotator = rotator,
                    Step = step,
                    StepDuration = step_duration,
                    StepSucceeded = succeeded,
                    StepFailed = failed,
                    _aws = aws,
                    "step failed"
                );
                Err(problem)
            }
        }
    }

    /// Runs a preflight ([`crate::preflight`]): the framework's Secrets Manager checks, then
    /// the rotator's, all read-only, ended a second before `deadline` so that the report is
    /// answered even when a check hangs. `function_arn` is the invoked function's ARN (to tell
    /// whether rotation uses this function). The answer is the report as JSON.
    pub async fn preflight(
        &self,
        request: &PreflightRequest,
        deadline: Deadline,
        function_arn: Option<&str>,
    ) -> Value {
        let span = info_span!("preflight", secret = %request.secret_id);
        let started = Instant::now();
        let budget = deadline.remaining();
        let deadline = Deadline::after(budget.saturating_sub(PREFLIGHT_RESERVE));
        let store = DeadlineStore::new(self.store.as_ref(), deadline);
        let store = ReadOnlyStore(&store);
        let mut report = Report::default();
        report.pass(
            "function-timeout",
            format!("the invocation had {} ms", budget.as_millis()),
        );
        let checks = async {
            let found = secrets_manager_checks(&store, request, function_arn, &mut report).await;
            let Some((metadata, current)) = found else {
                report.skip("target", "needs the Secrets Manager checks to pass");
                return;
            };
            let token = VersionToken::new(new_uuid());
            let ctx = StepContext::new(&store, &metadata.arn, &token, Step::SetSecret, deadline);
            self.rotator
                .preflight(&ctx, &current.value, &mut report)
                .await;
        };
        let finished = tokio::time::timeout_at(deadline.instant(), checks)
            .instrument(span.clone())
            .await;
        if finished.is_err() {
            report.fail(
                "function-timeout",
                format!(
                    "the checks did not finish within the invocation's {} ms",
                    budget.as_millis()
                ),
                "raise the function's timeout; a check that hangs is a host that does not \
                 answer (see the checks above for which)",
            );
        }
        let _entered = span.enter();
        let failed: Vec<&str> = report
            .checks()
            .iter()
            .filter(|check| check.status == Status::Fail)
            .map(|check| check.check)
            .collect();
        info!(
            ok = report.ok(),
            checks = report.checks().len(),
            failed = %failed.join(","),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "preflight done"
        );
        report.to_json(&request.secret_id, self.name)
    }

    /// Handles a typed event.
    pub async fn handle_event(
        &self,
        event: &RotationEvent,
        deadline: Deadline,
    ) -> Result<StepOutcome, RotationError> {
        // Every Secrets Manager call of the invocation, reads included, ends by the deadline
        // with an error naming the call, rather than Lambda killing the function mid-call.
        let store = DeadlineStore::new(self.store.as_ref(), deadline);
        // The values a step needs are read while DescribeSecret runs: reads have no effect, and
        // nothing is done with them before validation passes. One round trip instead of three.
        let (metadata, prefetched) = tokio::join!(
            store.describe(&event.secret_id),
            prefetch(&store, event, &self.versions)
        );
        let metadata = metadata?;
        let step = match validate(&metadata, &event.token, &event.step)? {
            Decision::AlreadyCurrent => {
                info!(
                    "Secret version {} already set as AWSCURRENT for secret {}.",
                    event.token, metadata.arn
                );
                return Ok(StepOutcome::AlreadyCurrent);
            }
            Decision::Run(step) => step,
        };
        let budget_ms = deadline.remaining().as_millis();
        debug!(budget_ms, "step starts");
        let run = self.run_step(&store, step, event, &metadata, prefetched);
        match tokio::time::timeout_at(deadline.instant(), run).await {
            Ok(result) => result,
            Err(_) => Err(RotationError::DeadlineExceeded {
                step,
                arn: metadata.arn.clone(),
                budget_ms,
            }),
        }
    }

    async fn run_step(
        &self,
        store: &DeadlineStore<'_>,
        step: Step,
        event: &RotationEvent,
        metadata: &SecretMetadata,
        prefetched: Prefetched,
    ) -> Result<StepOutcome, RotationError> {
        // Every later call uses the ARN that DescribeSecret returned, as AWS's templates do.
        let arn = metadata.arn.as_str();
        let ctx =
            StepContext::new(store, arn, &event.token, step, store.deadline()).knowing(Known {
                versions: &metadata.versions,
                cache: &self.versions,
            });
        ctx.seed(prefetched);
        match step {
            Step::CreateSecret => {
                let current = ctx.current().await?;
                if ctx.pending_if_set().await?.is_some() {
                    info!("createSecret: a value for this version exists already; keeping it");
                    return Ok(StepOutcome::PendingExists);
                }
                let pending = self.rotator.create(&ctx, current).await?;
                store
                    .put_pending(arn, &event.token, &pending, event.rotation_token.as_ref())
                    .await?;
                self.versions.put(arn, event.token.as_str(), &pending);
                info!("createSecret: stored the new value as AWSPENDING");
            }
            Step::SetSecret => {
                self.rotator.set(&ctx).await?;
            }
            Step::TestSecret => {
                let pending = ctx.pending().await?;
                self.rotator.test(&ctx, pending).await?;
            }
            Step::FinishSecret => {
                self.rotator.before_finish(&ctx).await?;
                let from = metadata.versions.version_with(Stage::Current);
                store.move_current(arn, &event.token, from).await?;
                info!(
                    from_version = from.unwrap_or(""),
                    "finishSecret: moved AWSCURRENT to this version"
                );
                self.rotator.finish(&ctx).await?;
            }
        }
        Ok(StepOutcome::Done)
    }
}

/// Reads the versions a known step needs (createSecret and setSecret: current and pending;
/// testSecret: pending) unless this process has them: the pending value when it holds this
/// token's, the current one when it holds any version of the secret (which version is
/// current is known only once `DescribeSecret` has answered; the step then finds it).
async fn prefetch(
    store: &DeadlineStore<'_>,
    event: &RotationEvent,
    versions: &VersionCache,
) -> Prefetched {
    let RequestedStep::Known(step) = event.step else {
        return Prefetched::default();
    };
    let id = event.secret_id.as_str();
    let wants_current = matches!(step, Step::CreateSecret | Step::SetSecret) && !versions.knows(id);
    // createSecret always asks the store whether the token has a value: the one decision that
    // writes a new version does not rest on memory (a version id can come back after Secrets
    // Manager deleted an old version of that id).
    let wants_pending = step == Step::CreateSecret
        || (step != Step::FinishSecret && versions.get(id, event.token.as_str()).is_none());
    let current = async {
        match wants_current {
            true => Some(
                store
                    .get_value(id, &VersionRef::Stage(Stage::Current))
                    .await,
            ),
            false => None,
        }
    };
    let pending = async {
        match wants_pending {
            true => Some(
                store
                    .get_value(id, &VersionRef::Pending(event.token.clone()))
                    .await,
            ),
            false => None,
        }
    };
    let (current, pending) = tokio::join!(current, pending);
    Prefetched { current, pending }
}

impl<R> std::fmt::Debug for RotationHandler<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotationHandler").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
