//! Why work in an open session failed, as kinds a caller can match on.
//!
//! Logging in has its own error, [`crate::LoginError`] (refused, unreachable, no TLS, TLS
//! failed). Once a session is open, an engine's statements fail with a [`SessionError`]: the
//! server refused a statement for lack of privilege, or for another reason; the connection
//! broke; the statement timeout ran out; or the engine stopped before sending anything, because
//! the server or the accounts are not in a state it may change. The text is the engine's own
//! message, shown to the user as it is (it never contains a password).

/// Why an operation in an open session failed: changing a password
/// ([`Database::set_own_password`](crate::Database::set_own_password),
/// [`CloneDatabase::set_alternate_user`](crate::CloneDatabase::set_alternate_user)), or the
/// probe query ([`Database::probe`](crate::Database::probe)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The server refused a statement because the session's user lacks a privilege
    /// (PostgreSQL's SQLSTATE 42501; MySQL's access-denied errors): grant it, or rotate with a
    /// user that has it.
    #[error("{0}")]
    Permission(String),
    /// The server refused a statement for another reason (the server's message and code).
    #[error("{0}")]
    Statement(String),
    /// The connection broke or the server stopped answering, mid-session.
    #[error("{0}")]
    Unreachable(String),
    /// The operation did not finish within the statement timeout (or the Lambda deadline).
    #[error("{what} did not finish within {limit_ms} ms")]
    TimedOut {
        /// What was running (`changing the password`).
        what: String,
        /// The time it had.
        limit_ms: u128,
    },
    /// The engine stopped before changing anything: the server or the accounts are not in a
    /// state it may change (a setting the server does not support, a user pair it may not hand
    /// over, a grant it cannot copy faithfully). The message says what to change.
    #[error("{0}")]
    Precondition(String),
}

impl SessionError {
    /// The same kind of error, with `context` before its message (`context: message`); a
    /// timeout is kept as it is.
    pub fn context(self, context: impl std::fmt::Display) -> SessionError {
        let with = |message: String| format!("{context}: {message}");
        match self {
            SessionError::Permission(message) => SessionError::Permission(with(message)),
            SessionError::Statement(message) => SessionError::Statement(with(message)),
            SessionError::Unreachable(message) => SessionError::Unreachable(with(message)),
            SessionError::Precondition(message) => SessionError::Precondition(with(message)),
            timeout @ SessionError::TimedOut { .. } => timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_goes_first_and_keeps_the_kind() {
        let error = SessionError::Permission("permission denied (SQLSTATE 42501)".into());
        assert_eq!(
            error.context("reading role app"),
            SessionError::Permission("reading role app: permission denied (SQLSTATE 42501)".into())
        );
        let timeout = SessionError::TimedOut {
            what: "the test query".into(),
            limit_ms: 10,
        };
        assert_eq!(timeout.clone().context("x"), timeout);
        assert_eq!(
            timeout.to_string(),
            "the test query did not finish within 10 ms"
        );
    }
}
