//! The four steps of the rotation protocol.

use std::fmt;

/// One step of a Secrets Manager rotation, in the order Secrets Manager runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// Build the new secret value and store it as `AWSPENDING`.
    CreateSecret,
    /// Make the target (database, API) accept the pending value.
    SetSecret,
    /// Prove that the pending value works against the target.
    TestSecret,
    /// Move `AWSCURRENT` to the new version and clean up.
    FinishSecret,
}

impl Step {
    /// All steps in protocol order.
    pub const ALL: [Step; 4] = [
        Step::CreateSecret,
        Step::SetSecret,
        Step::TestSecret,
        Step::FinishSecret,
    ];

    /// The name Secrets Manager sends in the event's `Step` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::CreateSecret => "createSecret",
            Step::SetSecret => "setSecret",
            Step::TestSecret => "testSecret",
            Step::FinishSecret => "finishSecret",
        }
    }

    /// Parses the event's `Step` field; the names are case-sensitive, as in AWS's templates.
    pub fn parse(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|step| step.as_str() == name)
    }
}

/// The step's name, so that a list of steps can go where step names are taken.
impl AsRef<str> for Step {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for step in Step::ALL {
            assert_eq!(Step::parse(step.as_str()), Some(step));
        }
    }

    #[test]
    fn names_are_case_sensitive_and_exact() {
        for name in [
            "CreateSecret",
            "create_secret",
            "createsecret",
            "",
            " setSecret",
        ] {
            assert_eq!(Step::parse(name), None, "{name:?}");
        }
    }
}
