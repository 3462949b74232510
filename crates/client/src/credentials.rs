//! Credentials that survive rotation: which version to log in with, and what to do when the
//! target refuses it.
//!
//! # The window this closes
//!
//! In a single-user rotation, setSecret changes the password and finishSecret, a moment later
//! (or, after a failure, much later), moves `AWSCURRENT` to it. In between, the target accepts
//! only `AWSPENDING`. In a multi-user rotation the previous user keeps working until the next
//! rotation changes its password. An API key's previous key is revoked at the next rotation.
//!
//! # The algorithm
//!
//! [`RotatingCredentials::connect`] logs in with the version [`RotatingCredentials::current`]
//! chooses: the cached `AWSCURRENT`, unless this process saw it refused (or the cache still
//! holds a version older than the one that last worked), and then the version that worked
//! instead. On a refusal (and only a refusal: an unreachable host is the caller's error), the
//! task first tries what another task found meanwhile; then one task at a time reads
//! `AWSCURRENT` afresh, then `AWSPENDING`, and tries each version it has not tried yet. When
//! all are refused, a second pass reads both again (a rotation may have landed during the
//! first). So a recovery makes at most four Secrets Manager reads and never logs in twice with
//! the same version; a rotation usually costs a process two reads (the other tasks take what
//! the first one found). When all are refused, the error names the secret and the version ids
//! (never a value), and for a cool-down no login is tried with a version already refused: a
//! wrong password is not retried in a loop.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::ClientError;
use crate::secret::{SecretValue, Versioned};
use crate::source::{RawVersion, SecretSource};

/// How long, after every version was refused, a refused version is not tried again.
pub const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(5);

/// How many passes a recovery makes (the second only helps when a rotation lands during the
/// first).
const RECOVERY_PASSES: usize = 2;

/// How many recoveries one pool acquire may start. Each one proved a version with a login of
/// its own, so another is needed only when the pool's login after it met the next rotation; a
/// wrong password ends in the recovery itself (every version refused), not here. Rotations a
/// second apart on a loaded 2-core machine (the e2e tests) made two rounds too few.
pub(crate) const RECOVERY_ROUNDS: usize = 4;

/// How many refused version ids a process remembers (a rotation adds at most one).
const REFUSED_MEMORY: usize = 8;

/// A secret whose credentials an application logs in with, following rotations.
///
/// Share one per secret in a process (`Arc`): what a task learns (a refused version, the
/// pending one that works) serves every other.
#[derive(Debug)]
pub struct RotatingCredentials<T> {
    source: SecretSource,
    secret_id: String,
    cool_down: Duration,
    memory: Mutex<Memory<T>>,
    /// One recovery at a time, so that a rotation costs one round of reads, not one per task.
    recovering: tokio::sync::Mutex<()>,
}

/// How a login attempt through [`RotatingCredentials::connect`] failed.
#[derive(Debug)]
pub enum ConnectError<E> {
    /// Reading or parsing the secret failed.
    Credentials(ClientError),
    /// The last refusal of the target, with the error naming the secret: every version was
    /// refused.
    Refused {
        /// [`ClientError::Refused`], naming the secret and the versions tried.
        error: ClientError,
        /// The target's own last answer (e.g. a `28P01` error), `None` in the cool-down.
        last: Option<E>,
    },
    /// The attempt failed for another reason than a refusal (unreachable, TLS, ...): not
    /// retried.
    Failed(E),
}

impl<E: std::fmt::Display> std::fmt::Display for ConnectError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Credentials(error) | ConnectError::Refused { error, .. } => error.fmt(f),
            ConnectError::Failed(error) => error.fmt(f),
        }
    }
}

impl<E: std::fmt::Debug + std::fmt::Display> std::error::Error for ConnectError<E> {}

impl<T: SecretValue> RotatingCredentials<T> {
    /// Credentials of `secret_id` (a name or an ARN) read through `source`.
    pub fn new(source: SecretSource, secret_id: impl Into<String>) -> RotatingCredentials<T> {
        RotatingCredentials {
            source,
            secret_id: secret_id.into(),
            cool_down: DEFAULT_COOL_DOWN,
            memory: Mutex::new(Memory::default()),
            recovering: tokio::sync::Mutex::new(()),
        }
    }

    /// Sets how long, after every version was refused, refused versions are not tried again
    /// ([`DEFAULT_COOL_DOWN`]).
    pub fn with_cool_down(mut self, cool_down: Duration) -> Self {
        self.cool_down = cool_down;
        self
    }

    /// The secret's name or ARN.
    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }

    /// The source, e.g. for [`SecretSource::forced_reads`].
    pub fn source(&self) -> &SecretSource {
        &self.source
    }

    /// The version to log in with now: the cached `AWSCURRENT`, unless this process saw it
    /// refused and another version worked.
    pub async fn current(&self) -> Result<Arc<Versioned<T>>, ClientError> {
        let raw = self.source.current(&self.secret_id).await?;
        let current = self.parsed(raw)?;
        Ok(self.memory().pick(current))
    }

    /// Logs in with `attempt`, following a rotation on a refusal (see the module docs).
    ///
    /// `is_refused` tells a refusal (wrong password or key) from any other failure, which is
    /// returned at once as [`ConnectError::Failed`].
    pub async fn connect<C, E, F, Fut>(
        &self,
        is_refused: impl Fn(&E) -> bool,
        attempt: F,
    ) -> Result<(C, Arc<Versioned<T>>), ConnectError<E>>
    where
        F: Fn(Arc<Versioned<T>>) -> Fut,
        Fut: Future<Output = Result<C, E>>,
    {
        let first = self.current().await.map_err(ConnectError::Credentials)?;
        if self
            .memory()
            .cooling_down(&first.version_id, self.cool_down)
        {
            return Err(self.refused(std::slice::from_ref(&first.version_id), None));
        }
        match attempt(Arc::clone(&first)).await {
            Ok(connection) => Ok((connection, first)),
            Err(error) if is_refused(&error) => {
                self.recover(&first.version_id, error, is_refused, attempt)
                    .await
            }
            Err(error) => Err(ConnectError::Failed(error)),
        }
    }

    /// After the target refused version `refused_id` (with `error`), tries the versions worth
    /// trying (see the module docs): what another task found (before and after waiting for
    /// the one recovery at a time), then a fresh `AWSCURRENT`, then `AWSPENDING`.
    ///
    /// For integrations whose own first attempt went through another path (a pool's connect).
    pub async fn recover<C, E, F, Fut>(
        &self,
        refused_id: &str,
        error: E,
        is_refused: impl Fn(&E) -> bool,
        attempt: F,
    ) -> Result<(C, Arc<Versioned<T>>), ConnectError<E>>
    where
        F: Fn(Arc<Versioned<T>>) -> Fut,
        Fut: Future<Output = Result<C, E>>,
    {
        self.memory().refuse(refused_id);
        let mut round = Round {
            tried: vec![refused_id.to_owned()],
            last: error,
            is_refused: &is_refused,
            attempt: &attempt,
        };
        // A second pass only helps when a rotation moved on during the first: its reads then
        // find versions not tried yet; otherwise it reads, and logs in with nothing.
        for _ in 0..RECOVERY_PASSES {
            if let Some(done) = self.recover_once(&mut round).await? {
                return Ok(done);
            }
        }
        self.memory().exhausted();
        tracing::warn!(
            secret_id = %self.secret_id,
            tried = %round.tried.join(","),
            "the target refused every version of the secret"
        );
        Err(self.refused(&round.tried, Some(round.last)))
    }

    /// One pass of [`RotatingCredentials::recover`]: `Some` when a version worked.
    async fn recover_once<C, E, F, Fut, R>(
        &self,
        round: &mut Round<'_, E, F, R>,
    ) -> Result<Option<(C, Arc<Versioned<T>>)>, ConnectError<E>>
    where
        F: Fn(Arc<Versioned<T>>) -> Fut,
        Fut: Future<Output = Result<C, E>>,
        R: Fn(&E) -> bool,
    {
        // What another task has found already: no read, and no waiting for the recovery.
        let remembered = self.current().await.map_err(ConnectError::Credentials)?;
        if let Some(done) = self.try_version(round, remembered).await? {
            return Ok(Some(done));
        }
        let _one_at_a_time = self.recovering.lock().await;
        // What another task found while this one waited, a fresh `AWSCURRENT`, `AWSPENDING`;
        // each read only if the one before was refused.
        for candidate in [
            Candidate::Remembered,
            Candidate::Current,
            Candidate::Pending,
        ] {
            let version = match candidate {
                Candidate::Remembered => Some(self.current().await),
                Candidate::Current => Some(
                    self.source
                        .refresh_current(&self.secret_id)
                        .await
                        .and_then(|raw| self.parsed(raw)),
                ),
                Candidate::Pending => match self.source.pending(&self.secret_id).await {
                    Ok(Some(raw)) => Some(self.parsed(raw)),
                    Ok(None) => None,
                    Err(error) => Some(Err(error)),
                },
            };
            let Some(version) = version.transpose().map_err(ConnectError::Credentials)? else {
                continue;
            };
            if let Some(done) = self.try_version(round, version).await? {
                return Ok(Some(done));
            }
        }
        Ok(None)
    }

    /// Tries `version` unless this round tried it already: `Some` when it worked, `None` when
    /// it was refused or skipped.
    async fn try_version<C, E, F, Fut, R>(
        &self,
        round: &mut Round<'_, E, F, R>,
        version: Arc<Versioned<T>>,
    ) -> Result<Option<(C, Arc<Versioned<T>>)>, ConnectError<E>>
    where
        F: Fn(Arc<Versioned<T>>) -> Fut,
        Fut: Future<Output = Result<C, E>>,
        R: Fn(&E) -> bool,
    {
        if round.tried.contains(&version.version_id) {
            return Ok(None);
        }
        round.tried.push(version.version_id.clone());
        match (round.attempt)(Arc::clone(&version)).await {
            Ok(connection) => {
                self.memory().worked(Arc::clone(&version));
                Ok(Some((connection, version)))
            }
            Err(error) if (round.is_refused)(&error) => {
                self.memory().refuse(&version.version_id);
                round.last = error;
                Ok(None)
            }
            Err(error) => Err(ConnectError::Failed(error)),
        }
    }

    /// Whether a login with `version_id` must not start now: refused, and every version was
    /// refused less than the cool-down ago.
    pub fn cooling_down(&self, version_id: &str) -> bool {
        self.memory().cooling_down(version_id, self.cool_down)
    }

    /// Whether this process saw the target refuse `version_id` (and no later success).
    pub fn is_refused(&self, version_id: &str) -> bool {
        self.memory().is_refused(version_id)
    }

    fn refused<E>(&self, tried: &[String], last: Option<E>) -> ConnectError<E> {
        ConnectError::Refused {
            error: ClientError::Refused {
                secret_id: self.secret_id.clone(),
                tried: tried.join(","),
            },
            last,
        }
    }

    fn parsed(&self, raw: RawVersion) -> Result<Arc<Versioned<T>>, ClientError> {
        if let Some(known) = self.memory().known(&raw.version_id) {
            return Ok(known);
        }
        let value = T::parse(&raw.text, &self.secret_id)?;
        let version = Arc::new(Versioned {
            version_id: raw.version_id,
            value,
            created: raw.created,
        });
        self.memory().learn(Arc::clone(&version));
        Ok(version)
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory<T>> {
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One recovery: the versions tried, the last refusal, and how to attempt.
struct Round<'a, E, F, R> {
    tried: Vec<String>,
    last: E,
    is_refused: &'a R,
    attempt: &'a F,
}

#[derive(Clone, Copy)]
enum Candidate {
    Remembered,
    Current,
    Pending,
}

/// What a process has learnt about a secret's versions. Pure: the decisions are table-tested.
#[derive(Debug)]
struct Memory<T> {
    /// Versions the target refused, newest last.
    refused: VecDeque<String>,
    /// The version that worked when the cached `AWSCURRENT` was refused.
    fallback: Option<Arc<Versioned<T>>>,
    /// When every version was last refused.
    exhausted_at: Option<Instant>,
    /// Parsed versions (a version's value never changes), newest last.
    known: VecDeque<Arc<Versioned<T>>>,
}

impl<T> Default for Memory<T> {
    fn default() -> Self {
        Memory {
            refused: VecDeque::new(),
            fallback: None,
            exhausted_at: None,
            known: VecDeque::new(),
        }
    }
}

impl<T> Memory<T> {
    /// The version to use, given the cached `AWSCURRENT`: the version that last worked
    /// instead of it, while the cache still holds one that was refused or is not newer (a
    /// cache lags behind a rotation by up to its TTL).
    fn pick(&self, current: Arc<Versioned<T>>) -> Arc<Versioned<T>> {
        match &self.fallback {
            Some(fallback)
                if !self.is_refused(&fallback.version_id)
                    && (self.is_refused(&current.version_id) || not_newer(&current, fallback)) =>
            {
                Arc::clone(fallback)
            }
            _ => current,
        }
    }

    fn is_refused(&self, version_id: &str) -> bool {
        self.refused.iter().any(|id| id == version_id)
    }

    fn refuse(&mut self, version_id: &str) {
        if !self.is_refused(version_id) {
            if self.refused.len() == REFUSED_MEMORY {
                self.refused.pop_front();
            }
            self.refused.push_back(version_id.to_owned());
        }
    }

    fn worked(&mut self, version: Arc<Versioned<T>>) {
        self.refused.retain(|id| *id != version.version_id);
        self.exhausted_at = None;
        self.fallback = Some(version);
    }

    fn exhausted(&mut self) {
        self.exhausted_at = Some(Instant::now());
    }

    /// Whether a login with `version_id` must not be tried: refused, and every version was
    /// refused less than `cool_down` ago.
    fn cooling_down(&self, version_id: &str, cool_down: Duration) -> bool {
        self.is_refused(version_id) && self.exhausted_at.is_some_and(|at| at.elapsed() < cool_down)
    }

    fn known(&self, version_id: &str) -> Option<Arc<Versioned<T>>> {
        self.known
            .iter()
            .find(|v| v.version_id == version_id)
            .cloned()
    }

    fn learn(&mut self, version: Arc<Versioned<T>>) {
        if self.known.len() == REFUSED_MEMORY {
            self.known.pop_front();
        }
        self.known.push_back(version);
    }
}

/// Whether `version` was created no later than `than` (unknown dates: no).
fn not_newer<T>(version: &Versioned<T>, than: &Versioned<T>) -> bool {
    matches!((version.created, than.created), (Some(a), Some(b)) if a <= b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version created at second `n` of its name `vN`.
    fn v(id: &str) -> Arc<Versioned<()>> {
        let n: u64 = id.trim_start_matches('v').parse().unwrap();
        Arc::new(Versioned {
            version_id: id.to_owned(),
            value: (),
            created: Some(std::time::UNIX_EPOCH + Duration::from_secs(n)),
        })
    }

    /// Name, refused, fallback, cached AWSCURRENT, and the version logged in with.
    type PickCase = (
        &'static str,
        &'static [&'static str],
        Option<&'static str>,
        &'static str,
        &'static str,
    );

    #[test]
    fn pick_follows_what_this_process_saw() {
        let cases: &[PickCase] = &[
            ("nothing learnt", &[], None, "v1", "v1"),
            (
                "a stale cache does not take a process back to an older version",
                &[],
                Some("v2"),
                "v1",
                "v2",
            ),
            (
                "a newer current that works wins over the fallback",
                &[],
                Some("v0"),
                "v1",
                "v1",
            ),
            (
                "single-user window: current refused, pending worked",
                &["v1"],
                Some("v2"),
                "v1",
                "v2",
            ),
            (
                "after finishSecret the cache moves on to the same version",
                &["v1"],
                Some("v2"),
                "v2",
                "v2",
            ),
            (
                "a newer current wins over an old fallback",
                &["v1"],
                Some("v2"),
                "v3",
                "v3",
            ),
            (
                "everything refused: current is tried (after the cool-down)",
                &["v1", "v2"],
                Some("v2"),
                "v1",
                "v1",
            ),
        ];
        for (name, refused, fallback, current, expected) in cases {
            let mut memory = Memory::default();
            for id in *refused {
                memory.refuse(id);
            }
            memory.fallback = fallback.map(v);
            assert_eq!(memory.pick(v(current)).version_id, *expected, "{name}");
        }
    }

    #[test]
    fn a_version_that_works_again_is_no_longer_refused() {
        let mut memory = Memory::default();
        memory.refuse("v1");
        memory.exhausted();
        assert!(memory.cooling_down("v1", Duration::from_secs(60)));
        assert!(!memory.cooling_down("v2", Duration::from_secs(60)));
        assert!(!memory.cooling_down("v1", Duration::ZERO));
        memory.worked(v("v1"));
        assert!(!memory.cooling_down("v1", Duration::from_secs(60)));
        assert_eq!(memory.pick(v("v1")).version_id, "v1");
    }

    #[test]
    fn refused_versions_are_bounded() {
        let mut memory = Memory::<()>::default();
        for n in 0..20 {
            memory.refuse(&format!("v{n}"));
            memory.refuse(&format!("v{n}"));
        }
        assert_eq!(memory.refused.len(), REFUSED_MEMORY);
        assert!(memory.is_refused("v19") && !memory.is_refused("v0"));
    }
}
