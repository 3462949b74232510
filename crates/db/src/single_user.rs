//! Single-user rotation: the user changes its own password (AWS's single-user templates).
//!
//! setSecret tries, in order: the pending credentials (already set by an earlier attempt:
//! done), the current ones, then the previous ones (a database left on the previous password);
//! it refuses to touch a user or host other than the secret's. Only a refused login moves on to
//! the next credentials: a host that does not answer fails the step at once, with its reason.

use async_trait::async_trait;
use rotation_core::{
    PasswordPolicy, Report, RotationError, Rotator, SecretString, StepContext, ValueSource,
};
use tracing::{info, warn};

use crate::engine::EngineDescriptor;
use crate::login::{Connector, Database, Endpoint, Login, LoginError};
use crate::secret::RdsSecret;
use crate::tls::TlsMode;

/// A database secret with the TLS mode it asks for.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The parsed secret.
    pub secret: RdsSecret,
    /// Its TLS mode.
    pub tls: TlsMode,
}

impl Credentials {
    /// Parses a secret value of a given version, for `engine`.
    pub fn parse(
        value: &SecretString,
        engine: &EngineDescriptor,
        source: &ValueSource,
    ) -> Result<Self, RotationError> {
        let secret = RdsSecret::parse(value, engine, source)?;
        let tls = TlsMode::for_secret(&secret, source)?;
        Ok(Credentials { secret, tls })
    }

    /// The login these credentials describe.
    pub fn login(&self) -> Login<'_> {
        Login {
            endpoint: Endpoint {
                host: self.secret.host.clone(),
                port: self.secret.port,
                dbname: self.secret.dbname.clone(),
            },
            user: &self.secret.username,
            password: &self.secret.password,
            tls: self.tls,
        }
    }
}

/// The single-user rotator for any [`Database`].
#[derive(Debug)]
pub struct SingleUser<D> {
    connector: Connector<D>,
    policy: PasswordPolicy,
}

impl<D: Database> SingleUser<D> {
    /// A rotator from an engine connector and a password policy.
    pub fn new(connector: Connector<D>, policy: PasswordPolicy) -> Self {
        SingleUser { connector, policy }
    }

    fn parse(
        &self,
        ctx: &StepContext<'_>,
        value: &SecretString,
        version: &str,
    ) -> Result<Credentials, RotationError> {
        Credentials::parse(value, D::ENGINE, &ValueSource::new(ctx.arn, version))
    }

    /// The previous version, if it is usable. A previous value that is not a valid database
    /// secret (the very first version often lacks fields) is skipped with a warning, as AWS's
    /// templates do for missing keys.
    async fn previous(&self, ctx: &StepContext<'_>) -> Result<Option<Credentials>, RotationError> {
        let Some(value) = ctx.previous().await? else {
            return Ok(None);
        };
        match self.parse(ctx, value, "AWSPREVIOUS") {
            Ok(previous) => Ok(Some(previous)),
            Err(problem) => {
                warn!(error = %problem, "setSecret: AWSPREVIOUS is not a usable database secret; not trying it");
                Ok(None)
            }
        }
    }

    /// A session logged in with the previous credentials (a database left on the previous
    /// password), checked to be the pending value's user and host.
    async fn previous_session(
        &self,
        ctx: &StepContext<'_>,
        pending: &Credentials,
        current: &Credentials,
        refusals: &mut Vec<String>,
    ) -> Result<D::Session, RotationError> {
        if let Some(mut previous) = self.previous(ctx).await? {
            // AWS connects with the previous credentials but the current TLS settings.
            previous.tls = current.tls;
            let login = previous.login();
            match self.connector.login(&login, ctx.deadline).await {
                Ok(session) => {
                    // As AWS: checked after the login, which proves the previous value is live.
                    check_same_account(ctx, pending, &previous, "previous valid")?;
                    info!("setSecret: logged in with AWSPREVIOUS");
                    return Ok(session);
                }
                Err(error) if error.is_rejection() => refusals.push(format!("previous: {error}")),
                Err(error) => return Err(Self::unreachable(ctx, &login.endpoint, &error)),
            }
        }
        Err(ctx.fail(format!(
            "Unable to log into database with previous, current, or pending secret of secret arn {} ({})",
            ctx.arn,
            refusals.join("; ")
        )))
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

#[async_trait]
impl<D: Database> Rotator for SingleUser<D> {
    async fn create(
        &self,
        ctx: &StepContext<'_>,
        current: &SecretString,
    ) -> Result<SecretString, RotationError> {
        let current = self.parse(ctx, current, "AWSCURRENT")?;
        Ok(current.secret.with_password(&self.policy.generate()))
    }

    async fn set(&self, ctx: &StepContext<'_>) -> Result<(), RotationError> {
        let pending = self.parse(ctx, ctx.pending().await?, "AWSPENDING")?;
        let current = self.parse(ctx, ctx.current().await?, "AWSCURRENT")?;
        // Both logins are attempted at once (one round trip instead of two); their results are
        // weighed in AWS's order: pending first, then current, then previous.
        let (pending_login, current_login) = (pending.login(), current.login());
        let (by_pending, by_current) = tokio::join!(
            self.connector.login(&pending_login, ctx.deadline),
            self.connector.login(&current_login, ctx.deadline)
        );
        let mut refusals = Vec::new();
        match by_pending {
            Ok(_session) => {
                info!("setSecret: AWSPENDING already logs in; the password is already set");
                return Ok(());
            }
            Err(error) if error.is_rejection() => refusals.push(format!("pending: {error}")),
            Err(error) => return Err(Self::unreachable(ctx, &pending_login.endpoint, &error)),
        }
        check_same_account(ctx, &pending, &current, "current")?;
        let mut session = match by_current {
            Ok(session) => {
                info!("setSecret: logged in with AWSCURRENT");
                session
            }
            Err(error) if error.is_rejection() => {
                refusals.push(format!("current: {error}"));
                self.previous_session(ctx, &pending, &current, &mut refusals)
                    .await?
            }
            Err(error) => return Err(Self::unreachable(ctx, &current_login.endpoint, &error)),
        };
        let db = self.connector.database();
        let user = &pending.secret.username;
        self.connector
            .bounded(
                "changing the password",
                ctx.deadline,
                db.set_own_password(&mut session, user, &pending.secret.password),
            )
            .await
            .map_err(|reason| {
                ctx.fail(format!(
                    "could not change the password of user {user} at {}: {reason}",
                    pending.login().endpoint
                ))
            })?;
        info!(user = %user, "setSecret: password changed");
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

    /// The secret's JSON, the password policy, and the current credentials logging in.
    async fn preflight(&self, ctx: &StepContext<'_>, current: &SecretString, report: &mut Report) {
        crate::preflight::password_policy(&self.policy, report);
        let Some(current) = crate::preflight::secret_json::<D>(ctx, current, report) else {
            report.skip("current-login", "needs a valid secret");
            return;
        };
        crate::preflight::current_login(&self.connector, ctx, &current, report).await;
    }
}

/// testSecret for every database rotator: log in with the pending credentials and run the
/// probe query (AWS's message when the login fails).
pub(crate) async fn test_pending<D: Database>(
    connector: &Connector<D>,
    ctx: &StepContext<'_>,
    pending: &Credentials,
) -> Result<(), RotationError> {
    let login = pending.login();
    let mut session = connector
        .login(&login, ctx.deadline)
        .await
        .map_err(|error| {
            ctx.fail(format!(
                "Unable to log into database with pending secret of secret ARN {} ({error})",
                ctx.arn
            ))
        })?;
    let db = connector.database();
    connector
        .bounded("the test query", ctx.deadline, db.probe(&mut session))
        .await
        .map_err(|reason| {
            ctx.fail(format!(
                "the test query failed at {}: {reason}",
                login.endpoint
            ))
        })?;
    info!("testSecret: logged in with AWSPENDING and ran the test query");
    Ok(())
}

/// The pending value must name the same user and host as the value whose login changes it
/// (AWS's checks and messages).
fn check_same_account(
    ctx: &StepContext<'_>,
    pending: &Credentials,
    other: &Credentials,
    which: &str,
) -> Result<(), RotationError> {
    if other.secret.username != pending.secret.username {
        return Err(ctx.fail(format!(
            "Attempting to modify user {} other than {which} user {}",
            pending.secret.username, other.secret.username
        )));
    }
    if other.secret.host != pending.secret.host {
        return Err(ctx.fail(format!(
            "Attempting to modify user for host {} other than {which} host {}",
            pending.secret.host, other.secret.host
        )));
    }
    Ok(())
}
