//! Injected failures: which call fails, and whether it took effect first.

/// A Secrets Manager call of [`MemoryStore`](super::MemoryStore), as it counts and logs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// `DescribeSecret` ([`SecretStore::describe`](crate::SecretStore::describe)).
    Describe,
    /// `DescribeSecret` for its tags ([`SecretStore::tags`](crate::SecretStore::tags)).
    Tags,
    /// `GetSecretValue`.
    GetValue,
    /// `PutSecretValue` with `AWSPENDING`.
    PutPending,
    /// `PutSecretValue` with `AWSCURRENT`.
    PutCurrent,
    /// `UpdateSecretVersionStage` moving `AWSCURRENT`.
    MoveCurrent,
}

impl Call {
    /// The API operation, as errors name it.
    pub fn operation(self) -> &'static str {
        match self {
            Call::Describe | Call::Tags => "DescribeSecret",
            Call::GetValue => "GetSecretValue",
            Call::PutPending | Call::PutCurrent => "PutSecretValue",
            Call::MoveCurrent => "UpdateSecretVersionStage",
        }
    }
}

/// How an injected failure behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails before it does anything (the request never arrived).
    Refused,
    /// The call takes effect, then fails (the answer was lost, or the function crashed right
    /// after the call): the way to crash a step *after* a given call.
    AnswerLost,
}

/// Which call an armed fault waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// The call with this number (the first call a store answers is number 1).
    Number(usize),
    /// The next call of this kind.
    NextOf(Call),
}

/// The calls made so far and the faults still armed.
#[derive(Debug, Default)]
pub(super) struct Faults {
    log: Vec<Call>,
    armed: Vec<(Trigger, Fault)>,
}

impl Faults {
    /// Arms `fault` for the `nth` call from now (1 = the next call).
    pub(super) fn fail_call(&mut self, nth: usize, fault: Fault) {
        let number = self.log.len() + nth.max(1);
        self.armed.push((Trigger::Number(number), fault));
    }

    /// Arms `fault` for the next call of kind `call`.
    pub(super) fn fail_next(&mut self, call: Call, fault: Fault) {
        self.armed.push((Trigger::NextOf(call), fault));
    }

    /// Records a call and returns the fault it must suffer, disarming it (a fault fires once).
    pub(super) fn record(&mut self, call: Call) -> Option<Fault> {
        self.log.push(call);
        let number = self.log.len();
        let hit = self.armed.iter().position(|(trigger, _)| match trigger {
            Trigger::Number(n) => *n == number,
            Trigger::NextOf(kind) => *kind == call,
        })?;
        Some(self.armed.remove(hit).1)
    }

    /// Disarms every fault.
    pub(super) fn clear(&mut self) {
        self.armed.clear();
    }

    /// Every call so far, in order.
    pub(super) fn log(&self) -> &[Call] {
        &self.log
    }

    /// Whether a fault is armed and has not fired yet.
    pub(super) fn pending(&self) -> bool {
        !self.armed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_numbered_fault_fires_once_at_its_call() {
        let mut faults = Faults::default();
        faults.record(Call::Describe);
        faults.fail_call(2, Fault::AnswerLost);
        assert_eq!(faults.record(Call::GetValue), None);
        assert_eq!(faults.record(Call::GetValue), Some(Fault::AnswerLost));
        assert_eq!(faults.record(Call::GetValue), None);
        assert!(!faults.pending());
    }

    #[test]
    fn a_kind_fault_waits_for_its_kind() {
        let mut faults = Faults::default();
        faults.fail_next(Call::MoveCurrent, Fault::Refused);
        assert_eq!(faults.record(Call::Describe), None);
        assert_eq!(faults.record(Call::MoveCurrent), Some(Fault::Refused));
        assert_eq!(faults.record(Call::MoveCurrent), None);
        assert_eq!(faults.log().len(), 3);
    }
}
