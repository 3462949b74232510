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
//! - [`Rotation`]: the step semantics (createSecret never generates twice for a token;
//!   finishSecret moves `AWSCURRENT` with `RemoveFromVersionId`; a token already `AWSCURRENT`
//!   is a quiet success), JSON logs with the secret, token, step and duration;
//! - [`SecretStore`] / [`AwsSecretStore`]: Secrets Manager, with bounded retries;
//! - [`SecretString`], [`JsonSecret`], [`RdsSecret`]: values that cannot be logged, and the RDS
//!   JSON with every unknown key and JSON type kept;
//! - [`PasswordPolicy`]: AWS's password variables, generated locally with a CSPRNG;
//! - [`lambda::serve`]: the whole `main` of a rotation Lambda.
//!
//! A rotator implements [`Rotator`]:
//!
//! ```
//! use rotation_core::{async_trait, Rotator, RotationError, SecretString, StepContext};
//!
//! /// Rotates a token kept as a bare string; the "target" accepts anything.
//! struct Tokens;
//!
//! #[async_trait]
//! impl Rotator for Tokens {
//!     async fn create(&self, _ctx: &StepContext<'_>, _current: &SecretString)
//!         -> Result<SecretString, RotationError> {
//!         Ok(SecretString::new("a-new-token"))
//!     }
//!     async fn set(&self, _ctx: &StepContext<'_>) -> Result<(), RotationError> {
//!         Ok(())
//!     }
//!     async fn test(&self, ctx: &StepContext<'_>, pending: &SecretString)
//!         -> Result<(), RotationError> {
//!         if pending.is_empty() {
//!             return Err(ctx.fail("the new token is empty"));
//!         }
//!         Ok(())
//!     }
//! }
//! ```
#![warn(missing_docs)]

pub mod config;
pub mod deadline;
pub mod error;
pub mod event;
pub mod lambda;
pub mod logging;
pub mod password;
pub mod rds;
pub mod rotation;
pub mod rotator;
pub mod secret;
pub mod stage;
pub mod step;
pub mod store;
pub mod validate;

pub use async_trait::async_trait;
pub use config::{ConfigError, Environment, ProcessEnv};
pub use deadline::Deadline;
pub use error::RotationError;
pub use event::{EventError, RequestedStep, RotationEvent, RotationToken, VersionToken};
pub use password::PasswordPolicy;
pub use rds::{EngineFamily, RdsSecret, SslFlag};
pub use rotation::{Rotation, StepOutcome};
pub use rotator::{Rotator, StepContext};
pub use secret::{JsonSecret, SecretError, SecretString, ValueSource};
pub use stage::{Stage, VersionStages};
pub use step::Step;
pub use store::{AwsSecretStore, SecretStore, StoreError, StoreSettings, VersionRef};
pub use validate::{Decision, SecretMetadata, ValidationError, validate};
