//! # redis-acl
//!
//! The `redis-acl` rotator: the password of a Redis ACL user (Redis 7 or later), kept in a
//! secret `{"host", "port", "username", "password", "masterarn"}` (`port` defaults to 6379,
//! `masterarn` is optional, every other key is kept).
//!
//! # Why
//!
//! It is the worked example of a rotator outside the database crates: the rotation protocol
//! comes from `rotation-core`, the algorithms are those of the database rotators (the same
//! order of attempts and the same messages, see `rotation-db`), and the target is spoken to
//! directly: RESP over a TCP socket in [`resp`], its own module, instead of a client crate.
//!
//! # How
//!
//! - Without `masterarn`, **single-user** ([`rotator`]): the user changes its own password
//!   with `ACL SETUSER <user> resetpass ><new>`; the old password stops working at once.
//!   Redis cannot limit `ACL SETUSER` to the caller's own user, so the user needs
//!   `+acl|setuser`, which lets it rewrite *any* user (its own rules included): it is as good
//!   as administrative. Use single-user only for users that are trusted that far.
//! - With `masterarn`, **multi-user**: `user` and `user_clone` take turns, set by the user of
//!   the master secret (`{"username", "password", "host", "port"}`; the child's server must
//!   be that one), which needs `ACL GETUSER` and `ACL SETUSER`. A master secret without
//!   `host` is used only on a server the operator lists in `MASTER_HOSTS` (comma-separated
//!   `host[:port]`), never on whatever server the child secret names. The clone gets the
//!   original's rules ([`acl`]); the user that was current keeps working until the next
//!   rotation. The rotated users themselves need no ACL rights at all.
//!
//! Passwords travel only as RESP bulk strings (any character works; no character is excluded
//! by default) and never reach a log or an error: Redis does not echo them, and the one reply
//! that could quote a rule is redacted ([`session::redact`]).
//!
//! # Limits
//!
//! Plain TCP only: no TLS (a secret with `"tls": true` or `"ssl": true` is refused rather than
//! sent in the clear). No cluster or replica awareness: the user is changed on the one server
//! the secret names (ACL changes are not replicated; use an ACL file or a managed service's
//! user API for fleets). ACL changes live in the server's memory: persist them with
//! `ACL SAVE` or the service's own mechanism. See [`acl`] for what copying rules cannot do.
#![warn(missing_docs)]

pub mod acl;
pub mod resp;
pub mod rotator;
pub mod secret;
pub mod session;

use rotation_core::PasswordPolicy;
use rotation_core::config::{ConfigError, Environment};

pub use rotator::RedisAclRotator;
pub use secret::{MasterSecret, RedisSecret};
pub use session::{Endpoint, RedisError, Session};

/// Builds `redis-acl` from the environment: AWS's password variables (`PASSWORD_LENGTH`,
/// `EXCLUDE_CHARACTERS` with no character excluded by default, `EXCLUDE_PUNCTUATION` and the
/// others), `MASTER_HOSTS` (the servers where a master secret without `host` may be used,
/// `host[:port]`, port 6379 by default) and `MASTER_SECRET_ARNS` (the only secrets `masterarn`
/// may name). A bad value is an error naming the variable.
pub fn from_env(env: &dyn Environment) -> Result<RedisAclRotator, ConfigError> {
    Ok(RedisAclRotator::new(PasswordPolicy::from_env(env, "")?)
        .with_master_hosts(rotation_db::MasterHosts::from_env(env)?)
        .with_master_secret_arns(rotation_core::master_arns::MasterSecretArns::from_env(env)?))
}
