//! # rotation-db
//!
//! What every database rotator shares, whatever the engine: TLS to the database with AWS's
//! `ssl` semantics plus libpq's `sslmode` ([`tls`]), logging in within a time budget and telling
//! a refused password from a silent host ([`login`]), and the single-user rotation algorithm of
//! AWS's templates ([`single_user`]). An engine (PostgreSQL, MySQL) implements [`Database`]:
//! open a session, change the session user's password, run a probe query.
#![warn(missing_docs)]

pub mod login;
pub mod single_user;
pub mod tls;

pub use login::{Connector, Database, DbSettings, Endpoint, Login, LoginError};
pub use single_user::{Credentials, SingleUser};
pub use tls::{TlsMode, TlsSettings, Verification};
