//! A local HTTP API-key provider for tests and demos.
//!
//! # Why
//!
//! Mailing, monitoring and payment platforms let a client mint and revoke its own API keys, and
//! the `api-key` rotator does exactly that: mint a new key, test it, revoke the one that fell
//! out of use, and never leave an unrecorded key behind, even when the provider throttles,
//! fails, changes its answers or crashes after acting. None of that can be tested against a
//! real provider, so [`KeyService`] stands in for one, over real HTTP on 127.0.0.1, with the
//! behaviours that matter: bearer authentication, self-managing keys, an admin key, and faults
//! injected on demand.
//!
//! It also keeps user accounts with passwords that each user changes for itself, the shape of
//! many internal services' admin APIs: the target of the starter rotator that
//! `cargo xtask new` generates (`templates/starter/`), whose contract test runs against it.
//!
//! # How
//!
//! ```no_run
//! use rotation_keyservice::KeyService;
//!
//! # async fn demo() -> Result<(), rotation_keyservice::KeyServiceError> {
//! let service = KeyService::start().await?;
//! let first = service.mint("first key"); // seeds a test without HTTP
//! // ... point the client under test at `service.base_url()` with `first.key` ...
//! service.fail_next(1, 429, Some(1), Some("POST"), Some("/v1/keys"));
//! // ... the client's next mint is throttled with `Retry-After: 1` ...
//! assert!(service.is_alive_key(&first.key));
//! println!("{:?}", service.requests()); // e.g. ["POST /v1/keys 429 injected", "POST /v1/keys 201"]
//!
//! service.add_user("app", "First-Password-1"); // an account, seeded without HTTP
//! // ... the client under test changes it with PUT /v1/users/app/password ...
//! assert!(!service.is_user_password("app", "First-Password-1"));
//! # Ok(())
//! # }
//! ```
//!
//! # The HTTP API
//!
//! The key routes and `POST /v1/users` take `Authorization: Bearer <key>`; any alive key (the
//! admin key made at start, or a minted, unrevoked one) may manage keys, and only the admin key
//! may create users. A missing, unknown or revoked key is answered `401 {"error": "invalid or
//! revoked key"}`. The other user routes take `Authorization: Basic <base64(name:password)>`, a
//! user acting on itself; missing or wrong credentials are answered `401 {"error": "invalid
//! user name or password"}` with `WWW-Authenticate: Basic realm="rotation-keyservice"`. Bodies
//! are JSON; a bad body is `400 {"error": …}`, and the message never quotes it.
//!
//! | request | answer |
//! |---|---|
//! | `POST /v1/keys` `{"name": "<1 to 200 chars>"}` | `201 {"id": "key_<16 hex>", "name", "key": "sk_live_<40 alphanumerics>", "created": <unix seconds>}`; a bad body is `400 {"error": …}` |
//! | `GET /v1/keys` | `200 {"keys": [{"id", "name", "created"}, …]}`: alive keys, oldest first, without secrets or the admin key |
//! | `GET /v1/keys/<id>` | `200 {"id", "name", "created"}`, or `404 {"error": "no such key"}` |
//! | `DELETE /v1/keys/<id>` | `204`; `404 {"error": "no such key"}` if unknown or already revoked; `403` for `admin` |
//! | `GET /v1/whoami` | `200 {"id", "name"}` of the calling key (`admin` for the admin key) |
//! | `POST /v1/users` `{"name": "<1 to 64 of A-Z a-z 0-9 _ . ->", "password": "<8 to 256 chars>"}`, admin key | `201 {"name"}`; `409` if the name is taken; `403` for another key |
//! | `PUT /v1/users/<name>/password` `{"password": "<8 to 256 chars>"}`, Basic as `<name>` | `204`; `403` when authenticated as another user |
//! | `GET /v1/users/me`, Basic | `200 {"name"}` of the authenticated user |
//! | anything else | `404 {"error": "not found"}`, before authentication |
//!
//! The service runs as tasks on the caller's tokio runtime and stops, closing its connections,
//! when the [`KeyService`] is dropped. It keeps everything in memory; it logs (at debug) and
//! records only methods, paths and statuses, never a key, a password or a body.
#![warn(missing_docs)]

mod api;
mod faults;
mod store;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use faults::{Fault, FaultAnswer};
use rotation_local::serve::LocalServer;
use store::Store;

/// What can go wrong starting a [`KeyService`].
#[derive(Debug, thiserror::Error)]
pub enum KeyServiceError {
    /// No loopback port could be listened on.
    #[error("the local key service could not listen on 127.0.0.1: {source}")]
    Listen {
        /// Why the operating system refused.
        #[source]
        source: std::io::Error,
    },
}

/// A key just minted, with its secret: what `POST /v1/keys` answers, less the creation time.
///
/// Its `Debug` output leaves the secret out, so a failed assertion cannot print it.
#[derive(Clone, PartialEq, Eq)]
pub struct MintedKey {
    /// The key's id, `key_<16 hex>`: not secret, used to look it up and revoke it.
    pub id: String,
    /// The name it was minted with.
    pub name: String,
    /// The secret key, `sk_live_<40 alphanumerics>`, sent as `Authorization: Bearer <key>`.
    pub key: String,
}

impl std::fmt::Debug for MintedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedKey")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// An alive key as the service lists it: never its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's id, `key_<16 hex>`.
    pub id: String,
    /// The name it was minted with.
    pub name: String,
    /// When it was minted, in seconds since the Unix epoch.
    pub created: u64,
}

/// The local key service: an HTTP server on a free loopback port; dropping it stops it.
pub struct KeyService {
    server: LocalServer,
    shared: Arc<Shared>,
}

/// What the server task and the [`KeyService`] handle share.
pub(crate) struct Shared {
    store: Mutex<Store>,
    faults: Mutex<Vec<Fault>>,
    /// `METHOD path outcome` of every request, in arrival order.
    requests: Mutex<Vec<String>>,
}

impl KeyService {
    /// Listens on a free 127.0.0.1 port with a fresh admin key and no other key.
    pub async fn start() -> Result<KeyService, KeyServiceError> {
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new()),
            faults: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
        });
        let handler_shared = Arc::clone(&shared);
        let server = LocalServer::start_or_drop(move |request| {
            api::handle(Arc::clone(&handler_shared), request)
        })
        .await
        .map_err(|source| KeyServiceError::Listen { source })?;
        tracing::debug!(addr = %server.addr(), "local key service listening");
        Ok(KeyService { server, shared })
    }

    /// The URL of the service, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The admin key made at start (returned even after [`KeyService::revoke_admin_key`]).
    pub fn admin_key(&self) -> String {
        lock(&self.shared.store).admin_key().to_owned()
    }

    /// Mints a key named `name` directly, without HTTP and without any check on the name: to
    /// seed a test with its first key. The request log does not see it.
    pub fn mint(&self, name: &str) -> MintedKey {
        lock(&self.shared.store).mint(name).0
    }

    /// Adds user `name` with `password` directly, without HTTP and without any check on either:
    /// to seed a test with an account. False, and nothing changed, if the name is taken. The
    /// request log does not see it.
    pub fn add_user(&self, name: &str, password: &str) -> bool {
        lock(&self.shared.store).add_user(name, password)
    }

    /// Whether `password` is user `name`'s password now (false for an unknown user).
    pub fn is_user_password(&self, name: &str, password: &str) -> bool {
        lock(&self.shared.store).is_user_password(name, password)
    }

    /// Every alive minted key, oldest first (the admin key is not one of them).
    pub fn alive(&self) -> Vec<KeyInfo> {
        lock(&self.shared.store).alive()
    }

    /// Whether `key` (a secret, not an id) would be accepted now, the admin key included.
    pub fn is_alive_key(&self, key: &str) -> bool {
        lock(&self.shared.store).caller(key).is_some()
    }

    /// Revokes the key with this id directly; false if no alive key has it.
    pub fn revoke(&self, id: &str) -> bool {
        lock(&self.shared.store).revoke(id)
    }

    /// Makes the admin key invalid from now on, to test a revoked admin credential.
    pub fn revoke_admin_key(&self) {
        lock(&self.shared.store).revoke_admin_key();
    }

    /// Answers the next `n` matching requests with `status` and `{"error":"injected"}` (plus
    /// `Retry-After: <retry_after>` when given) without doing anything: a throttling (429) or
    /// failing (5xx) provider. A `status` that is not a valid HTTP status answers 500.
    ///
    /// `method` (e.g. `"POST"`, any case) and `path` (a prefix, e.g. `"/v1/keys"`, which also
    /// matches `/v1/keys/<id>`) narrow which requests match; `None` matches all. Faults are
    /// used in the order they were added: each request uses up one use of the first that
    /// matches it, whatever the request would have been answered.
    pub fn fail_next(
        &self,
        n: usize,
        status: u16,
        retry_after: Option<u64>,
        method: Option<&str>,
        path: Option<&str>,
    ) {
        self.add(
            n,
            method,
            path,
            FaultAnswer::Fail {
                status,
                retry_after,
            },
        );
    }

    /// Lets the next `n` matching requests do their work (a mint really mints, a revoke really
    /// revokes), then answers `200` with the body `{"id": "key_`, cut off and not JSON: a
    /// provider that changed its answers. Matching as for [`KeyService::fail_next`].
    pub fn malformed_next(&self, n: usize, method: Option<&str>, path: Option<&str>) {
        self.add(n, method, path, FaultAnswer::Malformed);
    }

    /// Lets the next `n` matching requests do their work, then closes the connection without
    /// any answer: a provider that crashed or timed out after acting. Matching as for
    /// [`KeyService::fail_next`].
    pub fn drop_after_work_next(&self, n: usize, method: Option<&str>, path: Option<&str>) {
        self.add(n, method, path, FaultAnswer::DropAfterWork);
    }

    /// Lets the next `n` matching requests do their work (a mint really mints), then answers
    /// `status` with `{"error":"injected"}`: a provider whose gateway failed after the backend
    /// acted, so a client that repeats the request blindly acts twice. A `status` that is not
    /// a valid HTTP status answers 500. Matching as for [`KeyService::fail_next`].
    pub fn fail_after_work_next(
        &self,
        n: usize,
        status: u16,
        method: Option<&str>,
        path: Option<&str>,
    ) {
        self.add(n, method, path, FaultAnswer::FailAfterWork { status });
    }

    /// Lets the next `n` matching requests do their work at once, then holds the answer for
    /// `delay`: a provider that acts but answers after the client gave up. The request is
    /// recorded (as `"POST /v1/keys 201 delayed"`) when the answer is sent. Matching as for
    /// [`KeyService::fail_next`].
    pub fn delay_after_work_next(
        &self,
        n: usize,
        delay: std::time::Duration,
        method: Option<&str>,
        path: Option<&str>,
    ) {
        self.add(n, method, path, FaultAnswer::DelayAfterWork { delay });
    }

    /// Every HTTP request received so far, in arrival order, as `METHOD path outcome`; never a
    /// header, a query, a body, a key or a password. The outcome is the status answered (`"POST /v1/keys
    /// 201"`), or for faulted requests `"429 injected"`, `"200 malformed after 201"`,
    /// `"502 injected after 201"`, `"201 delayed"` or `"dropped after 201"` (the status the
    /// work itself came to).
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.requests).clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    fn add(&self, n: usize, method: Option<&str>, path: Option<&str>, answer: FaultAnswer) {
        if n == 0 {
            return;
        }
        lock(&self.shared.faults).push(Fault::new(n, method, path, answer));
    }
}

impl std::fmt::Debug for KeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyService")
            .field("base_url", &self.base_url())
            .field("alive", &self.alive().len())
            .finish_non_exhaustive()
    }
}

/// Locks a mutex, carrying on after a panic elsewhere (the data stays consistent: every
/// critical section is a single step).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
