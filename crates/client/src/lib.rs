//! Credentials that survive rotation, for the applications that use a rotated secret.
//!
//! # Why
//!
//! A rotation is only as good as the applications that live through it. In a single-user
//! rotation the database accepts only the new password from setSecret on, while `AWSCURRENT`
//! still holds the old one until finishSecret: an application that cached the secret, or reads
//! `AWSCURRENT` at that moment, cannot log in. In a multi-user rotation the previous user works
//! until the next rotation changes it; a rotated API key's predecessor is revoked at the next
//! rotation. A cache alone (a TTL) narrows these windows but does not close them.
//!
//! This crate closes them for new connections: on a refusal (PostgreSQL `28P01`, MySQL `1045`,
//! HTTP 401/403) it reads `AWSCURRENT` afresh and, if that is refused too, `AWSPENDING` (the
//! single-user window), remembers which version worked, and never retries a refused password
//! in a loop ([`RotatingCredentials`] has the details). Values are read through AWS's caching
//! client, [`aws_secretsmanager_caching`]; existing connections are left alone.
//!
//! # How
//!
//! One [`SecretSource`] per process (the cache), one [`RotatingCredentials`] per secret, and
//! the integration of the pool or client the application uses:
//!
//! | application uses | this crate gives | feature |
//! |---|---|---|
//! | sqlx `PgPool` | [`RotatingPool<sqlx::Postgres>`](RotatingPool) | `sqlx-postgres` |
//! | sqlx `MySqlPool` (MySQL, MariaDB) | [`RotatingPool<sqlx::MySql>`](RotatingPool) | `sqlx-mysql` |
//! | tokio-postgres + deadpool-postgres | [`RotatingConnect`] for `Manager::from_connect` | `deadpool-postgres` |
//! | reqwest with an API key | [`ApiKeyClient`] | `reqwest` |
//!
//! sqlx, PostgreSQL:
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use rotation_client::{DatabaseSecret, RotatingCredentials, RotatingPool, SecretSource};
//! use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
//!
//! # async fn app() -> Result<(), Box<dyn std::error::Error>> {
//! let source = SecretSource::from_env(Duration::from_secs(300)).await;
//! let credentials = Arc::new(RotatingCredentials::<DatabaseSecret>::new(source, "prod/app/db"));
//! let pool = RotatingPool::<sqlx::Postgres>::new(
//!     credentials,
//!     PgPoolOptions::new().max_connections(10),
//!     PgConnectOptions::new().application_name("app"), // the secret sets host, user, ...
//! )
//! .await?;
//! let mut connection = pool.acquire().await?;
//! let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut *connection).await?;
//! # let _ = one;
//! # Ok(())
//! # }
//! ```
//!
//! sqlx, MySQL or MariaDB:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use std::time::Duration;
//! use rotation_client::{DatabaseSecret, RotatingCredentials, RotatingPool, SecretSource};
//! use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
//!
//! # async fn app() -> Result<(), Box<dyn std::error::Error>> {
//! let source = SecretSource::from_env(Duration::from_secs(300)).await;
//! let credentials = Arc::new(RotatingCredentials::<DatabaseSecret>::new(source, "prod/app/mysql"));
//! let pool = RotatingPool::<sqlx::MySql>::new(
//!     credentials,
//!     MySqlPoolOptions::new(),
//!     MySqlConnectOptions::new(),
//! )
//! .await?;
//! sqlx::query("SELECT 1").execute(&mut *pool.acquire().await?).await?;
//! # Ok(())
//! # }
//! ```
//!
//! tokio-postgres through deadpool-postgres:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use std::time::Duration;
//! use deadpool_postgres::{Manager, ManagerConfig, Pool};
//! use rotation_client::{DatabaseSecret, RotatingConnect, RotatingCredentials, SecretSource};
//!
//! # async fn app() -> Result<(), Box<dyn std::error::Error>> {
//! let source = SecretSource::from_env(Duration::from_secs(300)).await;
//! let credentials = Arc::new(RotatingCredentials::<DatabaseSecret>::new(source, "prod/app/db"));
//! let connect = RotatingConnect::new(credentials, tokio_postgres::NoTls);
//! // The base configuration: everything but what the secret holds.
//! let base = tokio_postgres::Config::new();
//! let manager = Manager::from_connect(base, connect, ManagerConfig::default());
//! let pool = Pool::builder(manager).max_size(10).build()?;
//! let client = pool.get().await?;
//! client.query_one("SELECT 1", &[]).await?;
//! # Ok(())
//! # }
//! ```
//!
//! An API key with reqwest (the `api-key` rotator's secret, JSON with `apiKey` and `baseUrl`,
//! or a bare key):
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use std::time::Duration;
//! use rotation_client::{ApiKeyClient, ApiKeySecret, RotatingCredentials, SecretSource};
//!
//! # async fn app() -> Result<(), Box<dyn std::error::Error>> {
//! let source = SecretSource::from_env(Duration::from_secs(300)).await;
//! let key = Arc::new(RotatingCredentials::<ApiKeySecret>::new(source, "prod/app/mail-key"));
//! let client = ApiKeyClient::new(reqwest::Client::new(), key);
//! let response = client
//!     .send(client.http().get("https://api.example.com/v1/whoami"))
//!     .await?;
//! println!("{}", response.status());
//! # Ok(())
//! # }
//! ```
//!
//! Anything else that logs in (another pool, a gRPC channel) uses
//! [`RotatingCredentials::connect`] with its own attempt and its own test for a refusal.
//!
//! # What it costs
//!
//! A login is retried only after a refusal, never twice with the same version in one recovery;
//! a recovery makes at most four Secrets Manager reads (two passes), and a rotation usually
//! costs a process two forced reads (one task recovers, the others take what it found),
//! counted by [`SecretSource::forced_reads`], plus the cache's TTL refreshes;
//! `cargo xtask demo client` measures both.
#![warn(missing_docs)]

mod credentials;
#[cfg(feature = "deadpool-postgres")]
mod deadpool;
mod error;
#[cfg(feature = "reqwest")]
mod http;
mod secret;
mod source;
#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-mysql"))]
mod sqlx_pool;

pub use credentials::{ConnectError, DEFAULT_COOL_DOWN, RotatingCredentials};
#[cfg(feature = "deadpool-postgres")]
pub use deadpool::{RotatingConnect, is_refused as is_refused_postgres, with_secret};
pub use error::ClientError;
#[cfg(feature = "reqwest")]
pub use http::{ApiKeyClient, HttpError};
pub use rotation_core::SecretString;
pub use secret::{ApiKeySecret, DatabaseSecret, SecretValue, Versioned};
pub use source::{AWSCURRENT, AWSPENDING, RawVersion, SecretSource};
#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-mysql"))]
pub use sqlx_pool::{Engine, PoolError, RotatingPool};
