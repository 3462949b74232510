//! `cargo xtask preflight SECRET [--rotator NAME] [--json] [NAME=VALUE...]`: the preflight a
//! deployed function answers to `aws lambda invoke`, run locally against the running local
//! stack (`cargo xtask stack up`).
//!
//! The rotator binary (a debug build) runs under the local Runtime API with the stack's
//! Secrets Manager and the stack's CA as `DATABASE_CA_BUNDLE`, plus the `NAME=VALUE`
//! variables given (the function's configuration); it receives
//! `{"preflight": {"SecretId": SECRET}}`, and its report is printed check by check (or as the
//! function's JSON with `--json`). The exit status is 1 when a check failed.

use std::time::Duration;

use anyhow::{Context, bail};
use rotation_local::{FunctionOptions, LocalFunction, Outcome, SecretsManagerDriver};
use serde_json::{Value, json};

use crate::cargo::{self, Build};
use crate::test::ROTATORS;

const USAGE: &str = "usage: cargo xtask preflight SECRET [--rotator NAME] [--json] [NAME=VALUE...]";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    secret: String,
    rotator: Option<String>,
    json: bool,
    env: Vec<(String, String)>,
}

fn parse(args: &[String]) -> anyhow::Result<Request> {
    let mut secret = None;
    let mut rotator = None;
    let mut json = false;
    let mut env = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rotator" => {
                let name = args.next().context("--rotator needs a name")?;
                if !ROTATORS.contains(&name.as_str()) {
                    bail!("--rotator {name}: expected one of {}", ROTATORS.join(", "));
                }
                rotator = Some(name.clone());
            }
            "--json" => json = true,
            flag if flag.starts_with("--") => bail!("unknown option {flag}\n{USAGE}"),
            variable if variable.contains('=') => {
                let (name, value) = variable.split_once('=').expect("it contains =");
                env.push((name.to_owned(), value.to_owned()));
            }
            id if secret.is_none() => secret = Some(id.to_owned()),
            extra => bail!("unexpected argument {extra}\n{USAGE}"),
        }
    }
    Ok(Request {
        secret: secret.context(USAGE)?,
        rotator,
        json,
        env,
    })
}

/// Runs `cargo xtask preflight ...`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let request = parse(args)?;
    let Some(stack) = rotation_stack::current()? else {
        bail!(
            "no local stack is up: start it with `eval \"$(cargo xtask stack up)\"`, create the \
             secret in its Secrets Manager, then run the preflight"
        );
    };
    let stack_env = stack.env();
    let var = |name: &str| {
        stack_env
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    };
    let endpoint = var("SECRETS_MANAGER_ENDPOINT");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        let rotator = match &request.rotator {
            Some(name) => name.clone(),
            None => {
                let driver = SecretsManagerDriver::new(&endpoint).await;
                let chosen = infer_rotator(&driver, &request.secret).await?;
                eprintln!("rotator: {chosen} (from the secret's keys; --rotator to choose)");
                chosen
            }
        };
        let binary = cargo::build(Build::Local, &[rotator.as_str()])?
            .pop()
            .context("cargo built no binary")?;
        let ca = if rotator.starts_with("mysql") {
            var("ROTATION_STACK_MARIADB_CA")
        } else {
            var("DATABASE_CA_BUNDLE")
        };
        let mut env: Vec<(String, String)> = [
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            "SECRETS_MANAGER_ENDPOINT",
            "AWS_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ]
        .iter()
        .map(|name| (name.to_string(), var(name)))
        .collect();
        env.push(("DATABASE_CA_BUNDLE".into(), ca));
        env.extend(request.env.iter().cloned());
        let options = FunctionOptions {
            name: rotator.clone(),
            timeout: Duration::from_secs(30),
            env,
        };
        let function = LocalFunction::start(&binary, options)
            .await
            .with_context(|| format!("starting {}", binary.display()))?;
        let invocation = function
            .invoke(&json!({"preflight": {"SecretId": request.secret}}))
            .await;
        let output = function.stop().await;
        match invocation.outcome {
            Outcome::Success(answer) => Ok(answer),
            other => bail!("the preflight did not answer a report: {other}\n{output}"),
        }
    })?;
    if request.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report["preflight"]));
    }
    if report["preflight"]["ok"] != json!(true) {
        bail!("the preflight found a check that fails (see above)");
    }
    Ok(())
}

/// The rotator a secret's keys call for: `engine` (PostgreSQL or MySQL/MariaDB) and
/// `masterarn` (multi-user), `replicas` or `replicaSecretArns` (replica-fanout), `apiKey`
/// without `engine` (api-key).
async fn infer_rotator(driver: &SecretsManagerDriver, secret: &str) -> anyhow::Result<String> {
    let value = driver
        .client()
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .with_context(|| format!("reading {secret} from the local stack's Secrets Manager"))?;
    let text = value
        .secret_string()
        .with_context(|| format!("{secret} has no string value"))?;
    let json: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    choose_rotator(&json).map(str::to_owned).with_context(|| {
        format!(
            "cannot tell the rotator from {secret}'s keys: give --rotator ({})",
            ROTATORS.join(", ")
        )
    })
}

fn choose_rotator(secret: &Value) -> Option<&'static str> {
    let has = |key: &str| secret.get(key).is_some_and(|value| !value.is_null());
    if has("replicas") || has("replicaSecretArns") {
        return Some("replica-fanout");
    }
    let engine = secret.get("engine").and_then(Value::as_str).unwrap_or("");
    let multi = has("masterarn");
    match engine {
        "postgres" | "aurora-postgresql" if multi => Some("postgres-multi-user"),
        "postgres" | "aurora-postgresql" => Some("postgres-single-user"),
        "mysql" | "mariadb" | "aurora-mysql" | "aurora" if multi => Some("mysql-multi-user"),
        "mysql" | "mariadb" | "aurora-mysql" | "aurora" => Some("mysql-single-user"),
        "" if has("apiKey") => Some("api-key"),
        _ => None,
    }
}

/// A report's text for a terminal: control characters (a server's escape sequences) replaced.
fn plain(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or("")
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A report as lines: the status, the check, its detail, and the fix below it.
fn render(report: &Value) -> String {
    let mut text = format!(
        "preflight of {} by {}\n",
        report["secret"].as_str().unwrap_or("?"),
        report["rotator"].as_str().unwrap_or("?")
    );
    let checks = report["checks"].as_array().cloned().unwrap_or_default();
    for check in &checks {
        let status = check["status"].as_str().unwrap_or("?").to_uppercase();
        text.push_str(&format!(
            "  {status:<4}  {:<18} {}\n",
            plain(&check["check"]),
            plain(&check["detail"])
        ));
        if check["fix"].is_string() {
            text.push_str(&format!(
                "        {:<18} fix: {}\n",
                "",
                plain(&check["fix"])
            ));
        }
    }
    let failed = checks.iter().filter(|c| c["status"] == "fail").count();
    text.push_str(&format!(
        "{} checks, {failed} failed: {}\n",
        checks.len(),
        if failed == 0 {
            "ready to rotate"
        } else {
            "fix the failures, then run it again"
        }
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_command_line_takes_a_secret_a_rotator_and_variables() {
        let request = parse(&args(
            "app --rotator mysql-multi-user MASTER_HOSTS=db:3306 --json",
        ))
        .unwrap();
        assert_eq!(
            request,
            Request {
                secret: "app".into(),
                rotator: Some("mysql-multi-user".into()),
                json: true,
                env: vec![("MASTER_HOSTS".into(), "db:3306".into())],
            }
        );
        for bad in [
            "",
            "app --rotator",
            "app --rotator redis",
            "app other",
            "app --x",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_rotator_follows_the_secrets_keys() {
        let cases = [
            (json!({"engine": "postgres"}), Some("postgres-single-user")),
            (
                json!({"engine": "postgres", "masterarn": "arn"}),
                Some("postgres-multi-user"),
            ),
            (json!({"engine": "mariadb"}), Some("mysql-single-user")),
            (
                json!({"engine": "mysql", "masterarn": "arn"}),
                Some("mysql-multi-user"),
            ),
            (
                json!({"engine": "postgres", "replicas": []}),
                Some("replica-fanout"),
            ),
            (json!({"apiKey": "k", "adminarn": "a"}), Some("api-key")),
            (json!({"engine": "oracle"}), None),
            (json!("text"), None),
        ];
        for (secret, expected) in cases {
            assert_eq!(choose_rotator(&secret), expected, "{secret}");
        }
    }

    #[test]
    fn a_report_reads_check_by_check_with_each_fix() {
        let report = json!({
            "secret": "arn:s", "rotator": "postgres-single-user", "ok": false,
            "checks": [
                {"check": "secrets-manager", "status": "pass", "detail": "answered"},
                {"check": "current-login", "status": "fail", "detail": "refused", "fix": "reset it"},
            ]
        });
        let text = render(&report);
        assert!(text.contains("PASS  secrets-manager"), "{text}");
        assert!(text.contains("FAIL  current-login      refused"), "{text}");
        assert!(text.contains("fix: reset it"), "{text}");
        assert!(text.contains("2 checks, 1 failed"), "{text}");
    }
}
