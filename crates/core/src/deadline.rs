//! One time budget per invocation: every network wait takes its timeout from here.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// Time kept back from the Lambda deadline to report an error before Lambda kills the process.
pub const SAFETY_MARGIN: Duration = Duration::from_millis(500);

/// 2001-09-09 in milliseconds since the epoch: no Lambda deadline is earlier than this.
pub const EPOCH_FLOOR_MS: u64 = 1_000_000_000_000;

/// When the current step must be done by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Instant);

impl Deadline {
    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Deadline(Instant::now() + budget)
    }

    /// The Lambda invocation's deadline (`Lambda-Runtime-Deadline-Ms`, milliseconds since the
    /// Unix epoch) less [`SAFETY_MARGIN`].
    ///
    /// Some local emulators send the function's timeout there instead (`cargo lambda watch`
    /// sends `600000`). A real deadline is never years in the past, so a value before
    /// [`EPOCH_FLOOR_MS`] is read as a duration from now.
    pub fn from_lambda_millis(deadline_ms: u64) -> Self {
        let left = if deadline_ms < EPOCH_FLOOR_MS {
            Duration::from_millis(deadline_ms)
        } else {
            (SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms))
                .duration_since(SystemTime::now())
                .unwrap_or_default()
        };
        Deadline::after(left.saturating_sub(SAFETY_MARGIN))
    }

    /// The instant itself.
    pub fn instant(self) -> Instant {
        self.0
    }

    /// Time left (zero when past).
    pub fn remaining(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// A timeout for one wait: `cap`, or less when the deadline is nearer.
    pub fn cap(self, cap: Duration) -> Duration {
        cap.min(self.remaining())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_never_exceeds_what_is_left() {
        let deadline = Deadline::after(Duration::from_secs(2));
        assert!(deadline.cap(Duration::from_secs(5)) <= Duration::from_secs(2));
        assert_eq!(
            deadline.cap(Duration::from_millis(10)),
            Duration::from_millis(10)
        );
        let one_second_ago = SystemTime::now() - Duration::from_secs(1);
        let epoch_ms = one_second_ago
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert_eq!(
            Deadline::from_lambda_millis(epoch_ms).remaining(),
            Duration::ZERO
        );
    }

    #[test]
    fn an_epoch_deadline_and_an_emulator_timeout_both_work() {
        let in_ten_seconds = SystemTime::now() + Duration::from_secs(10);
        let epoch_ms = in_ten_seconds
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let left = Deadline::from_lambda_millis(epoch_ms).remaining();
        assert!(
            left > Duration::from_secs(9) && left <= Duration::from_millis(9_500),
            "{left:?}"
        );
        // cargo lambda watch's value: its timeout, 600 s.
        let left = Deadline::from_lambda_millis(600_000).remaining();
        assert!(
            left > Duration::from_secs(599) && left <= Duration::from_secs(600),
            "{left:?}"
        );
    }
}
