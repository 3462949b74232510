//! A service that keeps a password per user, and two rotators for it shaped like
//! `rotation-db`'s: a single-user one (the user changes its own password, falling back to
//! `AWSPREVIOUS`) and a multi-user one (alternating `app` / `app_clone`, changed by a master
//! user whose secret `masterarn` names).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::RotationError;
use crate::rotator::{Rotator, StepContext};
use crate::secret::{JsonSecret, SecretString, ValueSource};

/// The target: users and their passwords, and the passwords a testSecret proved.
#[derive(Clone, Default)]
pub(super) struct Service {
    state: Arc<Mutex<ServiceState>>,
}

#[derive(Clone, Default, PartialEq, Eq)]
pub(super) struct ServiceState {
    pub(super) users: BTreeMap<String, String>,
    pub(super) proven: Vec<String>,
}

impl Service {
    pub(super) fn with_user(self, user: &str, password: &str) -> Self {
        self.lock().users.insert(user.into(), password.into());
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ServiceState> {
        self.state.lock().unwrap()
    }

    pub(super) fn logs_in(&self, user: &str, password: &str) -> bool {
        self.lock()
            .users
            .get(user)
            .is_some_and(|held| held == password)
    }

    fn set_password(&self, user: &str, password: &str) {
        self.lock().users.insert(user.into(), password.into());
    }

    fn prove(&self, password: &str) {
        let mut state = self.lock();
        if !state.proven.iter().any(|held| held == password) {
            state.proven.push(password.into());
        }
    }

    pub(super) fn proved(&self, password: &str) -> bool {
        self.lock().proven.iter().any(|held| held == password)
    }

    /// A copy of the state, to see whether a step changed anything.
    pub(super) fn snapshot(&self) -> ServiceState {
        self.lock().clone()
    }
}

/// The user name and password of a JSON secret.
pub(super) fn login(
    ctx: &StepContext<'_>,
    value: &SecretString,
    version: &str,
) -> Result<(String, String), RotationError> {
    let source = ValueSource::new(ctx.arn, version);
    let json = JsonSecret::parse(value, &source)?;
    Ok((
        json.required_string("username", &source)?,
        json.required_string("password", &source)?,
    ))
}

/// New passwords: `pw-1`, `pw-2`, ... (unique within a test).
#[derive(Default)]
struct Passwords(AtomicUsize);

impl Passwords {
    fn next(&self) -> String {
        format!("pw-{}", self.0.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

/// The single-user rotator: the user changes its own password.
pub(super) struct SingleUser {
    service: Service,
    passwords: Passwords,
}

impl SingleUser {
    pub(super) fn new(service: Service) -> Self {
        SingleUser {
            service,
            passwords: Passwords::default(),
        }
    }
}

#[async_trait::async_trait]
impl Rotator for SingleUser {
    async fn create(
        &self,
        ctx: &StepContext<'_>,
        current: &SecretString,
    ) -> Result<SecretString, RotationError> {
        let mut value = JsonSecret::parse(current, &ValueSource::new(ctx.arn, "AWSCURRENT"))?;
        value.set_string("password", &self.passwords.next());
        Ok(value.to_secret_string())
    }

    async fn set(&self, ctx: &StepContext<'_>) -> Result<(), RotationError> {
        let (user, pending) = login(ctx, ctx.pending().await?, "AWSPENDING")?;
        if self.service.logs_in(&user, &pending) {
            return Ok(());
        }
        let (_, current) = login(ctx, ctx.current().await?, "AWSCURRENT")?;
        if self.service.logs_in(&user, &current) {
            self.service.set_password(&user, &pending);
            return Ok(());
        }
        // AWS's single-user fallback: the target may still be on the previous password.
        if let Some(previous) = ctx.previous().await? {
            let (_, previous) = login(ctx, previous, "AWSPREVIOUS")?;
            if self.service.logs_in(&user, &previous) {
                self.service.set_password(&user, &pending);
                return Ok(());
            }
        }
        Err(ctx.fail(format!("no version of the secret logs in as {user}")))
    }

    async fn test(
        &self,
        ctx: &StepContext<'_>,
        pending: &SecretString,
    ) -> Result<(), RotationError> {
        test_login(&self.service, ctx, pending)
    }
}

fn test_login(
    service: &Service,
    ctx: &StepContext<'_>,
    pending: &SecretString,
) -> Result<(), RotationError> {
    let (user, password) = login(ctx, pending, "AWSPENDING")?;
    if !service.logs_in(&user, &password) {
        return Err(ctx.fail(format!("the pending password of {user} does not log in")));
    }
    service.prove(&password);
    Ok(())
}

/// The multi-user rotator: `app` and `app_clone` take turns; the master user (in the secret
/// that `masterarn` names) sets the pending user's password.
pub(super) struct MultiUser {
    service: Service,
    passwords: Passwords,
}

impl MultiUser {
    pub(super) fn new(service: Service) -> Self {
        MultiUser {
            service,
            passwords: Passwords::default(),
        }
    }
}

/// AWS's `get_alt_username`: add `_clone`, or take it off.
fn alternate(user: &str) -> String {
    match user.strip_suffix("_clone") {
        Some(base) => base.to_owned(),
        None => format!("{user}_clone"),
    }
}

#[async_trait::async_trait]
impl Rotator for MultiUser {
    async fn create(
        &self,
        ctx: &StepContext<'_>,
        current: &SecretString,
    ) -> Result<SecretString, RotationError> {
        let (user, _) = login(ctx, current, "AWSCURRENT")?;
        let mut value = JsonSecret::parse(current, &ValueSource::new(ctx.arn, "AWSCURRENT"))?;
        value.set_string("username", &alternate(&user));
        value.set_string("password", &self.passwords.next());
        Ok(value.to_secret_string())
    }

    async fn set(&self, ctx: &StepContext<'_>) -> Result<(), RotationError> {
        let pending_value = ctx.pending().await?;
        let (user, pending) = login(ctx, pending_value, "AWSPENDING")?;
        let (current_user, _) = login(ctx, ctx.current().await?, "AWSCURRENT")?;
        if alternate(&current_user) != user {
            return Err(ctx.fail("the pending user is not the alternate of the current one"));
        }
        if self.service.logs_in(&user, &pending) {
            return Ok(());
        }
        let source = ValueSource::new(ctx.arn, "AWSPENDING");
        let master_arn =
            JsonSecret::parse(pending_value, &source)?.required_string("masterarn", &source)?;
        let master = ctx
            .other_secret(&master_arn)
            .await?
            .ok_or_else(|| ctx.fail("the master secret has no value"))?;
        let (admin, admin_password) = login(ctx, &master, "master AWSCURRENT")?;
        if !self.service.logs_in(&admin, &admin_password) {
            return Err(ctx.fail("the master user does not log in"));
        }
        self.service.set_password(&user, &pending);
        Ok(())
    }

    async fn test(
        &self,
        ctx: &StepContext<'_>,
        pending: &SecretString,
    ) -> Result<(), RotationError> {
        test_login(&self.service, ctx, pending)
    }
}
