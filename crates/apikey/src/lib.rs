//! # rotation-apikey
//!
//! The `api-key` rotator: keys of HTTP APIs that let a client mint and revoke its own keys,
//! with the provider described as data ([`profile::Profile`]), not code.
//!
//! - **createSecret** mints a key named `rotation-<token>` and stores it as `AWSPENDING`. A
//!   retry of the same rotation first revokes any key with that name (minted by an attempt
//!   that crashed before storing it), so no rotation leaves an unrecorded key behind.
//! - **setSecret** has nothing to do: the key is live once minted.
//! - **testSecret** proves the new key with the profile's test request.
//! - **finishSecret** revokes the key that falls out of use: by default the one two rotations
//!   old (`AWSPREVIOUS`), before `AWSCURRENT` moves, so clients that cached the previous key
//!   keep working until the next rotation; with `API_KEY_REVOKE_AT_ONCE` also the key just
//!   replaced, after the move.
//!
//! Provider answers 429 and 5xx are retried with backoff within the deadline, honouring
//! `Retry-After`; other failures are errors that name the profile and the request, never a key.
//! The managing credential is the key itself, or the key in the secret `adminarn` names.
//!
//! A provider a profile cannot describe implements [`KeyProvider`] in Rust and is given to
//! [`ApiKeyRotator::with_provider`]; the rest (labels, orphan sweep, overlap, retries of the
//! protocol) stays the same.
#![warn(missing_docs)]

pub mod answer;
pub mod client;
pub mod endpoint;
pub mod management;
pub mod profile;
pub mod provider;
pub mod rotator;
pub mod secret;
pub mod settings;

pub use client::{ProviderClient, ProviderError};
pub use endpoint::Endpoint;
pub use profile::Profile;
pub use provider::{
    Identity, KeyProvider, ListedKey, MintedKey, ProfileProvider, Revoked, SharedProvider,
};
pub use rotator::{ApiKeyRotator, api_key_from_env, label};
pub use secret::KeySecret;
pub use settings::ApiKeySettings;
