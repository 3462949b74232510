//! The `api-key` rotator: mint a labelled key at createSecret, prove it at testSecret, revoke
//! what falls out of use at finishSecret.

use async_trait::async_trait;
use rotation_core::{
    Report, RotationError, Rotator, SecretString, StepContext, ValueSource, config::ConfigError,
    config::Environment,
};
use tracing::{info, warn};

use std::sync::Arc;

use rotation_core::master_arns::check_listed;

use crate::admin::{AdminFacts, judge};
use crate::client::{ATTEMPTS, Backoff, ProviderClient, ProviderError};
use crate::management::choose;
use crate::provider::{Identity, ListedKey, MintedKey, ProfileProvider, Revoked, SharedProvider};
use crate::secret::KeySecret;
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

/// What the label of every key this rotator mints starts with.
pub const LABEL_PREFIX: &str = "rotation-";

/// The name a key minted for a rotation gets: the rotation's token makes it findable by a
/// retry.
pub fn label(token: &str) -> String {
    format!("{LABEL_PREFIX}{token}")
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
    /// A rotator for a provider written in Rust (a [`KeyProvider`](crate::KeyProvider)), used for every secret;
    /// secrets then need no `profile`. `revoke_at_once` as `API_KEY_REVOKE_AT_ONCE`.
    pub fn with_provider(provider: SharedProvider, revoke_at_once: bool) -> ApiKeyRotator {
        ApiKeyRotator {
            client: ProviderClient::new(),
            settings: ApiKeySettings {
                profile: None,
                revoke_at_once,
                allow_http: false,
                master_arns: None,
                function_name: rotation_core::config::Environment::var(
                    &rotation_core::ProcessEnv,
                    crate::admin::FUNCTION_NAME_VARIABLE,
                ),
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

    /// Who manages keys for `secret`, and at which provider: the admin secret's key at the
    /// operator's provider, or the key itself at the provider the secret (or a variable)
    /// names. See [`crate::management`].
    async fn management(
        &self,
        ctx: &StepContext<'_>,
        secret: &KeySecret,
    ) -> Result<Management, RotationError> {
        let admin = match secret.admin_arn() {
            None => None,
            Some(arn) => {
                self.check_admin(ctx, arn).await?;
                let value = ctx.other_secret(arn).await?.ok_or_else(|| {
                    ctx.fail(format!(
                        "the admin secret {arn} (adminarn) has no AWSCURRENT value"
                    ))
                })?;
                Some((
                    arn.to_owned(),
                    KeySecret::parse(&value, &ValueSource::new(arn, "AWSCURRENT"))?,
                ))
            }
        };
        let (manager, managing) = match &admin {
            Some((arn, admin)) => (
                admin.key().clone(),
                format!("the key in the admin secret {arn} (adminarn)"),
            ),
            None => (
                secret.key().clone(),
                "the key itself (no adminarn)".to_owned(),
            ),
        };
        let provider = match &self.custom {
            Some(custom) => Arc::clone(custom),
            None => {
                let choice = choose(
                    secret.declared(),
                    admin.as_ref().map(|(_, admin)| admin.declared()),
                    self.settings.profile.as_ref(),
                    self.settings.allow_http,
                )
                .map_err(|error| ctx.fail(error))?;
                Arc::new(ProfileProvider::new(
                    choice.profile,
                    choice.endpoint,
                    self.client.clone(),
                )) as SharedProvider
            }
        };
        Ok(Management {
            provider,
            manager,
            managing,
            admin: admin.is_some(),
        })
    }

    /// Refuses an admin secret the operator did not list (`MASTER_SECRET_ARNS`), the rotated
    /// secret itself, and a secret this function rotates (another team's key): before its
    /// value is read. See [`crate::admin`].
    async fn check_admin(&self, ctx: &StepContext<'_>, arn: &str) -> Result<(), RotationError> {
        check_listed(self.settings.master_arns.as_ref(), "adminarn", arn)
            .map_err(|refusal| ctx.fail(refusal))?;
        let metadata = ctx.other_secret_metadata(arn).await.map_err(|error| {
            ctx.fail(format!(
                "cannot check the admin secret {arn} (adminarn) before using it: {error}; the \
                 function's role needs secretsmanager:DescribeSecret on the admin secret (the \
                 templates grant it on masterSecretArn)"
            ))
        })?;
        judge(&AdminFacts {
            rotated: ctx.arn,
            admin: &metadata.arn,
            rotation_enabled: metadata.rotation_enabled,
            rotation_lambda: metadata.rotation_lambda_arn.as_deref(),
            this_function: self.settings.function_name.as_deref(),
        })
        .map_err(|refusal| ctx.fail(refusal))
    }

    /// Whether the provider lists `id` under a label this rotator gives the keys it mints: an
    /// id the admin key may revoke without the provider confirming whose key it is.
    async fn minted_by_a_rotation(
        &self,
        ctx: &StepContext<'_>,
        with: &Management,
        id: &str,
    ) -> Result<bool, RotationError> {
        let listed = with
            .provider
            .list(&with.manager, ctx.deadline)
            .await
            .map_err(|error| Self::provider_error(ctx, &error, &with.managing))?;
        Ok(listed.is_some_and(|listed| rotation_labelled(&listed, id)))
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

    /// Revokes a key by id; gone already (and listed no more) counts as done.
    async fn revoke(
        &self,
        ctx: &StepContext<'_>,
        with: &Management,
        id: &str,
    ) -> Result<(), RotationError> {
        match with.provider.revoke(&with.manager, id, ctx.deadline).await {
            Ok(Revoked::Now) => Ok(()),
            Ok(Revoked::Already) => {
                info!(id, "the key was revoked already");
                Ok(())
            }
            Err(error) => Err(Self::provider_error(ctx, &error, &with.managing)),
        }
    }

    /// Revokes every key labelled `label` but `keep`; `false` when the provider cannot list
    /// keys (nothing was looked up). `whose` completes "revoked a key …" in the log.
    async fn sweep(
        &self,
        ctx: &StepContext<'_>,
        with: &Management,
        label: &str,
        keep: Option<&str>,
        whose: &str,
    ) -> Result<bool, RotationError> {
        let listed = with
            .provider
            .list(&with.manager, ctx.deadline)
            .await
            .map_err(|error| Self::provider_error(ctx, &error, &with.managing))?;
        let Some(listed) = listed else {
            return Ok(false);
        };
        for id in strays(&listed, label, keep) {
            self.revoke(ctx, with, &id).await?;
            warn!(id = %id, label, "{}: revoked a key {whose}", ctx.step);
        }
        Ok(true)
    }

    /// Mints this rotation's key. A mint whose answer may follow a mint (5xx, lost, unreadable)
    /// is never repeated blindly: the label is looked up and what it finds revoked first, so
    /// that at most one key of this rotation is alive when this returns, the one returned.
    async fn mint(
        &self,
        ctx: &StepContext<'_>,
        with: &Management,
        label: &str,
    ) -> Result<MintedKey, RotationError> {
        let mut backoff = Backoff::default();
        let mut attempt = 1;
        loop {
            let error = match with.provider.mint(&with.manager, label, ctx.deadline).await {
                Ok(minted) => return Ok(minted),
                Err(error) if error.may_have_acted() => error,
                Err(error) => return Err(Self::provider_error(ctx, &error, &with.managing)),
            };
            match self
                .sweep(ctx, with, label, None, "that a failed mint may have made")
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    return Err(ctx.fail(format!(
                        "{error}; a key named {label} may have been minted, and the profile has \
                         no list to find it: revoke it at the provider if it exists"
                    )));
                }
                Err(sweep) => {
                    return Err(ctx.fail(format!(
                        "{error}; a key named {label} may have been minted, and looking it up \
                         failed ({sweep}): the next attempt of this rotation revokes keys named \
                         {label}"
                    )));
                }
            }
            let wait = backoff.next(None);
            if !error.is_transient() || attempt >= ATTEMPTS || wait >= ctx.deadline.remaining() {
                return Err(ctx.fail(format!(
                    "{error}; the keys named {label} it may have minted were revoked"
                )));
            }
            warn!(attempt, wait_ms = wait.as_millis() as u64, error = %error, "createSecret: the mint may have happened; revoked what it made, minting again");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Revokes the key of `old` unless it is one of `keep`.
    async fn retire(
        &self,
        ctx: &StepContext<'_>,
        old: &SecretString,
        version: &str,
        keep: &[&SecretString],
        with: &Management,
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
        // Only the old key is used, with this step's provider, whatever the old value says
        // about profiles and endpoints. Its stored id is text anyone who writes the secret
        // wrote: when the provider can say who a key is, the key itself names what to revoke.
        let id = match with.provider.identify(old.key(), ctx.deadline).await {
            Ok(Identity::Known(id)) => {
                if old.id().is_some_and(|stored| stored != id) {
                    warn!(version, id = %id, "the stored apiKeyId is not the id of the stored key; revoking the key's own id");
                }
                id
            }
            Ok(Identity::Refused) => {
                info!(
                    version,
                    "the key that fell out of use is refused by the provider already: nothing to revoke"
                );
                return Ok(());
            }
            Ok(Identity::Unsupported) => match old.id() {
                // The stored id is text the team wrote. The admin key may revoke any key of
                // the account, so it revokes only a key this rotator minted.
                Some(id) => {
                    if with.admin && !self.minted_by_a_rotation(ctx, with, id).await? {
                        warn!(
                            secret = ctx.arn,
                            version,
                            "{}: not revoking the key that fell out of use: the provider cannot \
                             identify a key, and the stored apiKeyId is not listed as a key \
                             this rotator minted (labelled {LABEL_PREFIX}<token>); the admin key \
                             revokes only keys it can tie to this secret: revoke it at the \
                             provider",
                            ctx.step
                        );
                        return Ok(());
                    }
                    id.to_owned()
                }
                None => {
                    warn!(
                        version,
                        "cannot revoke the key that fell out of use: the secret stores no apiKeyId and the provider cannot identify a key; revoke it at the provider"
                    );
                    return Ok(());
                }
            },
            Err(error) => return Err(Self::provider_error(ctx, &error, "the key itself")),
        };
        self.revoke(ctx, with, &id).await?;
        info!(id = %id, version, "revoked the key that fell out of use");
        Ok(())
    }
}

/// The credential that manages keys, the provider it goes to, and how messages name it.
struct Management {
    provider: SharedProvider,
    manager: SecretString,
    managing: String,
    /// An admin key (`adminarn`), not the key itself.
    admin: bool,
}

/// Whether `id` is listed with a label of the form this rotator mints (`rotation-<token>`).
fn rotation_labelled(listed: &[ListedKey], id: &str) -> bool {
    listed.iter().any(|key| {
        key.id == id
            && key
                .label
                .as_deref()
                .and_then(|label| label.strip_prefix(LABEL_PREFIX))
                .is_some_and(|token| !token.is_empty())
    })
}

/// The ids of listed keys labelled `label`, but `keep`.
fn strays(listed: &[ListedKey], label: &str, keep: Option<&str>) -> Vec<String> {
    listed
        .iter()
        .filter(|key| key.label.as_deref() == Some(label) && Some(key.id.as_str()) != keep)
        .map(|key| key.id.clone())
        .collect()
}

#[async_trait]
impl Rotator for ApiKeyRotator {
    async fn create(
        &self,
        ctx: &StepContext<'_>,
        current: &SecretString,
    ) -> Result<SecretString, RotationError> {
        let secret = Self::parse(ctx, current, "AWSCURRENT")?;
        let with = self.management(ctx, &secret).await?;
        let label = label(ctx.token.as_str());
        // Keys an earlier attempt of this rotation minted but did not store.
        self.sweep(
            ctx,
            &with,
            &label,
            None,
            "an earlier attempt of this rotation minted but did not store",
        )
        .await?;
        let minted = self.mint(ctx, &with, &label).await?;
        info!(id = %minted.id, label = %label, "createSecret: minted a new key");
        Ok(secret.with_new_key(minted.key.expose(), &minted.id))
    }

    /// The secret's JSON, the admin secret (listed, not one this function rotates, readable)
    /// and the provider, and the current key working there. Nothing is minted or revoked.
    async fn preflight(&self, ctx: &StepContext<'_>, current: &SecretString, report: &mut Report) {
        let secret = match Self::parse(ctx, current, "AWSCURRENT") {
            Ok(secret) => {
                report.pass("secret-json", "a key secret with every field it needs");
                secret
            }
            Err(problem) => {
                report.fail(
                    "secret-json",
                    problem.to_string(),
                    "correct the field the message names, then store the whole JSON again \
                     with put-secret-value",
                );
                return;
            }
        };
        let with = match self.management(ctx, &secret).await {
            Ok(with) => {
                report.pass(
                    "admin-secret",
                    format!("keys are managed with {}", with.managing),
                );
                with
            }
            Err(problem) => {
                report.fail(
                    "admin-secret",
                    problem.to_string(),
                    "adminarn must name an admin secret this function may read, that it does \
                     not rotate itself (and that MASTER_SECRET_ARNS lists, when set)",
                );
                return;
            }
        };
        match with.provider.test(secret.key(), ctx.deadline).await {
            Ok(()) => report.pass("current-key", "the AWSCURRENT key works at the provider"),
            Err(error) => report.fail(
                "current-key",
                format!("the AWSCURRENT key does not work: {error}"),
                "the provider must reach and accept the current key before the first \
                 rotation: check the endpoint and the key",
            ),
        }
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
        let with = self.management(ctx, &secret).await?;
        with.provider
            .test(secret.key(), ctx.deadline)
            .await
            .map_err(|error| ctx.fail(format!("the pending key does not work: {error}")))?;
        info!("testSecret: the pending key works");
        Ok(())
    }

    async fn before_finish(&self, ctx: &StepContext<'_>) -> Result<(), RotationError> {
        // Read before AWSCURRENT moves: finish() revokes this value's key at once when asked,
        // and the context keeps what it read for the whole step.
        let current = ctx.current().await?.clone();
        let pending = ctx.pending().await?.clone();
        let pending_secret = Self::parse(ctx, &pending, "AWSPENDING")?;
        let with = self.management(ctx, &pending_secret).await?;
        // A key of this rotation other than the stored one: a mint whose answer was lost and
        // that the provider carried out late.
        let pending_id = match pending_secret.id() {
            Some(id) => Some(id.to_owned()),
            None => match with
                .provider
                .identify(pending_secret.key(), ctx.deadline)
                .await
            {
                Ok(Identity::Known(id)) => Some(id),
                Ok(_) => None,
                Err(error) => return Err(Self::provider_error(ctx, &error, "the key itself")),
            },
        };
        if let Some(id) = &pending_id {
            let whose = "of this rotation that no version records (a mint answered late)";
            self.sweep(ctx, &with, &label(ctx.token.as_str()), Some(id), whose)
                .await?;
        }
        // The key two rotations old (AWSPREVIOUS) falls out of use now. Revoking it before
        // AWSCURRENT moves means a failure is retried; a 404 on the retry means done.
        let Some(previous) = ctx.previous().await?.cloned() else {
            return Ok(());
        };
        let current_key = Self::parse(ctx, &current, "AWSCURRENT")?.key().clone();
        self.retire(
            ctx,
            &previous,
            "AWSPREVIOUS",
            &[&current_key, pending_secret.key()],
            &with,
        )
        .await
    }

    async fn finish(&self, ctx: &StepContext<'_>) -> Result<(), RotationError> {
        if !self.settings.revoke_at_once {
            return Ok(());
        }
        // The key just replaced: read by before_finish, before AWSCURRENT moved.
        let replaced = ctx.current().await?.clone();
        let pending = ctx.pending().await?.clone();
        let pending_secret = Self::parse(ctx, &pending, "AWSPENDING")?;
        let with = self.management(ctx, &pending_secret).await?;
        self.retire(
            ctx,
            &replaced,
            "the replaced AWSCURRENT",
            &[pending_secret.key()],
            &with,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strays_are_the_other_keys_with_the_label() {
        let key = |id: &str, label: Option<&str>| ListedKey {
            id: id.to_owned(),
            label: label.map(str::to_owned),
        };
        let listed = [
            key("a", Some("rotation-t")),
            key("b", Some("rotation-t")),
            key("c", Some("rotation-u")),
            key("d", None),
        ];
        assert_eq!(strays(&listed, "rotation-t", None), ["a", "b"]);
        assert_eq!(strays(&listed, "rotation-t", Some("b")), ["a"]);
        assert!(strays(&listed, "rotation-v", None).is_empty());
    }

    #[test]
    fn only_ids_listed_under_a_rotation_label_count_as_minted_here() {
        let key = |id: &str, label: Option<&str>| ListedKey {
            id: id.to_owned(),
            label: label.map(str::to_owned),
        };
        let listed = [
            key("a", Some("rotation-t")),
            key("b", Some("another team's key")),
            key("c", None),
            key("d", Some("rotation-")),
        ];
        for (id, expected) in [
            ("a", true),
            ("b", false),
            ("c", false),
            ("d", false),
            ("x", false),
        ] {
            assert_eq!(rotation_labelled(&listed, id), expected, "{id}");
        }
    }
}
