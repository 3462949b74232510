//! How one invocation of a function ended, as the Runtime API and the process tell it.
//!
//! Its own module because both sides produce it: the Runtime API server (an answer or an
//! error the function reported) and the process runner (an exit, a timeout).

use std::fmt;

use serde_json::Value;

/// How one invocation ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The function answered; a body that is not JSON is kept as a JSON string.
    Success(Value),
    /// The function reported an error for this event.
    Error {
        /// Its `errorType`.
        error_type: String,
        /// Its `errorMessage`.
        error_message: String,
    },
    /// The function reported an initialisation error (`/runtime/init/error`).
    InitError {
        /// Its `errorType`.
        error_type: String,
        /// Its `errorMessage`.
        error_message: String,
    },
    /// The process ended without answering: its exit code, `None` when killed by a signal.
    Exited(Option<i32>),
    /// No answer before the deadline; the process has been stopped, as Lambda would.
    TimedOut,
}

impl Outcome {
    /// Whether the function answered without an error.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success(_))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Success(_) => write!(f, "ok"),
            Outcome::Error {
                error_type,
                error_message,
            } => write!(f, "error {error_type}: {error_message}"),
            Outcome::InitError {
                error_type,
                error_message,
            } => write!(f, "init error {error_type}: {error_message}"),
            Outcome::Exited(Some(code)) => write!(f, "process exited with code {code}"),
            Outcome::Exited(None) => write!(f, "process killed by a signal"),
            Outcome::TimedOut => write!(f, "timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_reads_well() {
        assert_eq!(Outcome::Success(Value::Null).to_string(), "ok");
        assert_eq!(
            Outcome::Error {
                error_type: "T".into(),
                error_message: "m".into()
            }
            .to_string(),
            "error T: m"
        );
        assert_eq!(
            Outcome::Exited(Some(3)).to_string(),
            "process exited with code 3"
        );
        assert_eq!(Outcome::TimedOut.to_string(), "timed out");
        assert!(!Outcome::TimedOut.is_success());
    }
}
