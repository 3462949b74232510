//! # rotation-db
//!
//! What every database rotator shares, whatever the engine: the RDS secret JSON, checked
//! against the engine a rotator serves ([`secret`], [`engine`]); TLS to the database with AWS's
//! `ssl` semantics plus libpq's `sslmode`, and one trust store with the RDS CAs built in
//! ([`tls`], [`rds`]); logging in within a time budget and telling a refused password from a
//! silent host ([`login`]); and the single-user and multi-user rotation algorithms of AWS's
//! templates ([`single_user`], [`multi_user`]).
//!
//! An engine (PostgreSQL, MySQL) declares itself as data, an [`EngineDescriptor`]: the
//! `engine` values it serves, its default port, AWS's default excluded password characters,
//! the log targets of its client. It implements [`Database`] (that descriptor as
//! [`Database::ENGINE`]; open a session, change the session user's password, run a probe
//! query), with failures as kinds ([`LoginError`], [`SessionError`]); for multi-user it also
//! implements [`CloneDatabase`]: create or adopt the alternate user, as the master user. No
//! code here branches on an engine.
//!
//! Where the master user may log in is decided in [`master`] (the master secret's own host,
//! RDS's endpoints through [`rds_lookup`], or the operator's `MASTER_HOSTS`), never by the
//! rotated secret.
#![warn(missing_docs)]

pub mod engine;
pub mod error;
pub mod login;
pub mod master;
pub mod multi_user;
mod preflight;
pub mod rds;
pub mod rds_lookup;
pub mod secret;
pub mod server_cert;
pub mod single_user;
pub mod tls;

pub use engine::EngineDescriptor;
pub use error::SessionError;
pub use login::{Connector, Database, DbSettings, Endpoint, Login, LoginError};
pub use master::{
    HostPort, MASTER_HOSTS_VARIABLE, MasterHosts, TrustSource, TrustedHosts, UntrustedHost,
};
pub use multi_user::{CloneDatabase, MultiUser, UserPair, alternate_username};
pub use secret::{RdsSecret, SslFlag};
pub use server_cert::ServerCertificate;
pub use single_user::{Credentials, SingleUser};
pub use tls::{RootSource, TlsMode, TlsRequest, TlsSettings, Verification};
