//! Multi-user rotation: two database users, `user` and `user_clone`, take turns (AWS's
//! multi-user templates). While one is `AWSCURRENT`, the other gets a new password, so clients
//! holding the current credentials never see a refused login.
//!
//! createSecret writes the alternate user name (AWS's `get_alt_username`: strip a trailing
//! `_clone`, else append it) and a new password, keeping every other key.
//!
//! setSecret follows AWS's order and messages:
//!
//! 1. the pending credentials already log in: done (a re-run after a crash);
//! 2. the pending user must be the alternate of the current one, on the same host;
//! 3. the current credentials must still log in (the confused-deputy guard: whoever can start
//!    a rotation cannot use the master user to take over a user whose password they do not
//!    hold);
//! 4. the master secret that `masterarn` names (in `AWSCURRENT`) is read, its `dbname` replaced
//!    by the child's; it must be on the child's host, and it must log in;
//! 5. in the master session, the engine creates the pending user or adopts an existing one, sets
//!    its password and keeps the pair in step ([`CloneDatabase::set_alternate_user`]).
//!
//! The master secret may be a full RDS secret, or just `{"username", "password"}` (the form
//! RDS manages itself). In that second form, host, port, engine and TLS settings come from the
//! child secret: AWS's template looks them up through the RDS API instead, which this rotator
//! does not call (it needs no RDS permissions nor a route to the RDS endpoint). Read replicas
//! are not looked up either: the master secret must name the child's host.
//!
//! testSecret logs in with the pending credentials and runs the probe query, as single-user.

use async_trait::async_trait;
use rotation_core::{
    EngineFamily, JsonSecret, PasswordPolicy, RotationError, Rotator, SecretError, SecretString,
    StepContext, ValueSource, secret::json_type,
};
use serde_json::Value;
use tracing::info;

use crate::login::{Connector, Database, Endpoint, LoginError};
use crate::single_user::{Credentials, test_pending};

/// The suffix that marks the second user of a pair.
pub const CLONE_SUFFIX: &str = "_clone";

/// The other user of a pair (AWS's `get_alt_username`): `app` -> `app_clone`,
/// `app_clone` -> `app`. Case-sensitive, as AWS.
pub fn alternate_username(user: &str) -> String {
    match user.strip_suffix(CLONE_SUFFIX) {
        Some(original) => original.to_owned(),
        None => format!("{user}{CLONE_SUFFIX}"),
    }
}

/// The two users of a rotation: the one getting a new password, and the one that is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserPair<'a> {
    /// The pending user (gets the new password; created when it does not exist).
    pub pending: &'a str,
    /// The current user (its credentials were just proven to log in).
    pub current: &'a str,
}

impl<'a> UserPair<'a> {
    /// The original user: the one without the `_clone` suffix.
    pub fn original(&self) -> &'a str {
        if self.is_pending_original() {
            self.pending
        } else {
            self.current
        }
    }

    /// The clone: the original's name with `_clone`.
    pub fn clone_user(&self) -> &'a str {
        if self.is_pending_original() {
            self.current
        } else {
            self.pending
        }
    }

    /// Whether the pending user is the original (every second rotation).
    pub fn is_pending_original(&self) -> bool {
        self.current.strip_suffix(CLONE_SUFFIX) == Some(self.pending)
    }
}

/// What an engine adds to [`Database`] for multi-user rotation.
#[async_trait]
pub trait CloneDatabase: Database {
    /// The longest user name, for AWS's message
    /// (`... username length with _clone appended would exceed <n> characters`).
    fn username_limit(&self) -> usize;

    /// Whether a user name fits the engine's limit (PostgreSQL counts bytes, since it would
    /// silently truncate a longer name).
    fn username_fits(&self, name: &str) -> bool;

    /// In a session of the master user: creates `users.pending` (or adopts it when it already
    /// exists: only its password and the pair's settings change), sets its password, and keeps
    /// the pair in step so that either user can use what the other created. Atomic: all or
    /// nothing. The error must not contain the password.
    async fn set_alternate_user(
        &self,
        session: &mut Self::Session,
        users: UserPair<'_>,
        password: &SecretString,
    ) -> Result<(), String>;
}

/// The multi-user rotator for any [`CloneDatabase`].
#[derive(Debug)]
pub struct MultiUser<D> {
    connector: Connector<D>,
    policy: PasswordPolicy,
}

impl<D: CloneDatabase> MultiUser<D> {
    /// A rotator from an engine connector and a password policy.
    pub fn new(connector: Connector<D>, policy: PasswordPolicy) -> Self {
        MultiUser { connector, policy }
    }

    fn family(&self) -> EngineFamily {
        self.connector.database().family()
    }

    fn parse(
        &self,
        ctx: &StepContext<'_>,
        value: &SecretString,
        version: &str,
    ) -> Result<Credentials, RotationError> {
        Credentials::parse(value, self.family(), &ValueSource::new(ctx.arn, version))
    }

    /// The alternate of `user`, within the engine's limit (AWS's check and message).
    fn alternate(&self, ctx: &StepContext<'_>, user: &str) -> Result<String, RotationError> {
        let alternate = alternate_username(user);
        if !self.connector.database().username_fits(&alternate) {
            return Err(ctx.fail(format!(
                "Unable to clone user, username length with _clone appended would exceed {} characters",
                self.connector.database().username_limit()
            )));
        }
        Ok(alternate)
    }

    /// The master secret that `masterarn` names, as credentials for the child's database.
    async fn master(
        &self,
        ctx: &StepContext<'_>,
        current: &Credentials,
    ) -> Result<(String, Credentials), RotationError> {
        let Some(master_arn) = current.secret.masterarn.clone() else {
            return Err(SecretError::InvalidField {
                arn: ctx.arn.to_owned(),
                version: "AWSCURRENT".to_owned(),
                field: "masterarn",
                problem: "is missing: multi-user rotation changes the alternate user's password \
                          through the master secret it names; add \"masterarn\": \"<ARN of the \
                          master secret>\" to the secret"
                    .to_owned(),
            }
            .into());
        };
        let value = ctx.other_secret(&master_arn).await?.ok_or_else(|| {
            ctx.fail(format!(
                "the master secret {master_arn} (masterarn) has no AWSCURRENT value"
            ))
        })?;
        let source = ValueSource::new(master_arn.as_str(), "AWSCURRENT");
        let value = complete_master(&value, current, &source)?;
        let mut master = Credentials::parse(&value, self.family(), &source)?;
        // AWS: the master logs in to the child's database, whatever its own secret says.
        master.secret.dbname = current.secret.dbname.clone();
        Ok((master_arn, master))
    }

    fn unreachable(
        ctx: &StepContext<'_>,
        endpoint: &Endpoint,
        error: &LoginError,
    ) -> RotationError {
        ctx.fail(format!(
            "cannot log in to the database at {endpoint}: {error}"
        ))
    }
}

/// A master secret of the RDS-managed form (only `username` and `password`) takes everything
/// else (host, port, engine, TLS) from the child; any other form is used as it is.
fn complete_master(
    value: &SecretString,
    child: &Credentials,
    source: &ValueSource,
) -> Result<SecretString, SecretError> {
    let json = JsonSecret::parse(value, source)?;
    let mut keys: Vec<&str> = json.keys().collect();
    keys.sort_unstable();
    if keys != ["password", "username"] {
        return Ok(value.clone());
    }
    let text = |field: &'static str| match json.get(field) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text.as_str()),
        other => Err(SecretError::InvalidField {
            arn: source.arn.clone(),
            version: source.version.clone(),
            field,
            problem: match other {
                Some(Value::String(_)) => "is empty".to_owned(),
                Some(value) => format!("must be a string, not {}", json_type(value)),
                None => "is missing".to_owned(),
            },
        }),
    };
    let password = SecretString::new(text("password")?);
    Ok(child
        .secret
        .with_user_and_password(text("username")?, &password))
}

#[async_trait]
impl<D: CloneDatabase> Rotator for MultiUser<D> {
    async fn create(
        &self,
        ctx: &StepContext<'_>,
        current: &SecretString,
    ) -> Result<SecretString, RotationError> {
        let current = self.parse(ctx, current, "AWSCURRENT")?;
        let user = self.alternate(ctx, &current.secret.username)?;
        Ok(current
            .secret
            .with_user_and_password(&user, &self.policy.generate()))
    }

    async fn set(&self, ctx: &StepContext<'_>) -> Result<(), RotationError> {
        let pending = self.parse(ctx, ctx.pending().await?, "AWSPENDING")?;
        let current = self.parse(ctx, ctx.current().await?, "AWSCURRENT")?;
        // The pending and current logins, and the master secret with its login, all at once;
        // the outcomes are weighed in AWS's order below. The master session is only *used*
        // once the current credentials have proven themselves (the confused-deputy guard):
        // opening it early saves a Secrets Manager call and a login in sequence.
        let (pending_login, current_login) = (pending.login(), current.login());
        let master_attempt = async {
            match self.master(ctx, &current).await {
                Ok((arn, master)) if master.secret.host == current.secret.host => {
                    let login = master.login();
                    let session = self.connector.login(&login, ctx.deadline).await;
                    let endpoint = login.endpoint.clone();
                    (Ok((arn, master)), Some((endpoint, session)))
                }
                other => (other, None),
            }
        };
        let (by_pending, by_current, (master_found, master_session)) = tokio::join!(
            self.connector.login(&pending_login, ctx.deadline),
            self.connector.login(&current_login, ctx.deadline),
            master_attempt
        );
        let pending_error = match by_pending {
            Ok(_session) => {
                info!("setSecret: AWSPENDING already logs in; the password is already set");
                return Ok(());
            }
            Err(error) => error,
        };
        let (pending_user, current_user) = (&pending.secret.username, &current.secret.username);
        if self.alternate(ctx, current_user)? != *pending_user {
            return Err(ctx.fail(format!(
                "Attempting to modify user {pending_user} other than current user or clone {current_user}"
            )));
        }
        if pending.secret.host != current.secret.host {
            return Err(ctx.fail(format!(
                "Attempting to modify user for host {} other than current host {}",
                pending.secret.host, current.secret.host
            )));
        }
        // After the user and host checks, so that a pending value naming another host is
        // reported as such rather than as that host being unreachable.
        if !pending_error.is_rejection() {
            return Err(Self::unreachable(
                ctx,
                &pending_login.endpoint,
                &pending_error,
            ));
        }
        match by_current {
            Ok(_session) => info!("setSecret: AWSCURRENT logs in"),
            Err(error) if error.is_rejection() => {
                return Err(ctx.fail(format!(
                    "Unable to log into database using current credentials for secret {} ({error})",
                    ctx.arn
                )));
            }
            Err(error) => return Err(Self::unreachable(ctx, &current_login.endpoint, &error)),
        }
        let (master_arn, master) = master_found?;
        let Some((master_endpoint, master_session)) = master_session else {
            return Err(ctx.fail(format!(
                "Current database host {} is not the same host as/rds replica of master {} \
                 (master secret {master_arn}; this rotator does not look up RDS read replicas: \
                 the master secret must name the child's host)",
                current.secret.host, master.secret.host
            )));
        };
        let mut session = match master_session {
            Ok(session) => session,
            Err(error) if error.is_rejection() => {
                return Err(ctx.fail(format!(
                    "Unable to log into database using credentials in master secret {master_arn} ({error})"
                )));
            }
            Err(error) => return Err(Self::unreachable(ctx, &master_endpoint, &error)),
        };
        let users = UserPair {
            pending: pending_user,
            current: current_user,
        };
        let db = self.connector.database();
        self.connector
            .bounded(
                "setting the alternate user's password",
                ctx.deadline,
                db.set_alternate_user(&mut session, users, &pending.secret.password),
            )
            .await
            .map_err(|reason| {
                ctx.fail(format!(
                    "could not set the password of user {pending_user} at {} as the master user of {master_arn}: {reason}",
                    pending_login.endpoint
                ))
            })?;
        info!(user = %pending_user, "setSecret: alternate user's password set and the pair synchronised");
        Ok(())
    }

    async fn test(
        &self,
        ctx: &StepContext<'_>,
        pending: &SecretString,
    ) -> Result<(), RotationError> {
        let pending = self.parse(ctx, pending, "AWSPENDING")?;
        test_pending(&self.connector, ctx, &pending).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternate_usernames_follow_aws() {
        for (user, alternate) in [
            ("app", "app_clone"),
            ("app_clone", "app"),
            ("app_clone_clone", "app_clone"),
            ("app_CLONE", "app_CLONE_clone"),
            ("_clone", ""),
            ("üser", "üser_clone"),
        ] {
            assert_eq!(alternate_username(user), alternate, "{user}");
        }
    }

    #[test]
    fn pairs_know_their_original() {
        let first = UserPair {
            pending: "app_clone",
            current: "app",
        };
        assert_eq!((first.original(), first.clone_user()), ("app", "app_clone"));
        assert!(!first.is_pending_original());
        let second = UserPair {
            pending: "app",
            current: "app_clone",
        };
        assert_eq!(
            (second.original(), second.clone_user()),
            ("app", "app_clone")
        );
        assert!(second.is_pending_original());
    }

    fn child() -> Credentials {
        Credentials::parse(
            &SecretString::new(
                r#"{"engine":"postgres","host":"db","port":6000,"username":"app","password":"p","dbname":"shop","ssl":true,"masterarn":"arn:m"}"#,
            ),
            EngineFamily::Postgres,
            &ValueSource::new("arn:c", "AWSCURRENT"),
        )
        .unwrap()
    }

    #[test]
    fn a_username_and_password_master_takes_the_rest_from_the_child() {
        let source = ValueSource::new("arn:m", "AWSCURRENT");
        let value = complete_master(
            &SecretString::new(r#"{"username":"admin","password":"m"}"#),
            &child(),
            &source,
        )
        .unwrap();
        let master = Credentials::parse(&value, EngineFamily::Postgres, &source).unwrap();
        assert_eq!(master.secret.username, "admin");
        assert_eq!(master.secret.password.expose(), "m");
        assert_eq!(
            (master.secret.host.as_str(), master.secret.port),
            ("db", 6000)
        );
        assert_eq!(master.tls, crate::TlsMode::VerifyFull);
    }

    #[test]
    fn a_full_master_is_used_as_it_is() {
        let text = r#"{"engine":"postgres","host":"other","username":"admin","password":"m"}"#;
        let source = ValueSource::new("arn:m", "AWSCURRENT");
        let value = complete_master(&SecretString::new(text), &child(), &source).unwrap();
        assert_eq!(value.expose(), text);
    }

    #[test]
    fn a_malformed_master_names_the_master_and_not_the_password() {
        let source = ValueSource::new("arn:m", "AWSCURRENT");
        let error = complete_master(
            &SecretString::new(r#"{"username":"admin","password":42}"#),
            &child(),
            &source,
        )
        .unwrap_err()
        .to_string();
        assert!(error.starts_with("password key in secret JSON"), "{error}");
        assert!(error.contains("arn:m") && !error.contains("42"), "{error}");
    }
}
