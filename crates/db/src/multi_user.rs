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
//! 4. the master secret that `masterarn` names (in `AWSCURRENT`) is read, and where it may be
//!    used is decided ([`crate::master`]): the child's host and port must be the master
//!    secret's own, or one RDS or the operator gives for it; the master logs in there (never
//!    to the child's text), to the child's database, with the master secret's TLS settings
//!    ([`TlsMode::for_master`]: `ssl` absent, or the RDS form, is verified TLS with no
//!    plaintext fallback, since whoever answers "no TLS" on the way would get the password);
//! 5. in the master session, the engine creates the pending user or adopts an existing one, sets
//!    its password and keeps the pair in step ([`CloneDatabase::set_alternate_user`]).
//!
//! The master secret may be a full RDS secret (its `host` and `port` are where it is used), or
//! just `{"username", "password"}` (the form RDS manages itself). In that second form the host
//! comes from the operator's `MASTER_HOSTS` when it is set, else from RDS, as AWS's template
//! does: the secret's `aws:rds:primaryDBInstanceArn` / `aws:rds:primaryDBClusterArn` tag, then
//! DescribeDBInstances / DescribeDBClusters ([`crate::rds_lookup`]); a child may then also name
//! a read replica or reader endpoint that RDS returns. Never the child's own `host`: whoever
//! writes the child secret would otherwise receive the master password.
//!
//! The master login starts alongside the pending and current logins (the trust check comes
//! first, so it only ever goes to a trusted host), but its session is used only once the
//! current credentials have proven themselves.
//!
//! testSecret logs in with the pending credentials and runs the probe query, as single-user.

use async_trait::async_trait;
use rotation_core::master_arns::{MasterSecretArns, check_listed};
use rotation_core::{
    JsonSecret, PasswordPolicy, Report, RotationError, Rotator, SecretError, SecretString,
    StepContext, ValueSource, secret::json_type,
};
use serde_json::Value;
use tracing::info;

use crate::engine::EngineDescriptor;
use crate::error::SessionError;
use crate::login::{Connector, Database, Endpoint, Login, LoginError};
use crate::master::{HostPort, MasterHosts, TrustSource, TrustedHosts};
use crate::rds_lookup::{RdsLookup, rds_resource};
use crate::secret::RdsSecret;
use crate::single_user::{Credentials, test_pending};
use crate::tls::TlsMode;

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
    /// the pair in step so that either user can use what the other created. The error must not
    /// contain the password.
    ///
    /// What a failure leaves behind is the engine's to say, and to state in its impl's docs.
    /// Whatever it is, a repeated call must finish the work: setSecret is retried, and the
    /// pending password must not log in before the last change (so a retry starts over
    /// rather than stopping early). PostgreSQL runs every statement in one transaction (all
    /// or nothing); MySQL and MariaDB commit account statements one by one, so a failure may
    /// leave some done, each of which a repeated call does again harmlessly.
    async fn set_alternate_user(
        &self,
        session: &mut Self::Session,
        users: UserPair<'_>,
        password: &SecretString,
    ) -> Result<(), SessionError>;
}

/// The multi-user rotator for any [`CloneDatabase`].
#[derive(Debug)]
pub struct MultiUser<D> {
    connector: Connector<D>,
    policy: PasswordPolicy,
    master_hosts: Option<MasterHosts>,
    master_arns: Option<MasterSecretArns>,
    rds: RdsLookup,
}

impl<D: CloneDatabase> MultiUser<D> {
    /// A rotator from an engine connector and a password policy. A master secret without
    /// `host` is located through RDS; see [`MultiUser::with_master_hosts`].
    pub fn new(connector: Connector<D>, policy: PasswordPolicy) -> Self {
        MultiUser {
            connector,
            policy,
            master_hosts: None,
            master_arns: None,
            rds: RdsLookup::new(),
        }
    }

    /// Uses the operator's list of hosts (`MASTER_HOSTS`) instead of RDS for master secrets
    /// without `host`; `None` keeps RDS.
    pub fn with_master_hosts(mut self, hosts: Option<MasterHosts>) -> Self {
        self.master_hosts = hosts;
        self
    }

    /// Accepts only the master secrets the operator lists (`MASTER_SECRET_ARNS`) in
    /// `masterarn`; `None` accepts any the function can read.
    pub fn with_master_secret_arns(mut self, arns: Option<MasterSecretArns>) -> Self {
        self.master_arns = arns;
        self
    }

    /// Uses another RDS look-up (one over a given client).
    pub fn with_rds(mut self, rds: RdsLookup) -> Self {
        self.rds = rds;
        self
    }

    fn parse(
        &self,
        ctx: &StepContext<'_>,
        value: &SecretString,
        version: &str,
    ) -> Result<Credentials, RotationError> {
        Credentials::parse(value, D::ENGINE, &ValueSource::new(ctx.arn, version))
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

    /// The master secret that `masterarn` names, with the endpoint a trusted source gives for
    /// the child's host (an error naming both when none does).
    async fn master(
        &self,
        ctx: &StepContext<'_>,
        current: &Credentials,
    ) -> Result<Master, RotationError> {
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
        // The team wrote masterarn: a master the operator did not list is never read.
        check_listed(self.master_arns.as_ref(), "masterarn", &master_arn)
            .map_err(|refusal| ctx.fail(refusal))?;
        let value = ctx.other_secret(&master_arn).await?.ok_or_else(|| {
            ctx.fail(format!(
                "the master secret {master_arn} (masterarn) has no AWSCURRENT value"
            ))
        })?;
        let source = ValueSource::new(master_arn.as_str(), "AWSCURRENT");
        let child = HostPort::new(&current.secret.host, current.secret.port);
        let (username, password, tls, trusted) =
            match MasterForm::parse(&value, D::ENGINE, &source)? {
                MasterForm::Full(master) => {
                    let trusted = TrustedHosts {
                        source: TrustSource::MasterSecret,
                        primaries: vec![HostPort::new(&master.secret.host, master.secret.port)],
                        replicas: Vec::new(),
                    };
                    let Credentials { secret, tls } = *master;
                    (secret.username, secret.password, tls, trusted)
                }
                MasterForm::RdsManaged { username, password } => {
                    let trusted = self.managed_hosts(ctx, &master_arn, &child).await?;
                    // The RDS-managed form has no TLS settings: verified TLS with no plaintext
                    // fallback (RDS always offers TLS), never the child's settings.
                    (
                        username,
                        password,
                        TlsMode::for_rds_managed_master(),
                        trusted,
                    )
                }
            };
        let endpoint = trusted
            .endpoint_for(&child)
            .map_err(|refusal| ctx.fail(format!("{refusal} (master secret {master_arn})")))?;
        info!(master = %endpoint, trusted_by = %trusted.source, "setSecret: the master's endpoint");
        Ok(Master {
            arn: master_arn,
            username,
            password,
            endpoint,
            tls,
        })
    }

    /// Where a master secret of the RDS-managed form may be used: the operator's list when
    /// there is one, else what RDS says about the database its tag names.
    async fn managed_hosts(
        &self,
        ctx: &StepContext<'_>,
        master_arn: &str,
        child: &HostPort,
    ) -> Result<TrustedHosts, RotationError> {
        if let Some(hosts) = &self.master_hosts {
            return Ok(TrustedHosts {
                source: TrustSource::Operator,
                primaries: hosts.endpoints(D::ENGINE.default_port()),
                replicas: Vec::new(),
            });
        }
        let limit = ctx.deadline.remaining();
        let tags = tokio::time::timeout(limit, ctx.other_secret_tags(master_arn))
            .await
            .map_err(|_| {
                ctx.fail(format!(
                    "DescribeSecret of the master secret {master_arn} did not answer within {} ms",
                    limit.as_millis()
                ))
            })?
            .map_err(|error| {
                ctx.fail(format!(
                    "the master secret {master_arn} has only username and password, so its \
                     host must come from RDS (its aws:rds tags, read with DescribeSecret) or \
                     from {MASTER_HOSTS}; reading its tags failed: {error}",
                    MASTER_HOSTS = crate::master::MASTER_HOSTS_VARIABLE
                ))
            })?;
        let Some(resource) = rds_resource(&tags) else {
            return Err(ctx.fail(format!(
                "the master secret {master_arn} has only username and password (the form RDS \
                 manages), but no aws:rds:primaryDBInstanceArn or aws:rds:primaryDBClusterArn \
                 tag names its database, and {MASTER_HOSTS} is not set: the master password is \
                 not sent to the host the child secret names ({child}). Add \"host\" and \
                 \"port\" to the master secret, or list the database's endpoints in \
                 {MASTER_HOSTS}",
                MASTER_HOSTS = crate::master::MASTER_HOSTS_VARIABLE
            )));
        };
        let endpoints = self
            .rds
            .endpoints(&resource, ctx.deadline)
            .await
            .map_err(|error| ctx.fail(format!("{error} (master secret {master_arn})")))?;
        Ok(TrustedHosts {
            source: TrustSource::Rds {
                resource: resource.arn,
            },
            primaries: vec![endpoints.writer],
            replicas: endpoints.readers,
        })
    }

    /// AWS's checks of a pending value that does not log in, in AWS's order: it must name
    /// the current user's alternate on the current host, and its login must have been
    /// refused (not unanswered).
    fn check_pair(
        &self,
        ctx: &StepContext<'_>,
        pending: &Credentials,
        current: &Credentials,
        pending_error: &LoginError,
    ) -> Result<(), RotationError> {
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
                &pending.login().endpoint,
                pending_error,
            ));
        }
        Ok(())
    }

    /// The master's session, or the error that says why there is none (with the way out of a
    /// TLS failure, which the master secret's own keys decide).
    fn master_session(
        ctx: &StepContext<'_>,
        master: &Master,
        endpoint: &Endpoint,
        session: Result<D::Session, LoginError>,
    ) -> Result<D::Session, RotationError> {
        let master_arn = &master.arn;
        match session {
            Ok(session) => Ok(session),
            Err(error) if error.is_rejection() => Err(ctx.fail(format!(
                "Unable to log into database using credentials in master secret {master_arn} ({error})"
            ))),
            Err(error) => match master_tls_hint(master.tls, &error) {
                Some(hint) => Err(ctx.fail(format!(
                    "cannot log in to the database at {endpoint} with the master secret \
                     {master_arn}: {error}; {hint}"
                ))),
                None => Err(Self::unreachable(ctx, endpoint, &error)),
            },
        }
    }

    /// Sets the pending user's password as the master, and brings the pair in line.
    async fn set_alternate(
        &self,
        ctx: &StepContext<'_>,
        session: &mut D::Session,
        users: UserPair<'_>,
        pending: &Credentials,
        master_arn: &str,
    ) -> Result<(), RotationError> {
        let db = self.connector.database();
        self.connector
            .bounded(
                "setting the alternate user's password",
                ctx.deadline,
                db.set_alternate_user(session, users, &pending.secret.password),
            )
            .await
            .map_err(|reason| {
                ctx.fail(format!(
                    "could not set the password of user {} at {} as the master user of {master_arn}: {reason}",
                    users.pending,
                    pending.login().endpoint
                ))
            })?;
        info!(user = %users.pending, "setSecret: alternate user's password set and the pair synchronised");
        Ok(())
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

/// The master's credentials and where a trusted source says they may be used.
struct Master {
    arn: String,
    username: String,
    password: SecretString,
    endpoint: HostPort,
    tls: TlsMode,
}

impl Master {
    /// The master's login: to the trusted endpoint, in the child's database (AWS: whatever
    /// database the master secret names).
    fn login(&self, dbname: Option<String>) -> Login<'_> {
        Login {
            endpoint: Endpoint {
                host: self.endpoint.host.clone(),
                port: self.endpoint.port,
                dbname,
            },
            user: &self.username,
            password: &self.password,
            tls: self.tls,
        }
    }
}

/// What to add to a master login's TLS failure: the master's TLS is its own secret's choice,
/// so the way out is a key in the master secret. `None` for failures that are not about TLS.
fn master_tls_hint(mode: TlsMode, error: &LoginError) -> Option<&'static str> {
    match (error, mode) {
        (LoginError::NoTls(_), TlsMode::VerifyFull) => Some(
            "the master login requires verified TLS and never falls back to plaintext, since \
             whoever answers \"no TLS\" on the way would receive the master password (RDS \
             always offers TLS). To allow plaintext for this master, the master secret must \
             say so: \"ssl\": false, or \"sslmode\": \"prefer\" or \"disable\" (a master \
             secret of only username and password then needs its engine, host and port too)",
        ),
        (LoginError::NoTls(_), _) => Some(
            "the master secret's \"ssl\"/\"sslmode\" requires TLS; to allow plaintext, set \
             \"ssl\": false or \"sslmode\": \"prefer\" in the master secret",
        ),
        (LoginError::Tls(_), _) => Some(
            "the TLS settings that apply are the master secret's own (\"ssl\", \"sslmode\"), \
             not the child's",
        ),
        _ => None,
    }
}

/// The two forms of a master secret.
enum MasterForm {
    /// A full RDS secret: its own host, port and TLS settings (boxed: it is the large one).
    Full(Box<Credentials>),
    /// Only `username` and `password`: the form RDS manages itself.
    RdsManaged {
        username: String,
        password: SecretString,
    },
}

impl MasterForm {
    fn parse(
        value: &SecretString,
        engine: &EngineDescriptor,
        source: &ValueSource,
    ) -> Result<MasterForm, RotationError> {
        let json = JsonSecret::parse(value, source)?;
        let mut keys: Vec<&str> = json.keys().collect();
        keys.sort_unstable();
        if keys != ["password", "username"] {
            let secret = RdsSecret::parse(value, engine, source)?;
            // Not the child's default: `ssl` absent means verified TLS with no fallback.
            let tls = TlsMode::for_master(&secret, source)?;
            return Ok(MasterForm::Full(Box::new(Credentials { secret, tls })));
        }
        let text = |field: &'static str| match json.get(field) {
            Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
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
        Ok(MasterForm::RdsManaged {
            password: SecretString::new(text("password")?),
            username: text("username")?,
        })
    }
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
            // The trust check comes first: no master login to a host no trusted source named.
            let master = self.master(ctx, &current).await?;
            let session = self
                .connector
                .login(&master.login(current.secret.dbname.clone()), ctx.deadline)
                .await;
            Ok::<_, RotationError>((master, session))
        };
        let (by_pending, by_current, master_attempt) = tokio::join!(
            self.connector.login(&pending_login, ctx.deadline),
            self.connector.login(&current_login, ctx.deadline),
            master_attempt
        );
        let Err(pending_error) = by_pending else {
            info!("setSecret: AWSPENDING already logs in; the password is already set");
            return Ok(());
        };
        self.check_pair(ctx, &pending, &current, &pending_error)?;
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
        let (master, master_session) = master_attempt?;
        let endpoint = master.login(current.secret.dbname.clone()).endpoint;
        let mut session = Self::master_session(ctx, &master, &endpoint, master_session)?;
        let users = UserPair {
            pending: &pending.secret.username,
            current: &current.secret.username,
        };
        self.set_alternate(ctx, &mut session, users, &pending, &master.arn)
            .await
    }

    async fn test(
        &self,
        ctx: &StepContext<'_>,
        pending: &SecretString,
    ) -> Result<(), RotationError> {
        let pending = self.parse(ctx, pending, "AWSPENDING")?;
        test_pending(&self.connector, ctx, &pending).await
    }

    /// The single-user checks, then the alternate user's name, the master secret (listed,
    /// readable, of a trusted host) and the master logging in there.
    async fn preflight(&self, ctx: &StepContext<'_>, current: &SecretString, report: &mut Report) {
        // A master secret the operator listed is never logged in with as a child.
        if let Some(arns) = &self.master_arns
            && arns.check("SecretId", ctx.arn).is_ok()
        {
            report.fail(
                "secret-json",
                format!(
                    "{} is a master secret (MASTER_SECRET_ARNS), not one to rotate",
                    ctx.arn
                ),
                "run the preflight on the secrets that name it in masterarn",
            );
            return;
        }
        crate::preflight::password_policy(&self.policy, report);
        let Some(current) = crate::preflight::secret_json::<D>(ctx, current, report) else {
            for check in ["alternate-username", "current-login", "master-secret"] {
                report.skip(check, "needs a valid secret");
            }
            return;
        };
        let user = &current.secret.username;
        match self.alternate(ctx, user) {
            Ok(alternate) => report.pass(
                "alternate-username",
                format!("{user} alternates with {alternate}"),
            ),
            Err(problem) => report.fail(
                "alternate-username",
                problem.to_string(),
                format!(
                    "the user name may have at most {} characters before \"{CLONE_SUFFIX}\" \
                     is appended: rotate a user with a shorter name",
                    self.connector
                        .database()
                        .username_limit()
                        .saturating_sub(CLONE_SUFFIX.len())
                ),
            ),
        }
        crate::preflight::current_login(&self.connector, ctx, &current, report).await;
        let master = match self.master(ctx, &current).await {
            Ok(master) => master,
            Err(problem) => {
                report.fail(
                    "master-secret",
                    problem.to_string(),
                    "masterarn must name a master secret this function may read (and that \
                     MASTER_SECRET_ARNS lists, when set), for the child's own host: the master \
                     secret's host and port, one RDS gives for it, or one in MASTER_HOSTS",
                );
                report.skip("master-login", "needs the master secret");
                return;
            }
        };
        report.pass(
            "master-secret",
            format!(
                "{} (user {}) may be used at {}",
                master.arn, master.username, master.endpoint
            ),
        );
        let login = master.login(current.secret.dbname.clone());
        let session = self.connector.login(&login, ctx.deadline).await;
        match Self::master_session(ctx, &master, &login.endpoint, session) {
            Ok(_session) => report.pass(
                "master-login",
                format!(
                    "the master user {} logged in at {}",
                    master.username, login.endpoint
                ),
            ),
            Err(problem) => report.fail(
                "master-login",
                problem.to_string(),
                "the master secret's password must be the master user's, and the master must \
                 reach the child's database with the master secret's TLS settings",
            ),
        }
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

    /// An engine as an engine crate declares one.
    const ENGINE: EngineDescriptor = EngineDescriptor::new(&["postgres"], 5432, "");

    fn form(text: &str) -> Result<MasterForm, RotationError> {
        MasterForm::parse(
            &SecretString::new(text),
            &ENGINE,
            &ValueSource::new("arn:m", "AWSCURRENT"),
        )
    }

    #[test]
    fn a_username_and_password_master_is_the_rds_managed_form() {
        match form(r#"{"username":"admin","password":"m"}"#).unwrap() {
            MasterForm::RdsManaged { username, password } => {
                assert_eq!((username.as_str(), password.expose()), ("admin", "m"));
            }
            MasterForm::Full(_) => panic!("only username and password is the RDS-managed form"),
        }
    }

    #[test]
    fn a_full_master_keeps_its_own_host_port_and_tls() {
        let text = r#"{"engine":"postgres","host":"other","port":6000,"username":"admin","password":"m","sslmode":"require"}"#;
        match form(text).unwrap() {
            MasterForm::Full(master) => {
                assert_eq!(
                    (master.secret.host.as_str(), master.secret.port),
                    ("other", 6000)
                );
                assert_eq!(master.tls, TlsMode::Require);
            }
            MasterForm::RdsManaged { .. } => panic!("a master with a host is the full form"),
        }
        // `ssl` absent in a master: verified TLS with no plaintext fallback; the master secret
        // alone can opt out.
        for (extra, expected) in [
            ("", TlsMode::VerifyFull),
            (r#","ssl":"maybe""#, TlsMode::VerifyFull),
            (r#","ssl":true"#, TlsMode::VerifyFull),
            (r#","ssl":false"#, TlsMode::Disable),
            (r#","sslmode":"prefer""#, TlsMode::Prefer { verify: false }),
            (r#","sslmode":"disable""#, TlsMode::Disable),
        ] {
            let text = format!(
                r#"{{"engine":"postgres","host":"h","username":"admin","password":"m"{extra}}}"#
            );
            match form(&text).unwrap() {
                MasterForm::Full(master) => assert_eq!(master.tls, expected, "{extra}"),
                MasterForm::RdsManaged { .. } => panic!("a master with a host is the full form"),
            }
        }
        // More than username and password is the full form, validated as such (AWS's order:
        // the engine first, then host).
        let error = form(r#"{"username":"admin","password":"m","ssl":true}"#)
            .err()
            .expect("a master with more than username and password is the full form")
            .to_string();
        assert!(error.contains("has no engine key"), "{error}");
        let error = form(r#"{"engine":"postgres","username":"admin","password":"m","ssl":true}"#)
            .err()
            .expect("a full master needs a host")
            .to_string();
        assert!(error.contains("host key is missing"), "{error}");
    }

    #[test]
    fn a_master_tls_failure_says_how_the_master_secret_opts_out() {
        let no_tls = LoginError::NoTls("server does not support TLS".into());
        let failed = LoginError::Tls("invalid peer certificate: UnknownIssuer".into());
        let refused = LoginError::Rejected("password authentication failed".into());
        // (mode, error, expected text in the hint; None: no hint)
        let cases = [
            (TlsMode::VerifyFull, &no_tls, Some(r#""ssl": false"#)),
            (
                TlsMode::VerifyFull,
                &no_tls,
                Some("never falls back to plaintext"),
            ),
            (TlsMode::Require, &no_tls, Some(r#""sslmode": "prefer""#)),
            (TlsMode::VerifyFull, &failed, Some("master secret's own")),
            (TlsMode::VerifyFull, &refused, None),
            (TlsMode::Disable, &refused, None),
        ];
        for (mode, error, expected) in cases {
            let hint = master_tls_hint(mode, error);
            match expected {
                Some(text) => assert!(
                    hint.is_some_and(|hint| hint.contains(text)),
                    "{mode:?} {error}: {hint:?}"
                ),
                None => assert_eq!(hint, None, "{mode:?} {error}"),
            }
        }
        assert_eq!(TlsMode::for_rds_managed_master(), TlsMode::VerifyFull);
    }

    #[test]
    fn a_malformed_master_names_the_master_and_not_the_password() {
        let error = form(r#"{"username":"admin","password":42}"#)
            .err()
            .expect("a number is no password")
            .to_string();
        assert!(error.starts_with("password key in secret JSON"), "{error}");
        assert!(error.contains("arn:m") && !error.contains("42"), "{error}");
        let error =
            form(r#"{"username":"admin","password":"Sécret-1"}"#.replace("Sécret-1", "").as_str())
                .err()
                .expect("an empty password is refused")
                .to_string();
        assert!(error.contains("is empty"), "{error}");
    }
}
