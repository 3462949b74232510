//! The `api-key` rotator: mint a labelled key at createSecret, prove it at testSecret, revoke
//! what falls out of use at finishSecret.

use async_trait::async_trait;
use rotation_core::{
    RotationError, Rotator, SecretString, StepContext, ValueSource, config::ConfigError,
    config::Environment,
};
use serde_json::Value;
use tracing::{info, warn};

use crate::client::{ProviderClient, ProviderError};
use crate::profile::{Profile, builtin};
use crate::secret::{KeySecret, ProfileRef};
use crate::settings::ApiKeySettings;

/// The `api-key` rotator.
#[derive(Debug)]
pub struct ApiKeyRotator {
    client: ProviderClient,
    settings: ApiKeySettings,
}

/// The name a key minted for a rotation gets: the rotation's token makes it findable by a
/// retry.
pub fn label(token: &str) -> String {
    format!("rotation-{token}")
}

/// Builds `api-key` from the environment (see [`ApiKeySettings::from_env`]).
pub fn api_key_from_env(env: &dyn Environment) -> Result<ApiKeyRotator, ConfigError> {
    Ok(ApiKeyRotator {
        client: ProviderClient::new(),
        settings: ApiKeySettings::from_env(env)?,
    })
}

/// A profile and the base URL to use it at.
struct Provider {
    profile: Profile,
    base_url: String,
}

impl ApiKeyRotator {
    fn parse(
        ctx: &StepContext<'_>,
        value: &SecretString,
        version: &str,
    ) -> Result<KeySecret, RotationError> {
        Ok(KeySecret::parse(
            value,
            &ValueSource::new(ctx.arn, version),
        )?)
    }

    fn provider(
        &self,
        ctx: &StepContext<'_>,
        secret: &KeySecret,
    ) -> Result<Provider, RotationError> {
        let (reference, base_url) = match secret {
            KeySecret::Json {
                profile, base_url, ..
            } => (profile.clone(), base_url.clone()),
            KeySecret::Plain { .. } => (ProfileRef::FromEnvironment, None),
        };
        let profile = match reference {
            ProfileRef::Inline(profile) => *profile,
            ProfileRef::Named(name) => builtin(&name).ok_or_else(|| {
                ctx.fail(format!(
                    "the secret's profile {name:?} is not a built-in profile (built in: {}); \
                     write the profile into the secret or name it with API_KEY_PROFILE_FILE",
                    crate::profile::BUILTIN.join(", ")
                ))
            })?,
            ProfileRef::FromEnvironment => self.settings.profile.clone().ok_or_else(|| {
                ctx.fail(
                    "no provider profile: put \"profile\" in the secret (a built-in name or a \
                     profile object), or set API_KEY_PROFILE or API_KEY_PROFILE_FILE",
                )
            })?,
        };
        let base_url = base_url.unwrap_or_else(|| profile.base_url.clone());
        Ok(Provider { profile, base_url })
    }

    /// The credential that manages keys: the admin secret's key, or else `key` (the key
    /// manages itself).
    async fn manager(
        &self,
        ctx: &StepContext<'_>,
        secret: &KeySecret,
        key: &SecretString,
    ) -> Result<SecretString, RotationError> {
        let KeySecret::Json {
            admin_arn: Some(admin_arn),
            ..
        } = secret
        else {
            return Ok(key.clone());
        };
        let value = ctx.other_secret(admin_arn).await?.ok_or_else(|| {
            ctx.fail(format!(
                "the admin secret {admin_arn} (adminarn) has no AWSCURRENT value"
            ))
        })?;
        let admin = KeySecret::parse(&value, &ValueSource::new(admin_arn.as_str(), "AWSCURRENT"))?;
        Ok(admin.key().clone())
    }

    fn provider_error(
        ctx: &StepContext<'_>,
        error: &ProviderError,
        managing: &str,
    ) -> RotationError {
        if error.is_auth_refusal() {
            ctx.fail(format!("{error}; the managing credential is {managing}"))
        } else {
            ctx.fail(error)
        }
    }

    /// Revokes the keys labelled for this rotation by an attempt that did not store its key.
    async fn revoke_orphans(
        &self,
        ctx: &StepContext<'_>,
        provider: &Provider,
        manager: &SecretString,
        managing: &str,
        label: &str,
    ) -> Result<(), RotationError> {
        let Some(list) = &provider.profile.list else {
            return Ok(());
        };
        let answer = self
            .client
            .send(
                &provider.profile,
                &provider.base_url,
                &list.request,
                manager,
                &[],
                ctx.deadline,
            )
            .await
            .map_err(|error| Self::provider_error(ctx, &error, managing))?;
        let request = format!("{} {}", list.request.method, list.request.path);
        let malformed = |problem: String| {
            ctx.fail(ProviderError::Malformed {
                profile: provider.profile.name.clone(),
                request: request.clone(),
                status: answer.status,
                problem,
            })
        };
        let json = answer
            .json
            .as_ref()
            .map_err(|problem| malformed(problem.clone()))?;
        let items = json
            .pointer(&list.items_pointer)
            .and_then(Value::as_array)
            .ok_or_else(|| malformed(format!("has no list at {:?}", list.items_pointer)))?;
        for item in items {
            if item.pointer(&list.label_pointer).and_then(Value::as_str) != Some(label) {
                continue;
            }
            let Some(id) = item.pointer(&list.id_pointer).and_then(Value::as_str) else {
                continue;
            };
            self.revoke(ctx, provider, manager, managing, id).await?;
            warn!(
                id,
                "createSecret: revoked a key an earlier attempt of this rotation minted but did not store"
            );
        }
        Ok(())
    }

    /// Revokes a key by id; a 404 means it is gone already.
    async fn revoke(
        &self,
        ctx: &StepContext<'_>,
        provider: &Provider,
        manager: &SecretString,
        managing: &str,
        id: &str,
    ) -> Result<(), RotationError> {
        match self
            .client
            .send(
                &provider.profile,
                &provider.base_url,
                &provider.profile.revoke,
                manager,
                &[("id", id)],
                ctx.deadline,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(ProviderError::Status { status: 404, .. }) => {
                info!(id, "the key was revoked already");
                Ok(())
            }
            Err(error) => Err(Self::provider_error(ctx, &error, managing)),
        }
    }

    /// The id of a replaced key: stored in the secret, or asked of the provider with the key
    /// itself (`identify`).
    async fn id_of(
        &self,
        ctx: &StepContext<'_>,
        provider: &Provider,
        secret: &KeySecret,
    ) -> Option<String> {
        if let Some(id) = secret.id() {
            return Some(id.to_owned());
        }
        let identify = provider.profile.identify.as_ref()?;
        let answer = self
            .client
            .send(
                &provider.profile,
                &provider.base_url,
                &identify.request,
                secret.key(),
                &[],
                ctx.deadline,
            )
            .await
            .ok()?;
        answer
            .json
            .ok()?
            .pointer(&identify.id_pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    /// Revokes the key of `old` unless it is one of `keep`.
    async fn retire(
        &self,
        ctx: &StepContext<'_>,
        old: &SecretString,
        version: &str,
        keep: &[&SecretString],
        manager: &SecretString,
        managing: &str,
    ) -> Result<(), RotationError> {
        let old = match Self::parse(ctx, old, version) {
            Ok(old) => old,
            Err(error) => {
                warn!(%error, version, "not revoking: the value is not an API-key secret");
                return Ok(());
            }
        };
        if keep.iter().any(|key| *key == old.key()) {
            return Ok(());
        }
        let provider = self.provider(ctx, &old)?;
        match self.id_of(ctx, &provider, &old).await {
            Some(id) => {
                self.revoke(ctx, &provider, manager, managing, &id).await?;
                info!(id = %id, version, "revoked the key that fell out of use");
                Ok(())
            }
            None => {
                warn!(
                    version,
                    "cannot revoke the key that fell out of use: the secret stores no apiKeyId and the profile cannot identify a key; revoke it at the provider"
                );
                Ok(())
            }
        }
    }
}

#[async_trait]
impl Rotator for ApiKeyRotator {
    async fn create(
        &self,
        ctx: &StepContext<'_>,
        current: &SecretString,
    ) -> Result<SecretString, RotationError> {
        let secret = Self::parse(ctx, current, "AWSCURRENT")?;
        let provider = self.provider(ctx, &secret)?;
        let manager = self.manager(ctx, &secret, secret.key()).await?;
        let managing = managing(&secret);
        let label = label(ctx.token.as_str());
        self.revoke_orphans(ctx, &provider, &manager, &managing, &label)
            .await?;
        let create = &provider.profile.create;
        let answer = self
            .client
            .send(
                &provider.profile,
                &provider.base_url,
                &create.request,
                &manager,
                &[("label", &label)],
                ctx.deadline,
            )
            .await
            .map_err(|error| Self::provider_error(ctx, &error, &managing))?;
        let request = format!("{} {}", create.request.method, create.request.path);
        let malformed = |problem: String| {
            ctx.fail(format!(
                "{}; a key may have been minted: the next attempt of this rotation revokes \
                 keys labelled {label}",
                ProviderError::Malformed {
                    profile: provider.profile.name.clone(),
                    request: request.clone(),
                    status: answer.status,
                    problem,
                }
            ))
        };
        let json = answer
            .json
            .as_ref()
            .map_err(|problem| malformed(problem.clone()))?;
        let key = json
            .pointer(&create.key_pointer)
            .and_then(Value::as_str)
            .filter(|key| !key.is_empty())
            .ok_or_else(|| malformed(format!("has no key (string) at {:?}", create.key_pointer)))?;
        let id = match json.pointer(&create.id_pointer) {
            Some(Value::String(id)) => id.clone(),
            Some(Value::Number(id)) => id.to_string(),
            _ => return Err(malformed(format!("has no id at {:?}", create.id_pointer))),
        };
        info!(id = %id, label = %label, "createSecret: minted a new key");
        Ok(secret.with_new_key(key, &id))
    }

    async fn set(&self, _ctx: &StepContext<'_>) -> Result<(), RotationError> {
        info!("setSecret: nothing to do: the provider made the key live when it was minted");
        Ok(())
    }

    async fn test(
        &self,
        ctx: &StepContext<'_>,
        pending: &SecretString,
    ) -> Result<(), RotationError> {
        let secret = Self::parse(ctx, pending, "AWSPENDING")?;
        let provider = self.provider(ctx, &secret)?;
        self.client
            .send(
                &provider.profile,
                &provider.base_url,
                &provider.profile.test,
                secret.key(),
                &[],
                ctx.deadline,
            )
            .await
            .map_err(|error| ctx.fail(format!("the pending key does not work: {error}")))?;
        info!("testSecret: the pending key works");
        Ok(())
    }

    async fn before_finish(&self, ctx: &StepContext<'_>) -> Result<(), RotationError> {
        // The key two rotations old (AWSPREVIOUS) falls out of use now. Revoking it before
        // AWSCURRENT moves means a failure is retried; a 404 on the retry means done.
        let Some(previous) = ctx.previous().await?.cloned() else {
            return Ok(());
        };
        let current = ctx.current().await?.clone();
        let pending = ctx.pending().await?.clone();
        let pending_secret = Self::parse(ctx, &pending, "AWSPENDING")?;
        let manager = self
            .manager(ctx, &pending_secret, pending_secret.key())
            .await?;
        let current_key = Self::parse(ctx, &current, "AWSCURRENT")?.key().clone();
        self.retire(
            ctx,
            &previous,
            "AWSPREVIOUS",
            &[&current_key, pending_secret.key()],
            &manager,
            &managing(&pending_secret),
        )
        .await
    }

    async fn finish(&self, ctx: &StepContext<'_>) -> Result<(), RotationError> {
        if !self.settings.revoke_at_once {
            return Ok(());
        }
        // The key just replaced; it was read before AWSCURRENT moved.
        let replaced = ctx.current().await?.clone();
        let pending = ctx.pending().await?.clone();
        let pending_secret = Self::parse(ctx, &pending, "AWSPENDING")?;
        let manager = self
            .manager(ctx, &pending_secret, pending_secret.key())
            .await?;
        self.retire(
            ctx,
            &replaced,
            "the replaced AWSCURRENT",
            &[pending_secret.key()],
            &manager,
            &managing(&pending_secret),
        )
        .await
    }
}

/// Which credential manages keys, for messages.
fn managing(secret: &KeySecret) -> String {
    match secret {
        KeySecret::Json {
            admin_arn: Some(arn),
            ..
        } => format!("the key in the admin secret {arn} (adminarn)"),
        _ => "the key itself (no adminarn)".to_owned(),
    }
}
