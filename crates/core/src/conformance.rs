//! One table of Secrets Manager's rules, run against any [`SecretStore`]: the
//! [`MemoryStore`] in this crate's unit tests, moto through [`AwsSecretStore`] in the
//! end-to-end tests. The same rows for both, so that the in-memory model and the emulator
//! cannot drift apart unnoticed.
//!
//! A row ([`Case`]) is a short sequence of calls ([`Op`]) on a fresh secret, each with the
//! answer AWS gives. Where moto 5.2 answers otherwise, the row says so in [`Case::moto`]: on
//! moto that row must then fail (a deviation that disappeared is reported, so the mark cannot
//! go stale), and everywhere else it must pass.
//!
//! Built with the `conformance` feature (and in this crate's tests).
//!
//! [`MemoryStore`]: crate::memory_store::MemoryStore
//! [`AwsSecretStore`]: crate::AwsSecretStore

mod run;
mod table;

use async_trait::async_trait;

use crate::event::VersionToken;
use crate::memory_store::MemoryStore;
use crate::secret::SecretString;
use crate::stage::Stage;
use crate::store::{SecretStore, StoreError};

pub use run::{Report, run_case, run_table};
pub use table::{TABLE, TAGS};

/// A Secrets Manager to run the table against: the [`SecretStore`] calls, and the service's
/// own part (creating a secret, starting a rotation).
#[async_trait]
pub trait Backend: Send + Sync {
    /// The calls under test.
    fn store(&self) -> &dyn SecretStore;

    /// Which rules this backend follows.
    fn kind(&self) -> BackendKind;

    /// `CreateSecret(Name=name, SecretString=value, Tags=tags)`; the id of its first version.
    async fn create_secret(
        &self,
        name: &str,
        value: &str,
        tags: &[(&str, &str)],
    ) -> Result<VersionToken, StoreError>;

    /// `RotateSecret`, as far as Secrets Manager goes before it invokes the function; the new
    /// version's id (the rotation's token).
    async fn start_rotation(&self, secret_id: &str) -> Result<VersionToken, StoreError>;
}

/// Which rules a backend follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// AWS's (the [`MemoryStore`], or Secrets Manager itself).
    Aws,
    /// moto 5.2's: rows marked [`Case::moto`] are expected to fail.
    Moto,
}

/// One behaviour: calls on a fresh secret (value `v0`, tagged with [`TAGS`]) and their answers.
#[derive(Debug)]
pub struct Case {
    /// What the row shows, as a sentence.
    pub name: &'static str,
    /// The calls, in order.
    pub ops: &'static [Op],
    /// What moto 5.2 does instead, when it deviates from AWS here.
    pub moto: Option<&'static str>,
}

/// A version, named by its role in a row; the runner maps each to a real version id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ver {
    /// The secret's first version.
    Initial,
    /// The token of the rotation started by `Op::Rotate` with this number.
    Rotation(u8),
    /// A version id the row makes up (a new `ClientRequestToken`).
    Fresh(u8),
}

/// Which version to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// `GetSecretValue(VersionStage=stage)`.
    Stage(Stage),
    /// `GetSecretValue(VersionId=version, VersionStage=AWSPENDING)`.
    Pending(Ver),
}

/// The answer to a call that returns nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Success.
    Ok,
    /// An error with this code (e.g. `ResourceExistsException`).
    Err(&'static str),
}

/// The answer to a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Got {
    /// This value.
    Value(&'static str),
    /// No value (`ResourceNotFoundException`, which [`SecretStore::get_value`] reports as
    /// `Ok(None)`).
    NoValue,
    /// An error with this code.
    Err(&'static str),
}

/// One call of a row and its expected answer, or a check of the secret's state.
#[derive(Debug)]
pub enum Op {
    /// `RotateSecret`; on success its token is `Ver::Rotation(n)`.
    Rotate(u8, Outcome),
    /// [`SecretStore::put_pending`] (no `RotationToken`).
    PutPending(Ver, &'static str, Outcome),
    /// [`SecretStore::put_current`].
    PutCurrent(Ver, &'static str, Outcome),
    /// [`SecretStore::move_current`] to a version, removing it from another (or from none).
    MoveCurrent(Ver, Option<Ver>, Outcome),
    /// [`SecretStore::get_value`].
    Get(Read, Got),
    /// `DescribeSecret` answers (success, or an error with a code).
    Describe(Outcome),
    /// `DescribeSecret` lists exactly these versions with labels (the order of labels does
    /// not matter; versions listed with no label at all are ignored here).
    Labels(&'static [(Ver, &'static [Stage])]),
    /// `DescribeSecret` does not list this version at all.
    Unlisted(Ver),
    /// `DescribeSecret` reports rotation as enabled (`true`), or not (`false`: absent or false).
    RotationEnabled(bool),
    /// [`SecretStore::tags`] returns these tags (in any order).
    Tags(&'static [(&'static str, &'static str)]),
    /// Later calls name the secret by the ARN that `DescribeSecret` returned.
    ViaArn,
    /// The call, made on a secret that does not exist.
    Missing(&'static Op),
}

#[async_trait]
impl Backend for MemoryStore {
    fn store(&self) -> &dyn SecretStore {
        self
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Aws
    }

    async fn create_secret(
        &self,
        name: &str,
        value: &str,
        tags: &[(&str, &str)],
    ) -> Result<VersionToken, StoreError> {
        let created = MemoryStore::create_secret(self, name, &SecretString::new(value))?;
        self.tag_secret(name, tags)?;
        Ok(created.version)
    }

    async fn start_rotation(&self, secret_id: &str) -> Result<VersionToken, StoreError> {
        Ok(MemoryStore::start_rotation(self, secret_id)?.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_store_follows_every_row() {
        let report = run_table(&MemoryStore::new(), "conformance").await;
        assert!(report.failures.is_empty(), "{}", report.failures_text());
        assert_eq!(report.passed.len(), TABLE.len());
    }

    /// A backend with AWS's rules that claims to be moto: every row marked as a moto
    /// deviation then passes, which the runner must report as a stale mark.
    struct PretendMoto(MemoryStore);

    #[async_trait]
    impl Backend for PretendMoto {
        fn store(&self) -> &dyn SecretStore {
            &self.0
        }
        fn kind(&self) -> BackendKind {
            BackendKind::Moto
        }
        async fn create_secret(
            &self,
            name: &str,
            value: &str,
            tags: &[(&str, &str)],
        ) -> Result<VersionToken, StoreError> {
            Backend::create_secret(&self.0, name, value, tags).await
        }
        async fn start_rotation(&self, secret_id: &str) -> Result<VersionToken, StoreError> {
            Backend::start_rotation(&self.0, secret_id).await
        }
    }

    #[tokio::test]
    async fn a_deviation_mark_that_no_longer_holds_is_a_failure() {
        let report = run_table(&PretendMoto(MemoryStore::new()), "pretend").await;
        let marked: Vec<_> = TABLE.iter().filter(|case| case.moto.is_some()).collect();
        assert!(!marked.is_empty());
        assert_eq!(
            report.failures.len(),
            marked.len(),
            "{}",
            report.failures_text()
        );
        assert!(report.known_deviations.is_empty());
    }

    #[tokio::test]
    async fn a_store_that_breaks_a_rule_fails_its_rows() {
        // A store whose every PutSecretValue is refused cannot pass the rows that write.
        let store = MemoryStore::new();
        let report = run_table(&store, "broken").await;
        assert!(report.failures.is_empty());
        for _ in 0..100 {
            store.fail_next(
                crate::memory_store::Call::PutPending,
                crate::memory_store::Fault::Refused,
            );
        }
        let report = run_table(&store, "broken-again").await;
        assert!(
            report
                .failures
                .iter()
                .any(|(name, _)| name.contains("gives it its value")),
            "{:?}",
            report.failures
        );
    }
}
