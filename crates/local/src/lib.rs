//! Run a real rotation Lambda binary on your machine, driven the way Secrets Manager drives it.
//!
//! # Why
//!
//! A rotation function only proves itself inside the conversation Secrets Manager has with it:
//! `RotateSecret` creates a value-less `AWSPENDING` version, then the Lambda service hands the
//! binary four events through the Lambda Runtime API, one at a time, each with a deadline; a
//! failed step is retried later with the same token, possibly in a fresh process. Library unit
//! tests never see the binary's own wiring (the runtime loop, configuration read at start-up,
//! deadlines, what it prints), and deploying to AWS for every change is slow. This crate puts
//! the *unchanged* binary in the middle of that conversation, locally and in CI:
//!
//! - [`LocalFunction`] plays the Lambda service: it serves the Runtime API on a loopback port
//!   and runs the binary as a child process, capturing everything it prints.
//! - [`SecretsManagerDriver`] plays Secrets Manager's rotation driver against moto's emulator
//!   (`moto_server`), which stores the secret but cannot invoke a Lambda itself.
//! - [`FaultProxy`] sits between the function and moto and answers chosen requests with the
//!   throttling and server errors that Secrets Manager returns in real life, or answers slowly,
//!   so retry and deadline paths are tested too.
//! - [`TcpFaultProxy`] sits between the function and a database and drops a connection right
//!   after the server has answered a chosen statement: work done, answer lost.
//!
//! # How
//!
//! ```no_run
//! use rotation_local::{FunctionOptions, LocalFunction, SecretsManagerDriver};
//!
//! # async fn demo() -> Result<(), rotation_local::LocalError> {
//! let moto = "http://127.0.0.1:5123"; // `moto_server -H 127.0.0.1 -p 5123`
//! let options = FunctionOptions {
//!     env: vec![("AWS_ENDPOINT_URL_SECRETS_MANAGER".into(), moto.into())],
//!     ..FunctionOptions::default()
//! };
//! let function = LocalFunction::start("target/debug/postgres-single-user", options).await?;
//! let driver = SecretsManagerDriver::new(moto).await;
//! let report = driver.rotate(&function, "my-database-secret").await?;
//! println!("{report}");
//! if !report.succeeded() {
//!     eprintln!("{}", function.output());
//! }
//! function.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! The servers behind [`LocalFunction`] and [`FaultProxy`] are tasks on the caller's tokio
//! runtime; they stop when their owner is dropped, and so does the child process. Set
//! `ROTATION_LOCAL_ECHO=1` to see the function's output live on stderr.
#![warn(missing_docs)]

mod faults;
mod function;
mod outcome;
mod rotation;
mod runtime_api;
pub mod serve;
mod tcp_faults;

use std::path::PathBuf;
use std::time::Duration;

pub use faults::FaultProxy;
pub use function::{FunctionOptions, Invocation, LocalFunction};
pub use outcome::Outcome;
pub use rotation::{RotationReport, SecretsManagerDriver, StepReport};
pub use tcp_faults::TcpFaultProxy;

/// The region everything local runs in.
pub(crate) const REGION: &str = "us-east-1";
/// moto's default account, which the emulated Lambda lives in too.
pub(crate) const ACCOUNT_ID: &str = "123456789012";

/// What can go wrong while setting up a local function, a proxy or a rotation.
///
/// A failed *step* is not an error of this crate: it is an [`Outcome`] in a [`RotationReport`].
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The binary could not be started.
    #[error(
        "could not start the function binary {}: {source}; check the path and that it is built (cargo build --bin NAME)",
        binary.display()
    )]
    Spawn {
        /// The binary that was asked for.
        binary: PathBuf,
        /// Why the operating system refused.
        source: std::io::Error,
    },
    /// A loopback listener could not be opened.
    #[error("could not listen on 127.0.0.1 for the {what}: {source}")]
    Listen {
        /// Which server: the Lambda Runtime API or the fault proxy.
        what: &'static str,
        /// Why the operating system refused.
        source: std::io::Error,
    },
    /// The binary did not ask for its first event in time.
    #[error(
        "function {name} did not ask for an event within {waited:?}; it may be stuck initialising \
         (read LocalFunction::output, or set ROTATION_LOCAL_ECHO=1 to see what it prints)"
    )]
    NotReady {
        /// The function's name.
        name: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The binary exited before asking for its first event.
    #[error(
        "function {name} exited (code {code:?}) before asking for an event; read LocalFunction::output for why"
    )]
    ExitedBeforeReady {
        /// The function's name.
        name: String,
        /// Its exit code, `None` when killed by a signal.
        code: Option<i32>,
    },
    /// The binary reported an initialisation error to the Runtime API.
    #[error("function {name} failed to initialise: {error_type}: {error_message}")]
    InitFailed {
        /// The function's name.
        name: String,
        /// The `errorType` it reported.
        error_type: String,
        /// The `errorMessage` it reported.
        error_message: String,
    },
    /// A Secrets Manager call of the driver failed.
    #[error(
        "Secrets Manager {operation} on secret {secret_id} failed: {message}; check that the endpoint \
         (moto_server) is running and that the secret exists"
    )]
    SecretsManager {
        /// The API operation, e.g. `RotateSecret`.
        operation: &'static str,
        /// The secret it was about.
        secret_id: String,
        /// The SDK's description of the failure, with its causes.
        message: String,
    },
    /// `RotateSecret` returned, but the new token does not carry `AWSPENDING` alone.
    #[error(
        "RotateSecret on secret {secret_id} did not leave AWSPENDING on token {token} (versions: {labels}); \
         the emulator may have changed behaviour, see rotation_local's rotation module docs"
    )]
    RotationNotStarted {
        /// The secret.
        secret_id: String,
        /// The token the driver asked for.
        token: String,
        /// The versions and their labels as found afterwards.
        labels: String,
    },
    /// The proxy's upstream address is not a usable `http://host:port` URL.
    #[error("fault proxy upstream {upstream:?} is not an http://host:port URL: {reason}")]
    BadUpstream {
        /// The address given.
        upstream: String,
        /// What is wrong with it.
        reason: String,
    },
}

pub(crate) use rotation_core::event::new_uuid;

#[cfg(test)]
mod tests {
    /// Callers spawn these futures on multi-threaded runtimes; this only has to compile.
    fn _futures_are_send(function: &crate::LocalFunction, driver: &crate::SecretsManagerDriver) {
        fn assert_send<T: Send>(_: T) {}
        assert_send(function.invoke(&serde_json::Value::Null));
        assert_send(function.ready());
        assert_send(driver.rotate(function, "secret"));
        assert_send(crate::FaultProxy::start("http://127.0.0.1:1"));
    }
}
