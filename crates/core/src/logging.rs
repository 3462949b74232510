//! Logs: one JSON object per line on stdout, as CloudWatch and `jq` like them.
//!
//! Every line inside a step carries the secret's ARN, the token and the step (the `rotation`
//! span); the last line of a step carries its duration. No line ever carries a secret value:
//! values live in [`crate::SecretString`], which does not print.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber. The level comes from `RUST_LOG`, else `AWS_LAMBDA_LOG_LEVEL`,
/// else `info`. The SDK's and HTTP stack's own logs are capped at `info`, whatever is asked,
/// so that wire-level tracing can never print a request body. Safe to call twice.
pub fn init() {
    let requested = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|level| level.to_lowercase()))
        .unwrap_or_else(|_| "info".to_owned());
    let mut filter = EnvFilter::try_new(&requested).unwrap_or_else(|_| EnvFilter::new("info"));
    for directive in [
        "aws_smithy_runtime=info",
        "aws_smithy_runtime_api=info",
        "aws_smithy_http_client=info",
        "aws_sdk_secretsmanager=info",
        "aws_config=warn",
        "hyper=info",
        "hyper_util=info",
        "h2=info",
        "rustls=info",
        "tokio_postgres=info",
    ] {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .flatten_event(true)
        .with_writer(std::io::stdout)
        .try_init();
}
