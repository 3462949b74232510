//! Applications under load while the real rotators rotate their secret: how many requests fail
//! with a naive client (credentials read once), a cache-only client (AWS's caching client, a
//! TTL) and `rotation-client`.
//!
//! Each run creates a user (or an API key) and its secret, starts the rotator binary under the
//! Lambda Runtime API, starts several workers that send requests through a pool whose
//! connections are recycled often (every other request closes its connection, so new logins
//! happen all the time), and rotates the secret as Secrets Manager would
//! ([`SecretsManagerDriver::rotate`]), a given number of times. The application's Secrets
//! Manager calls go through a [`FaultProxy`], which counts them. Shared by
//! `tests/client.rs` (few rotations, assertions) and `cargo xtask demo client` (100, a table).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rotation_client::{
    ApiKeyClient, ApiKeySecret, DatabaseSecret, Engine, RotatingConnect, RotatingCredentials,
    RotatingPool, SecretSource, SecretValue,
};
use rotation_keyservice::KeyService;
use rotation_local::{FaultProxy, FunctionOptions, LocalFunction, SecretsManagerDriver};
use rotation_stack::Stack;
use serde_json::json;
use sqlx::pool::{PoolConnection, PoolOptions};
use sqlx::{Connection, Pool};

use crate::{create_mysql_user, create_role, mysql_secret_json, secret_json, unique};

/// How the application reads its credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Read once at start.
    Naive,
    /// AWS's caching client with a TTL, read before each new login; no recovery.
    CacheOnly,
    /// `rotation-client`.
    Client,
}

impl Mode {
    /// All three, in the order of the table.
    pub const ALL: [Mode; 3] = [Mode::Naive, Mode::CacheOnly, Mode::Client];

    /// The table's column name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Naive => "naive",
            Mode::CacheOnly => "cache-only",
            Mode::Client => "rotation-client",
        }
    }
}

/// What is rotated, and through which client library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// `postgres-single-user`, sqlx `PgPool`.
    PostgresSingleUser,
    /// `postgres-multi-user`, sqlx `PgPool`.
    PostgresMultiUser,
    /// `mysql-single-user` on MariaDB, sqlx `MySqlPool`.
    MariaDbSingleUser,
    /// `mysql-multi-user` on MariaDB, sqlx `MySqlPool`.
    MariaDbMultiUser,
    /// `postgres-single-user`, tokio-postgres through deadpool-postgres.
    PostgresSingleUserDeadpool,
    /// `api-key` against `rotation-keyservice`, reqwest.
    ApiKey,
}

impl Workload {
    /// Every workload, in the order of the table.
    pub const ALL: [Workload; 6] = [
        Workload::PostgresSingleUser,
        Workload::PostgresMultiUser,
        Workload::MariaDbSingleUser,
        Workload::MariaDbMultiUser,
        Workload::PostgresSingleUserDeadpool,
        Workload::ApiKey,
    ];

    /// The rotator binary.
    pub fn binary(self) -> &'static str {
        match self {
            Workload::PostgresSingleUser | Workload::PostgresSingleUserDeadpool => {
                "postgres-single-user"
            }
            Workload::PostgresMultiUser => "postgres-multi-user",
            Workload::MariaDbSingleUser => "mysql-single-user",
            Workload::MariaDbMultiUser => "mysql-multi-user",
            Workload::ApiKey => "api-key",
        }
    }

    /// The table's row name.
    pub fn name(self) -> &'static str {
        match self {
            Workload::PostgresSingleUser => "PostgreSQL single-user (sqlx)",
            Workload::PostgresMultiUser => "PostgreSQL multi-user (sqlx)",
            Workload::MariaDbSingleUser => "MariaDB single-user (sqlx)",
            Workload::MariaDbMultiUser => "MariaDB multi-user (sqlx)",
            Workload::PostgresSingleUserDeadpool => "PostgreSQL single-user (deadpool)",
            Workload::ApiKey => "API key (reqwest)",
        }
    }
}

/// A run's settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Rotations to run.
    pub rotations: usize,
    /// Concurrent application workers.
    pub workers: usize,
    /// The cache's TTL (cache-only and rotation-client alike).
    pub ttl: Duration,
    /// Pause between two rotations (the application keeps working).
    pub pause: Duration,
    /// The directory holding the rotator binaries.
    pub binaries: PathBuf,
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    /// Requests sent by the workers.
    pub requests: u64,
    /// Requests that failed.
    pub failures: u64,
    /// Rotations that succeeded (of those asked for).
    pub rotations: usize,
    /// Rotations that failed (a report each, for the log).
    pub failed_rotations: Vec<String>,
    /// The application's Secrets Manager calls, from the proxy.
    pub secrets_manager_calls: usize,
    /// Forced reads by the client (rotation-client only; the recovery's cost).
    pub forced_reads: u64,
    /// The first failure's message (no secret value: sqlx, deadpool and reqwest errors and
    /// ours never carry one).
    pub first_failure: Option<String>,
}

impl fmt::Display for Measured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} requests failed, {} rotations, {} Secrets Manager calls, {} forced reads",
            self.failures,
            self.requests,
            self.rotations,
            self.secrets_manager_calls,
            self.forced_reads
        )?;
        if let Some(first) = &self.first_failure {
            write!(f, "; first failure: {first}")?;
        }
        Ok(())
    }
}

/// Counts the workers' requests.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    failures: AtomicU64,
    first_failure: Mutex<Option<String>>,
}

impl Tally {
    fn record(&self, outcome: Result<(), String>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Err(message) = outcome {
            self.failures.fetch_add(1, Ordering::Relaxed);
            let mut first = self.first_failure.lock().unwrap();
            first.get_or_insert(message);
        }
    }
}

/// One application request, whatever the client.
trait App: Send + Sync + 'static {
    /// Sends request number `n` (every other one closes its connection afterwards).
    fn request(&self, n: u64) -> impl Future<Output = Result<(), String>> + Send;
}

/// Runs `workload` with `mode` on `stack` and returns what it measured.
pub async fn run(stack: &Stack, workload: Workload, mode: Mode, settings: &Settings) -> Measured {
    let proxy = FaultProxy::start(&stack.moto.endpoint())
        .await
        .expect("the counting proxy starts");
    let driver = SecretsManagerDriver::new(&stack.moto.endpoint()).await;
    let app_client = SecretsManagerDriver::new(&proxy.endpoint())
        .await
        .client()
        .clone();
    let source = SecretSource::new(app_client.clone(), settings.ttl);
    let function = start_rotator(stack, workload.binary(), &settings.binaries).await;
    match workload {
        Workload::ApiKey => {
            let service = KeyService::start().await.expect("the key service starts");
            let first = service.mint("client demo");
            let value = json!({"apiKey": first.key, "apiKeyId": first.id,
                "profile": "rotation-keyservice", "baseUrl": service.base_url()});
            let arn = create_secret(&driver, &value.to_string()).await;
            let app = KeyApp::new(mode, &source, &arn, &service.base_url()).await;
            drive(app, &driver, &function, &arn, &proxy, &source, settings).await
        }
        Workload::PostgresSingleUserDeadpool => {
            let arn = database_secret(stack, &driver, workload).await;
            let app = DeadpoolApp::new(mode, &source, &arn).await;
            drive(app, &driver, &function, &arn, &proxy, &source, settings).await
        }
        Workload::PostgresSingleUser | Workload::PostgresMultiUser => {
            let arn = database_secret(stack, &driver, workload).await;
            let base = sqlx::postgres::PgConnectOptions::new().database("postgres");
            let app = SqlxApp::<sqlx::Postgres>::new(mode, &source, &arn, base).await;
            drive(app, &driver, &function, &arn, &proxy, &source, settings).await
        }
        Workload::MariaDbSingleUser | Workload::MariaDbMultiUser => {
            let arn = database_secret(stack, &driver, workload).await;
            let base = sqlx::mysql::MySqlConnectOptions::new();
            let app = SqlxApp::<sqlx::MySql>::new(mode, &source, &arn, base).await;
            drive(app, &driver, &function, &arn, &proxy, &source, settings).await
        }
    }
}

/// The workers run while the driver rotates; then the tallies.
async fn drive<A: App>(
    app: A,
    driver: &SecretsManagerDriver,
    function: &LocalFunction,
    arn: &str,
    proxy: &FaultProxy,
    source: &SecretSource,
    settings: &Settings,
) -> Measured {
    let app = Arc::new(app);
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    // Warm up: the first requests read the secret; their calls are not the rotations' cost.
    for n in 0..2 {
        tally.record(app.request(n).await);
    }
    proxy.clear_calls();
    let forced_before = source.forced_reads();
    let workers: Vec<_> = (0..settings.workers)
        .map(|_| {
            let (app, tally, stop) = (Arc::clone(&app), Arc::clone(&tally), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    tally.record(app.request(n).await);
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        })
        .collect();
    let mut measured = Measured::default();
    for _ in 0..settings.rotations {
        match driver.rotate(function, arn).await {
            Ok(report) if report.succeeded() => measured.rotations += 1,
            Ok(report) => measured
                .failed_rotations
                .push(format!("{report}\n{}", function.output())),
            Err(error) => measured.failed_rotations.push(error.to_string()),
        }
        tokio::time::sleep(settings.pause).await;
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("a worker does not panic");
    }
    measured.requests = tally.requests.load(Ordering::Relaxed);
    measured.failures = tally.failures.load(Ordering::Relaxed);
    measured.first_failure = tally.first_failure.lock().unwrap().clone();
    measured.secrets_manager_calls = proxy.calls().len();
    measured.forced_reads = source.forced_reads() - forced_before;
    measured
}

async fn start_rotator(stack: &Stack, binary: &str, binaries: &Path) -> LocalFunction {
    let endpoint = stack.moto.endpoint();
    let env = [
        ("SECRETS_MANAGER_ENDPOINT", endpoint.as_str()),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        // The workers' logins keep the servers busy; the rotators' own are not the subject.
        ("DATABASE_CONNECT_TIMEOUT", "10"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let options = FunctionOptions {
        name: binary.to_owned(),
        timeout: Duration::from_secs(30),
        env,
    };
    LocalFunction::start(binaries.join(binary), options)
        .await
        .expect("the rotator starts")
}

async fn create_secret(driver: &SecretsManagerDriver, value: &str) -> String {
    driver
        .client()
        .create_secret()
        .name(unique("client-"))
        .secret_string(value)
        .send()
        .await
        .expect("CreateSecret works")
        .arn()
        .expect("moto returns an ARN")
        .to_owned()
}

/// A user, its secret (and a master secret for multi-user); returns the secret's ARN.
async fn database_secret(
    stack: &Stack,
    driver: &SecretsManagerDriver,
    workload: Workload,
) -> String {
    let user = unique("c");
    let password = unique("Initial-Pass-");
    let postgres = !matches!(
        workload,
        Workload::MariaDbSingleUser | Workload::MariaDbMultiUser
    );
    let (mut value, master) = if postgres {
        create_role(&stack.postgres, &user, &password).await;
        let pg = &stack.postgres;
        (
            secret_json(pg, &user, &password),
            secret_json(pg, pg.superuser(), pg.superuser_password()),
        )
    } else {
        create_mysql_user(&stack.mariadb, &user, &password).await;
        let db = &stack.mariadb;
        (
            mysql_secret_json(db, &user, &password),
            mysql_secret_json(db, db.root_user(), db.root_password()),
        )
    };
    if matches!(
        workload,
        Workload::PostgresMultiUser | Workload::MariaDbMultiUser
    ) {
        value["masterarn"] = json!(create_secret(driver, &master.to_string()).await);
    }
    create_secret(driver, &value.to_string()).await
}

/// An error and its sources (deadpool's and tokio-postgres's `Display` stop at "db error").
fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Reads `AWSCURRENT` once, directly (the naive application).
async fn read_once<T: SecretValue>(source: &SecretSource, arn: &str) -> T {
    let raw = source.current(arn).await.expect("the secret is readable");
    T::parse(&raw.text, arn).expect("the secret parses")
}

/// The cache's `AWSCURRENT`, parsed (the cache-only application).
async fn cached<T: SecretValue>(source: &SecretSource, arn: &str) -> Result<T, String> {
    let raw = source.current(arn).await.map_err(|e| e.to_string())?;
    T::parse(&raw.text, arn).map_err(|e| e.to_string())
}

/// A sqlx pool, three ways.
enum SqlxApp<DB: Engine> {
    Fixed(Pool<DB>),
    Cached {
        pool: Pool<DB>,
        source: SecretSource,
        arn: String,
        base: <DB::Connection as Connection>::Options,
    },
    Client(RotatingPool<DB>),
}

impl<DB: Engine> SqlxApp<DB> {
    async fn new(
        mode: Mode,
        source: &SecretSource,
        arn: &str,
        base: <DB::Connection as Connection>::Options,
    ) -> Self {
        let options = || PoolOptions::<DB>::new().max_connections(8);
        match mode {
            Mode::Naive => {
                let secret: DatabaseSecret = read_once(source, arn).await;
                SqlxApp::Fixed(options().connect_lazy_with(DB::with_secret(&base, &secret)))
            }
            Mode::CacheOnly => {
                let secret: DatabaseSecret = read_once(source, arn).await;
                SqlxApp::Cached {
                    pool: options().connect_lazy_with(DB::with_secret(&base, &secret)),
                    source: source.clone(),
                    arn: arn.to_owned(),
                    base,
                }
            }
            Mode::Client => {
                let credentials = Arc::new(RotatingCredentials::new(source.clone(), arn));
                SqlxApp::Client(
                    RotatingPool::new(credentials, options(), base)
                        .await
                        .expect("the secret is readable"),
                )
            }
        }
    }

    async fn acquire(&self) -> Result<PoolConnection<DB>, String> {
        match self {
            SqlxApp::Fixed(pool) => pool.acquire().await.map_err(|e| e.to_string()),
            SqlxApp::Cached {
                pool,
                source,
                arn,
                base,
            } => {
                let secret: DatabaseSecret = cached(source, arn).await?;
                pool.set_connect_options(DB::with_secret(base, &secret));
                pool.acquire().await.map_err(|e| e.to_string())
            }
            SqlxApp::Client(pool) => pool.acquire().await.map_err(|e| e.to_string()),
        }
    }
}

impl<DB: Engine> App for SqlxApp<DB>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    async fn request(&self, n: u64) -> Result<(), String> {
        let mut connection = self.acquire().await?;
        sqlx::raw_sql("SELECT 1")
            .execute(&mut *connection)
            .await
            .map_err(|e| e.to_string())?;
        if n.is_multiple_of(2) {
            connection.close_on_drop();
        }
        Ok(())
    }
}

/// tokio-postgres through deadpool-postgres, three ways.
struct DeadpoolApp {
    pool: deadpool_postgres::Pool,
}

/// The cache-only `Connect`: logs in with the cache's `AWSCURRENT`, no recovery.
struct CachedConnect {
    source: SecretSource,
    arn: String,
}

type Connected =
    Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>;

impl deadpool_postgres::Connect for CachedConnect {
    fn connect(
        &self,
        base: &tokio_postgres::Config,
    ) -> std::pin::Pin<Box<dyn Future<Output = Connected> + Send + '_>> {
        let base = base.clone();
        Box::pin(async move {
            // A cache that cannot be read leaves the base configuration, which is refused.
            let config = match cached::<DatabaseSecret>(&self.source, &self.arn).await {
                Ok(secret) => rotation_client::with_secret(&base, &secret),
                Err(_) => base,
            };
            let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
            Ok((client, tokio::spawn(async move { drop(connection.await) })))
        })
    }
}

impl DeadpoolApp {
    async fn new(mode: Mode, source: &SecretSource, arn: &str) -> Self {
        use deadpool_postgres::{Manager, ManagerConfig, Pool};
        let base = tokio_postgres::Config::new();
        let manager = match mode {
            Mode::Naive => {
                let secret: DatabaseSecret = read_once(source, arn).await;
                let config = rotation_client::with_secret(&base, &secret);
                Manager::from_config(config, tokio_postgres::NoTls, ManagerConfig::default())
            }
            Mode::CacheOnly => {
                let connect = CachedConnect {
                    source: source.clone(),
                    arn: arn.to_owned(),
                };
                Manager::from_connect(base, connect, ManagerConfig::default())
            }
            Mode::Client => {
                let credentials = Arc::new(RotatingCredentials::new(source.clone(), arn));
                let connect = RotatingConnect::new(credentials, tokio_postgres::NoTls);
                Manager::from_connect(base, connect, ManagerConfig::default())
            }
        };
        let pool = Pool::builder(manager)
            .max_size(8)
            .build()
            .expect("the pool builds");
        DeadpoolApp { pool }
    }
}

impl App for DeadpoolApp {
    async fn request(&self, n: u64) -> Result<(), String> {
        let client = self.pool.get().await.map_err(|e| with_sources(&e))?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| e.to_string())?;
        if n.is_multiple_of(2) {
            drop(deadpool_postgres::Object::take(client));
        }
        Ok(())
    }
}

/// An HTTP client calling `GET /v1/whoami` with the key, three ways.
enum KeyApp {
    Fixed {
        http: reqwest::Client,
        url: String,
        key: ApiKeySecret,
    },
    Cached {
        http: reqwest::Client,
        url: String,
        source: SecretSource,
        arn: String,
    },
    Client {
        client: ApiKeyClient,
        url: String,
    },
}

impl KeyApp {
    async fn new(mode: Mode, source: &SecretSource, arn: &str, base_url: &str) -> Self {
        // A new connection every other request, as the database pools do.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(2)
            .build()
            .expect("a reqwest client builds");
        let url = format!("{base_url}/v1/whoami");
        match mode {
            Mode::Naive => KeyApp::Fixed {
                http,
                url,
                key: read_once(source, arn).await,
            },
            Mode::CacheOnly => KeyApp::Cached {
                http,
                url,
                source: source.clone(),
                arn: arn.to_owned(),
            },
            Mode::Client => KeyApp::Client {
                client: ApiKeyClient::new(
                    http,
                    Arc::new(RotatingCredentials::new(source.clone(), arn)),
                ),
                url,
            },
        }
    }
}

impl App for KeyApp {
    async fn request(&self, _: u64) -> Result<(), String> {
        let response = match self {
            KeyApp::Fixed { http, url, key } => {
                http.get(url).bearer_auth(key.key.expose()).send().await
            }
            KeyApp::Cached {
                http,
                url,
                source,
                arn,
            } => {
                let key: ApiKeySecret = cached(source, arn).await?;
                http.get(url).bearer_auth(key.key.expose()).send().await
            }
            KeyApp::Client { client, url } => client
                .send(client.http().get(url))
                .await
                .map_err(|e| e.to_string())
                .map(Ok)?,
        }
        .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", response.status()))
        }
    }
}
