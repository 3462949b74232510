//! The database rotators' preflight checks ([`rotation_core::preflight`]): the secret's JSON,
//! the password policy, the database reached, its TLS (and which certificate authority), and
//! the current credentials logging in and running the test query. Each only reads: a login and
//! a probe query, never a change.

use rotation_core::preflight::Report;
use rotation_core::{PasswordPolicy, SecretString, StepContext, ValueSource};

use crate::login::{Connector, Database, Endpoint, LoginError};
use crate::single_user::Credentials;
use crate::tls::{TlsMode, Verification};

/// The `secret-json` check: the current value parsed as the engine's secret.
pub(crate) fn secret_json<D: Database>(
    ctx: &StepContext<'_>,
    current: &SecretString,
    report: &mut Report,
) -> Option<Credentials> {
    let source = ValueSource::new(ctx.arn, "AWSCURRENT");
    match Credentials::parse(current, D::ENGINE, &source) {
        Ok(credentials) => {
            let secret = &credentials.secret;
            report.pass(
                "secret-json",
                format!(
                    "engine {}, user {} at {}:{}{}, TLS {}",
                    secret.engine,
                    secret.username,
                    secret.host,
                    secret.port,
                    secret
                        .dbname
                        .as_deref()
                        .map(|db| format!(", database {db}"))
                        .unwrap_or_default(),
                    tls_mode_name(credentials.tls)
                ),
            );
            Some(credentials)
        }
        Err(problem) => {
            report.fail(
                "secret-json",
                problem.to_string(),
                format!(
                    "correct the field the message names, then store the whole JSON again: aws \
                     secretsmanager put-secret-value --secret-id {} --secret-string \
                     file://secret.json",
                    ctx.arn
                ),
            );
            None
        }
    }
}

/// The `password-policy` check: the policy generates a password of its length (the value is
/// dropped at once, never shown).
pub(crate) fn password_policy(policy: &PasswordPolicy, report: &mut Report) {
    let generated = policy.generate();
    let length = generated.expose().chars().count();
    drop(generated);
    if length == policy.length() {
        report.pass(
            "password-policy",
            format!(
                "generates passwords of {length} characters (PASSWORD_LENGTH, \
                 EXCLUDE_CHARACTERS and the other variables as set)"
            ),
        );
    } else {
        report.fail(
            "password-policy",
            format!("generated {length} characters, not {}", policy.length()),
            "check PASSWORD_LENGTH and EXCLUDE_CHARACTERS",
        );
    }
}

/// The `database`, `tls` and `current-login` checks: the current credentials log in (with
/// the secret's TLS settings, as a rotation would, except that the password never goes in
/// plaintext the secret did not ask for explicitly) and run the test query; the server's
/// certificate and its authority are named. Returns whether the login and the query worked.
pub(crate) async fn current_login<D: Database>(
    connector: &Connector<D>,
    ctx: &StepContext<'_>,
    current: &Credentials,
    report: &mut Report,
) -> bool {
    let mut login = current.login();
    // With `ssl` absent a rotation falls back to plaintext when the server offers no TLS. The
    // preflight may be pointed at any secret the function can read (a master secret, whose own
    // rule is never plaintext unless it says so): it requires TLS, and reports the fallback
    // without sending the password.
    let implicit_fallback = current.tls == TlsMode::Prefer { verify: true };
    if implicit_fallback {
        login.tls = TlsMode::VerifyFull;
    }
    let endpoint = &login.endpoint;
    let logged_in = connector.login_with_protection(&login, ctx.deadline).await;
    // The certificate is read only when it tells something (a login that used TLS, or a
    // failed handshake): an abandoned handshake counts against MySQL's max_connect_errors.
    let read_certificate = match &logged_in {
        Ok((_, protection)) => protection.is_some(),
        Err(error) => matches!(error, LoginError::Tls(_)),
    };
    let certificate_text = if read_certificate {
        match connector.server_certificate(endpoint, ctx.deadline).await {
            Ok(Some(certificate)) => format!("; the server's {certificate}"),
            Ok(None) => "; the server offers no TLS".to_owned(),
            Err(problem) => format!("; its certificate could not be read: {problem}"),
        }
    } else {
        String::new()
    };
    let (mut session, protection) = match logged_in {
        Ok(logged_in) => logged_in,
        Err(LoginError::NoTls(reason)) if implicit_fallback => {
            report.pass("database", format!("{endpoint} answered"));
            report.warn(
                "tls",
                format!(
                    "the server offers no TLS ({reason}): with \"ssl\" absent a rotation logs \
                     in in PLAINTEXT; the preflight did not send the password"
                ),
                "turn TLS on at the server (RDS always offers it), or, to accept plaintext, \
                 say so in the secret: \"ssl\": false",
            );
            report.skip("current-login", "not tried in plaintext");
            return false;
        }
        Err(error) => {
            login_failure(ctx, endpoint, current, &error, &certificate_text, report);
            return false;
        }
    };
    report.pass("database", format!("{endpoint} answered"));
    tls_outcome(current.tls, protection, &certificate_text, report);
    let db = connector.database();
    let probed = connector
        .bounded("the test query", ctx.deadline, db.probe(&mut session))
        .await;
    match probed {
        Ok(()) => {
            report.pass(
                "current-login",
                format!(
                    "user {} logged in at {endpoint} with AWSCURRENT and ran the test query",
                    current.secret.username
                ),
            );
            true
        }
        Err(problem) => {
            report.fail(
                "current-login",
                format!(
                    "user {} logged in, but the test query failed: {problem}",
                    current.secret.username
                ),
                "the user needs to be able to connect to its database and run SELECT",
            );
            false
        }
    }
}

/// The checks a failed login fails, with the fix for its kind.
fn login_failure(
    ctx: &StepContext<'_>,
    endpoint: &Endpoint,
    current: &Credentials,
    error: &LoginError,
    certificate: &str,
    report: &mut Report,
) {
    let user = &current.secret.username;
    match error {
        LoginError::Unreachable(_) => {
            report.fail(
                "database",
                error.to_string(),
                format!(
                    "the function cannot reach {endpoint}: put it in subnets that route to the \
                     database, allow the port from the function's security group in the \
                     database's, and check that {} resolves from the function's VPC",
                    endpoint.host
                ),
            );
            report.skip("tls", "needs the database to answer");
            report.skip("current-login", "needs the database to answer");
        }
        LoginError::NoTls(_) | LoginError::Tls(_) => {
            report.pass("database", format!("{endpoint} answered"));
            report.fail("tls", format!("{error}{certificate}"), tls_fix(error));
            report.skip("current-login", "needs TLS to succeed");
        }
        LoginError::Rejected(_) => {
            report.pass("database", format!("{endpoint} answered"));
            report.skip(
                "tls",
                "the login was refused before its protection could be told",
            );
            report.fail(
                "current-login",
                format!("{endpoint} refused AWSCURRENT's credentials for user {user}: {error}"),
                format!(
                    "the password in AWSCURRENT is not the database's (changed elsewhere, or \
                     lost): as an administrator, set user {user}'s password to the secret's \
                     (read it with aws secretsmanager get-secret-value --secret-id {}), or \
                     store the database's password in the secret with put-secret-value; see \
                     the README's runbook",
                    ctx.arn
                ),
            );
        }
        LoginError::Failed(_) => {
            report.pass("database", format!("{endpoint} answered"));
            report.fail(
                "current-login",
                format!("logging in as {user} at {endpoint} failed: {error}"),
                "see the server's message: the database may be missing, or the server not ready",
            );
        }
    }
}

fn tls_fix(error: &LoginError) -> &'static str {
    match error {
        LoginError::NoTls(_) => {
            "the secret requires TLS and the server offers none: turn TLS on at the server \
             (RDS always offers it), or allow plaintext in the secret (\"ssl\": false or \
             \"sslmode\": \"prefer\")"
        }
        _ => {
            "if you trust the certificate authority named above, give its certificate (from \
             its owner, not from this report) in DATABASE_CA_BUNDLE, a PEM file in the \
             function's package; if the host name is what fails, use the name the certificate \
             is for in the secret's \"host\""
        }
    }
}

/// The `tls` check after a login: how the session is protected, against what the secret
/// asked for.
fn tls_outcome(
    mode: TlsMode,
    protection: Option<Verification>,
    certificate: &str,
    report: &mut Report,
) {
    match protection {
        Some(Verification::Full) => report.pass(
            "tls",
            format!("verified TLS (certificate chain and host name){certificate}"),
        ),
        Some(Verification::CaOnly) => report.warn(
            "tls",
            format!("TLS with the certificate chain verified, not the host name{certificate}"),
            "for the host name checked too, set \"sslmode\": \"verify-full\" in the secret",
        ),
        Some(Verification::None) => report.warn(
            "tls",
            format!("encrypted, but the server is not authenticated{certificate}"),
            "verify the server: \"ssl\": true or \"sslmode\": \"verify-full\" in the secret \
             (DATABASE_CA_BUNDLE for a private authority)",
        ),
        None if mode.first_attempt().is_some() => report.warn(
            "tls",
            format!("the server offers no TLS: the login went in PLAINTEXT, as the secret allows{certificate}"),
            "turn TLS on at the server, then \"ssl\": true in the secret to require it",
        ),
        None => report.warn(
            "tls",
            "PLAINTEXT: the secret turns TLS off",
            "remove \"ssl\": false / \"sslmode\": \"disable\" from the secret once the server \
             offers TLS",
        ),
    }
}

/// How a TLS mode reads in a report.
fn tls_mode_name(mode: TlsMode) -> &'static str {
    match mode {
        TlsMode::Prefer { verify: true } => "verified when offered (ssl absent)",
        TlsMode::Prefer { verify: false } => "unverified when offered (sslmode prefer)",
        TlsMode::Require => "required, unverified (sslmode require)",
        TlsMode::VerifyCa => "required, chain verified (sslmode verify-ca)",
        TlsMode::VerifyFull => "required and verified",
        TlsMode::Disable => "off",
    }
}
