//! MySQL and MariaDB as a [`Database`]: mysql_async over rustls.

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, SslOpts};
use rotation_core::SecretString;
use rotation_db::{
    Database, Endpoint, EngineDescriptor, LoginError, SessionError, TlsRequest, Verification,
};
use tracing::debug;

use crate::sql;
use crate::version::ServerVersion;

/// MySQL, Aurora MySQL and MariaDB as data: AWS's `engine` values, port 3306, and AWS's default
/// `EXCLUDE_CHARACTERS` for them (`/@"'\`).
pub const MYSQL: EngineDescriptor =
    EngineDescriptor::new(&["mysql", "aurora-mysql", "mariadb"], 3306, "/@\"'\\");

/// MySQL, Aurora MySQL and MariaDB.
#[derive(Debug, Clone, Copy)]
pub struct MySql {
    username_limit: usize,
    retain_current_password: bool,
}

/// AWS's default `USERNAME_CHARACTER_LIMIT`.
pub const DEFAULT_USERNAME_LIMIT: usize = 16;

impl Default for MySql {
    fn default() -> Self {
        MySql {
            username_limit: DEFAULT_USERNAME_LIMIT,
            retain_current_password: false,
        }
    }
}

impl MySql {
    /// An engine whose user names may have up to `limit` characters (multi-user rotation).
    pub fn with_username_limit(limit: usize) -> Self {
        MySql {
            username_limit: limit,
            ..MySql::default()
        }
    }

    /// The same engine, setting its own password with `RETAIN CURRENT PASSWORD` when `retain`
    /// (`MYSQL_RETAIN_CURRENT_PASSWORD`, single-user rotation): the previous password stays
    /// valid as the secondary until the next rotation replaces it. Needs MySQL 8.0.14 or later;
    /// any other server fails setSecret before the password changes.
    pub fn with_retain_current_password(self, retain: bool) -> Self {
        MySql {
            retain_current_password: retain,
            ..self
        }
    }

    /// The longest user name, in characters.
    pub fn username_limit(&self) -> usize {
        self.username_limit
    }

    /// Whether single-user rotation keeps the previous password as the secondary.
    pub fn retains_current_password(&self) -> bool {
        self.retain_current_password
    }

    /// The statement that sets the session user's own password on this server: the usual one
    /// ([`sql::set_own_password`]), or with `RETAIN CURRENT PASSWORD` when the engine retains
    /// ([`sql::set_own_password_retaining`]: an error, before anything is sent, on a server
    /// without dual passwords).
    pub fn own_password_statement(
        &self,
        version: &ServerVersion,
        password: &SecretString,
    ) -> Result<String, String> {
        if self.retain_current_password {
            sql::set_own_password_retaining(version, password)
        } else {
            Ok(sql::set_own_password(version, password))
        }
    }
}

/// An open session.
pub struct Session {
    conn: Option<Conn>,
    tls_version: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn conn(&mut self) -> Result<&mut Conn, SessionError> {
        self.conn
            .as_mut()
            .ok_or_else(|| SessionError::Unreachable("the connection is closed".to_owned()))
    }

    /// The server's version.
    pub async fn version(&mut self) -> Result<ServerVersion, SessionError> {
        let text: Option<String> = self
            .conn()?
            .query_first("SELECT VERSION()")
            .await
            .map_err(|error| session_error(&error, describe(&error)))?;
        let text = text.ok_or_else(|| {
            SessionError::Statement("SELECT VERSION() returned no row".to_owned())
        })?;
        ServerVersion::parse(&text).ok_or_else(|| {
            SessionError::Precondition(format!(
                "the server's version {text:?} is not a version number"
            ))
        })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Close politely when a runtime is there to do it; otherwise the socket just closes.
        if let (Some(conn), Ok(runtime)) = (self.conn.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(async move {
                let _ = conn.disconnect().await;
            });
        }
    }
}

#[async_trait]
impl Database for MySql {
    type Session = Session;

    const ENGINE: &'static EngineDescriptor = &MYSQL;

    async fn open(
        &self,
        endpoint: &Endpoint,
        user: &str,
        password: &SecretString,
        tls: Option<TlsRequest<'_>>,
    ) -> Result<Session, LoginError> {
        let base = match tls {
            Some(tls) => OptsBuilder::from_opts(tls_template(tls)),
            None => OptsBuilder::default(),
        };
        let options = base
            .ip_or_hostname(endpoint.host.clone())
            .tcp_port(endpoint.port)
            .user(Some(user))
            .pass(Some(password.expose()))
            .db_name(endpoint.dbname.clone())
            .prefer_socket(false)
            // Statements are prepared once and closed at once (`execute`): none stays cached
            // on the server with a password hash in it.
            .stmt_cache_size(0);
        let mut conn = Conn::new(options).await.map_err(classify)?;
        let tls_version = match tls {
            Some(_) => negotiated_tls_version(&mut conn).await,
            None => None,
        };
        Ok(Session {
            conn: Some(conn),
            tls_version,
        })
    }

    async fn set_own_password(
        &self,
        session: &mut Session,
        _user: &str,
        password: &SecretString,
    ) -> Result<(), SessionError> {
        let version = session.version().await?;
        debug!(%version, retain = self.retain_current_password, "setting the password");
        // Refused here, before anything is sent, when the server has no dual passwords.
        let statement = self
            .own_password_statement(&version, password)
            .map_err(SessionError::Precondition)?;
        execute_secret(session.conn()?, statement, "setting the password").await
    }

    async fn probe(&self, session: &mut Session) -> Result<(), SessionError> {
        session
            .conn()?
            .query_drop("SELECT NOW()")
            .await
            .map_err(|error| session_error(&error, describe(&error)))
    }

    /// Reads the server's greeting, and when it offers TLS (the `CLIENT_SSL` capability)
    /// sends the SSL request packet that starts the handshake.
    async fn tls_preamble(&self, stream: &mut tokio::net::TcpStream) -> Result<bool, SessionError> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let broken = |error: std::io::Error| SessionError::Unreachable(error.to_string());
        let mut header = [0u8; 4];
        stream.read_exact(&mut header).await.map_err(broken)?;
        let length =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        // A greeting is about a hundred bytes; whoever sends megabytes is not a MySQL server.
        if length > MAX_GREETING {
            return Err(SessionError::Statement(format!(
                "the server's greeting is {length} bytes long: not a MySQL server"
            )));
        }
        let mut greeting = vec![0u8; length];
        stream.read_exact(&mut greeting).await.map_err(broken)?;
        if !offers_tls(&greeting)? {
            return Ok(false);
        }
        stream.write_all(&SSL_REQUEST).await.map_err(broken)?;
        Ok(true)
    }

    fn tls_version(&self, session: &Session) -> Option<String> {
        session.tls_version.clone()
    }
}

/// The longest server greeting the preflight reads.
const MAX_GREETING: usize = 4096;

/// The SSL request packet (`Protocol::SSLRequest`): a 32-byte payload, sequence 1, with the
/// capabilities `CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SSL |
/// CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH`, a 16 MiB maximum packet, utf8mb4, and 23
/// zero bytes.
const SSL_REQUEST: [u8; 36] = {
    let mut packet = [0u8; 36];
    packet[0] = 32;
    packet[3] = 1;
    let capabilities: u32 = 0x0000_0001 | 0x0000_0200 | 0x0000_0800 | 0x0000_8000 | 0x0008_0000;
    let bytes = capabilities.to_le_bytes();
    packet[4] = bytes[0];
    packet[5] = bytes[1];
    packet[6] = bytes[2];
    packet[7] = bytes[3];
    packet[10] = 0x00;
    packet[11] = 0x01; // max packet 0x01000000, little-endian
    packet[12] = 45; // utf8mb4_general_ci
    packet
};

/// Whether a server greeting (protocol 10: version, server version text, connection id,
/// 8 bytes of salt, a filler, then the capabilities' low 16 bits) offers `CLIENT_SSL`; an
/// error packet (`0xff`, such as a host blocked for connection errors) is the server's message.
fn offers_tls(greeting: &[u8]) -> Result<bool, SessionError> {
    let unexpected = || SessionError::Statement("the server's greeting is not MySQL's".to_owned());
    match greeting.first() {
        Some(0xff) => {
            let text = String::from_utf8_lossy(greeting.get(3..).unwrap_or_default());
            return Err(SessionError::Statement(format!(
                "the server refused: {text}"
            )));
        }
        Some(10) => {}
        _ => return Err(unexpected()),
    }
    let version_end = greeting[1..]
        .iter()
        .position(|&byte| byte == 0)
        .ok_or_else(unexpected)?;
    let capabilities_at = 1 + version_end + 1 + 4 + 8 + 1;
    let low = greeting
        .get(capabilities_at..capabilities_at + 2)
        .ok_or_else(unexpected)?;
    Ok(u16::from_le_bytes([low[0], low[1]]) & 0x0800 != 0)
}

#[cfg(test)]
mod preamble_tests {
    use super::*;

    #[test]
    fn a_greeting_says_whether_the_server_offers_tls() {
        let greeting = |capabilities: u16| {
            let mut packet = vec![10];
            packet.extend_from_slice(b"10.11.6-MariaDB\0");
            packet.extend_from_slice(&[1, 0, 0, 0]);
            packet.extend_from_slice(&[b's'; 8]);
            packet.push(0);
            packet.extend_from_slice(&capabilities.to_le_bytes());
            packet
        };
        assert!(offers_tls(&greeting(0xffff)).unwrap());
        assert!(!offers_tls(&greeting(!0x0800)).unwrap());
        let blocked = b"\xff\x69\x04Host 'x' is blocked";
        let refused = offers_tls(blocked).unwrap_err().to_string();
        assert!(refused.contains("is blocked"), "{refused}");
        assert!(offers_tls(&[9, 1, 2]).is_err());
        assert!(offers_tls(&greeting(0)[..10]).is_err());
        assert_eq!(SSL_REQUEST[..4], [32, 0, 0, 1]);
        assert_eq!(SSL_REQUEST[5] & 0x08, 0x08, "CLIENT_SSL");
    }
}

/// The session's TLS version as the server reports it (`TLSv1.3`): mysql_async keeps its
/// rustls connection to itself, so the server is asked (one round trip, any user may). Behind
/// a proxy (RDS Proxy) the answer may describe the proxy's own connection to the database.
async fn negotiated_tls_version(conn: &mut Conn) -> Option<String> {
    let row: Option<(String, String)> = conn
        .query_first("SHOW SESSION STATUS LIKE 'Ssl_version'")
        .await
        .map_err(|error| debug!(error = %describe(&error), "no TLS version from the server"))
        .ok()
        .flatten();
    row.map(|(_, version)| version)
        .filter(|version| !version.is_empty())
}

/// Options holding only the TLS settings, for every login with `tls` to start from.
/// mysql_async builds its rustls connector on a connection's first use of an `Opts` and keeps
/// it in them, shared by their clones: starting every login from the same `Opts` parses the
/// roots once per process instead of once per login, and lets TLS sessions resume.
fn tls_template(tls: TlsRequest<'_>) -> Opts {
    tls.reuse(|| Opts::from(OptsBuilder::default().ssl_opts(ssl_options(tls))))
}

/// mysql_async builds its own rustls configuration: the Mozilla roots plus the ones given.
/// The roots are borrowed (`'static`), never copied: mysql_async clones its options, roots
/// included, at every login.
fn ssl_options(tls: TlsRequest<'_>) -> SslOpts {
    let roots = tls
        .trusted_roots()
        .iter()
        .map(|cert| {
            let der: &'static [u8] = cert;
            der.into()
        })
        .collect();
    let options = SslOpts::default().with_root_certs(roots);
    match tls.verification {
        Verification::Full => options,
        Verification::CaOnly => options.with_danger_skip_domain_validation(true),
        Verification::None => options.with_danger_accept_invalid_certs(true),
    }
}

/// The rows of one statement, sent through the prepared-statement protocol and closed.
///
/// mysql_async always asks for `CLIENT_MULTI_STATEMENTS`, so a text query may hold several
/// statements; a prepared statement is exactly one (the server refuses a second statement at
/// prepare time). Every statement this crate builds goes through here, so text that came from
/// the server (names in `SHOW GRANTS`) or from a secret can never chain a statement of its
/// own, whatever the quoting.
async fn rows<T: mysql_async::prelude::FromRow + Send + 'static>(
    conn: &mut Conn,
    statement: &str,
) -> Result<Vec<T>, mysql_async::Error> {
    let prepared = conn.prep(statement).await?;
    let result = conn.exec(&prepared, ()).await;
    let closed = conn.close(prepared).await;
    result.and_then(|rows| closed.map(|()| rows))
}

/// `ER_UNSUPPORTED_PS`: the server cannot prepare this statement.
const UNSUPPORTED_PS: u16 = 1295;

/// The rows of `SHOW GRANTS FOR 'user'@'host'`: prepared where the server can (MariaDB), else
/// as a text query, since MySQL's list of preparable statements leaves `SHOW GRANTS` out. Its
/// text holds nothing but fixed words and two literals quoted by [`sql::quote_literal`], so
/// even as a text query it is one statement.
pub(crate) async fn grant_rows(
    conn: &mut Conn,
    statement: &str,
) -> Result<Vec<String>, mysql_async::Error> {
    match rows(conn, statement).await {
        Err(mysql_async::Error::Server(error)) if error.code == UNSUPPORTED_PS => {
            conn.query(statement).await
        }
        other => other,
    }
}

/// One statement that returns no rows, as [`rows`].
async fn prepared(conn: &mut Conn, statement: &str) -> Result<(), mysql_async::Error> {
    rows::<mysql_async::Row>(conn, statement).await.map(drop)
}

/// Runs one statement that holds no secret ([`prepared`]); the error names it.
pub(crate) async fn execute(conn: &mut Conn, statement: &str) -> Result<(), SessionError> {
    debug!(statement, "running");
    prepared(conn, statement)
        .await
        .map_err(|e| failed(statement, &e))
}

/// Runs one statement that holds a password or its hash ([`prepared`]); the error gives only
/// the server's error code and `what` (a syntax error message would quote the statement).
pub(crate) async fn execute_secret(
    conn: &mut Conn,
    statement: String,
    what: &str,
) -> Result<(), SessionError> {
    prepared(conn, &statement).await.map_err(|e| match &e {
        mysql_async::Error::Server(server) => session_error(
            &e,
            format!("{what}: the server refused it (error {})", server.code),
        ),
        other => failed(what, other),
    })
}

/// `context: ` and the error with its causes, of the error's kind ([`session_error`]).
pub(crate) fn failed(context: impl std::fmt::Display, error: &mysql_async::Error) -> SessionError {
    session_error(error, format!("{context}: {}", describe(error)))
}

/// The server's access-denied errors: ER_DBACCESS_DENIED_ERROR, ER_ACCESS_DENIED_ERROR,
/// ER_TABLEACCESS_DENIED_ERROR, ER_COLUMNACCESS_DENIED_ERROR, ER_SPECIFIC_ACCESS_DENIED_ERROR,
/// ER_PROCACCESS_DENIED_ERROR, ER_CANT_CREATE_USER_WITH_GRANT.
const ACCESS_DENIED: [u16; 7] = [1044, 1045, 1142, 1143, 1227, 1370, 1410];

/// A failure in an open session with `message`, by the error's kind: the server's refusal for
/// lack of privilege or for another reason, or a connection that broke.
pub(crate) fn session_error(error: &mysql_async::Error, message: String) -> SessionError {
    match error {
        mysql_async::Error::Server(server) if ACCESS_DENIED.contains(&server.code) => {
            SessionError::Permission(message)
        }
        mysql_async::Error::Io(_)
        | mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed) => {
            SessionError::Unreachable(message)
        }
        _ => SessionError::Statement(message),
    }
}

/// The error with its causes.
pub fn describe(error: &mysql_async::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Sorts a connection error into refused, unreachable, no TLS, TLS failed, or other.
fn classify(error: mysql_async::Error) -> LoginError {
    let reason = describe(&error);
    match &error {
        mysql_async::Error::Server(server) => match server.code {
            // ER_ACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR, ER_BAD_DB_ERROR,
            // ER_ACCOUNT_HAS_BEEN_LOCKED, ER_MUST_CHANGE_PASSWORD_LOGIN
            1045 | 1044 | 1049 | 3118 | 1862 => LoginError::Rejected(reason),
            // ER_CON_COUNT_ERROR, ER_HOST_IS_BLOCKED, ER_SERVER_SHUTDOWN
            1040 | 1129 | 1053 => LoginError::Unreachable(reason),
            _ => LoginError::Failed(reason),
        },
        mysql_async::Error::Io(mysql_async::IoError::Tls(_)) => LoginError::Tls(reason),
        mysql_async::Error::Io(mysql_async::IoError::Io(io)) => {
            if has_rustls_cause(io) {
                LoginError::Tls(reason)
            } else {
                LoginError::Unreachable(reason)
            }
        }
        mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer) => {
            LoginError::NoTls(reason)
        }
        mysql_async::Error::Driver(driver) => {
            let text = driver.to_string();
            if text.contains("SSL") || text.contains("TLS") {
                LoginError::Tls(reason)
            } else if matches!(driver, mysql_async::DriverError::ConnectionClosed) {
                LoginError::Unreachable(reason)
            } else {
                LoginError::Failed(reason)
            }
        }
        _ => LoginError::Failed(reason),
    }
}

fn has_rustls_cause(error: &std::io::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = error.get_ref().map(|inner| {
        let inner: &(dyn std::error::Error + 'static) = inner;
        inner
    });
    while let Some(cause) = source {
        if cause.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        source = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_own_password_statement_follows_the_flag_and_the_server() {
        let password = SecretString::new("pw");
        let plain = MySql::default();
        let retaining = MySql::default().with_retain_current_password(true);
        let statement = |db: &MySql, text: &str| {
            db.own_password_statement(&ServerVersion::parse(text).unwrap(), &password)
        };
        // Flag off: the statements are unchanged.
        for text in ["8.0.13", "8.0.14", "8.4.3", "5.6.51", "10.11.19-MariaDB"] {
            let version = ServerVersion::parse(text).unwrap();
            assert_eq!(
                statement(&plain, text).unwrap(),
                sql::set_own_password(&version, &password),
                "{text}"
            );
        }
        assert_eq!(
            statement(&plain, "8.0.14").unwrap(),
            "ALTER USER CURRENT_USER() IDENTIFIED BY 'pw'"
        );
        // Flag on.
        assert_eq!(
            statement(&retaining, "8.0.14").unwrap(),
            "ALTER USER CURRENT_USER() IDENTIFIED BY 'pw' RETAIN CURRENT PASSWORD"
        );
        for refused in ["8.0.13", "5.7.44", "10.11.19-MariaDB-0+deb12u1"] {
            let error = statement(&retaining, refused).unwrap_err();
            assert!(error.contains("MYSQL_RETAIN_CURRENT_PASSWORD"), "{error}");
        }
        assert!(
            statement(&retaining, "10.11.19-MariaDB")
                .unwrap_err()
                .contains("the server is MariaDB 10.11.19")
        );
        // The username limit is kept.
        let multi = MySql::with_username_limit(32).with_retain_current_password(true);
        assert_eq!(multi.username_limit(), 32);
        assert!(multi.retains_current_password());
    }
}

#[cfg(test)]
mod greeting_tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_greeting_of_megabytes_is_refused_before_it_is_read() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let _ = stream.write_all(&[0xff, 0xff, 0xff, 0]).await;
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        });
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let refused = MySql::default()
            .tls_preamble(&mut stream)
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("not a MySQL server"),
            "{refused}"
        );
    }
}
