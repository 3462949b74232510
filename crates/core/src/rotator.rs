//! The `Rotator` trait: what a target-specific rotator supplies. The framework owns the rest.

use async_trait::async_trait;
use tokio::sync::OnceCell;

use crate::deadline::Deadline;
use crate::error::RotationError;
use crate::event::VersionToken;
use crate::preflight::Report;
use crate::secret::SecretString;
use crate::stage::{Stage, VersionStages};
use crate::step::Step;
use crate::store::{SecretStore, StoreError, VersionRef};
use crate::versions::{SecretVersion, VersionCache};

/// What a step knows: which secret, which version, the deadline, and lazy access to the
/// secret's versions (each is fetched at most once per step, and only when asked for; under
/// the framework, a version this process read or wrote before is not fetched again).
pub struct StepContext<'a> {
    /// The secret's ARN.
    pub arn: &'a str,
    /// The version being rotated.
    pub token: &'a VersionToken,
    /// The step being run.
    pub step: Step,
    /// When the step must be done by: take every network timeout from it.
    pub deadline: Deadline,
    store: &'a dyn SecretStore,
    known: Option<Known<'a>>,
    current: OnceCell<Option<SecretString>>,
    pending: OnceCell<Option<SecretString>>,
    previous: OnceCell<Option<SecretString>>,
}

impl<'a> StepContext<'a> {
    /// A context for a step.
    pub fn new(
        store: &'a dyn SecretStore,
        arn: &'a str,
        token: &'a VersionToken,
        step: Step,
        deadline: Deadline,
    ) -> Self {
        StepContext {
            arn,
            token,
            step,
            deadline,
            store,
            known: None,
            current: OnceCell::new(),
            pending: OnceCell::new(),
            previous: OnceCell::new(),
        }
    }

    /// The same context, resolving versions through the step's labels and the process's
    /// values first.
    pub(crate) fn knowing(mut self, known: Known<'a>) -> Self {
        self.known = Some(known);
        self
    }

    /// Seeds the values read ahead of time (while `DescribeSecret` ran); a failed read is not
    /// seeded, so the first use reads again and reports its own error. A current value whose
    /// version no longer holds `AWSCURRENT` in the step's labels is kept, not seeded.
    pub(crate) fn seed(&self, prefetched: Prefetched) {
        let expected = |version| self.known.as_ref().map(|known| known.version_id(version));
        if let Some(Ok(current)) = prefetched.current {
            let stage = VersionRef::Stage(Stage::Current);
            let consistent = match (&current, expected(&stage)) {
                (Some(read), Some(expected)) => expected == Some(read.version_id.as_str()),
                _ => true,
            };
            let current = current.map(|read| self.keep(read));
            if consistent {
                let _ = self.current.set(current);
            }
        }
        if let Some(Ok(pending)) = prefetched.pending {
            let _ = self.pending.set(pending.map(|read| self.keep(read)));
        }
    }

    /// Keeps a value read from the store for the later steps of this process.
    fn keep(&self, read: SecretVersion) -> SecretString {
        if let Some(known) = self.known {
            known.cache.put(self.arn, &read.version_id, &read.value);
        }
        read.value
    }

    async fn read<'c>(
        &self,
        cell: &'c OnceCell<Option<SecretString>>,
        version: VersionRef,
    ) -> Result<Option<&'c SecretString>, RotationError> {
        let value = cell.get_or_try_init(|| self.fetch(version)).await?;
        Ok(value.as_ref())
    }

    /// A version's value: nothing when the step's labels say no version holds it, the
    /// process's copy when it has one, else `GetSecretValue` (whose answer is kept).
    async fn fetch(&self, version: VersionRef) -> Result<Option<SecretString>, StoreError> {
        if let Some(known) = self.known {
            let Some(version_id) = known.version_id(&version) else {
                return Ok(None);
            };
            // createSecret's question "does the token have a value?" always goes to the store.
            let remembered =
                !(self.step == Step::CreateSecret && matches!(version, VersionRef::Pending(_)));
            if remembered && let Some(value) = known.cache.get(self.arn, version_id) {
                return Ok(Some(value));
            }
        }
        let read = self.store.get_value(self.arn, &version).await?;
        Ok(read.map(|read| self.keep(read)))
    }

    /// The `AWSCURRENT` value (an error when it has none).
    pub async fn current(&self) -> Result<&SecretString, RotationError> {
        self.read(&self.current, VersionRef::Stage(Stage::Current))
            .await?
            .ok_or_else(|| RotationError::MissingVersion {
                arn: self.arn.to_owned(),
                stage: Stage::Current,
                hint: "put an initial value in the secret before rotating it",
            })
    }

    /// The pending value of this rotation's token, if it has one yet.
    pub async fn pending_if_set(&self) -> Result<Option<&SecretString>, RotationError> {
        self.read(&self.pending, VersionRef::Pending(self.token.clone()))
            .await
    }

    /// The pending value of this rotation's token (an error when it has none).
    pub async fn pending(&self) -> Result<&SecretString, RotationError> {
        self.pending_if_set()
            .await?
            .ok_or_else(|| RotationError::MissingVersion {
                arn: self.arn.to_owned(),
                stage: Stage::Pending,
                hint: "createSecret has not stored a value for this token yet",
            })
    }

    /// The `AWSPREVIOUS` value, if there is one.
    pub async fn previous(&self) -> Result<Option<&SecretString>, RotationError> {
        self.read(&self.previous, VersionRef::Stage(Stage::Previous))
            .await
    }

    /// The `AWSCURRENT` value of another secret, such as the master secret that `masterarn`
    /// names in multi-user rotation; `Ok(None)` when it has no value.
    pub async fn other_secret(
        &self,
        secret_id: &str,
    ) -> Result<Option<SecretString>, RotationError> {
        Ok(self
            .store
            .get_value(secret_id, &VersionRef::Stage(Stage::Current))
            .await?
            .map(|read| read.value))
    }

    /// The tags of another secret (`DescribeSecret`), such as the `aws:rds:primaryDBInstanceArn`
    /// tag that tells which RDS database an RDS-managed master secret belongs to.
    pub async fn other_secret_tags(
        &self,
        secret_id: &str,
    ) -> Result<Vec<(String, String)>, RotationError> {
        Ok(self.store.tags(secret_id).await?)
    }

    /// Stores `value` as the `AWSCURRENT` value of another secret (one that mirrors this
    /// secret's credentials, such as a replica endpoint's), with this rotation's token as its
    /// version id: running it again with the same value stores nothing twice.
    pub async fn put_other_secret_current(
        &self,
        secret_id: &str,
        value: &SecretString,
    ) -> Result<(), RotationError> {
        Ok(self.store.put_current(secret_id, self.token, value).await?)
    }

    /// What `DescribeSecret` says about another secret (its ARN, whether rotation is on and
    /// which function rotates it), such as the admin secret an api-key secret names. The
    /// store's error is returned as is, so that the caller can say which permission is
    /// missing.
    pub async fn other_secret_metadata(
        &self,
        secret_id: &str,
    ) -> Result<crate::validate::SecretMetadata, StoreError> {
        self.store.describe(secret_id).await
    }

    /// A context for the same secret, step and deadline whose versions are the given values
    /// instead of the secret's, for a rotator that applies one rotation to several targets
    /// (each host of a fan-out, with the host changed in every value) or undoes it on one
    /// (pending and current swapped). `None` is a version without a value.
    pub fn with_values(
        &self,
        current: Option<SecretString>,
        pending: Option<SecretString>,
        previous: Option<SecretString>,
    ) -> StepContext<'a> {
        let ctx = StepContext::new(self.store, self.arn, self.token, self.step, self.deadline);
        let _ = ctx.current.set(current);
        let _ = ctx.pending.set(pending);
        let _ = ctx.previous.set(previous);
        ctx
    }

    /// A target error that names this step and secret.
    pub fn fail(&self, message: impl std::fmt::Display) -> RotationError {
        RotationError::target(format!("{}: {message} (secret {})", self.step, self.arn))
    }
}

/// Values read while `DescribeSecret` runs, for the versions a step is known to need.
#[derive(Debug, Default)]
pub(crate) struct Prefetched {
    pub(crate) current: Option<Result<Option<SecretVersion>, StoreError>>,
    pub(crate) pending: Option<Result<Option<SecretVersion>, StoreError>>,
}

/// What the framework knows before a step reads a version: the labels `DescribeSecret`
/// returned for the step, and the values this process read or wrote.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Known<'a> {
    pub(crate) versions: &'a VersionStages,
    pub(crate) cache: &'a VersionCache,
}

impl Known<'_> {
    /// The id of the version a reference names under the step's labels; `None` when no
    /// version holds the label (a read would find nothing).
    fn version_id<'s>(&'s self, version: &'s VersionRef) -> Option<&'s str> {
        match version {
            VersionRef::Stage(stage) => self.versions.version_with(*stage),
            VersionRef::Pending(token) => self
                .versions
                .has(token, Stage::Pending)
                .then_some(token.as_str()),
        }
    }
}

/// What a rotator for one kind of target supplies.
///
/// The framework validates the event, reads and writes Secrets Manager, keeps every step
/// idempotent (createSecret never generates twice for a token; a token already `AWSCURRENT`
/// is a no-op) and moves the labels. A rotator only knows its target:
///
/// - [`Rotator::create`]: build the pending value from the current one (e.g. a new password);
/// - [`Rotator::set`]: make the target accept the pending value; it must be safe to run again
///   after a crash anywhere (check first whether the pending value already works);
/// - [`Rotator::test`]: prove the pending value works; an error keeps `AWSCURRENT` where it is;
/// - [`Rotator::before_finish`]: optional work that must be done before `AWSCURRENT` moves
///   (an error keeps it where it is, and the retried finishSecret does it again);
/// - [`Rotator::finish`]: optional clean-up after `AWSCURRENT` has moved;
/// - [`Rotator::preflight`]: optional read-only checks of the target, for the preflight.
///
/// Error messages must never contain a secret value.
#[async_trait]
pub trait Rotator: Send + Sync + 'static {
    /// Builds the new value from the `AWSCURRENT` one (createSecret).
    async fn create(
        &self,
        ctx: &StepContext<'_>,
        current: &SecretString,
    ) -> Result<SecretString, RotationError>;

    /// Makes the target accept the pending value (setSecret). Use [`StepContext::pending`],
    /// [`StepContext::current`] and [`StepContext::previous`] for the versions.
    async fn set(&self, ctx: &StepContext<'_>) -> Result<(), RotationError>;

    /// Proves the pending value works against the target (testSecret).
    async fn test(
        &self,
        ctx: &StepContext<'_>,
        pending: &SecretString,
    ) -> Result<(), RotationError>;

    /// Work of finishSecret that must succeed before `AWSCURRENT` moves to the new version,
    /// such as updating secrets that mirror this one: once the label has moved, a retried
    /// finishSecret is a no-op (the token is already current), so anything that must not be
    /// lost goes here. It may run more than once for a token; make it idempotent. Nothing by
    /// default.
    async fn before_finish(&self, ctx: &StepContext<'_>) -> Result<(), RotationError> {
        let _ = ctx;
        Ok(())
    }

    /// Clean-up after `AWSCURRENT` moved to the new version (finishSecret). It runs once per
    /// rotation at most: if it fails, the label has moved already and a retry is a no-op, so
    /// keep here only what may be skipped. Nothing by default.
    async fn finish(&self, ctx: &StepContext<'_>) -> Result<(), RotationError> {
        let _ = ctx;
        Ok(())
    }

    /// The target's checks in a preflight ([`crate::preflight`]), after the framework's
    /// Secrets Manager checks passed: add each to `report`, with the fix for a failure. It must
    /// change nothing: `ctx` is a setSecret context with no pending version over a store that
    /// refuses every write, and the target must only be read (log in, query). `current` is the
    /// `AWSCURRENT` value. No check by default.
    async fn preflight(&self, ctx: &StepContext<'_>, current: &SecretString, report: &mut Report) {
        let _ = (ctx, current, report);
    }
}
