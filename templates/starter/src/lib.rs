//! `{{project-name}}`: a Secrets Manager rotation Lambda for a service whose users change their
//! own password over HTTP.
//!
//! The secret is JSON, `{"baseUrl", "username", "password"}`; every other key is written back
//! as it was. A rotation:
//!
//! - createSecret: a new password, from `PASSWORD_LENGTH`, `EXCLUDE_CHARACTERS` and the other
//!   password variables, in a copy of the current value;
//! - setSecret: nothing if the new password already logs in (a retried step); otherwise the user
//!   changes its password, `PUT <baseUrl>/v1/users/<username>/password`, authenticated with the
//!   current password;
//! - testSecret: the new password logs in, `GET <baseUrl>/v1/users/me`;
//! - finishSecret: the framework moves `AWSCURRENT`.
//!
//! This file is the whole rotator. To rotate something else, change the places marked
//! `// Your target:`. The framework (`rotation-core`) does everything else: it checks the
//! event as AWS does, reads and writes Secrets Manager, makes each step safe to retry, moves
//! the labels, logs JSON lines, and stops each step before the Lambda deadline. Passwords stay
//! in `SecretString`, which cannot be logged; error messages name the step, the field or the
//! HTTP status, never a password.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use rotation_core::config::{ConfigError, Environment};
use rotation_core::{
    JsonSecret, PasswordPolicy, RotationError, Rotator, SecretError, SecretString, StepContext,
    ValueSource, async_trait,
};
use serde_json::json;
use tracing::info;

/// The longest one HTTP request may take (never past the step's deadline).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds the rotator from the environment. A bad password variable stops the Lambda at
/// start-up with a message that names it.
pub fn from_env(env: &dyn Environment) -> Result<UserPasswordRotator, ConfigError> {
    // Your target: characters its passwords must never contain (EXCLUDE_CHARACTERS overrides).
    let policy = PasswordPolicy::from_env(env, "")?;
    let http = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|error| {
            ConfigError::new(
                "SSL_CERT_FILE",
                format!(
                    "the HTTPS client could not be set up ({}); it trusts the system's CA \
                     bundle, or the PEM file this variable names",
                    describe(&error)
                ),
            )
        })?;
    Ok(UserPasswordRotator { policy, http })
}

/// The rotator: one HTTP client for the life of the Lambda, and the password policy.
#[derive(Debug)]
pub struct UserPasswordRotator {
    policy: PasswordPolicy,
    http: reqwest::Client,
}

#[async_trait]
impl Rotator for UserPasswordRotator {
    async fn create(
        &self,
        ctx: &StepContext<'_>,
        current: &SecretString,
    ) -> Result<SecretString, RotationError> {
        let current = Account::parse(current, &ValueSource::new(ctx.arn, "AWSCURRENT"))?;
        Ok(current.with_password(&self.policy.generate()))
    }

    async fn set(&self, ctx: &StepContext<'_>) -> Result<(), RotationError> {
        let pending = Account::parse(
            ctx.pending().await?,
            &ValueSource::new(ctx.arn, "AWSPENDING"),
        )?;
        let current = Account::parse(
            ctx.current().await?,
            &ValueSource::new(ctx.arn, "AWSCURRENT"),
        )?;
        if pending.username != current.username || pending.base_url != current.base_url {
            return Err(ctx.fail(format!(
                "AWSPENDING names user {} at {}, AWSCURRENT user {} at {}: a rotation changes \
                 only the password",
                pending.username, pending.base_url, current.username, current.base_url
            )));
        }
        let user = &pending.username;
        if self.logs_in(ctx, &pending).await? {
            info!(%user, "setSecret: AWSPENDING already logs in, nothing to do");
            return Ok(());
        }
        self.change_password(ctx, &current, &pending.password)
            .await?;
        info!(%user, "setSecret: password changed");
        Ok(())
    }

    async fn test(
        &self,
        ctx: &StepContext<'_>,
        pending: &SecretString,
    ) -> Result<(), RotationError> {
        let pending = Account::parse(pending, &ValueSource::new(ctx.arn, "AWSPENDING"))?;
        if !self.logs_in(ctx, &pending).await? {
            return Err(ctx.fail(format!(
                "user {} cannot log in at {} with AWSPENDING (GET /v1/users/me refused it)",
                pending.username, pending.base_url
            )));
        }
        info!(user = %pending.username, "testSecret: AWSPENDING logs in");
        Ok(())
    }
}

impl UserPasswordRotator {
    /// Whether the account's credentials log in: `Ok(false)` when the service refuses them, an
    /// error when it cannot say (unreachable, or an unexpected answer).
    async fn logs_in(
        &self,
        ctx: &StepContext<'_>,
        account: &Account,
    ) -> Result<bool, RotationError> {
        // Your target: how a user proves its password works.
        let request = self
            .http
            .get(account.url(&["v1", "users", "me"]))
            .basic_auth(&account.username, Some(account.password.expose()));
        let status = send(ctx, request, "GET /v1/users/me").await?;
        match status {
            StatusCode::OK => Ok(true),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Ok(false),
            other => Err(ctx.fail(format!(
                "GET /v1/users/me at {} answered {other}",
                account.base_url
            ))),
        }
    }

    /// The user changes its password to `new`, authenticated with the current one.
    async fn change_password(
        &self,
        ctx: &StepContext<'_>,
        current: &Account,
        new: &SecretString,
    ) -> Result<(), RotationError> {
        // Your target: how a user changes its own password.
        let path = ["v1", "users", &current.username, "password"];
        let request = self
            .http
            .put(current.url(&path))
            .basic_auth(&current.username, Some(current.password.expose()))
            .json(&json!({ "password": new.expose() }));
        let status = send(ctx, request, "PUT /v1/users/<username>/password").await?;
        let problem = match status {
            status if status.is_success() => return Ok(()),
            StatusCode::UNAUTHORIZED => {
                "the current password (AWSCURRENT) is refused: was it changed outside of \
                 Secrets Manager? Put the working password in AWSCURRENT and rotate again"
            }
            StatusCode::FORBIDDEN => "the user may not change this password",
            StatusCode::BAD_REQUEST => {
                "the new password was refused: check PASSWORD_LENGTH and EXCLUDE_CHARACTERS \
                 against the service's password rules"
            }
            _ => "unexpected answer",
        };
        Err(ctx.fail(format!(
            "PUT /v1/users/{}/password at {} answered {status}: {problem}",
            current.username, current.base_url
        )))
    }
}

/// Sends a request within the step's deadline and returns the answer's status; a request that
/// gets no answer fails the step, naming `what`.
async fn send(
    ctx: &StepContext<'_>,
    request: reqwest::RequestBuilder,
    what: &str,
) -> Result<StatusCode, RotationError> {
    let answer = request
        .timeout(ctx.deadline.cap(REQUEST_TIMEOUT))
        .send()
        .await
        .map_err(|error| ctx.fail(format!("{what}: no answer ({})", describe(&error))))?;
    Ok(answer.status())
}

/// An HTTP error and its causes ("error sending request ...: connection refused"). The
/// password travels in a header, which reqwest never puts in an error.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// One version of the secret.
#[derive(Debug)]
struct Account {
    json: JsonSecret,
    base_url: Url,
    username: String,
    password: SecretString,
}

impl Account {
    /// Reads and checks a version of the secret; an error names the field and the version,
    /// never a value.
    fn parse(value: &SecretString, source: &ValueSource) -> Result<Account, SecretError> {
        let json = JsonSecret::parse(value, source)?;
        // Your target: the keys of your secret.
        let base_url = base_url(&json.required_string("baseUrl", source)?)
            .map_err(|problem| source.invalid("baseUrl", problem))?;
        let username = json.required_string("username", source)?;
        let password = SecretString::new(json.required_string("password", source)?);
        Ok(Account {
            json,
            base_url,
            username,
            password,
        })
    }

    /// The same secret with a new password; every other key is kept as it was.
    fn with_password(&self, password: &SecretString) -> SecretString {
        self.json.with_strings(&[("password", password.expose())])
    }

    /// `baseUrl` with these path segments added (each one percent-encoded).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base_url.clone();
        // Always Ok: `base_url` accepts only http and https URLs, which have a path.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }
}

/// An `https://` URL, or `http://` to this machine only: plain HTTP to anywhere else would
/// send the password in clear.
fn base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|error| format!("is not a URL ({error})"))?;
    let loopback = match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(
            "is http:// to another machine, which would send the password in clear: use https://"
                .to_owned(),
        ),
        other => Err(format!("must be an https:// URL, not {other}:")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_https_or_http_to_this_machine() {
        for good in [
            "https://api.example.com",
            "https://api.example.com/admin/",
            "http://127.0.0.1:8080",
            "http://localhost",
            "http://[::1]:80",
        ] {
            assert!(base_url(good).is_ok(), "{good}");
        }
        for bad in ["http://api.example.com", "ftp://h", "api.example.com", ""] {
            assert!(base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_field_and_never_the_password() {
        let source = ValueSource::new("arn:secret", "AWSCURRENT");
        for (text, field) in [
            (r#"{"username":"app","password":"hunter22"}"#, "baseUrl"),
            (
                r#"{"baseUrl":"http://h","username":"app","password":"hunter22"}"#,
                "baseUrl",
            ),
            (
                r#"{"baseUrl":"https://h","password":"hunter22"}"#,
                "username",
            ),
            (
                r#"{"baseUrl":"https://h","username":7,"password":"hunter22"}"#,
                "username",
            ),
            (
                r#"{"baseUrl":"https://h","username":"app","password":""}"#,
                "password",
            ),
        ] {
            let message = Account::parse(&SecretString::new(text), &source)
                .unwrap_err()
                .to_string();
            assert!(message.starts_with(field), "{message}");
            assert!(!message.contains("hunter22"), "{message}");
        }
    }

    #[test]
    fn a_new_password_keeps_every_other_key() {
        let source = ValueSource::new("arn:secret", "AWSCURRENT");
        let text = r#"{"baseUrl":"https://h","username":"app","password":"old","team":{"a":[1]}}"#;
        let account = Account::parse(&SecretString::new(text), &source).unwrap();
        assert_eq!(
            account.with_password(&SecretString::new("new")).expose(),
            r#"{"baseUrl":"https://h","username":"app","password":"new","team":{"a":[1]}}"#
        );
    }

    #[test]
    fn paths_are_added_to_the_base_and_encoded() {
        let account = |base: &str| {
            let text = json!({"baseUrl": base, "username": "a b", "password": "pw"}).to_string();
            Account::parse(&SecretString::new(text), &ValueSource::new("a", "v")).unwrap()
        };
        let path = ["v1", "users", "a b", "password"];
        assert_eq!(
            account("https://h/admin/").url(&path).as_str(),
            "https://h/admin/v1/users/a%20b/password"
        );
        assert_eq!(
            account("http://127.0.0.1:9").url(&path).as_str(),
            "http://127.0.0.1:9/v1/users/a%20b/password"
        );
    }
}
