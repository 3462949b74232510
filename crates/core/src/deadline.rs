//! One time budget per invocation: every network wait takes its timeout from here.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// Time kept back from the Lambda deadline to report an error before Lambda kills the process.
pub const SAFETY_MARGIN: Duration = Duration::from_millis(500);

/// When the current step must be done by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Instant);

impl Deadline {
    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Deadline(Instant::now() + budget)
    }

    /// The Lambda invocation's deadline less [`SAFETY_MARGIN`].
    pub fn from_lambda(deadline: SystemTime) -> Self {
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .saturating_sub(SAFETY_MARGIN);
        Deadline::after(left)
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
        let past = Deadline::from_lambda(SystemTime::now() - Duration::from_secs(1));
        assert_eq!(past.remaining(), Duration::ZERO);
    }
}
