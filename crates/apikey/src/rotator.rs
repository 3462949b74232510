//! The `api-key` rotator: mint a labelled key at createSecret, prove it at testSecret, revoke
//! what falls out of use at finishSecret.

use async_trait::async_trait;
use rotation_core::{
    RotationError, Rotator, SecretString, StepContext, ValueSource, config::ConfigError,
    config::Environment,
};
use tracing::{info, warn};

use std::sync::Arc;

use crate::client::{ProviderClient, ProviderError};
use crate::profile::builtin;
use crate::provider::{ProfileProvider, Revoked, SharedProvider};
use crate::secret::{KeySecret, ProfileRef};
use crate::settings::ApiKeySettings;

/// The `api-key` rotator.
pub struct ApiKeyRotator {
    client: ProviderClient,
    settings: ApiKeySettings,
    /// A provider written in Rust, used for every secret instead of profiles.
    custom: Option<SharedProvider>,
}

impl std::fmt::Debug for ApiKeyRotator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyRotator")
            .field("settings", &self.settings)
            .field("custom", &self.custom.as_ref().map(|p| p.name().to_owned()))
            .finish()
    }
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
        custom: None,
    })
}

impl ApiKeyRotator {
    /// A rotator for a provider written in Rust (a [`KeyProvider`]), used for every secret;
    /// secrets then need no `profile`. `revoke_at_once` as `API_KEY_REVOKE_AT_ONCE`.
    pub fn with_provider(provider: SharedProvider, revoke_at_once: bool) -> ApiKeyRotator {
        ApiKeyRotator {
            client: ProviderClient::new(),
            settings: ApiKeySettings {
                profile: None,
                revoke_at_once,
            },
            custom: Some(provider),
        }
    }

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
    ) -> Result<SharedProvider, RotationError> {
        if let Some(custom) = &self.custom {
            return Ok(Arc::clone(custom));
        }
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
        Ok(Arc::new(ProfileProvider::new(
            profile,
            base_url,
            self.client.clone(),
        )))
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

    /// Revokes a key by id; gone already counts as done.
    async fn revoke(
        &self,
        ctx: &StepContext<'_>,
        provider: &SharedProvider,
        manager: &SecretString,
        managing: &str,
        id: &str,
    ) -> Result<(), RotationError> {
        match provider.revoke(manager, id, ctx.deadline).await {
            Ok(Revoked::Now) => Ok(()),
            Ok(Revoked::Already) => {
                info!(id, "the key was revoked already");
                Ok(())
            }
            Err(error) => Err(Self::provider_error(ctx, &error, managing)),
        }
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
        let id = match old.id() {
            Some(id) => Some(id.to_owned()),
            None => provider.identify(old.key(), ctx.deadline).await,
        };
        match id {
            Some(id) => {
                self.revoke(ctx, &provider, manager, managing, &id).await?;
                info!(id = %id, version, "revoked the key that fell out of use");
                Ok(())
            }
            None => {
                warn!(
                    version,
                    "cannot revoke the key that fell out of use: the secret stores no apiKeyId and the provider cannot identify a key; revoke it at the provider"
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
        // Keys an earlier attempt of this rotation minted but did not store.
        let orphans = provider
            .find(&manager, &label, ctx.deadline)
            .await
            .map_err(|error| Self::provider_error(ctx, &error, &managing))?;
        for id in orphans {
            self.revoke(ctx, &provider, &manager, &managing, &id)
                .await?;
            warn!(id = %id, "createSecret: revoked a key an earlier attempt of this rotation minted but did not store");
        }
        let minted = provider
            .mint(&manager, &label, ctx.deadline)
            .await
            .map_err(|error| match error {
                ProviderError::Malformed { .. } => ctx.fail(format!(
                    "{error}; a key may have been minted: the next attempt of this rotation \
                     revokes keys named {label}"
                )),
                other => Self::provider_error(ctx, &other, &managing),
            })?;
        info!(id = %minted.id, label = %label, "createSecret: minted a new key");
        Ok(secret.with_new_key(minted.key.expose(), &minted.id))
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
        provider
            .test(secret.key(), ctx.deadline)
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
