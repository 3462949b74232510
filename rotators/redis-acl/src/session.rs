//! A connection to Redis, authenticated as one ACL user, with every wait bounded by the
//! step's deadline; and telling a refused password (try other credentials) from a server that
//! cannot be reached (fail at once, with its reason).
//!
//! Connections are plain TCP: this rotator does not speak TLS (see the crate docs).

use std::time::Duration;

use rotation_core::{Deadline, SecretString};
use tokio::io::BufReader;
use tokio::net::TcpStream;

use crate::resp::{self, ProtocolError, Reply};

/// The longest one network wait (connecting, one reply) may take, deadline permitting.
const WAIT_CAP: Duration = Duration::from_secs(10);

/// Where Redis listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Why Redis did not do what was asked. Never contains a password: the server's messages do
/// not echo one, and [`redact`] guards the one command that carries a password as a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisError {
    /// `AUTH` was refused (`WRONGPASS`: wrong password, unknown or disabled user).
    Rejected(String),
    /// The server could not be reached, closed the connection, or did not answer in time.
    Unreachable(String),
    /// The server answered with an error (`NOPERM`, `ERR`) or with something unexpected.
    Failed(String),
}

impl RedisError {
    /// Whether other credentials on the same server can help: only when these were refused.
    pub fn is_rejection(&self) -> bool {
        matches!(self, RedisError::Rejected(_))
    }
}

impl std::fmt::Display for RedisError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisError::Rejected(reason) => write!(f, "credentials refused: {reason}"),
            RedisError::Unreachable(reason) => write!(f, "Redis unreachable: {reason}"),
            RedisError::Failed(reason) => f.write_str(reason),
        }
    }
}

/// A connection authenticated as one user.
#[derive(Debug)]
pub struct Session {
    stream: BufReader<TcpStream>,
    endpoint: Endpoint,
    deadline: Deadline,
}

impl Session {
    /// Connects to `endpoint` and authenticates with `AUTH user password`.
    pub async fn login(
        endpoint: &Endpoint,
        user: &str,
        password: &SecretString,
        deadline: Deadline,
    ) -> Result<Session, RedisError> {
        let connect = TcpStream::connect((endpoint.host.as_str(), endpoint.port));
        let stream = match tokio::time::timeout(deadline.cap(WAIT_CAP), connect).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => return Err(RedisError::Unreachable(error.to_string())),
            Err(_) => {
                return Err(RedisError::Unreachable(format!(
                    "no connection within {} ms",
                    deadline.cap(WAIT_CAP).as_millis()
                )));
            }
        };
        let mut session = Session {
            stream: BufReader::new(stream),
            endpoint: endpoint.clone(),
            deadline,
        };
        let reply = session
            .call(&[b"AUTH", user.as_bytes(), password.expose().as_bytes()])
            .await?;
        match reply {
            Reply::Simple(ok) if ok == "OK" => Ok(session),
            Reply::Error(error) if error.starts_with("WRONGPASS") => {
                Err(RedisError::Rejected(error))
            }
            other => Err(RedisError::Failed(format!(
                "AUTH answered {}",
                other.describe()
            ))),
        }
    }

    /// Where this session is connected.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Sends a command and reads its reply (an error reply is a reply, not an `Err`).
    pub async fn call(&mut self, parts: &[&[u8]]) -> Result<Reply, RedisError> {
        let exchange = async {
            resp::send(self.stream.get_mut(), parts).await?;
            resp::read_reply(&mut self.stream).await
        };
        let budget = self.deadline.cap(WAIT_CAP);
        match tokio::time::timeout(budget, exchange).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(ProtocolError::Io(error))) => Err(RedisError::Unreachable(error.to_string())),
            Ok(Err(malformed)) => Err(RedisError::Failed(malformed.to_string())),
            Err(_) => Err(RedisError::Unreachable(format!(
                "no answer within {} ms",
                budget.as_millis()
            ))),
        }
    }

    /// Sends a command that must answer `+OK`; an error reply becomes [`RedisError::Failed`]
    /// with the server's message.
    pub async fn expect_ok(&mut self, parts: &[&[u8]]) -> Result<(), RedisError> {
        match self.call(parts).await? {
            Reply::Simple(ok) if ok == "OK" => Ok(()),
            other => Err(RedisError::Failed(other.describe())),
        }
    }

    /// `PING`, which must answer `+PONG`.
    pub async fn ping(&mut self) -> Result<(), RedisError> {
        match self.call(&[b"PING"]).await? {
            Reply::Simple(pong) if pong == "PONG" => Ok(()),
            other => Err(RedisError::Failed(format!(
                "PING answered {}",
                other.describe()
            ))),
        }
    }
}

/// `message` with every occurrence of `password` replaced by `<redacted>`, for server
/// messages about a command that carried it (a server may quote a rule it refused).
pub fn redact(message: &str, password: &SecretString) -> String {
    if password.is_empty() {
        return message.to_owned();
    }
    message.replace(password.expose(), "<redacted>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_the_password() {
        let password = SecretString::new("s3cret!");
        assert_eq!(
            redact("ERR Error in ACL SETUSER modifier '>s3cret!': x", &password),
            "ERR Error in ACL SETUSER modifier '><redacted>': x"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_not_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port,
        };
        let error = Session::login(
            &endpoint,
            "app",
            &SecretString::new("pw"),
            Deadline::after(Duration::from_secs(2)),
        )
        .await
        .unwrap_err();
        assert!(!error.is_rejection(), "{error}");
    }
}
