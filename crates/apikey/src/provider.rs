//! The provider as a trait: what the rotator needs from any API that mints and revokes keys.
//! [`ProfileProvider`] implements it from a [`Profile`] (data); a provider that a profile
//! cannot describe implements it in Rust and is given to
//! [`ApiKeyRotator::with_provider`](crate::ApiKeyRotator::with_provider):
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use rotation_apikey::{ApiKeyRotator, KeyProvider, MintedKey, ProviderError, Revoked};
//! use rotation_core::{Deadline, SecretString, async_trait};
//!
//! /// A provider whose key API signs its requests, which a profile cannot describe.
//! struct Signed;
//!
//! #[async_trait]
//! impl KeyProvider for Signed {
//!     fn name(&self) -> &str {
//!         "signed"
//!     }
//!     async fn mint(&self, manager: &SecretString, label: &str, _: Deadline)
//!         -> Result<MintedKey, ProviderError> {
//!         # let _ = (manager, label);
//!         // Sign and send the request with `manager`, name the key `label`.
//!         Ok(MintedKey { key: SecretString::new("sk_new"), id: "key_1".into() })
//!     }
//!     async fn find(&self, _: &SecretString, _: &str, _: Deadline)
//!         -> Result<Vec<String>, ProviderError> {
//!         Ok(vec![])
//!     }
//!     async fn test(&self, _: &SecretString, _: Deadline) -> Result<(), ProviderError> {
//!         Ok(())
//!     }
//!     async fn revoke(&self, _: &SecretString, _: &str, _: Deadline)
//!         -> Result<Revoked, ProviderError> {
//!         Ok(Revoked::Now)
//!     }
//! }
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> std::process::ExitCode {
//!     rotation_core::lambda::serve(|_env| {
//!         Ok(ApiKeyRotator::with_provider(Arc::new(Signed), false))
//!     })
//!     .await
//! }
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use rotation_core::{Deadline, SecretString};
use serde_json::Value;

use crate::client::{ProviderClient, ProviderError};
use crate::profile::Profile;

/// A key the provider has just minted.
#[derive(Debug, Clone)]
pub struct MintedKey {
    /// The key (never printed: [`SecretString`]).
    pub key: SecretString,
    /// Its id at the provider.
    pub id: String,
}

/// What revoking a key came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// It was alive and is revoked now.
    Now,
    /// It was gone already (revoked before, or never existed).
    Already,
}

/// An API that mints, finds, tests and revokes keys. `manager` is the credential that manages
/// keys (the current key itself, or an admin key); errors must never contain a key.
#[async_trait]
pub trait KeyProvider: Send + Sync {
    /// A name for messages.
    fn name(&self) -> &str;

    /// Mints a key named `label`. If the answer cannot be read, the key may exist anyway: the
    /// next attempt finds it by its label ([`KeyProvider::find`]) and revokes it.
    async fn mint(
        &self,
        manager: &SecretString,
        label: &str,
        deadline: Deadline,
    ) -> Result<MintedKey, ProviderError>;

    /// The ids of the keys named `label`. Without a way to list keys, `Ok(vec![])`: then a
    /// crash between minting and storing can leave a key behind.
    async fn find(
        &self,
        manager: &SecretString,
        label: &str,
        deadline: Deadline,
    ) -> Result<Vec<String>, ProviderError>;

    /// Proves that `key` works.
    async fn test(&self, key: &SecretString, deadline: Deadline) -> Result<(), ProviderError>;

    /// Revokes the key `id`.
    async fn revoke(
        &self,
        manager: &SecretString,
        id: &str,
        deadline: Deadline,
    ) -> Result<Revoked, ProviderError>;

    /// The id of `key`, asked with the key itself, for secrets that do not store it; `None`
    /// when the provider cannot say.
    async fn identify(&self, key: &SecretString, deadline: Deadline) -> Option<String> {
        let _ = (key, deadline);
        None
    }
}

/// A [`KeyProvider`] described by a [`Profile`].
#[derive(Debug, Clone)]
pub struct ProfileProvider {
    profile: Profile,
    base_url: String,
    client: ProviderClient,
}

impl ProfileProvider {
    /// The provider a profile describes, at `base_url` (else the profile's own).
    pub fn new(profile: Profile, base_url: Option<String>, client: ProviderClient) -> Self {
        let base_url = base_url.unwrap_or_else(|| profile.base_url.clone());
        ProfileProvider {
            profile,
            base_url,
            client,
        }
    }

    fn malformed(
        &self,
        request: &crate::profile::Request,
        status: u16,
        problem: String,
    ) -> ProviderError {
        ProviderError::Malformed {
            profile: self.profile.name.clone(),
            request: format!("{} {}", request.method, request.path),
            status,
            problem,
        }
    }
}

/// Shares one provider between rotations.
pub type SharedProvider = Arc<dyn KeyProvider>;

#[async_trait]
impl KeyProvider for ProfileProvider {
    fn name(&self) -> &str {
        &self.profile.name
    }

    async fn mint(
        &self,
        manager: &SecretString,
        label: &str,
        deadline: Deadline,
    ) -> Result<MintedKey, ProviderError> {
        let create = &self.profile.create;
        let answer = self
            .client
            .send(
                &self.profile,
                &self.base_url,
                &create.request,
                manager,
                &[("label", label)],
                deadline,
            )
            .await?;
        let json = answer
            .json
            .map_err(|problem| self.malformed(&create.request, answer.status, problem))?;
        let key = json
            .pointer(&create.key_pointer)
            .and_then(Value::as_str)
            .filter(|key| !key.is_empty())
            .ok_or_else(|| {
                self.malformed(
                    &create.request,
                    answer.status,
                    format!("has no key (string) at {:?}", create.key_pointer),
                )
            })?;
        let id = match json.pointer(&create.id_pointer) {
            Some(Value::String(id)) => id.clone(),
            Some(Value::Number(id)) => id.to_string(),
            _ => {
                return Err(self.malformed(
                    &create.request,
                    answer.status,
                    format!("has no id at {:?}", create.id_pointer),
                ));
            }
        };
        Ok(MintedKey {
            key: SecretString::new(key),
            id,
        })
    }

    async fn find(
        &self,
        manager: &SecretString,
        label: &str,
        deadline: Deadline,
    ) -> Result<Vec<String>, ProviderError> {
        let Some(list) = &self.profile.list else {
            return Ok(Vec::new());
        };
        let answer = self
            .client
            .send(
                &self.profile,
                &self.base_url,
                &list.request,
                manager,
                &[],
                deadline,
            )
            .await?;
        let json = answer
            .json
            .map_err(|problem| self.malformed(&list.request, answer.status, problem))?;
        let items = json
            .pointer(&list.items_pointer)
            .and_then(Value::as_array)
            .ok_or_else(|| {
                self.malformed(
                    &list.request,
                    answer.status,
                    format!("has no list at {:?}", list.items_pointer),
                )
            })?;
        Ok(items
            .iter()
            .filter(|item| item.pointer(&list.label_pointer).and_then(Value::as_str) == Some(label))
            .filter_map(|item| match item.pointer(&list.id_pointer) {
                Some(Value::String(id)) => Some(id.clone()),
                Some(Value::Number(id)) => Some(id.to_string()),
                _ => None,
            })
            .collect())
    }

    async fn test(&self, key: &SecretString, deadline: Deadline) -> Result<(), ProviderError> {
        self.client
            .send(
                &self.profile,
                &self.base_url,
                &self.profile.test,
                key,
                &[],
                deadline,
            )
            .await
            .map(drop)
    }

    async fn revoke(
        &self,
        manager: &SecretString,
        id: &str,
        deadline: Deadline,
    ) -> Result<Revoked, ProviderError> {
        match self
            .client
            .send(
                &self.profile,
                &self.base_url,
                &self.profile.revoke,
                manager,
                &[("id", id)],
                deadline,
            )
            .await
        {
            Ok(_) => Ok(Revoked::Now),
            Err(ProviderError::Status { status: 404, .. }) => Ok(Revoked::Already),
            Err(error) => Err(error),
        }
    }

    async fn identify(&self, key: &SecretString, deadline: Deadline) -> Option<String> {
        let identify = self.profile.identify.as_ref()?;
        let answer = self
            .client
            .send(
                &self.profile,
                &self.base_url,
                &identify.request,
                key,
                &[],
                deadline,
            )
            .await
            .ok()?;
        match answer.json.ok()?.pointer(&identify.id_pointer)? {
            Value::String(id) => Some(id.clone()),
            Value::Number(id) => Some(id.to_string()),
            _ => None,
        }
    }
}
