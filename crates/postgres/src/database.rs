//! PostgreSQL as a [`Database`]: tokio-postgres over rustls.
//!
//! Every session sets [`sql::SESSION_SETTINGS`] before anything else, and runs what
//! [`crate::sql`] builds only through [`execute`] (the extended protocol, one statement per
//! call): no database or role default, and no text from the catalog, can make a session of the
//! master user run a statement the rotator did not write.

use async_trait::async_trait;
use rotation_core::SecretString;
use rotation_db::{Database, Endpoint, EngineDescriptor, LoginError, SessionError, TlsRequest};
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};
use tracing::debug;

use crate::sql::{self, Statement};
use crate::tls::RecordingConnect;

/// The database used when the secret has no `dbname` (AWS's default).
pub const DEFAULT_DATABASE: &str = "postgres";

/// PostgreSQL as data: AWS's `engine` values, port 5432, AWS's default `EXCLUDE_CHARACTERS`
/// for PostgreSQL (`:/@"'\`), and tokio-postgres's log target (it logs statements at `debug`).
pub const POSTGRES: EngineDescriptor =
    EngineDescriptor::new(&["postgres", "aurora-postgresql"], 5432, ":/@\"'\\")
        .quieting(&["tokio_postgres"]);

/// PostgreSQL (and Aurora PostgreSQL).
#[derive(Debug, Clone, Copy, Default)]
pub struct Postgres;

/// An open session; the connection task ends when it is dropped.
pub struct Session {
    client: Client,
    tls_version: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Session {
    /// The tokio-postgres client (for rotators that need more than the trait offers).
    pub fn client(&self) -> &Client {
        &self.client
    }
}

#[async_trait]
impl Database for Postgres {
    type Session = Session;

    const ENGINE: &'static EngineDescriptor = &POSTGRES;

    async fn open(
        &self,
        endpoint: &Endpoint,
        user: &str,
        password: &SecretString,
        tls: Option<TlsRequest<'_>>,
    ) -> Result<Session, LoginError> {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&endpoint.host)
            .port(endpoint.port)
            .user(user)
            .password(password.expose())
            .dbname(endpoint.dbname.as_deref().unwrap_or(DEFAULT_DATABASE))
            .application_name("secrets-manager-rotation");
        let (client, tls_version): (Client, Option<String>) = match tls {
            None => {
                config.ssl_mode(SslMode::Disable);
                let (client, connection) = config.connect(NoTls).await.map_err(classify)?;
                spawn_connection(connection);
                (client, None)
            }
            Some(tls) => {
                // Require, not Prefer: an `N` answer comes back as an error that `classify`
                // names NoTls, and the Connector decides what the secret allows then.
                config.ssl_mode(SslMode::Require);
                let (connector, version) = RecordingConnect::new(tls.client_config());
                let (client, connection) = config.connect(connector).await.map_err(classify)?;
                spawn_connection(connection);
                (client, version.get().cloned())
            }
        };
        // A failure here is the server's answer to a login that succeeded: not a rejection,
        // so the caller does not try other credentials on it.
        client
            .execute_typed(sql::SESSION_SETTINGS, &[])
            .await
            .map_err(|error| {
                LoginError::Failed(format!(
                    "could not set the session's settings after logging in: {}",
                    describe(&error)
                ))
            })?;
        Ok(Session {
            client,
            tls_version,
        })
    }

    async fn set_own_password(
        &self,
        session: &mut Session,
        user: &str,
        password: &SecretString,
    ) -> Result<(), SessionError> {
        execute(&session.client, &sql::alter_password(user, password)).await
    }

    async fn probe(&self, session: &mut Session) -> Result<(), SessionError> {
        session
            .client
            .execute_typed("SELECT pg_catalog.now()", &[])
            .await
            .map(|_| ())
            .map_err(|error| session_error(&error))
    }

    /// The SSLRequest of PostgreSQL's protocol: `S` starts TLS, `N` means the server has none.
    async fn tls_preamble(&self, stream: &mut tokio::net::TcpStream) -> Result<bool, SessionError> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let broken = |error: std::io::Error| SessionError::Unreachable(error.to_string());
        // Length 8, then the SSLRequest code 80877103.
        stream
            .write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
            .await
            .map_err(broken)?;
        let mut answer = [0u8; 1];
        stream.read_exact(&mut answer).await.map_err(broken)?;
        match answer[0] {
            b'S' => Ok(true),
            b'N' => Ok(false),
            other => Err(SessionError::Statement(format!(
                "the server answered {other:#04x} to an SSLRequest: not PostgreSQL?"
            ))),
        }
    }

    fn tls_version(&self, session: &Session) -> Option<String> {
        session.tls_version.clone()
    }
}

/// Runs one statement built by [`crate::sql`], on its own, through the extended protocol (an
/// unnamed statement: Parse, Bind, Execute, Sync in one round trip, which poolers accept). The
/// server's Parse refuses text holding a second statement, so a literal that ended early is an
/// error, never a second command. The error is the server's message, without the statement
/// (which may hold a verifier).
pub async fn execute(client: &Client, statement: &Statement) -> Result<(), SessionError> {
    client
        .execute_typed(statement.text(), &[])
        .await
        .map(|_| ())
        .map_err(|error| session_error(&error))
}

/// A failure in an open session, by kind: the server's refusal for lack of privilege
/// (SQLSTATE 42501) or for another reason, or a connection that broke; the text is
/// [`describe`]'s.
pub fn session_error(error: &tokio_postgres::Error) -> SessionError {
    let reason = describe(error);
    match error.as_db_error() {
        Some(db) if *db.code() == SqlState::INSUFFICIENT_PRIVILEGE => {
            SessionError::Permission(reason)
        }
        Some(_) => SessionError::Statement(reason),
        None if error.is_closed() || error.to_string() == "error communicating with the server" => {
            SessionError::Unreachable(reason)
        }
        None => SessionError::Statement(reason),
    }
}

fn spawn_connection<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            debug!(error = %describe(&error), "PostgreSQL connection ended");
        }
    });
}

/// The error with its causes, and the server's SQLSTATE when there is one.
pub fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What tokio-postgres says when the server answers `N` to the SSLRequest.
const NO_TLS: &str = "server does not support TLS";

/// Sorts a connection error into refused, unreachable, no TLS, TLS failed, or other.
fn classify(error: tokio_postgres::Error) -> LoginError {
    let reason = describe(&error);
    if let Some(db) = error.as_db_error() {
        let code = db.code();
        return if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            || *code == SqlState::INVALID_CATALOG_NAME
        {
            LoginError::Rejected(reason)
        } else if *code == SqlState::TOO_MANY_CONNECTIONS
            || *code == SqlState::CANNOT_CONNECT_NOW
            || *code == SqlState::ADMIN_SHUTDOWN
        {
            LoginError::Unreachable(reason)
        } else {
            LoginError::Failed(reason)
        };
    }
    let kind = error.to_string();
    match kind.as_str() {
        // tokio-postgres's words for an `N` answer to the SSLRequest (SslMode::Require).
        "error performing TLS handshake" if reason.ends_with(NO_TLS) => LoginError::NoTls(reason),
        "error performing TLS handshake" => LoginError::Tls(reason),
        "error connecting to server"
        | "error communicating with the server"
        | "timeout waiting for server"
        | "connection closed" => LoginError::Unreachable(reason),
        "authentication error" => LoginError::Rejected(reason),
        _ => LoginError::Failed(reason),
    }
}

#[cfg(test)]
mod tests {
    use rotation_stack::{Lifetime, PostgresServer};

    use super::*;

    async fn session(server: &PostgresServer, dbname: &str) -> Session {
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port: server.port(),
            dbname: Some(dbname.into()),
        };
        let password = SecretString::new(server.superuser_password());
        Postgres
            .open(&endpoint, server.superuser(), &password, None)
            .await
            .unwrap_or_else(|e| panic!("the superuser logs in to {dbname}: {e}"))
    }

    async fn show(session: &Session, setting: &str) -> String {
        session
            .client()
            .query_one("SELECT pg_catalog.current_setting($1)", &[&setting])
            .await
            .unwrap()
            .get(0)
    }

    /// One server for the cases below: the extended protocol refuses a second statement, and a
    /// database's defaults do not reach a session's settings.
    #[tokio::test]
    async fn sessions_refuse_a_second_statement_and_ignore_the_database_defaults() {
        let server = tokio::task::spawn_blocking(|| PostgresServer::start(Lifetime::WithProcess))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
        let admin = session(&server, DEFAULT_DATABASE).await;
        for statement in [
            "CREATE DATABASE \"hostile\"",
            "ALTER DATABASE \"hostile\" SET standard_conforming_strings = off",
            "ALTER DATABASE \"hostile\" SET search_path = public, pg_catalog",
            "ALTER DATABASE \"hostile\" SET DateStyle = 'SQL, DMY'",
            "ALTER DATABASE \"hostile\" SET TimeZone = 'Asia/Kathmandu'",
            "CREATE ROLE \"nobody\"",
            "ALTER DATABASE \"hostile\" SET role = 'nobody'",
        ] {
            admin.client().batch_execute(statement).await.unwrap();
        }

        let session = session(&server, "hostile").await;
        for (setting, forced) in [
            ("standard_conforming_strings", "on"),
            ("search_path", ""),
            ("DateStyle", "ISO, DMY"),
            ("TimeZone", "UTC"),
            ("role", "none"),
        ] {
            assert_eq!(show(&session, setting).await, forced, "{setting}");
        }

        let acting_as: String = session
            .client()
            .query_one("SELECT pg_catalog.current_user()::text", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(acting_as, server.superuser());

        let error = execute(
            session.client(),
            &Statement::unchecked("SELECT 1; CREATE ROLE pwned"),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&error, SessionError::Statement(text)
                if text.contains("cannot insert multiple commands into a prepared statement")),
            "{error:?}"
        );
        let pwned: i64 = session
            .client()
            .query_one(
                "SELECT pg_catalog.count(*) FROM pg_catalog.pg_roles WHERE rolname = 'pwned'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(pwned, 0);

        // A built literal with a backslash-quote reads back as written.
        let payload = "x\\'; CREATE ROLE pwned; --";
        execute(
            session.client(),
            &sql::set_role_setting(
                server.superuser(),
                Some("hostile"),
                "application_name",
                payload,
            ),
        )
        .await
        .unwrap();
        let stored: Vec<String> = session
            .client()
            .query_one(
                "SELECT s.setconfig FROM pg_catalog.pg_db_role_setting s \
                 JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase \
                 WHERE d.datname = 'hostile' AND s.setrole = \
                 (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = pg_catalog.current_user())",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(
            stored.contains(&format!("application_name={payload}")),
            "{stored:?}"
        );

        // A refusal for lack of privilege is its own kind.
        session
            .client()
            .batch_execute("SET ROLE \"nobody\"")
            .await
            .unwrap();
        let error = execute(session.client(), &Statement::unchecked("CREATE ROLE \"x\""))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, SessionError::Permission(text) if text.contains("SQLSTATE 42501")),
            "{error:?}"
        );
    }
}
