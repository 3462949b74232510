//! Waiting for replicas in replicated mode: when to pause again and when to give up. Pure
//! decisions, table-tested; the logins themselves are in [`crate::fanout`].
//!
//! Replication lag shows as a replica that *refuses* the pending credentials: it is waited
//! for, up to `REPLICA_WAIT_SECONDS` or shortly before the Lambda deadline. A replica that
//! cannot be reached at all (connection refused, no route, no answer, a TLS or server failure)
//! is not lagging but down, and waiting the whole Lambda out for it only hides the reason:
//! it fails the step after [`UNREACHABLE_GRACE`].

use std::time::{Duration, Instant};

use rotation_db::LoginError;

/// How long a replica may stay unreachable before setSecret fails naming it: long enough to
/// ride out a restart of a few seconds, short enough that a replica that is down fails the
/// step in seconds, not at the Lambda timeout.
pub const UNREACHABLE_GRACE: Duration = Duration::from_secs(5);

/// A replica that has not accepted the pending credentials yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Behind {
    /// What the last login said.
    pub(crate) error: LoginError,
    /// When the run of logins that did not reach the password check began; `None` after a
    /// refusal (the replica answers: it is lagging, not down).
    pub(crate) unreachable_since: Option<Instant>,
}

impl Behind {
    /// The state after a failed login of the round that began at `round`, given the state
    /// after the round before.
    pub(crate) fn after(previous: Option<&Behind>, error: LoginError, round: Instant) -> Behind {
        let unreachable_since = if error.is_rejection() {
            None
        } else {
            Some(
                previous
                    .and_then(|behind| behind.unreachable_since)
                    .unwrap_or(round),
            )
        };
        Behind {
            error,
            unreachable_since,
        }
    }

    /// Whether the replica has been unreachable for `grace` or longer at `now`.
    fn down_for(&self, grace: Duration, now: Instant) -> bool {
        self.unreachable_since
            .is_some_and(|since| now.saturating_duration_since(since) >= grace)
    }
}

/// What to do after a round of logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Every replica accepts the pending credentials.
    Done,
    /// Pause, then log in again where it failed.
    Pause,
    /// A replica has been unreachable for the grace: fail now.
    Unreachable,
    /// The wait is over (`REPLICA_WAIT_SECONDS` or the Lambda deadline): fail now.
    WaitOver,
}

/// The decision after a round: `behind` are the replicas still failing, `pause` the pause
/// before the next round, `limit` the end of the wait.
pub(crate) fn next(
    behind: &[&Behind],
    now: Instant,
    pause: Duration,
    limit: Instant,
    grace: Duration,
) -> Next {
    if behind.is_empty() {
        Next::Done
    } else if behind.iter().any(|replica| replica.down_for(grace, now)) {
        Next::Unreachable
    } else if now + pause >= limit {
        Next::WaitOver
    } else {
        Next::Pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> LoginError {
        LoginError::Rejected("password authentication failed".into())
    }

    fn down() -> LoginError {
        LoginError::Unreachable("connection refused".into())
    }

    #[test]
    fn unreachable_runs_start_at_the_first_unreachable_round_and_end_at_a_refusal() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        let first = Behind::after(None, down(), t0);
        assert_eq!(first.unreachable_since, Some(t0));
        let second = Behind::after(Some(&first), down(), t1);
        assert_eq!(second.unreachable_since, Some(t0));
        let lagging = Behind::after(Some(&second), refused(), t1);
        assert_eq!(lagging.unreachable_since, None);
        let down_again = Behind::after(Some(&lagging), LoginError::Tls("bad cert".into()), t1);
        assert_eq!(down_again.unreachable_since, Some(t1));
    }

    #[test]
    fn decisions() {
        let grace = Duration::from_secs(5);
        let pause = Duration::from_millis(400);
        let t0 = Instant::now();
        let lagging = Behind {
            error: refused(),
            unreachable_since: None,
        };
        let down_since_t0 = Behind {
            error: down(),
            unreachable_since: Some(t0),
        };
        let far = t0 + Duration::from_secs(60);
        for (name, behind, now, limit, expected) in [
            ("nobody behind", vec![], t0, far, Next::Done),
            ("lagging, time left", vec![&lagging], t0, far, Next::Pause),
            (
                "lagging, the pause would pass the limit",
                vec![&lagging],
                t0 + Duration::from_secs(59) + Duration::from_millis(700),
                far,
                Next::WaitOver,
            ),
            (
                "down within the grace",
                vec![&down_since_t0],
                t0 + Duration::from_secs(4),
                far,
                Next::Pause,
            ),
            (
                "down for the grace",
                vec![&lagging, &down_since_t0],
                t0 + grace,
                far,
                Next::Unreachable,
            ),
            (
                "down, but the wait ends first",
                vec![&down_since_t0],
                t0 + Duration::from_secs(1),
                t0 + Duration::from_secs(1),
                Next::WaitOver,
            ),
        ] {
            assert_eq!(next(&behind, now, pause, limit, grace), expected, "{name}");
        }
    }
}
