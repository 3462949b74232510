//! The contract's parts: its clauses, its settings, what a clause run holds, and the reports.
//!
//! The clauses (`clauses`) are written against these parts, and the runner (`runner`) puts
//! the two together; this module depends on neither.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use rotation_local::{FunctionOptions, LocalFunction, SecretsManagerDriver};
use rotation_stack::{Lifetime, MotoServer};

use crate::target::{Setup, Target};

/// One promise of the rotation contract, checked on its own secret and function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Clause {
    /// A rotation moves `AWSCURRENT` to the new version and `AWSPREVIOUS` to the old one; the
    /// new credentials work, the old ones as [`crate::AfterRotation`] says.
    HappyPath,
    /// Three rotations in a row, each leaving the one before it in `AWSPREVIOUS`.
    RepeatedRotations,
    /// Every step sent twice (a Lambda retry) does no harm, and `createSecret` does not
    /// generate a second value.
    EveryStepTwice,
    /// A rotation cut after `setSecret` is finished by a new process with the same token.
    ResumeInNewProcess,
    /// Steps for a token that is already `AWSCURRENT` succeed and change nothing.
    CurrentTokenIsNoOp,
    /// An unknown token and a token without `AWSPENDING` are refused with AWS's messages and
    /// change nothing.
    TokenRejections,
    /// A secret whose rotation is disabled is refused.
    RotationDisabled,
    /// An unknown step and malformed events are clear errors that write nothing.
    MalformedEvents,
    /// A `testSecret` that fails leaves `AWSCURRENT` where it was, still working.
    FailingTestKeepsCurrent,
    /// Throttling and server errors from Secrets Manager are retried through.
    Throttling,
    /// No secret value of any version appears in the rotator's output (at `RUST_LOG=trace`)
    /// or in the target's own log, over all the clauses above.
    NoSecretInLogs,
}

impl Clause {
    /// Every clause, in the order they are reported.
    pub const ALL: [Clause; 11] = [
        Clause::HappyPath,
        Clause::RepeatedRotations,
        Clause::EveryStepTwice,
        Clause::ResumeInNewProcess,
        Clause::CurrentTokenIsNoOp,
        Clause::TokenRejections,
        Clause::RotationDisabled,
        Clause::MalformedEvents,
        Clause::FailingTestKeepsCurrent,
        Clause::Throttling,
        Clause::NoSecretInLogs,
    ];

    /// A short name, e.g. `every step twice`.
    pub fn name(self) -> &'static str {
        match self {
            Clause::HappyPath => "happy path",
            Clause::RepeatedRotations => "repeated rotations",
            Clause::EveryStepTwice => "every step twice",
            Clause::ResumeInNewProcess => "resume in a new process",
            Clause::CurrentTokenIsNoOp => "current token is a no-op",
            Clause::TokenRejections => "token rejections",
            Clause::RotationDisabled => "rotation disabled",
            Clause::MalformedEvents => "malformed events",
            Clause::FailingTestKeepsCurrent => "failing test keeps AWSCURRENT",
            Clause::Throttling => "throttling",
            Clause::NoSecretInLogs => "no secret in logs",
        }
    }
}

impl fmt::Display for Clause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Runs the rotation contract against targets.
#[derive(Clone, Debug)]
pub struct Contract {
    endpoint: String,
    driver: SecretsManagerDriver,
    timeout: Duration,
}

impl Contract {
    /// A contract run against a moto server of this process, started on first use (a venv
    /// under `target/`, see `rotation-stack`).
    ///
    /// # Panics
    ///
    /// When moto cannot be started; the message says why (for example, no `python3`).
    pub async fn new() -> Contract {
        Contract::with_endpoint(&moto().endpoint()).await
    }

    /// A contract run against a Secrets Manager emulator already running at `endpoint`
    /// (`http://127.0.0.1:PORT`).
    pub async fn with_endpoint(endpoint: &str) -> Contract {
        Contract {
            endpoint: endpoint.to_owned(),
            driver: SecretsManagerDriver::new(endpoint).await,
            timeout: Duration::from_secs(30),
        }
    }

    /// The time one invocation of the rotator may take (the Lambda timeout; 30 s unless set).
    pub fn timeout(mut self, timeout: Duration) -> Contract {
        self.timeout = timeout;
        self
    }

    pub(crate) fn driver(&self) -> &SecretsManagerDriver {
        &self.driver
    }

    pub(crate) fn client(&self) -> &Client {
        self.driver.client()
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

/// The moto server of this process, started on first use.
///
/// # Panics
///
/// When moto cannot be started; the message says why.
pub fn moto() -> &'static MotoServer {
    static MOTO: OnceLock<MotoServer> = OnceLock::new();
    MOTO.get_or_init(|| {
        MotoServer::start(Lifetime::WithProcess)
            .unwrap_or_else(|error| panic!("cannot start moto for the contract: {error}"))
    })
}

/// Every clause passed.
#[derive(Clone, Debug)]
pub struct ContractReport {
    /// Each clause and the time it took.
    pub passed: Vec<(Clause, Duration)>,
    /// The time of the whole run.
    pub total: Duration,
}

impl fmt::Display for ContractReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "rotation contract: {} clauses passed in {} ms",
            self.passed.len(),
            self.total.as_millis()
        )?;
        for (clause, took) in &self.passed {
            writeln!(f, "  ok  {clause:<32} {:>6} ms", took.as_millis())?;
        }
        Ok(())
    }
}

/// One or more clauses failed.
#[derive(Clone, Debug)]
pub struct ContractFailure {
    /// The failed clauses.
    pub failures: Vec<ClauseFailure>,
}

/// A clause that failed: what was expected, and what the rotator printed meanwhile.
#[derive(Clone, Debug)]
pub struct ClauseFailure {
    /// The clause.
    pub clause: Clause,
    /// What was expected and what happened instead.
    pub message: String,
    /// The output of the rotator processes of this clause.
    pub output: String,
}

/// How many lines of a rotator's output a failure shows.
const OUTPUT_LINES: usize = 40;

impl fmt::Display for ContractFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.failures.iter().map(|x| x.clause.name()).collect();
        writeln!(
            f,
            "the rotation contract failed in {} clause(s): {}",
            names.len(),
            names.join(", ")
        )?;
        for failure in &self.failures {
            writeln!(f, "\n== {}: {}", failure.clause, failure.message)?;
            let lines: Vec<&str> = failure.output.lines().collect();
            if !lines.is_empty() {
                let shown = &lines[lines.len().saturating_sub(OUTPUT_LINES)..];
                writeln!(
                    f,
                    "-- rotator output, last {} of {} lines:",
                    shown.len(),
                    lines.len()
                )?;
                for line in shown {
                    writeln!(f, "   {line}")?;
                }
            }
        }
        Ok(())
    }
}

impl std::error::Error for ContractFailure {}

/// What a clause left behind for the log check: its secrets and its rotator processes.
#[derive(Default)]
pub(crate) struct Evidence {
    pub(crate) secrets: Vec<String>,
    pub(crate) functions: Vec<Arc<LocalFunction>>,
}

impl Evidence {
    /// Takes over what `other` left behind.
    pub(crate) fn absorb(&mut self, other: &mut Evidence) {
        self.secrets.append(&mut other.secrets);
        self.functions.append(&mut other.functions);
    }

    /// The output of every function, one after the other.
    pub(crate) fn output(&self) -> String {
        self.functions
            .iter()
            .map(|function| function.output())
            .collect::<Vec<_>>()
            .join("")
    }
}

/// One clause being checked: the contract, the target, and what it has made so far.
pub(crate) struct ClauseRun<'a> {
    pub(crate) contract: &'a Contract,
    pub(crate) target: &'a dyn Target,
    pub(crate) clause: Clause,
    pub(crate) evidence: &'a mut Evidence,
}

impl ClauseRun<'_> {
    /// A new account on the target and its secret; returns the secret's ARN.
    pub(crate) async fn new_secret(&mut self) -> Result<String, String> {
        let setup = Setup::new(self.contract.client().clone());
        let value = self
            .target
            .new_account(&setup)
            .await
            .map_err(|error| format!("the target could not create an account: {error}"))?;
        let arn = setup
            .create_secret(&format!("contract-{}-", slug(self.clause)), &value)
            .await
            .map_err(|error| format!("creating the secret: {error}"))?;
        self.evidence.secrets.push(arn.clone());
        Ok(arn)
    }

    /// Starts the rotator against the contract's Secrets Manager (or `endpoint`).
    pub(crate) async fn function_at(
        &mut self,
        endpoint: Option<&str>,
    ) -> Result<Arc<LocalFunction>, String> {
        let endpoint = endpoint.unwrap_or(self.contract.endpoint()).to_owned();
        let mut env: Vec<(String, String)> = vec![
            ("SECRETS_MANAGER_ENDPOINT".into(), endpoint.clone()),
            ("AWS_ENDPOINT_URL".into(), endpoint),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("RUST_LOG".into(), "trace".into()),
        ];
        env.extend(self.target.env());
        let options = FunctionOptions {
            name: format!("contract-{}", slug(self.clause)),
            timeout: self.contract.timeout,
            env,
        };
        let binary = self.target.binary();
        let function = LocalFunction::start(&binary, options)
            .await
            .map_err(|error| error.to_string())?;
        let function = Arc::new(function);
        self.evidence.functions.push(Arc::clone(&function));
        Ok(function)
    }

    /// Starts the rotator against the contract's Secrets Manager.
    pub(crate) async fn function(&mut self) -> Result<Arc<LocalFunction>, String> {
        self.function_at(None).await
    }
}

/// A clause name fit for secret and function names.
fn slug(clause: Clause) -> String {
    clause
        .name()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .to_ascii_lowercase()
}
