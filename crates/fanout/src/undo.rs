//! Independent mode's undo: which hosts may have taken the change, and the report of a failed
//! fan-out. Pure decisions, table-tested; the logins and changes are in [`crate::fanout`].
//!
//! A host whose change *failed* may still have taken it: the statement ran and then the
//! connection dropped, or the answer came too late. The rotator cannot tell from the error, so
//! after a failure it asks the host itself: a login with the pending credentials. Accepted:
//! the change is there, set it back. Refused: it is not. Anything else (the host is out of
//! reach): it may be, so the undo is attempted, and a host it cannot set back is named.

use rotation_db::LoginError;

use crate::spec::Replica;

/// What setSecret did on one host, as far as the rotator can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostOutcome {
    /// The change succeeded.
    Changed,
    /// The change failed with `error`; `pending_login` is what a login with the pending
    /// credentials said afterwards.
    Failed {
        /// The step's error on this host.
        error: String,
        /// The login with the pending credentials after the failure.
        pending_login: Result<(), LoginError>,
    },
}

impl HostOutcome {
    /// Whether the host may hold the pending credentials, so that the undo must be attempted.
    pub(crate) fn may_have_changed(&self) -> bool {
        match self {
            HostOutcome::Changed => true,
            HostOutcome::Failed { pending_login, .. } => match pending_login {
                Ok(()) => true,
                Err(error) => !error.is_rejection(),
            },
        }
    }

    fn failure(&self, host: &Replica) -> Option<String> {
        let HostOutcome::Failed {
            error,
            pending_login,
        } = self
        else {
            return None;
        };
        Some(match pending_login {
            Err(login) if login.is_rejection() => {
                format!("host {host} refused the change: {error}")
            }
            Ok(()) => format!(
                "host {host} took the change but did not report it (the pending credentials log \
                 in there): {error}"
            ),
            Err(login) => format!(
                "host {host} failed, and whether it took the change is unknown (a login with the \
                 pending credentials then failed: {login}): {error}"
            ),
        })
    }
}

/// What the undo did on one host: `Ok(true)` set back, `Ok(false)` nothing to restore (a
/// multi-user secret without `AWSPREVIOUS`), `Err` could not.
pub(crate) type UndoOutcome = Result<bool, String>;

/// The message of a failed fan-out: every failure, the hosts set back, and every host that
/// could not be set back. `outcomes` is in the order of `hosts`; `undone` holds host indices.
pub(crate) fn report(
    hosts: &[Replica],
    outcomes: &[HostOutcome],
    undone: &[(usize, UndoOutcome)],
) -> String {
    let mut parts: Vec<String> = hosts
        .iter()
        .zip(outcomes)
        .filter_map(|(host, outcome)| outcome.failure(host))
        .collect();
    let mut undone: Vec<&(usize, UndoOutcome)> = undone.iter().collect();
    undone.sort_by_key(|(i, _)| *i);
    let restored: Vec<String> = undone
        .iter()
        .filter(|(_, outcome)| matches!(outcome, Ok(true)))
        .map(|(i, _)| hosts[*i].to_string())
        .collect();
    if !restored.is_empty() {
        parts.push(format!("set back on {}", restored.join(", ")));
    }
    let nothing_to_restore: Vec<String> = undone
        .iter()
        .filter(|(_, outcome)| matches!(outcome, Ok(false)))
        .map(|(i, _)| hosts[*i].to_string())
        .collect();
    if !nothing_to_restore.is_empty() {
        parts.push(format!(
            "the alternate user keeps the pending password on {} (no AWSPREVIOUS to set it back \
             to; no version in use holds that user)",
            nothing_to_restore.join(", ")
        ));
    }
    for (i, outcome) in undone {
        if let Err(error) = outcome {
            parts.push(format!(
                "COULD NOT set host {} back, so it may accept only the pending credentials: {error}",
                hosts[*i]
            ));
        }
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(pending_login: Result<(), LoginError>) -> HostOutcome {
        HostOutcome::Failed {
            error: "boom".into(),
            pending_login,
        }
    }

    #[test]
    fn which_hosts_may_have_changed() {
        for (outcome, expected) in [
            (HostOutcome::Changed, true),
            (failed(Ok(())), true),
            (failed(Err(LoginError::Rejected("no".into()))), false),
            (failed(Err(LoginError::Unreachable("refused".into()))), true),
            (failed(Err(LoginError::Tls("bad cert".into()))), true),
            (failed(Err(LoginError::Failed("too many".into()))), true),
        ] {
            assert_eq!(outcome.may_have_changed(), expected, "{outcome:?}");
        }
    }

    #[test]
    fn the_report_names_failures_hosts_set_back_and_hosts_left_changed() {
        let hosts: Vec<Replica> = (1..=4)
            .map(|n| Replica {
                host: format!("h{n}"),
                port: Some(5432),
            })
            .collect();
        let outcomes = [
            HostOutcome::Changed,
            failed(Ok(())),
            failed(Err(LoginError::Rejected("no".into()))),
            failed(Err(LoginError::Unreachable("refused".into()))),
        ];
        let undone = [
            (3, Err("database unreachable".to_owned())),
            (1, Ok(true)),
            (0, Ok(true)),
        ];
        let first_multi_user_rotation = [(0, Ok(false)), (1, Ok(false))];
        assert!(
            report(&hosts, &outcomes, &first_multi_user_rotation).ends_with(
                "the alternate user keeps the pending password on h1:5432, h2:5432 (no \
                 AWSPREVIOUS to set it back to; no version in use holds that user)"
            )
        );
        assert_eq!(
            report(&hosts, &outcomes, &undone),
            "host h2:5432 took the change but did not report it (the pending credentials log in \
             there): boom; host h3:5432 refused the change: boom; host h4:5432 failed, and \
             whether it took the change is unknown (a login with the pending credentials then \
             failed: database unreachable: refused): boom; set back on h1:5432, h2:5432; COULD \
             NOT set host h4:5432 back, so it may accept only the pending credentials: database \
             unreachable"
        );
    }
}
