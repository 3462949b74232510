//! The provider as a trait: what the rotator needs from any API that mints and revokes keys.
//! [`ProfileProvider`] implements it from a [`Profile`] (data); a provider that a profile
//! cannot describe implements it in Rust and is given to
//! [`ApiKeyRotator::with_provider`](crate::ApiKeyRotator::with_provider):
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use rotation_apikey::{ApiKeyRotator, KeyProvider, ListedKey, MintedKey, ProviderError, Revoked};
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
//!     async fn list(&self, _: &SecretString, _: Deadline)
//!         -> Result<Option<Vec<ListedKey>>, ProviderError> {
//!         Ok(None) // this API cannot list keys
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
//!     rotation_core::lambda::serve("signed-api-key", |_env| {
//!         Ok(ApiKeyRotator::with_provider(Arc::new(Signed), false))
//!     })
//!     .await
//! }
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use rotation_core::{Deadline, SecretString};

use crate::answer::{each_item_at, scalar_at};
use crate::client::{Answer, ProviderClient, ProviderError, Repeat};
use crate::endpoint::Endpoint;
use crate::profile::{Profile, Request};

/// A key the provider has just minted.
#[derive(Debug, Clone)]
pub struct MintedKey {
    /// The key (never printed: [`SecretString`]).
    pub key: SecretString,
    /// Its id at the provider.
    pub id: String,
}

/// A key as the provider lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedKey {
    /// Its id.
    pub id: String,
    /// Its label (name), when it has one.
    pub label: Option<String>,
}

/// Who a key is, asked with the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The provider cannot say (no "who am I" request).
    Unsupported,
    /// The key works and has this id.
    Known(String),
    /// The provider refused the key (401 or 403): revoked already, or never a key.
    Refused,
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

    /// Mints a key named `label`, once: it must not repeat the request after an answer that
    /// may follow a mint (a 5xx, a lost or unreadable answer); the rotator looks the label up
    /// ([`KeyProvider::list`]) and revokes what it finds before it mints again.
    async fn mint(
        &self,
        manager: &SecretString,
        label: &str,
        deadline: Deadline,
    ) -> Result<MintedKey, ProviderError>;

    /// Every key the provider lists; `Ok(None)` without a way to list keys (then a mint that
    /// failed after the provider acted is not repeated, and can leave a key behind).
    async fn list(
        &self,
        manager: &SecretString,
        deadline: Deadline,
    ) -> Result<Option<Vec<ListedKey>>, ProviderError>;

    /// Proves that `key` works.
    async fn test(&self, key: &SecretString, deadline: Deadline) -> Result<(), ProviderError>;

    /// Revokes the key `id`. [`Revoked::Already`] only when the key is surely gone: a "not
    /// found" that could come from a wrong path is an error.
    async fn revoke(
        &self,
        manager: &SecretString,
        id: &str,
        deadline: Deadline,
    ) -> Result<Revoked, ProviderError>;

    /// The id of `key`, asked with the key itself: it proves that a secret holds the key an
    /// id names before that id is revoked (the id alone is just text someone wrote), and
    /// finds the id of a bare key. [`Identity::Unsupported`] by default.
    async fn identify(
        &self,
        key: &SecretString,
        deadline: Deadline,
    ) -> Result<Identity, ProviderError> {
        let _ = (key, deadline);
        Ok(Identity::Unsupported)
    }
}

/// A [`KeyProvider`] described by a [`Profile`], at a checked [`Endpoint`].
#[derive(Debug, Clone)]
pub struct ProfileProvider {
    profile: Profile,
    endpoint: Endpoint,
    client: ProviderClient,
}

impl ProfileProvider {
    /// The provider a profile describes, at `endpoint` (checked by [`Endpoint::parse`]).
    pub fn new(profile: Profile, endpoint: Endpoint, client: ProviderClient) -> Self {
        ProfileProvider {
            profile,
            endpoint,
            client,
        }
    }

    fn malformed(&self, request: &Request, status: u16, problem: String) -> ProviderError {
        ProviderError::Malformed {
            profile: self.profile.name.clone(),
            request: format!("{} {}", request.method, request.path),
            status,
            problem,
        }
    }

    async fn send(
        &self,
        request: &Request,
        key: &SecretString,
        values: &[(&str, &str)],
        deadline: Deadline,
        repeat: Repeat,
    ) -> Result<Answer, ProviderError> {
        self.client
            .send(
                &self.profile,
                &self.endpoint,
                request,
                key,
                values,
                deadline,
                repeat,
            )
            .await
    }

    /// The value at `pointer` of an answer, read as an id.
    fn id_at(
        &self,
        request: &Request,
        answer: &Answer,
        pointer: &str,
    ) -> Result<String, ProviderError> {
        answer
            .at(pointer)
            .map_err(|problem| self.malformed(request, answer.status, problem))?
            .into_id()
            .ok_or_else(|| {
                self.malformed(request, answer.status, format!("has no id at {pointer:?}"))
            })
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
            .send(
                &create.request,
                manager,
                &[("label", label)],
                deadline,
                Repeat::OnlyIfNothingDone,
            )
            .await?;
        let key = answer
            .at(&create.key_pointer)
            .map_err(|problem| self.malformed(&create.request, answer.status, problem))?
            .into_text()
            .filter(|key| !key.is_empty())
            .ok_or_else(|| {
                self.malformed(
                    &create.request,
                    answer.status,
                    format!("has no key (string) at {:?}", create.key_pointer),
                )
            })?;
        let id = self.id_at(&create.request, &answer, &create.id_pointer)?;
        Ok(MintedKey {
            key: SecretString::new(key),
            id,
        })
    }

    async fn list(
        &self,
        manager: &SecretString,
        deadline: Deadline,
    ) -> Result<Option<Vec<ListedKey>>, ProviderError> {
        let Some(list) = &self.profile.list else {
            return Ok(None);
        };
        let answer = self
            .send(&list.request, manager, &[], deadline, Repeat::Freely)
            .await?;
        let mut keys = Vec::new();
        let found = each_item_at(&answer.body, &list.items_pointer, |item| {
            if let Some(id) = scalar_at(item, &list.id_pointer)?.into_id() {
                let label = scalar_at(item, &list.label_pointer)?.into_text();
                keys.push(ListedKey { id, label });
            }
            Ok(())
        })
        .map_err(|problem| self.malformed(&list.request, answer.status, problem))?;
        if !found {
            return Err(self.malformed(
                &list.request,
                answer.status,
                format!("has no list at {:?}", list.items_pointer),
            ));
        }
        Ok(Some(keys))
    }

    async fn test(&self, key: &SecretString, deadline: Deadline) -> Result<(), ProviderError> {
        self.send(&self.profile.test, key, &[], deadline, Repeat::Freely)
            .await
            .map(drop)
    }

    async fn revoke(
        &self,
        manager: &SecretString,
        id: &str,
        deadline: Deadline,
    ) -> Result<Revoked, ProviderError> {
        let revoke = &self.profile.revoke;
        match self
            .send(revoke, manager, &[("id", id)], deadline, Repeat::Freely)
            .await
        {
            Ok(_) => Ok(Revoked::Now),
            Err(ProviderError::Status {
                status: 404,
                profile,
                request,
                ..
            }) => {
                // "Not found" is also what a wrong path gets: believe it only when the list
                // agrees that the key is gone.
                let listed = self.list(manager, deadline).await?;
                match listed {
                    Some(keys) if keys.iter().any(|key| key.id == id) => {
                        Err(ProviderError::Status {
                            profile,
                            request,
                            status: 404,
                            hint: format!(
                                " but the provider still lists key {id}: check the profile's \
                                 revoke path ({} {})",
                                revoke.method, revoke.path
                            ),
                        })
                    }
                    Some(_) => Ok(Revoked::Already),
                    None => {
                        tracing::warn!(id, request = %request, "the revoke was answered 404 and the profile has no list to check that the key is gone; counting it as revoked");
                        Ok(Revoked::Already)
                    }
                }
            }
            Err(error) => Err(error),
        }
    }

    async fn identify(
        &self,
        key: &SecretString,
        deadline: Deadline,
    ) -> Result<Identity, ProviderError> {
        let Some(identify) = &self.profile.identify else {
            return Ok(Identity::Unsupported);
        };
        let answer = match self
            .send(&identify.request, key, &[], deadline, Repeat::Freely)
            .await
        {
            Ok(answer) => answer,
            Err(error) if error.is_auth_refusal() => return Ok(Identity::Refused),
            Err(error) => return Err(error),
        };
        self.id_at(&identify.request, &answer, &identify.id_pointer)
            .map(Identity::Known)
    }
}
