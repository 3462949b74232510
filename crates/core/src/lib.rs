//! # rotation-core
//!
//! The AWS Secrets Manager rotation protocol, done once and right, so that a rotator only
//! says how to talk to its target.
//!
//! Secrets Manager rotates a secret by invoking a Lambda four times with the same token:
//! `createSecret`, `setSecret`, `testSecret`, `finishSecret`. Any step can be retried after a
//! crash anywhere, in a new process, so each must be idempotent; and `AWSCURRENT` must never
//! move to a value that was not proven to work. This crate owns all of that:
//!
//! - [`RotationEvent`]: the event as a typed value (a [`Step`] enum, a [`VersionToken`], the
//!   optional [`RotationToken`] that is passed to `PutSecretValue`);
//! - [`validate()`]: AWS's checks before any step, in AWS's order, as a pure function;
//! - [`RotationHandler`]: the step semantics (createSecret never generates twice for a token;
//!   finishSecret moves `AWSCURRENT` with `RemoveFromVersionId`; a token already `AWSCURRENT`
//!   is a quiet success), JSON logs with the secret, token, step and duration;
//! - [`SecretStore`] / [`AwsSecretStore`]: Secrets Manager, with bounded retries;
//!   [`memory_store::MemoryStore`]: the same rules in memory, for unit tests;
//! - [`SecretString`], [`JsonSecret`]: values that cannot be logged, and JSON secrets with
//!   every unknown key kept as its text came;
//! - [`PasswordPolicy`]: AWS's password variables, generated locally with a CSPRNG;
//! - [`lambda::serve`]: the whole `main` of a rotation Lambda;
//! - [`metrics`]: CloudWatch metrics in the step's last log line (Embedded Metric Format);
//! - [`preflight`]: a read-only check of a secret, run by the function itself, answered as a
//!   report with a fix for each failed check.
//!
//! The core knows no target: what a database secret holds (`RdsSecret`), the TLS policy, and
//! each engine's `engine` names, default port and password defaults live in `rotation-db` and
//! the engine crates, which build on this one like any other rotator.
//!
//! A rotator implements [`Rotator`], and its `main` is one call to [`lambda::serve`]. This is a
//! complete rotation Lambda for a service that keeps a password per user (the two `// Your
//! target:` places are where it talks to the service; `cargo xtask new` makes a crate of this
//! shape, over HTTP, with its tests):
//!
//! ```no_run
//! use rotation_core::config::{ConfigError, Environment};
//! use rotation_core::{
//!     JsonSecret, PasswordPolicy, RotationError, Rotator, SecretString, StepContext,
//!     ValueSource, async_trait,
//! };
//!
//! /// Rotates the `password` of a JSON secret; every other key is kept as it is.
//! struct MyService {
//!     passwords: PasswordPolicy,
//! }
//!
//! impl MyService {
//!     /// Reads `PASSWORD_LENGTH`, `EXCLUDE_CHARACTERS` and the rest once, at start-up: a bad
//!     /// value stops the Lambda with a message that names the variable.
//!     fn from_env(env: &dyn Environment) -> Result<MyService, ConfigError> {
//!         Ok(MyService { passwords: PasswordPolicy::from_env(env, "/@\"'\\")? })
//!     }
//! }
//!
//! #[async_trait]
//! impl Rotator for MyService {
//!     /// createSecret: the pending value (stored as `AWSPENDING` by the framework, once).
//!     async fn create(&self, ctx: &StepContext<'_>, current: &SecretString)
//!         -> Result<SecretString, RotationError> {
//!         let mut value = JsonSecret::parse(current, &ValueSource::new(ctx.arn, "AWSCURRENT"))?;
//!         value.set_string("password", self.passwords.generate().expose());
//!         Ok(value.to_secret_string())
//!     }
//!
//!     /// setSecret: make the service accept the pending password. A retry must be harmless.
//!     async fn set(&self, ctx: &StepContext<'_>) -> Result<(), RotationError> {
//!         let pending = ctx.pending().await?;
//!         let current = ctx.current().await?;
//!         // Your target: if `pending` already logs in, return; else change the password,
//!         // authenticated with `current`.
//!         let _ = (pending, current);
//!         Ok(())
//!     }
//!
//!     /// testSecret: prove the pending password works. An error keeps `AWSCURRENT` where it is.
//!     async fn test(&self, ctx: &StepContext<'_>, pending: &SecretString)
//!         -> Result<(), RotationError> {
//!         // Your target: log in with `pending`.
//!         if pending.is_empty() {
//!             return Err(ctx.fail("the pending value is empty"));
//!         }
//!         Ok(())
//!     }
//! }
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> std::process::ExitCode {
//!     // The rotator's name in its metrics; in a binary crate, `env!("CARGO_BIN_NAME")`.
//!     rotation_core::lambda::serve("my-service", MyService::from_env).await
//! }
//! ```
//!
//! finishSecret needs nothing from a rotator: the framework moves `AWSCURRENT` once testSecret
//! succeeded. [`Rotator::before_finish`] and [`Rotator::finish`] are there for work around it
//! (updating linked secrets, revoking an old key). Errors are [`RotationError`]s: the framework
//! reports their `kind` as the Lambda error type, and a rotator's own failures are
//! [`StepContext::fail`], which names the step and the secret.
#![warn(missing_docs)]

pub mod config;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod deadline;
pub mod error;
pub mod event;
pub mod lambda;
pub mod logging;
pub mod master_arns;
pub mod memory_store;
pub mod metrics;
pub mod password;
pub mod preflight;
mod recent;
pub mod rotation;
pub mod rotator;
pub mod secret;
pub mod stage;
pub mod step;
pub mod store;
pub mod validate;
pub mod versions;

pub use async_trait::async_trait;
pub use config::{ConfigError, Environment, ProcessEnv};
pub use deadline::Deadline;
pub use error::RotationError;
pub use event::{EventError, RequestedStep, RotationEvent, RotationToken, VersionToken};
pub use password::PasswordPolicy;
pub use preflight::{PreflightRequest, Report};
pub use rotation::{RotationHandler, StepOutcome};
pub use rotator::{Rotator, StepContext};
pub use secret::{JsonSecret, SecretError, SecretString, ValueSource};
pub use stage::{Stage, VersionStages};
pub use step::Step;
pub use store::{
    AwsSecretStore, DeadlineStore, SecretStore, StoreError, StoreSettings, VersionRef,
};
pub use validate::{Decision, SecretMetadata, ValidationError, validate};
pub use versions::SecretVersion;

/// The Rust examples of the workspace's `README.md`, compiled by `cargo test --doc` (which
/// `cargo xtask test` runs), so that the README's `Rotator` shows the trait as it is.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExamples;
