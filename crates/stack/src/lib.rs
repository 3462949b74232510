//! A private local stack for tests and `cargo xtask`: moto's server standing in for AWS
//! Secrets Manager, and a PostgreSQL and a MariaDB server of our own.
//!
//! # Why
//!
//! A rotation is only proven by running it: the four steps against a Secrets Manager that
//! keeps version labels, and a database that really changes a password and really refuses the
//! old one. Shared servers make tests depend on each other and on the machine (a system
//! PostgreSQL with unknown users, a moto someone else started), and containers are not
//! always available. So each test process starts its own servers, on free ports, with random
//! passwords, in directories nobody else uses, and they die with it.
//!
//! # How
//!
//! - [`MotoServer`] runs `moto_server` from a venv under [`stack_dir`], created on first use
//!   (`python3 -m venv`, then `pip install 'moto[server]==5.2.1'`) under a file lock;
//!   [`PythonTool`] does the same for any pinned program from PyPI (the xtask's cargo-lambda,
//!   cfn-lint and checkov).
//! - [`PostgresServer`] runs `initdb` and `postgres` from the installed PostgreSQL, as the
//!   `postgres` user when we are root, with SCRAM passwords, TLS with a self-signed
//!   certificate for `localhost` and `127.0.0.1` (its path is the CA bundle to verify it),
//!   and every statement in its log. [`PostgresServer::start_replica`] copies a running one
//!   with `pg_basebackup -R` into a hot standby that streams its WAL: another
//!   `PostgresServer`, same superuser and password, its own port and certificate; tests pause
//!   and resume it with `pg_wal_replay_pause()` / `pg_wal_replay_resume()`.
//! - [`MariaDbServer`] runs `mariadb-install-db` and `mariadbd` from the installed MariaDB
//!   (ignoring the machine's `my.cnf`), as the `mysql` user when we are root, with a random
//!   root password for TCP logins from `127.0.0.1`, TLS with a certificate made the same way,
//!   and every statement in its general log. Every one writes a binary log, so
//!   [`MariaDbServer::start_replica`] can seed a fresh server with a consistent
//!   `mariadb-dump` of it and have it replicate from there by GTID: another `MariaDbServer`,
//!   same root password, its own port, server id and certificate; tests pause and resume it
//!   with `STOP SLAVE SQL_THREAD` / `START SLAVE SQL_THREAD`.
//! - [`RedisServer`] runs `redis-server` (the installed one, or `ROTATION_STACK_REDIS_SERVER`)
//!   with the `default` user off and an `admin` user with a random password, nothing saved,
//!   ACL users in memory. It is not part of [`Stack`]: tests that need it start their own.
//! - [`Decoy`] is the attacker's server: a listener on `127.0.0.1` that speaks enough of
//!   PostgreSQL's, MySQL's or Redis's protocol to be sent a user name and password, records
//!   them and refuses the login, so that tests can prove a credential never went there.
//! - [`Stack`] starts all three and gives the environment variables that point the AWS SDK,
//!   libpq, the MariaDB/MySQL clients and the rotators at them.
//!
//! The servers are plain `std::process` children, not tokio ones: every `#[tokio::test]` has
//! its own runtime, and a server shared by several tests must outlive each of them.
//!
//! [`Lifetime::WithProcess`] servers can never outlive the test process, even when it is
//! killed: the kernel sends them SIGKILL when it dies. [`Lifetime::Detached`] servers are for
//! `cargo xtask stack up`: [`up`] starts them and records them in `stack_dir()/state.json`,
//! [`current`] finds them again, [`down`] stops them.
//!
//! ```no_run
//! use rotation_stack::{Lifetime, Stack};
//!
//! let stack = Stack::start(Lifetime::WithProcess)?;
//! for (name, value) in stack.env() {
//!     println!("{name}={value}");
//! }
//! println!("connect with {}", stack.postgres.admin_url());
//! println!("or with {}", stack.mariadb.admin_url());
//! # Ok::<(), rotation_stack::StackError>(())
//! ```
#![warn(missing_docs)]

mod account;
mod cert;
pub mod decoy;
mod env;
mod error;
mod files;
mod location;
mod mariadb;
mod moto;
mod port;
mod postgres;
mod process;
mod random;
mod redis;
mod server;
mod shared_memory;
mod state;
mod venv;

pub use decoy::{Contact, Decoy, Protocol};
pub use error::StackError;
pub use location::stack_dir;
pub use mariadb::MariaDbServer;
pub use moto::MotoServer;
pub use postgres::PostgresServer;
pub use redis::RedisServer;
pub use state::{StackState, current, down, up};
pub use venv::PythonTool;

use env::StackEnv;

/// How long the servers live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// The servers die with the current process, however it ends (the kernel sends them
    /// SIGKILL when it dies), and are stopped when dropped. Their data lives in a fresh
    /// directory under the system temporary directory, removed on drop (or, for servers never
    /// dropped, by the next start).
    WithProcess,
    /// The servers survive the process, in sessions of their own, for `cargo xtask stack up`.
    /// Their data lives under `stack_dir()/run/`; dropping them leaves them running.
    Detached,
}

/// The three servers, and the environment variables that point a shell or a test at them.
#[derive(Debug)]
pub struct Stack {
    /// The Secrets Manager emulator.
    pub moto: MotoServer,
    /// The PostgreSQL server.
    pub postgres: PostgresServer,
    /// The MariaDB server.
    pub mariadb: MariaDbServer,
}

impl Stack {
    /// Starts moto, PostgreSQL and MariaDB side by side and waits until all are ready.
    ///
    /// If one fails, the others are stopped again (whatever the lifetime) and the first error
    /// (moto's, then PostgreSQL's, then MariaDB's) is returned.
    pub fn start(lifetime: Lifetime) -> Result<Stack, StackError> {
        let (moto, postgres, mariadb) = std::thread::scope(|scope| {
            let moto = scope.spawn(|| MotoServer::start(lifetime));
            let mariadb = scope.spawn(|| MariaDbServer::start(lifetime));
            let postgres = PostgresServer::start(lifetime);
            (join(moto), postgres, join(mariadb))
        });
        match (moto, postgres, mariadb) {
            (Ok(moto), Ok(postgres), Ok(mariadb)) => Ok(Stack {
                moto,
                postgres,
                mariadb,
            }),
            (Err(error), postgres, mariadb) => {
                terminate(None, postgres.ok(), mariadb.ok());
                Err(error)
            }
            (Ok(moto), Err(error), mariadb) => {
                terminate(Some(moto), None, mariadb.ok());
                Err(error)
            }
            (Ok(moto), Ok(postgres), Err(error)) => {
                terminate(Some(moto), Some(postgres), None);
                Err(error)
            }
        }
    }

    /// The variables a shell or test needs, as `(name, value)` pairs:
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER` and `SECRETS_MANAGER_ENDPOINT` (moto's URL),
    /// `AWS_REGION` and `AWS_DEFAULT_REGION` (us-east-1), `AWS_ACCESS_KEY_ID=testing`, `AWS_SECRET_ACCESS_KEY=testing`,
    /// `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE=postgres`,
    /// `DATABASE_CA_BUNDLE` (the certificate that verifies PostgreSQL's TLS),
    /// `ROTATION_STACK_PG_LOG` (PostgreSQL's log), `MYSQL_HOST`, `MYSQL_TCP_PORT` and
    /// `MYSQL_PWD` (read by the mariadb and mysql clients), `ROTATION_STACK_MARIADB_USER`
    /// (`root`), `ROTATION_STACK_MARIADB_CA` (the certificate that verifies MariaDB's TLS) and
    /// `ROTATION_STACK_MARIADB_LOG` (MariaDB's general log of every statement).
    pub fn env(&self) -> Vec<(String, String)> {
        StackEnv {
            moto_endpoint: self.moto.endpoint(),
            pg_host: self.postgres.host(),
            pg_port: self.postgres.port(),
            pg_user: self.postgres.superuser(),
            pg_password: self.postgres.superuser_password(),
            ca_cert: self.postgres.ca_cert_path(),
            pg_log: self.postgres.log_path(),
            mariadb_host: self.mariadb.host(),
            mariadb_port: self.mariadb.port(),
            mariadb_user: self.mariadb.root_user(),
            mariadb_password: self.mariadb.root_password(),
            mariadb_ca_cert: self.mariadb.ca_cert_path(),
            mariadb_general_log: self.mariadb.general_log_path(),
        }
        .vars()
    }
}

/// The result of a scoped thread, its panic passed on.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Stops the servers of a stack that could not start as a whole, whatever their lifetime.
fn terminate(
    moto: Option<MotoServer>,
    postgres: Option<PostgresServer>,
    mariadb: Option<MariaDbServer>,
) {
    if let Some(mut moto) = moto {
        moto.terminate();
    }
    if let Some(mut postgres) = postgres {
        postgres.terminate();
    }
    if let Some(mut mariadb) = mariadb {
        mariadb.terminate();
    }
}
