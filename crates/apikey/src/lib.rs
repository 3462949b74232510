//! # rotation-apikey
//!
//! The `api-key` rotator: keys of HTTP APIs that let a client mint and revoke its own keys,
//! with the provider described as data ([`profile::Profile`]), not code.
//!
//! - **createSecret** mints a key named `rotation-<token>` and stores it as `AWSPENDING`. It
//!   first revokes any key with that name (minted by an attempt that crashed before storing
//!   it), and a mint whose answer is lost or fails after the provider may have acted is never
//!   repeated blindly: the name is looked up and what it finds revoked first. So no rotation
//!   leaves an unrecorded key behind.
//! - **setSecret** has nothing to do: the key is live once minted.
//! - **testSecret** proves the new key with the profile's test request.
//! - **finishSecret** revokes any other key named for this rotation (a mint carried out late),
//!   then the key that falls out of use: by default the one two rotations old
//!   (`AWSPREVIOUS`), before `AWSCURRENT` moves, so clients that cached the previous key keep
//!   working until the next rotation; with `API_KEY_REVOKE_AT_ONCE` also the key just
//!   replaced, after the move. An old key is revoked by the id the provider gives for the key
//!   itself when it can (`identify`), never only by an id someone wrote into the secret.
//!
//! ## Trust
//!
//! The rotated secret is written by an application team. The managing credential is the key
//! itself, or the key in the secret `adminarn` names; an admin key goes only to the provider
//! the operator chose (the admin secret's `profile` and `baseUrl`, or the variables), never to
//! one the rotated secret names ([`management`]). Base URLs are `https://`, or `http://` to a
//! loopback address ([`endpoint`]); requests never follow redirects and cannot leave the base
//! URL's host.
//!
//! ## Answers
//!
//! Requests that may be repeated are retried on 429, 5xx and lost answers with backoff within
//! the deadline, honouring `Retry-After`; a mint only on 429 or a connection that never
//! opened. Other failures are errors that name the profile and the request, never a key. A
//! body past 1 MiB or headers past 64 KiB are refused, and bodies are read by following the
//! profile's JSON pointers, never parsed whole ([`answer`]), so whatever a provider sends, the
//! function's memory stays small.
//!
//! A provider a profile cannot describe implements [`KeyProvider`] in Rust and is given to
//! [`ApiKeyRotator::with_provider`]; the rest (labels, orphan sweep, overlap, retries of the
//! protocol) stays the same.
#![warn(missing_docs)]

pub mod admin;
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
