//! The rotator: createSecret, setSecret and testSecret for one ACL user, or for a pair.
//!
//! Single-user (no `masterarn`), as the database rotators' single-user algorithm: setSecret
//! is done when the pending password already authenticates; else it authenticates with the
//! current password, then the previous one, and runs `ACL SETUSER <user> resetpass
//! ><pending>` as the user itself, so the old password stops working at once.
//!
//! Multi-user (with `masterarn`), as the database rotators' multi-user algorithm: `user` and
//! `user_clone` take turns. setSecret is done when the pending password already
//! authenticates; else the pending user must be the alternate of the current one on the same
//! server, the current credentials must authenticate (so that whoever can start a rotation
//! cannot use the master to take over a user whose password they do not hold), the child's
//! server must be the master secret's own (`host`, `port`) or, for a master secret without
//! `host`, one the operator lists in `MASTER_HOSTS`, and then, logged in there as the master
//! user: the clone is `reset` and given the pending password and the original's
//! rules (see [`crate::acl`]); or, every second rotation, the original gets the pending
//! password in place of its old one, its rules untouched. The user that was current keeps
//! working until the next rotation.
//!
//! testSecret authenticates with the pending credentials and runs `PING`.

use async_trait::async_trait;
use rotation_core::master_arns::{MasterSecretArns, check_listed};
use rotation_core::{
    PasswordPolicy, RotationError, Rotator, SecretString, StepContext, ValueSource,
};
use rotation_db::{
    HostPort, MASTER_HOSTS_VARIABLE, MasterHosts, TrustSource, TrustedHosts, UserPair,
    alternate_username,
};
use tracing::{info, warn};

use crate::acl;
use crate::secret::{DEFAULT_PORT, MasterSecret, RedisSecret};
use crate::session::{Endpoint, RedisError, Session, redact};

/// The `redis-acl` rotator.
#[derive(Debug)]
pub struct RedisAclRotator {
    policy: PasswordPolicy,
    master_hosts: Option<MasterHosts>,
    master_arns: Option<MasterSecretArns>,
}

impl RedisAclRotator {
    /// A rotator that generates passwords with `policy`; a master secret must name its
    /// server (see [`RedisAclRotator::with_master_hosts`]).
    pub fn new(policy: PasswordPolicy) -> RedisAclRotator {
        RedisAclRotator {
            policy,
            master_hosts: None,
            master_arns: None,
        }
    }

    /// The servers (`MASTER_HOSTS`) where a master secret without `host` may be used.
    pub fn with_master_hosts(mut self, hosts: Option<MasterHosts>) -> RedisAclRotator {
        self.master_hosts = hosts;
        self
    }

    /// The only secrets `masterarn` may name (`MASTER_SECRET_ARNS`); `None` allows any.
    pub fn with_master_secret_arns(mut self, arns: Option<MasterSecretArns>) -> RedisAclRotator {
        self.master_arns = arns;
        self
    }

    fn parse(
        ctx: &StepContext<'_>,
        value: &SecretString,
        version: &str,
    ) -> Result<RedisSecret, RotationError> {
        Ok(RedisSecret::parse(
            value,
            &ValueSource::new(ctx.arn, version),
        )?)
    }

    /// Single-user setSecret, after the pending password was refused.
    async fn set_own_password(
        ctx: &StepContext<'_>,
        pending: &RedisSecret,
        current: &RedisSecret,
        refusal: RedisError,
    ) -> Result<(), RotationError> {
        check_same_account(ctx, pending, current, "current")?;
        let mut refusals = vec![format!("pending: {refusal}")];
        let mut session = match login(ctx, current).await {
            Ok(session) => {
                info!("setSecret: logged in with AWSCURRENT");
                session
            }
            Err(error) if error.is_rejection() => {
                refusals.push(format!("current: {error}"));
                previous_session(ctx, pending, &mut refusals).await?
            }
            Err(error) => return Err(unreachable(ctx, current, &error)),
        };
        let user = &pending.username;
        set_password(&mut session, user, &pending.password, &["resetpass"])
            .await
            .map_err(|reason| {
                let hint = if reason.contains("NOPERM") {
                    "; in single-user rotation the user changes its own password, so it needs \
                     +acl|setuser, which lets it change any user: prefer multi-user rotation \
                     (add masterarn to the secret)"
                } else {
                    ""
                };
                ctx.fail(format!(
                    "could not change the password of ACL user {user} at {}: {reason}{hint}",
                    pending.endpoint()
                ))
            })?;
        info!(user = %user, "setSecret: password changed");
        Ok(())
    }

    /// Multi-user setSecret, after the pending password was refused or failed.
    async fn set_alternate(
        &self,
        ctx: &StepContext<'_>,
        pending: &RedisSecret,
        current: &RedisSecret,
        master_arn: &str,
        pending_error: RedisError,
    ) -> Result<(), RotationError> {
        let (pending_user, current_user) = (&pending.username, &current.username);
        if alternate_username(current_user) != *pending_user {
            return Err(ctx.fail(format!(
                "Attempting to modify user {pending_user} other than current user or clone {current_user}"
            )));
        }
        if pending.endpoint() != current.endpoint() {
            return Err(ctx.fail(format!(
                "Attempting to modify user for host {} other than current host {}",
                pending.endpoint(),
                current.endpoint()
            )));
        }
        if !pending_error.is_rejection() {
            return Err(unreachable(ctx, pending, &pending_error));
        }
        match login(ctx, current).await {
            Ok(_session) => info!("setSecret: AWSCURRENT logs in"),
            Err(error) if error.is_rejection() => {
                return Err(ctx.fail(format!(
                    "Unable to log into Redis using current credentials for secret {} ({error})",
                    ctx.arn
                )));
            }
            Err(error) => return Err(unreachable(ctx, current, &error)),
        }
        let (master, server) = self.master(ctx, master_arn, current).await?;
        let mut session = Session::login(&server, &master.username, &master.password, ctx.deadline)
            .await
            .map_err(|error| {
                ctx.fail(format!(
                    "Unable to log into Redis at {server} using credentials in master secret {master_arn} ({error})"
                ))
            })?;
        let users = UserPair {
            pending: pending_user,
            current: current_user,
        };
        let set = if users.is_pending_original() {
            set_password(
                &mut session,
                pending_user,
                &pending.password,
                &["on", "resetpass"],
            )
            .await
        } else {
            copy_user(&mut session, users, &pending.password).await
        };
        set.map_err(|reason| {
            ctx.fail(format!(
                "could not set the password of ACL user {pending_user} at {} as the master user of {master_arn}: {reason}",
                pending.endpoint()
            ))
        })?;
        info!(user = %pending_user, "setSecret: alternate user's password set");
        Ok(())
    }
}

#[async_trait]
impl Rotator for RedisAclRotator {
    async fn create(
        &self,
        ctx: &StepContext<'_>,
        current: &SecretString,
    ) -> Result<SecretString, RotationError> {
        let current = Self::parse(ctx, current, "AWSCURRENT")?;
        let password = self.policy.generate();
        Ok(match current.masterarn {
            None => current.with_password(&password),
            Some(_) => {
                current.with_user_and_password(&alternate_username(&current.username), &password)
            }
        })
    }

    async fn set(&self, ctx: &StepContext<'_>) -> Result<(), RotationError> {
        let pending = Self::parse(ctx, ctx.pending().await?, "AWSPENDING")?;
        let current = Self::parse(ctx, ctx.current().await?, "AWSCURRENT")?;
        let refusal = match login(ctx, &pending).await {
            Ok(_session) => {
                info!("setSecret: AWSPENDING already logs in; the password is already set");
                return Ok(());
            }
            Err(error) => error,
        };
        match current.masterarn.as_deref() {
            Some(master_arn) => {
                self.set_alternate(ctx, &pending, &current, master_arn, refusal)
                    .await
            }
            None if refusal.is_rejection() => {
                Self::set_own_password(ctx, &pending, &current, refusal).await
            }
            None => Err(unreachable(ctx, &pending, &refusal)),
        }
    }

    async fn test(
        &self,
        ctx: &StepContext<'_>,
        pending: &SecretString,
    ) -> Result<(), RotationError> {
        let pending = Self::parse(ctx, pending, "AWSPENDING")?;
        let mut session = login(ctx, &pending).await.map_err(|error| {
            ctx.fail(format!(
                "Unable to log into Redis with pending secret of secret ARN {} ({error})",
                ctx.arn
            ))
        })?;
        session
            .ping()
            .await
            .map_err(|error| ctx.fail(format!("PING failed at {}: {error}", pending.endpoint())))?;
        info!("testSecret: logged in with AWSPENDING and ran PING");
        Ok(())
    }
}

/// A session of the secret's user.
async fn login(ctx: &StepContext<'_>, secret: &RedisSecret) -> Result<Session, RedisError> {
    Session::login(
        &secret.endpoint(),
        &secret.username,
        &secret.password,
        ctx.deadline,
    )
    .await
}

/// A session logged in with the previous credentials (a server left on the previous
/// password), checked to be the pending value's user and server.
async fn previous_session(
    ctx: &StepContext<'_>,
    pending: &RedisSecret,
    refusals: &mut Vec<String>,
) -> Result<Session, RotationError> {
    if let Some(value) = ctx.previous().await? {
        match RedisSecret::parse(value, &ValueSource::new(ctx.arn, "AWSPREVIOUS")) {
            Err(problem) => {
                warn!(error = %problem, "setSecret: AWSPREVIOUS is not a usable Redis secret; not trying it");
            }
            Ok(previous) => match login(ctx, &previous).await {
                Ok(session) => {
                    check_same_account(ctx, pending, &previous, "previous valid")?;
                    info!("setSecret: logged in with AWSPREVIOUS");
                    return Ok(session);
                }
                Err(error) if error.is_rejection() => refusals.push(format!("previous: {error}")),
                Err(error) => return Err(unreachable(ctx, &previous, &error)),
            },
        }
    }
    Err(ctx.fail(format!(
        "Unable to log into Redis with previous, current, or pending secret of secret arn {} ({})",
        ctx.arn,
        refusals.join("; ")
    )))
}

impl RedisAclRotator {
    /// The master secret, and the server it logs in to: its own `host` and `port` (6379 when
    /// absent, never the child's), or, for a master secret without `host`, a server the
    /// operator lists in `MASTER_HOSTS`. The child's server must be that one: whoever writes
    /// the child secret must not receive the master password by naming a server of its own.
    async fn master(
        &self,
        ctx: &StepContext<'_>,
        master_arn: &str,
        child: &RedisSecret,
    ) -> Result<(MasterSecret, Endpoint), RotationError> {
        // The team wrote masterarn: a master the operator did not list is never read.
        check_listed(self.master_arns.as_ref(), "masterarn", master_arn)
            .map_err(|refusal| ctx.fail(refusal))?;
        let value = ctx.other_secret(master_arn).await?.ok_or_else(|| {
            ctx.fail(format!(
                "the master secret {master_arn} (masterarn) has no AWSCURRENT value"
            ))
        })?;
        let master = MasterSecret::parse(&value, &ValueSource::new(master_arn, "AWSCURRENT"))?;
        let trusted = match (&master.host, &self.master_hosts) {
            (Some(host), _) => TrustedHosts {
                source: TrustSource::MasterSecret,
                primaries: vec![HostPort::new(host, master.port.unwrap_or(DEFAULT_PORT))],
                replicas: Vec::new(),
            },
            (None, Some(hosts)) => TrustedHosts {
                source: TrustSource::Operator,
                primaries: hosts.endpoints(DEFAULT_PORT),
                replicas: Vec::new(),
            },
            (None, None) => {
                return Err(ctx.fail(format!(
                    "the master secret {master_arn} names no host, and {MASTER_HOSTS_VARIABLE} \
                     is not set: the master password is not sent to the server the child \
                     secret names ({}). Add \"host\" and \"port\" to the master secret, or \
                     list the server in {MASTER_HOSTS_VARIABLE}",
                    child.endpoint()
                )));
            }
        };
        let server = trusted
            .endpoint_for(&HostPort::new(&child.host, child.port))
            .map_err(|refusal| ctx.fail(format!("{refusal} (master secret {master_arn})")))?;
        Ok((
            master,
            Endpoint {
                host: server.host,
                port: server.port,
            },
        ))
    }
}

/// `ACL SETUSER user <rules> >password`; the error (never the password) when it fails.
async fn set_password(
    session: &mut Session,
    user: &str,
    password: &SecretString,
    rules: &[&str],
) -> Result<(), String> {
    let new_password = format!(">{}", password.expose());
    let mut parts: Vec<&[u8]> = vec![b"ACL", b"SETUSER", user.as_bytes()];
    parts.extend(rules.iter().map(|rule| rule.as_bytes()));
    parts.push(new_password.as_bytes());
    session
        .expect_ok(&parts)
        .await
        .map_err(|error| redact(&error.to_string(), password))
}

/// Resets the clone and gives it the pending password and the original's rules.
async fn copy_user(
    session: &mut Session,
    users: UserPair<'_>,
    password: &SecretString,
) -> Result<(), String> {
    let original = users.original();
    let reply = session
        .call(&[b"ACL", b"GETUSER", original.as_bytes()])
        .await
        .map_err(|error| format!("reading the rules of {original}: {error}"))?;
    let rules = acl::rules_of(&reply)
        .map_err(|error| format!("reading the rules of {original}: {error}"))?
        .ok_or_else(|| {
            format!("ACL user {original}, whose rules the clone copies, does not exist")
        })?;
    let mut all: Vec<&str> = vec!["reset", "on"];
    all.extend(rules.iter().map(String::as_str));
    set_password(session, users.clone_user(), password, &all).await
}

/// The pending value must name the same user and server as the value whose login changes it.
fn check_same_account(
    ctx: &StepContext<'_>,
    pending: &RedisSecret,
    other: &RedisSecret,
    which: &str,
) -> Result<(), RotationError> {
    if other.username != pending.username {
        return Err(ctx.fail(format!(
            "Attempting to modify user {} other than {which} user {}",
            pending.username, other.username
        )));
    }
    if other.endpoint() != pending.endpoint() {
        return Err(ctx.fail(format!(
            "Attempting to modify user for host {} other than {which} host {}",
            pending.endpoint(),
            other.endpoint()
        )));
    }
    Ok(())
}

fn unreachable(ctx: &StepContext<'_>, secret: &RedisSecret, error: &RedisError) -> RotationError {
    ctx.fail(format!(
        "cannot log in to Redis at {}: {error}",
        secret.endpoint()
    ))
}
