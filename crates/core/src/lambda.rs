//! Running a rotator as a Lambda function under the Lambda Runtime API.

use std::process::ExitCode;
use std::sync::Arc;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::error;

use crate::config::{ConfigError, Environment, ProcessEnv};
use crate::deadline::Deadline;
use crate::error::RotationError;
use crate::logging;
use crate::metrics::{Metrics, MetricsSettings};
use crate::preflight::PreflightRequest;
use crate::rotation::RotationHandler;
use crate::rotator::Rotator;
use crate::store::{AwsSecretStore, StoreSettings};

/// The whole `main` of a rotation Lambda: logging, configuration (read once; a mistake is
/// reported as an init error naming the variable), one Secrets Manager client for the life of
/// the process, then the Runtime API loop: rotation events, and preflight requests
/// (`{"preflight": {"SecretId": ...}}`, see [`crate::preflight`]).
///
/// `rotator` names the rotator in its metrics (the `Rotator` dimension, see
/// [`crate::metrics`]): its binary's name, `env!("CARGO_BIN_NAME")`. Neither the executable's
/// file name (`bootstrap` on Lambda) nor the function's name (one per deployment) says which
/// rotator runs.
///
/// A rotator binary's `main` is one call (see the prebuilt rotators in `rotators/`):
///
/// ```ignore
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() -> std::process::ExitCode {
///     rotation_core::lambda::serve(env!("CARGO_BIN_NAME"), MyRotator::from_env).await
/// }
/// ```
pub async fn serve<R, F>(rotator: &'static str, build: F) -> ExitCode
where
    R: Rotator,
    F: FnOnce(&dyn Environment) -> Result<R, ConfigError>,
{
    logging::init();
    let configured = logging::check_level(&ProcessEnv)
        .and_then(|()| StoreSettings::from_env(&ProcessEnv))
        .and_then(|settings| {
            let metrics = MetricsSettings::from_env(&ProcessEnv)?;
            build(&ProcessEnv).map(|built| (settings, metrics, built))
        });
    let (settings, metrics, built) = match configured {
        Ok(configured) => configured,
        Err(problem) => {
            error!(error = %problem, variable = %problem.variable, "configuration error");
            report_init_error(&problem).await;
            return ExitCode::FAILURE;
        }
    };
    let store = AwsSecretStore::new(&settings).await;
    let metrics = Metrics::new(rotator, &metrics);
    let rotation = Arc::new(
        RotationHandler::new(built, store)
            .with_metrics(metrics)
            .named(rotator),
    );
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let rotation = Arc::clone(&rotation);
        async move {
            tracing::debug!(
                deadline_epoch_ms = event.context.deadline,
                "invocation received"
            );
            let deadline = Deadline::from_lambda_millis(event.context.deadline);
            let answer: Result<Value, Diagnostic> =
                match PreflightRequest::from_payload(&event.payload) {
                    None => rotation
                        .handle(&event.payload, deadline)
                        .await
                        .map_err(|problem| naming_the_step(&event.payload, &problem)),
                    Some(Ok(request)) => {
                        let function = Some(event.context.invoked_function_arn.as_str())
                            .filter(|arn| !arn.is_empty());
                        Ok(rotation.preflight(&request, deadline, function).await)
                    }
                    Some(Err(problem)) => {
                        error!(error = %problem, "rejected preflight request");
                        Err(Diagnostic::from(RotationError::from(problem)))
                    }
                };
            answer
        }
    });
    match lambda_runtime::run(handler).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            error!(error = %problem, "the Lambda runtime loop stopped");
            ExitCode::FAILURE
        }
    }
}

/// The error Lambda reports for a failed step, its message naming the step and the secret the
/// event gave (Secrets Manager's console and the invoker see this message; errors about a
/// store call or a secret's field name only what they are about). AWS's validation messages
/// are kept word for word, as AWS's templates raise them (they name the secret and version).
pub(crate) fn naming_the_step(payload: &Value, problem: &RotationError) -> Diagnostic {
    let message = problem.to_string();
    let error_type = problem.kind().to_owned();
    if matches!(problem, RotationError::Validation(_)) {
        return Diagnostic {
            error_type,
            error_message: message,
        };
    }
    let field = |name: &str| {
        payload
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let mut named = Vec::new();
    if let Some(step) = field("Step").filter(|step| !message.contains(step)) {
        named.push(step.to_owned());
    }
    if let Some(secret) = field("SecretId").filter(|secret| !message.contains(secret)) {
        named.push(format!("for secret {secret}"));
    }
    let error_message = if named.is_empty() {
        message
    } else {
        format!("{}: {message}", named.join(" "))
    };
    Diagnostic {
        error_type,
        error_message,
    }
}

/// Tells the Runtime API why the function cannot start (`/runtime/init/error`), so that the
/// invoker sees the configuration message rather than a bare exit. Best effort: without
/// `AWS_LAMBDA_RUNTIME_API` (run by hand) the log line is the report.
async fn report_init_error(problem: &ConfigError) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let body = serde_json::json!({
        "errorType": "ConfigError",
        "errorMessage": problem.to_string(),
    })
    .to_string();
    let request = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\n\
         Lambda-Runtime-Function-Error-Type: Runtime.ConfigError\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let send = async {
        let mut stream = tokio::net::TcpStream::connect(&api).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(())
    };
    if let Err(problem) = tokio::time::timeout(std::time::Duration::from_secs(2), send).await {
        error!(error = %problem, "could not report the init error to the Runtime API");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn a_step_error_names_the_step_and_the_secret_once() {
        let event = serde_json::json!({
            "Step": "setSecret", "SecretId": "arn:s", "ClientRequestToken": "t"
        });
        let store = RotationError::from(StoreError::new("GetSecretValue", "arn:s", "throttled"));
        let named = naming_the_step(&event, &store);
        assert_eq!(named.error_type, "SecretsManagerError");
        assert!(
            named
                .error_message
                .starts_with("setSecret: Secrets Manager"),
            "{}",
            named.error_message
        );
        let target = RotationError::target("setSecret: refused (secret arn:s)");
        assert_eq!(
            naming_the_step(&event, &target).error_message,
            "setSecret: refused (secret arn:s)"
        );
        let bare = RotationError::target("refused");
        assert_eq!(
            naming_the_step(&event, &bare).error_message,
            "setSecret for secret arn:s: refused"
        );
        let no_event = naming_the_step(&serde_json::json!([]), &bare);
        assert_eq!(no_event.error_message, "refused");
        // AWS's validation messages, word for word.
        let disabled = RotationError::from(crate::validate::ValidationError::RotationDisabled {
            arn: "arn:s".into(),
        });
        assert_eq!(
            naming_the_step(&event, &disabled).error_message,
            disabled.to_string()
        );
    }
}
