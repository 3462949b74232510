//! [`MemoryStore`]: Secrets Manager in memory, for unit tests of the protocol and of rotators.
//!
//! Rotation is only as safe as its handling of Secrets Manager's rules: versions and their
//! staging labels, `AWSPENDING` moving with `PutSecretValue`, `AWSPREVIOUS` following
//! `AWSCURRENT`, `ClientRequestToken` idempotency. A mock that answers whatever a test expects
//! proves nothing about them, and a real emulator is slow and deviates from AWS in places
//! (moto 5.2 lets a retried `PutSecretValue` overwrite a value, for one). This store keeps the
//! rules as AWS documents them; the `conformance` table (module `conformance`, feature
//! `conformance`) runs the same rows against it and, in the end-to-end tests, against moto
//! through [`AwsSecretStore`](crate::AwsSecretStore), so that the two cannot drift apart.
//!
//! Besides the [`SecretStore`] calls it has what a test needs to play the service's part:
//! [`MemoryStore::create_secret`], [`MemoryStore::start_rotation`] (`RotateSecret` up to the
//! invocation of the function), [`MemoryStore::cancel_rotation`], and injected failures
//! ([`MemoryStore::fail_call`], [`MemoryStore::fail_next`]) to crash a step after any call.
//! Calls are counted and logged ([`MemoryStore::calls`]); set-up calls are not.
//!
//! ```
//! use rotation_core::memory_store::MemoryStore;
//! use rotation_core::{SecretString, Stage, Step};
//!
//! let store = MemoryStore::new();
//! store.create_secret("app", &SecretString::new(r#"{"password":"p0"}"#))?;
//! let rotation = store.start_rotation("app")?;
//! let event = rotation.event(Step::CreateSecret);
//! assert_eq!(event.token, rotation.token);
//! let versions = store.versions("app").unwrap();
//! assert!(versions.iter().any(|v| v.id == rotation.token.as_str() && v.stages == [Stage::Pending]));
//! # Ok::<(), rotation_core::StoreError>(())
//! ```

mod fault;
mod secret;

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use crate::event::{RotationEvent, RotationToken, VersionToken, new_uuid};
use crate::secret::SecretString;
use crate::stage::Stage;
use crate::step::Step;
use crate::store::{SecretStore, StoreError, VersionRef};
use crate::validate::SecretMetadata;
use crate::versions::SecretVersion;

use fault::Faults;
pub use fault::{Call, Fault};
use secret::{Refusal, Secret};

/// The function ARN that [`MemoryStore::start_rotation`] records as `RotationLambdaARN`.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:rotation";

/// The error code of an injected failure ([`Fault`]).
pub const INJECTED_FAULT: &str = "InjectedFault";

/// Secrets Manager in memory. Clones share the same secrets, so a test keeps one clone to set
/// up, break and inspect the store that a [`RotationHandler`](crate::RotationHandler) owns.
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    secrets: Vec<Secret>,
    faults: Faults,
}

impl State {
    /// A secret by name or ARN, as Secrets Manager accepts either.
    fn find(&mut self, secret_id: &str) -> Option<&mut Secret> {
        self.secrets
            .iter_mut()
            .find(|secret| secret.name == secret_id || secret.arn == secret_id)
    }
}

/// A secret that [`MemoryStore::create_secret`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSecret {
    /// Its ARN, as `DescribeSecret` reports it.
    pub arn: String,
    /// The id of its first version (`AWSCURRENT`).
    pub version: VersionToken,
}

/// A rotation that [`MemoryStore::start_rotation`] started: what Secrets Manager would put in
/// the events it sends the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedRotation {
    /// The secret's ARN (the events' `SecretId`).
    pub secret_id: String,
    /// The new version (`ClientRequestToken`), value-less, with `AWSPENDING`.
    pub token: VersionToken,
    /// The `RotationToken` that `PutSecretValue` must carry, if any.
    pub rotation_token: RotationToken,
}

impl StartedRotation {
    /// The event Secrets Manager sends for `step` of this rotation.
    pub fn event(&self, step: Step) -> RotationEvent {
        let mut event = RotationEvent::new(step, self.secret_id.clone(), self.token.clone());
        event.rotation_token = Some(self.rotation_token.clone());
        event
    }
}

/// One version as the store holds it, for assertions: unlike `DescribeSecret`, this lists
/// versions without labels too. Its `Debug` form does not show the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    /// The version id.
    pub id: String,
    /// Its staging labels, in the order they were attached.
    pub stages: Vec<Stage>,
    /// Its value (`None` for the placeholder of `RotateSecret`).
    pub value: Option<SecretString>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock left consistent data: every change is
        // made in full under it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `CreateSecret` with a value: one version, `AWSCURRENT`, with a new id.
    pub fn create_secret(&self, name: &str, value: &SecretString) -> Result<NewSecret, StoreError> {
        let mut state = self.lock();
        if state.find(name).is_some() {
            return Err(
                StoreError::new("CreateSecret", name, "the secret exists already")
                    .with_code("ResourceExistsException"),
            );
        }
        let arn = format!(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-{}",
            &new_uuid()[..6]
        );
        let version = VersionToken::new(new_uuid());
        let secret = Secret::new(
            name,
            arn.clone(),
            version.as_str().to_owned(),
            value.clone(),
        );
        state.secrets.push(secret);
        Ok(NewSecret { arn, version })
    }

    /// `TagResource`: adds or replaces tags, as [`SecretStore::tags`] returns them.
    pub fn tag_secret(&self, secret_id: &str, tags: &[(&str, &str)]) -> Result<(), StoreError> {
        self.setup("TagResource", secret_id, |secret| {
            for (key, value) in tags {
                secret.tags.retain(|(held, _)| held != key);
                secret.tags.push(((*key).to_owned(), (*value).to_owned()));
            }
            Ok(())
        })
    }

    /// `RotateSecret`, up to where Secrets Manager invokes the function: a new value-less
    /// version with `AWSPENDING` (taken from the current version, where a finished rotation
    /// leaves it), rotation enabled with [`FUNCTION_ARN`], a new `RotationToken`. Refused with
    /// `InvalidRequestException` while an earlier rotation is unfinished.
    pub fn start_rotation(&self, secret_id: &str) -> Result<StartedRotation, StoreError> {
        let token = VersionToken::new(new_uuid());
        let rotation_token = RotationToken::new(new_uuid());
        self.setup("RotateSecret", secret_id, |secret| {
            secret.start_rotation(&token, FUNCTION_ARN, rotation_token.clone())?;
            Ok(StartedRotation {
                secret_id: secret.arn.clone(),
                token: token.clone(),
                rotation_token: rotation_token.clone(),
            })
        })
    }

    /// `CancelRotateSecret`: rotation is turned off (`RotationEnabled` false); the labels stay
    /// where they are, as on AWS.
    pub fn cancel_rotation(&self, secret_id: &str) -> Result<(), StoreError> {
        self.setup("CancelRotateSecret", secret_id, |secret| {
            secret.rotation_enabled = Some(false);
            Ok(())
        })
    }

    /// Every version of a secret, labelled or not, oldest first; `None` for no such secret.
    pub fn versions(&self, secret_id: &str) -> Option<Vec<StoredVersion>> {
        let mut state = self.lock();
        let secret = state.find(secret_id)?;
        Some(
            secret
                .versions
                .iter()
                .map(|version| StoredVersion {
                    id: version.id.clone(),
                    stages: version.stages.clone(),
                    value: version.value.clone(),
                })
                .collect(),
        )
    }

    /// Makes the `nth` [`SecretStore`] call from now fail (1 = the next one), as `fault` says.
    pub fn fail_call(&self, nth: usize, fault: Fault) {
        self.lock().faults.fail_call(nth, fault);
    }

    /// Makes the next [`SecretStore`] call of kind `call` fail, as `fault` says.
    pub fn fail_next(&self, call: Call, fault: Fault) {
        self.lock().faults.fail_next(call, fault);
    }

    /// Disarms every injected failure that has not fired.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Whether an injected failure is still waiting for its call.
    pub fn fault_armed(&self) -> bool {
        self.lock().faults.pending()
    }

    /// Every [`SecretStore`] call answered so far, in order (set-up calls are not counted).
    pub fn calls(&self) -> Vec<Call> {
        self.lock().faults.log().to_vec()
    }

    /// A set-up call: not counted, never failed by injection.
    fn setup<T>(
        &self,
        operation: &'static str,
        secret_id: &str,
        change: impl FnOnce(&mut Secret) -> Result<T, Refusal>,
    ) -> Result<T, StoreError> {
        let mut state = self.lock();
        let secret = state
            .find(secret_id)
            .ok_or_else(|| missing(secret_id))
            .map_err(|refusal| refused(operation, secret_id, refusal))?;
        change(secret).map_err(|refusal| refused(operation, secret_id, refusal))
    }

    /// A [`SecretStore`] call: counted, logged, and failed when a fault is armed for it.
    fn call<T>(
        &self,
        call: Call,
        secret_id: &str,
        run: impl FnOnce(&mut Secret) -> Result<T, Refusal>,
    ) -> Result<T, StoreError> {
        let mut state = self.lock();
        let fault = state.faults.record(call);
        if fault == Some(Fault::Refused) {
            return Err(injected(call, secret_id, "before it took effect"));
        }
        let result = match state.find(secret_id) {
            Some(secret) => run(secret),
            None => Err(missing(secret_id)),
        };
        if fault == Some(Fault::AnswerLost) {
            return Err(injected(call, secret_id, "after it took effect"));
        }
        result.map_err(|refusal| refused(call.operation(), secret_id, refusal))
    }
}

fn missing(secret_id: &str) -> Refusal {
    Refusal::not_found(format!(
        "Secrets Manager can't find the specified secret {secret_id}."
    ))
}

fn refused(operation: &'static str, secret_id: &str, refusal: Refusal) -> StoreError {
    StoreError::new(operation, secret_id, refusal.message).with_code(refusal.code)
}

fn injected(call: Call, secret_id: &str, when: &str) -> StoreError {
    StoreError::new(
        call.operation(),
        secret_id,
        format!("injected failure {when}"),
    )
    .with_code(INJECTED_FAULT)
}

#[async_trait]
impl SecretStore for MemoryStore {
    async fn describe(&self, secret_id: &str) -> Result<SecretMetadata, StoreError> {
        self.call(Call::Describe, secret_id, |secret| Ok(secret.metadata()))
    }

    async fn get_value(
        &self,
        secret_id: &str,
        version: &VersionRef,
    ) -> Result<Option<SecretVersion>, StoreError> {
        // As `AwsSecretStore`: `ResourceNotFoundException` is a version without a value.
        match self.call(Call::GetValue, secret_id, |secret| secret.read(version)) {
            Ok(value) => Ok(Some(value)),
            Err(error) if error.code.as_deref() == Some("ResourceNotFoundException") => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        token: &VersionToken,
        value: &SecretString,
        rotation_token: Option<&RotationToken>,
    ) -> Result<(), StoreError> {
        self.call(Call::PutPending, secret_id, |secret| {
            secret.put(token, value, Stage::Pending, rotation_token)
        })
    }

    async fn move_current(
        &self,
        secret_id: &str,
        token: &VersionToken,
        from_version: Option<&str>,
    ) -> Result<(), StoreError> {
        self.call(Call::MoveCurrent, secret_id, |secret| {
            secret.move_stage(Stage::Current, token.as_str(), from_version)
        })
    }

    async fn tags(&self, secret_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.call(Call::Tags, secret_id, |secret| Ok(secret.tags.clone()))
    }

    async fn put_current(
        &self,
        secret_id: &str,
        token: &VersionToken,
        value: &SecretString,
    ) -> Result<(), StoreError> {
        self.call(Call::PutCurrent, secret_id, |secret| {
            secret.put(token, value, Stage::Current, None)
        })
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryStore")
            .field("secrets", &state.secrets.len())
            .field("calls", &state.faults.log().len())
            .finish_non_exhaustive()
    }
}
