//! Logs: one JSON object per line on stdout, as CloudWatch and `jq` like them.
//!
//! Every line inside a step carries the secret's ARN, the token and the step (the `rotation`
//! span); the last line of a step carries its duration. No line ever carries a secret value:
//! values live in [`crate::SecretString`], which does not print.
//!
//! Client libraries that would print requests at `debug` (the SDK, the HTTP stack) are capped
//! at `info` whatever `RUST_LOG` asks. A rotator adds the targets of its own client libraries
//! with [`quiet`] (a database engine declares them as data; `rotation-db` quiets them).
//!
//! A line whose event has an `_aws` field (the step's last line, see [`crate::metrics`]) is
//! CloudWatch's Embedded Metric Format: the event's fields are top-level members already
//! (flattened), and `_aws`, recorded as JSON text, is written as the object it holds.

use std::sync::{Mutex, OnceLock, PoisonError};

use serde_json::{Map, Value};

use crate::config::{ConfigError, Environment};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, fmt, reload};

/// The field whose JSON text becomes the line's `_aws` object.
const EMF_FIELD: &str = "_aws";

/// The targets capped in every rotator, and the level each is capped at.
const CAPPED: [&str; 9] = [
    "aws_smithy_runtime=info",
    "aws_smithy_runtime_api=info",
    "aws_smithy_http_client=info",
    "aws_sdk_secretsmanager=info",
    "aws_config=warn",
    "hyper=info",
    "hyper_util=info",
    "h2=info",
    "rustls=info",
];

/// Targets a rotator asked to quiet ([`quiet`]), kept for [`init`] and for every later change.
static QUIETED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// The installed filter, to add quieted targets after [`init`].
static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Installs the JSON subscriber. The level comes from `RUST_LOG`, else `AWS_LAMBDA_LOG_LEVEL`,
/// else `info`. The SDK's and HTTP stack's own logs, and the targets given to [`quiet`], are
/// capped at `info`, whatever is asked, so that wire-level tracing can never print a request
/// body. Safe to call twice.
pub fn init() {
    let (filter, handle) = reload::Layer::new(filter());
    if tracing_subscriber::registry()
        .with(filter)
        .with(json_layer(std::io::stdout))
        .try_init()
        .is_ok()
    {
        let _ = FILTER.set(handle);
    }
}

/// The JSON lines, written to `writer`: the event's fields flattened into the line, the
/// current span (secret, token, step) under `span`, `_aws` as an object.
pub fn json_layer<S, W>(writer: W) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .flatten_event(true)
        .map_event_format(EmbeddedMetrics)
        .with_writer(writer)
}

/// The JSON event format, with an `_aws` field written as the object its text holds.
struct EmbeddedMetrics<F>(F);

impl<S, N, F> FormatEvent<S, N> for EmbeddedMetrics<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        if event.metadata().fields().field(EMF_FIELD).is_none() {
            return self.0.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        writeln!(writer, "{}", embed_metrics(&line))
    }
}

/// The line with its `_aws` member, JSON text, replaced by the value it holds; the line as it
/// is when it is not a JSON object or `_aws` is not JSON text.
fn embed_metrics(line: &str) -> String {
    let line = line.trim_end();
    let Ok(mut object) = serde_json::from_str::<Map<String, Value>>(line) else {
        return line.to_owned();
    };
    let parsed = match object.get(EMF_FIELD) {
        Some(Value::String(text)) => serde_json::from_str::<Value>(text).ok(),
        _ => None,
    };
    match parsed {
        Some(metadata) => {
            object.insert(EMF_FIELD.to_owned(), metadata);
            Value::Object(object).to_string()
        }
        None => line.to_owned(),
    }
}

/// Caps `targets` (log targets: crate or module paths, such as a database client's) at `info`,
/// whatever `RUST_LOG` asks: for client libraries that would print statements or credentials at
/// `debug`. Before [`init`] the targets are remembered; after it, the filter changes at once.
pub fn quiet(targets: &[&'static str]) {
    let mut quieted = QUIETED.lock().unwrap_or_else(PoisonError::into_inner);
    let before = quieted.len();
    for target in targets {
        if !quieted.contains(target) {
            quieted.push(target);
        }
    }
    if quieted.len() == before {
        return;
    }
    drop(quieted);
    if let Some(handle) = FILTER.get() {
        let _ = handle.reload(filter());
    }
}

/// Refuses a `RUST_LOG` (or `AWS_LAMBDA_LOG_LEVEL`) that is not a filter, as every other
/// variable's mistake is refused: [`init`] would otherwise log at `info` without saying so.
pub fn check_level(env: &dyn Environment) -> Result<(), ConfigError> {
    for variable in ["RUST_LOG", "AWS_LAMBDA_LOG_LEVEL"] {
        let Some(value) = env.var(variable) else {
            continue;
        };
        if let Err(problem) = EnvFilter::try_new(value.to_lowercase()) {
            return Err(ConfigError::new(
                variable,
                format!(
                    "{value:?} is not a log filter ({problem}); expected a level (error, warn, \
                     info, debug, trace) or directives such as \"info,rotation_core=debug\""
                ),
            ));
        }
        if variable == "RUST_LOG" {
            break;
        }
    }
    Ok(())
}

/// The filter: what is asked, with the caps.
fn filter() -> EnvFilter {
    let requested = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|level| level.to_lowercase()))
        .unwrap_or_else(|_| "info".to_owned());
    let mut filter = EnvFilter::try_new(&requested).unwrap_or_else(|_| EnvFilter::new("info"));
    let quieted = QUIETED.lock().unwrap_or_else(PoisonError::into_inner);
    let quieted = quieted.iter().map(|target| format!("{target}=info"));
    for directive in CAPPED.iter().map(|cap| (*cap).to_owned()).chain(quieted) {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_filter_that_does_not_parse_is_refused_naming_its_variable() {
        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(check_level(&env(&[])).is_ok());
        assert!(check_level(&env(&[("RUST_LOG", "info,rotation_core=debug")])).is_ok());
        assert!(check_level(&env(&[("AWS_LAMBDA_LOG_LEVEL", "DEBUG")])).is_ok());
        let refused = check_level(&env(&[("RUST_LOG", "info,aws=loud")])).unwrap_err();
        assert_eq!(refused.variable, "RUST_LOG");
        let refused = check_level(&env(&[("AWS_LAMBDA_LOG_LEVEL", "x=y=z")])).unwrap_err();
        assert_eq!(refused.variable, "AWS_LAMBDA_LOG_LEVEL");
    }

    #[test]
    fn quieted_targets_are_capped_at_info() {
        quiet(&["some_client", "some_client"]);
        quiet(&["other_client::wire"]);
        let text = filter().to_string();
        for needle in ["some_client=info", "other_client::wire=info", "hyper=info"] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        assert_eq!(text.matches("some_client=info").count(), 1, "{text}");
    }
}
