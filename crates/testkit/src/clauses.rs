//! The clauses: each one a short story told to the rotator through the Runtime API, and the
//! outcome it must have in Secrets Manager and on the target.

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use rotation_core::Step;
use rotation_local::{FaultProxy, Invocation, LocalFunction, Outcome};
use serde_json::json;

use crate::contract::{Clause, ClauseRun, Contract, Evidence};
use crate::target::{AfterRotation, Target};

const AWSCURRENT: &str = "AWSCURRENT";
const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// A token no secret has: Secrets Manager's format, all zeros.
const UNKNOWN_TOKEN: &str = "00000000-0000-4000-8000-000000000000";

/// Sensitive strings shorter than this are not searched for in logs.
const MIN_SENSITIVE_LEN: usize = 8;

/// Returns `Err(message)` from the clause unless the condition holds.
macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err(format!($($message)+));
        }
    };
}

/// Checks one clause (all but [`Clause::NoSecretInLogs`], which [`no_secret_in_logs`] checks
/// over the evidence of all the others).
pub(crate) async fn check(run: &mut ClauseRun<'_>) -> Result<(), String> {
    match run.clause {
        Clause::HappyPath => happy_path(run).await,
        Clause::RepeatedRotations => repeated_rotations(run).await,
        Clause::EveryStepTwice => every_step_twice(run).await,
        Clause::ResumeInNewProcess => resume_in_new_process(run).await,
        Clause::CurrentTokenIsNoOp => current_token_is_no_op(run).await,
        Clause::TokenRejections => token_rejections(run).await,
        Clause::RotationDisabled => rotation_disabled(run).await,
        Clause::MalformedEvents => malformed_events(run).await,
        Clause::FailingTestKeepsCurrent => failing_test_keeps_current(run).await,
        Clause::Throttling => throttling(run).await,
        Clause::NoSecretInLogs => Ok(()),
    }
}

async fn happy_path(run: &mut ClauseRun<'_>) -> Result<(), String> {
    let arn = run.new_secret().await?;
    let function = run.function().await?;
    rotate_and_expect(run, &function, &arn).await
}

async fn repeated_rotations(run: &mut ClauseRun<'_>) -> Result<(), String> {
    let arn = run.new_secret().await?;
    let function = run.function().await?;
    for round in 1..=3 {
        rotate_and_expect(run, &function, &arn)
            .await
            .map_err(|message| format!("rotation {round} of 3: {message}"))?;
    }
    Ok(())
}

async fn every_step_twice(run: &mut ClauseRun<'_>) -> Result<(), String> {
    let arn = run.new_secret().await?;
    let function = run.function().await?;
    let before = Before::read(run.contract, &arn).await?;
    let token = start(run.contract, &arn).await?;
    let mut pending: Option<String> = None;
    for step in Step::ALL {
        for attempt in 1..=2 {
            let report = run
                .contract
                .driver()
                .run_steps(&function, &arn, &token, &[step])
                .await;
            ensure!(
                report.succeeded(),
                "{step}, attempt {attempt} of 2, failed:\n{report}"
            );
            if step == Step::CreateSecret {
                let value = value_of_version(run.contract, &arn, &token).await?;
                match &pending {
                    None => pending = Some(value),
                    Some(first) => ensure!(
                        first == &value,
                        "the second createSecret replaced the pending value instead of keeping it"
                    ),
                }
            }
        }
    }
    expect_rotated(run, &arn, &token, &before).await?;
    let current = value(run.contract, &arn, AWSCURRENT).await?;
    ensure!(
        Some(&current) == pending.as_ref(),
        "AWSCURRENT does not hold the value createSecret generated"
    );
    Ok(())
}

async fn resume_in_new_process(run: &mut ClauseRun<'_>) -> Result<(), String> {
    let arn = run.new_secret().await?;
    let before = Before::read(run.contract, &arn).await?;
    let first = run.function().await?;
    let token = start(run.contract, &arn).await?;
    let report = run
        .contract
        .driver()
        .run_steps(&first, &arn, &token, &[Step::CreateSecret, Step::SetSecret])
        .await;
    ensure!(report.succeeded(), "the first process failed:\n{report}");
    first.kill();

    let again = start(run.contract, &arn).await?;
    ensure!(
        again == token,
        "Secrets Manager should re-attempt token {token}, the driver got {again}"
    );
    let second = run.function().await?;
    let report = run
        .contract
        .driver()
        .run_steps(&second, &arn, &token, &Step::ALL)
        .await;
    ensure!(
        report.succeeded(),
        "the new process could not finish the rotation:\n{report}"
    );
    expect_rotated(run, &arn, &token, &before).await
}

async fn current_token_is_no_op(run: &mut ClauseRun<'_>) -> Result<(), String> {
    let arn = run.new_secret().await?;
    let function = run.function().await?;
    let report = rotate(run.contract, &function, &arn).await?;
    let labels = labels(run.contract, &arn).await?;
    let current = value(run.contract, &arn, AWSCURRENT).await?;
    for step in Step::ALL.map(Step::as_str).into_iter().chain(["notAStep"]) {
        let invocation = invoke(&function, step, &arn, &report.token).await;
        ensure!(
            invocation.outcome.is_success(),
            "{step} for the token that is already AWSCURRENT should succeed without doing \
             anything, as AWS's templates do: {}",
            invocation.outcome
        );
    }
    ensure!(
        labels == self::labels(run.contract, &arn).await?,
        "the staging labels changed"
    );
    ensure!(
        current == value(run.contract, &arn, AWSCURRENT).await?,
        "the AWSCURRENT value changed"
    );
    Ok(())
}

async fn token_rejections(run: &mut ClauseRun<'_>) -> Result<(), String> {
    let arn = run.new_secret().await?;
    let function = run.function().await?;
    rotate(run.contract, &function, &arn).await?;
    let previous = version_with(run.contract, &arn, AWSPREVIOUS)
        .await?
        .ok_or("no version carries AWSPREVIOUS after a rotation")?;
    let before = labels(run.contract, &arn).await?;
    for step in Step::ALL {
        let unknown = invoke(&function, step, &arn, UNKNOWN_TOKEN).await;
        expect_error(
            &unknown,
            "UnknownVersion",
            "has no stage for rotation of secret",
        )
        .map_err(|message| format!("{step} with an unknown token: {message}"))?;
        let not_pending = invoke(&function, step, &arn, &previous).await;
        expect_error(
            &not_pending,
            "NotPending",
            "not set as AWSPENDING for rotation of secret",
        )
        .map_err(|message| format!("{step} with the AWSPREVIOUS token: {message}"))?;
    }
    ensure!(
        before == labels(run.contract, &arn).await?,
        "a refused step changed the staging labels"
    );
    Ok(())
}

async fn rotation_disabled(run: &mut ClauseRun<'_>) -> Result<(), String> {
    let arn = run.new_secret().await?;
    let token = start(run.contract, &arn).await?;
    run.contract
        .client()
        .cancel_rotate_secret()
        .secret_id(&arn)
        .send()
        .await
        .map_err(|error| format!("CancelRotateSecret: {}", DisplayErrorContext(error)))?;
    let function = run.function().await?;
    let invocation = invoke(&function, Step::CreateSecret, &arn, &token).await;
    expect_error(
        &invocation,
        "RotationDisabled",
        "is not enabled for rotation",
    )?;
    ensure!(
        try_value_of_version(run.contract, &arn, &token)
            .await
            .is_none(),
        "createSecret wrote a pending value for a secret whose rotation is disabled"
    );
    Ok(())
}

async fn malformed_events(run: &mut ClauseRun<'_>) -> Result<(), String> {
    let arn = run.new_secret().await?;
    let token = start(run.contract, &arn).await?;
    let function = run.function().await?;
    let unknown_step = invoke(&function, "rotateEverything", &arn, &token).await;
    expect_error(
        &unknown_step,
        "InvalidStep",
        "Invalid step parameter rotateEverything",
    )?;
    let missing = function
        .invoke(&json!({"Step": "createSecret", "SecretId": arn}))
        .await;
    expect_error(&missing, "InvalidEvent", "ClientRequestToken")
        .map_err(|message| format!("an event without ClientRequestToken: {message}"))?;
    let not_an_object = function.invoke(&json!(["createSecret"])).await;
    expect_error(&not_an_object, "InvalidEvent", "not a JSON object")
        .map_err(|message| format!("an event that is a JSON array: {message}"))?;
    ensure!(
        try_value_of_version(run.contract, &arn, &token)
            .await
            .is_none(),
        "a refused event wrote a pending value"
    );
    Ok(())
}

async fn failing_test_keeps_current(run: &mut ClauseRun<'_>) -> Result<(), String> {
    let arn = run.new_secret().await?;
    let before = Before::read(run.contract, &arn).await?;
    let function = run.function().await?;
    let token = start(run.contract, &arn).await?;
    let driver = run.contract.driver();
    let report = driver
        .run_steps(&function, &arn, &token, &[Step::CreateSecret])
        .await;
    ensure!(report.succeeded(), "createSecret failed:\n{report}");
    let pending = value_of_version(run.contract, &arn, &token).await?;
    run.target
        .spoil_pending(&pending)
        .await
        .map_err(|error| format!("the target could not spoil the pending credentials: {error}"))?;
    // setSecret is skipped: the pending credentials were never set, so their test must fail.
    let report = driver
        .run_steps(&function, &arn, &token, &[Step::TestSecret])
        .await;
    ensure!(
        !report.succeeded(),
        "testSecret succeeded although setSecret never ran: it must prove the pending \
         credentials on the target"
    );
    ensure!(
        version_with(run.contract, &arn, AWSCURRENT).await? == Some(before.version.clone()),
        "AWSCURRENT moved after a failed testSecret"
    );
    run.target
        .check(&before.value)
        .await
        .map_err(|error| format!("the current credentials stopped working: {error}"))?;
    Ok(())
}

async fn throttling(run: &mut ClauseRun<'_>) -> Result<(), String> {
    let arn = run.new_secret().await?;
    let before = Before::read(run.contract, &arn).await?;
    let proxy = FaultProxy::start(run.contract.endpoint())
        .await
        .map_err(|error| error.to_string())?;
    let function = run.function_at(Some(&proxy.endpoint())).await?;
    let token = start(run.contract, &arn).await?;
    for step in Step::ALL {
        proxy.throttle_next(2, None);
        proxy.fail_next(1, 503, None);
        let report = run
            .contract
            .driver()
            .run_steps(&function, &arn, &token, &[step])
            .await;
        ensure!(
            report.succeeded(),
            "{step} did not survive two ThrottlingExceptions and a 503:\n{report}"
        );
    }
    expect_rotated(run, &arn, &token, &before).await
}

/// Searches every output and the target's log for every sensitive string of every version of
/// every secret the clauses made.
pub(crate) async fn no_secret_in_logs(
    contract: &Contract,
    target: &dyn Target,
    evidence: &Evidence,
) -> Result<(), String> {
    let mut sensitive: Vec<(String, String)> = Vec::new();
    for arn in &evidence.secrets {
        for version in versions(contract, arn).await? {
            if let Some(value) = try_value_of_version(contract, arn, &version).await {
                sensitive.extend(
                    target
                        .sensitive(&value)
                        .into_iter()
                        .filter(|s| s.len() >= MIN_SENSITIVE_LEN)
                        .map(|s| (s, format!("{arn} version {version}"))),
                );
            }
        }
    }
    ensure!(
        !sensitive.is_empty(),
        "no sensitive value found in {} secrets: check Target::sensitive",
        evidence.secrets.len()
    );
    let mut logs: Vec<(String, String)> = evidence
        .functions
        .iter()
        .map(|function| {
            (
                format!("the output of rotator process {}", function.name()),
                function.output(),
            )
        })
        .collect();
    let target_log = target
        .target_log()
        .await
        .map_err(|error| format!("the target's log could not be read: {error}"))?;
    if let Some(text) = target_log {
        logs.push(("the target's log".to_owned(), text));
    }
    for (secret, whence) in &sensitive {
        for (name, text) in &logs {
            if let Some(line) = text.lines().find(|line| line.contains(secret.as_str())) {
                return Err(format!(
                    "a secret value of {whence} appears in {name}: {}",
                    line.replace(secret.as_str(), "<the secret value>")
                ));
            }
        }
    }
    Ok(())
}

/// The current version and value of a secret before a rotation.
struct Before {
    version: String,
    value: String,
}

impl Before {
    async fn read(contract: &Contract, arn: &str) -> Result<Before, String> {
        Ok(Before {
            version: version_with(contract, arn, AWSCURRENT)
                .await?
                .ok_or("the new secret has no AWSCURRENT version")?,
            value: value(contract, arn, AWSCURRENT).await?,
        })
    }
}

/// Rotates with `function` and checks the outcome.
async fn rotate_and_expect(
    run: &ClauseRun<'_>,
    function: &LocalFunction,
    arn: &str,
) -> Result<(), String> {
    let before = Before::read(run.contract, arn).await?;
    let report = rotate(run.contract, function, arn).await?;
    expect_rotated(run, arn, &report.token, &before).await
}

/// The outcome of a finished rotation: labels moved, value changed, new credentials work, old
/// ones as the target says.
async fn expect_rotated(
    run: &ClauseRun<'_>,
    arn: &str,
    token: &str,
    before: &Before,
) -> Result<(), String> {
    let contract = run.contract;
    let target = run.target;
    let labels = labels(contract, arn).await?;
    let has = |version: &str, label: &str| {
        labels
            .get(version)
            .is_some_and(|stages| stages.iter().any(|stage| stage == label))
    };
    ensure!(
        has(token, AWSCURRENT),
        "AWSCURRENT is not on the new version {token}: {labels:?}"
    );
    ensure!(
        has(&before.version, AWSPREVIOUS),
        "AWSPREVIOUS is not on the replaced version {}: {labels:?}",
        before.version
    );
    let new = value(contract, arn, AWSCURRENT).await?;
    let old_sensitive = target.sensitive(&before.value);
    ensure!(
        target
            .sensitive(&new)
            .iter()
            .all(|s| !old_sensitive.contains(s)),
        "the new version repeats a sensitive value of the old one"
    );
    target
        .check(&new)
        .await
        .map_err(|error| format!("the new credentials do not work: {error}"))?;
    let old_works = target.check(&before.value).await;
    match (target.after_rotation(), old_works) {
        (AfterRotation::PreviousRevoked, Ok(())) => Err(
            "the replaced credentials still work, but the target says a rotation revokes them \
             (AfterRotation::PreviousRevoked)"
                .to_owned(),
        ),
        (AfterRotation::PreviousKept, Err(error)) => Err(format!(
            "the replaced credentials stopped working, but the target says they are kept until \
             the next rotation (AfterRotation::PreviousKept): {error}"
        )),
        _ => Ok(()),
    }
}

async fn rotate(
    contract: &Contract,
    function: &LocalFunction,
    arn: &str,
) -> Result<rotation_local::RotationReport, String> {
    let report = contract
        .driver()
        .rotate(function, arn)
        .await
        .map_err(|error| error.to_string())?;
    ensure!(report.succeeded(), "the rotation failed:\n{report}");
    Ok(report)
}

async fn start(contract: &Contract, arn: &str) -> Result<String, String> {
    contract
        .driver()
        .start_rotation(arn)
        .await
        .map_err(|error| error.to_string())
}

async fn invoke(
    function: &LocalFunction,
    step: impl AsRef<str>,
    arn: &str,
    token: &str,
) -> Invocation {
    function
        .invoke(&rotation_local::SecretsManagerDriver::event(
            step, arn, token,
        ))
        .await
}

fn expect_error(invocation: &Invocation, kind: &str, needle: &str) -> Result<(), String> {
    match &invocation.outcome {
        Outcome::Error {
            error_type,
            error_message,
        } if error_type == kind && error_message.contains(needle) => Ok(()),
        other => Err(format!(
            "expected an error {kind} saying {needle:?}, got: {other}"
        )),
    }
}

async fn labels(contract: &Contract, arn: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    contract
        .driver()
        .labels(arn)
        .await
        .map_err(|error| error.to_string())
}

async fn version_with(
    contract: &Contract,
    arn: &str,
    label: &str,
) -> Result<Option<String>, String> {
    Ok(labels(contract, arn)
        .await?
        .into_iter()
        .find(|(_, stages)| stages.iter().any(|stage| stage == label))
        .map(|(version, _)| version))
}

async fn value(contract: &Contract, arn: &str, stage: &str) -> Result<String, String> {
    let output = contract
        .client()
        .get_secret_value()
        .secret_id(arn)
        .version_stage(stage)
        .send()
        .await
        .map_err(|error| format!("GetSecretValue {stage}: {}", DisplayErrorContext(error)))?;
    output
        .secret_string()
        .map(str::to_owned)
        .ok_or_else(|| format!("the {stage} version has no SecretString"))
}

async fn value_of_version(contract: &Contract, arn: &str, version: &str) -> Result<String, String> {
    try_value_of_version(contract, arn, version)
        .await
        .ok_or_else(|| format!("version {version} has no value"))
}

async fn try_value_of_version(contract: &Contract, arn: &str, version: &str) -> Option<String> {
    let output = contract
        .client()
        .get_secret_value()
        .secret_id(arn)
        .version_id(version)
        .send()
        .await
        .ok()?;
    output.secret_string().map(str::to_owned)
}

/// Every version id of a secret, labelled or not.
async fn versions(contract: &Contract, arn: &str) -> Result<Vec<String>, String> {
    let listed = contract
        .client()
        .list_secret_version_ids()
        .secret_id(arn)
        .include_deprecated(true)
        .max_results(100)
        .send()
        .await
        .map_err(|error| format!("ListSecretVersionIds: {}", DisplayErrorContext(error)))?;
    Ok(listed
        .versions()
        .iter()
        .filter_map(|version| version.version_id().map(str::to_owned))
        .collect())
}
