//! PostgreSQL multi-user rotation without the ownership trap.
//!
//! AWS's template makes the clone a member of the original (`GRANT "app" TO "app_clone"`) and
//! nothing else, so a table that `app_clone` creates is owned by `app_clone`, and `app` cannot
//! use it after the next swap (aws-samples/aws-secrets-manager-rotation-lambdas #38, #56, #175).
//! Here the pair follows the group-role pattern:
//!
//! - **`app` owns everything.** The clone is a member of the original (`GRANT "app" TO
//!   "app_clone"`) and logs in acting as it (`ALTER ROLE "app_clone" SET role = 'app'`): every
//!   session of `app_clone` starts with `current_user = app`, so whatever it creates is owned by
//!   `app`, and it has exactly `app`'s privileges. Either user can use what the other created,
//!   in both directions, over any number of rotations, with no grants to manage.
//! - **The clone mirrors the original.** Each time the clone is the pending user, the
//!   original's attributes (`CREATEDB`, `CREATEROLE`, `CONNECTION LIMIT`, `VALID UNTIL`, and
//!   `SUPERUSER`, `REPLICATION`, `BYPASSRLS` when they differ) and per-role settings
//!   (`search_path`, `statement_timeout`, ... including `IN DATABASE` ones) are copied to it, and
//!   it loses settings the original does not have. Only differences are sent, so a master user
//!   that is not a superuser (RDS's) is never asked to change a superuser-only attribute. The
//!   clone is always `LOGIN` and `INHERIT` (so the login-time checks, such as `CONNECT` on the
//!   database, see the original's privileges too).
//! - **Only the pending user changes.** The other user is `AWSCURRENT`: clients log in with it
//!   (and with `AWSPREVIOUS`) through every step, so setSecret never touches it. Drift is
//!   repaired on the pending user only: a change made to the clone alone is undone the next time
//!   the clone is pending (make it on the original); a change made to the original reaches the
//!   clone then too. Memberships go the other way: a role granted to the clone directly
//!   (`GRANT reporting TO app_clone`) is granted to the original (with its admin option) the
//!   next time the original is pending, since a clone session acts as the original and would
//!   not otherwise have it. Roles granted to the original reach the clone through its
//!   membership.
//! - **A second user created beforehand is adopted**, not re-created, when it is blank (no
//!   privileged attribute, membership, member, object or privilege of its own) or already a
//!   member of the original: it gets the new password and the membership and settings above.
//! - **The password reaches the server only as a SCRAM verifier.** Everything runs in one
//!   transaction, as the master user, each statement on its own through the extended protocol
//!   (see [`crate::sql`] for why nothing read from the catalog can run as code there).
//!
//! The holes, by design of PostgreSQL roles:
//!
//! - a clone session that leaves the original's identity (`SET ROLE NONE`, `SET ROLE
//!   "app_clone"`, `SET SESSION AUTHORIZATION`) creates objects owned by `app_clone`, which
//!   `app` cannot use. `RESET ROLE`, `RESET ALL` and `DISCARD ALL` (what poolers send) keep the
//!   original's identity. Repair: `REASSIGN OWNED BY "app_clone" TO "app"` in each database;
//! - object privileges granted to the clone directly (`GRANT SELECT ON t TO app_clone`) are not
//!   copied (they are per database, and a clone session, acting as the original, does not use
//!   them): grant them to the original;
//! - objects owned by `app_clone` before this rotator took over (AWS's template) stay its own:
//!   reassign them once as above;
//! - when the secret starts with a `_clone` user whose original does not exist, the original is
//!   created as a copy of it, and the objects the clone owns stay the clone's. The clone is then
//!   made a member of it (the one change setSecret makes to the live user: it gives the clone
//!   nothing it did not have), and starts acting as it at its own next turn as the pending
//!   user.
//!
//! An existing pending user is only changed when it belongs to the pair (see [`PairError`]): a
//! user with `CREATEROLE` who writes `postgres_clone` into its own secret does not get the
//! master's password.

use async_trait::async_trait;
use rotation_core::SecretString;
use rotation_db::{CloneDatabase, SessionError, UserPair};
use tokio_postgres::Client;

use crate::database::{Postgres, Session, execute};
use crate::role::{RoleState, Setting};
use crate::sql::{self, Statement};

/// PostgreSQL's longest identifier, in bytes (`NAMEDATALEN - 1`): a longer name would be
/// silently truncated.
pub const MAX_USERNAME_BYTES: usize = 63;

/// The setting that makes a clone session act as the original.
const ROLE_SETTING: &str = "role";

/// Why the master refuses to touch the pending user: the pair is not proven. The
/// current-credentials check proves only that whoever wrote the secret holds the current user;
/// a user with `CREATEROLE` can create a role named like the clone of a role it does not hold
/// (`postgres_clone`), or like the original of one (`other` for `other_clone`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairError {
    /// The pending original exists, and the current user is not a member of it.
    #[error(
        "the pending user {original} exists but the current user {clone} is not a member of it, \
         so {clone} is not its clone and the master does not change its password (if the two \
         are a pair, GRANT \"{original}\" TO \"{clone}\" once; the rotator does so itself when \
         it creates the clone)"
    )]
    UnpairedOriginal {
        /// The pending user.
        original: String,
        /// The current user.
        clone: String,
    },
    /// The pending clone exists, is not a member of the original, and holds something.
    #[error(
        "the pending user {clone} exists, is not a member of the current user {original}, and \
         holds attributes, memberships, members, objects or privileges of its own: the rotator \
         adopts only a blank role as a clone, so that it never hands over another role (if \
         {clone} is this pair's clone, GRANT \"{original}\" TO \"{clone}\" once)"
    )]
    OccupiedClone {
        /// The current user.
        original: String,
        /// The pending user.
        clone: String,
    },
}

/// The statements that set the pending user's password and bring it in line with its pair,
/// given what the catalog says about the original and the clone (`None`: the role does not
/// exist). Only the pending user changes: the other one is `AWSCURRENT`, and clients still
/// log in with it (and with `AWSPREVIOUS`) through every step, so its attributes, settings and
/// memberships stay as they are; it is brought in line when its turn to be pending comes.
///
/// An existing pending user is changed only when it belongs to the pair: the original when the
/// clone is a member of it, the clone when it is a member of the original or blank (a role an
/// operator created beforehand); else [`PairError`].
pub fn plan(
    users: UserPair<'_>,
    original: Option<&RoleState>,
    clone: Option<&RoleState>,
    password: &SecretString,
) -> Result<Vec<Statement>, PairError> {
    let (original_name, clone_name) = (users.original(), users.clone_user());
    let paired = clone.is_some_and(|c| c.is_member_of(original_name));
    if users.is_pending_original() {
        if original.is_some() && !paired {
            return Err(PairError::UnpairedOriginal {
                original: original_name.to_owned(),
                clone: clone_name.to_owned(),
            });
        }
        Ok(plan_for_original(users, original, clone, password))
    } else {
        if clone.is_some_and(|c| !paired && !c.is_blank()) {
            return Err(PairError::OccupiedClone {
                original: original_name.to_owned(),
                clone: clone_name.to_owned(),
            });
        }
        Ok(plan_for_clone(users, original, clone, password))
    }
}

/// `CREATE ROLE` when the pending user does not exist, else `ALTER ROLE`, with the password.
fn set_password(name: &str, now: Option<&RoleState>, password: &SecretString) -> Statement {
    match now {
        Some(_) => sql::alter_login_password(name, password),
        None => sql::create_login_role(name, password),
    }
}

/// The settings of `role` that a copy takes: all but the one that makes a clone act as its
/// original.
fn copied_settings(role: &RoleState) -> Vec<&Setting> {
    role.settings
        .iter()
        .filter(|s| !s.name.eq_ignore_ascii_case(ROLE_SETTING))
        .collect()
}

/// The clone is pending (the original is `AWSCURRENT`): it becomes a member of the original,
/// acting as it, with the original's attributes and settings.
fn plan_for_clone(
    users: UserPair<'_>,
    original: Option<&RoleState>,
    clone: Option<&RoleState>,
    password: &SecretString,
) -> Vec<Statement> {
    let (original_name, clone_name) = (users.original(), users.clone_user());
    let created = RoleState::new_login_role();
    let mut statements = vec![set_password(clone_name, clone, password)];
    let clone_now = clone.unwrap_or(&created);
    // The original just logged in as the current user, so it exists; were it gone, the clone
    // would get a new role's attributes rather than the original being touched.
    let truth = original.unwrap_or(&created);
    if !clone_now.is_member_of(original_name) {
        statements.push(sql::grant_membership(original_name, clone_name, false));
    }
    let mut clone_attributes = truth.attributes.clone();
    clone_attributes.login = true;
    clone_attributes.inherit = true;
    let act_as_original = Setting {
        database: None,
        name: ROLE_SETTING.to_owned(),
        value: original_name.to_owned(),
    };
    let mut clone_settings = copied_settings(truth);
    clone_settings.push(&act_as_original);
    sync_role(
        &mut statements,
        clone_name,
        clone_now,
        &clone_attributes,
        &clone_settings,
    );
    statements
}

/// The original is pending (the clone is `AWSCURRENT`): it gets the roles granted to the clone
/// directly (a clone session acts as the original, so would not otherwise have them); when it
/// does not exist (the secret started with a `_clone` user), it is created as a copy of the
/// clone, and the clone made a member of it (nothing else of the clone changes); the clone
/// starts acting as it at its own next turn.
fn plan_for_original(
    users: UserPair<'_>,
    original: Option<&RoleState>,
    clone: Option<&RoleState>,
    password: &SecretString,
) -> Vec<Statement> {
    let (original_name, clone_name) = (users.original(), users.clone_user());
    let created = RoleState::new_login_role();
    let mut statements = vec![set_password(original_name, original, password)];
    let clone_now = clone.unwrap_or(&created);
    if original.is_none() {
        sync_role(
            &mut statements,
            original_name,
            &created,
            &clone_now.attributes,
            &copied_settings(clone_now),
        );
    }
    let original_now = original.unwrap_or(&created);
    if original.is_none() && clone.is_some() {
        // The one change to the live clone: membership in the role just made as its copy,
        // which gives it nothing it did not have and leaves its logins and identity alone
        // (it starts acting as the original only at its own turn). It is what proves the pair
        // at that turn, when the clone is an existing role (see `PairError::OccupiedClone`).
        statements.push(sql::grant_membership(original_name, clone_name, false));
    }
    for membership in &clone_now.memberships {
        if membership.role == original_name || membership.role == clone_name {
            continue;
        }
        let held = original_now
            .memberships
            .iter()
            .any(|m| m.role == membership.role && (m.admin || !membership.admin));
        if !held {
            statements.push(sql::grant_membership(
                &membership.role,
                original_name,
                membership.admin,
            ));
        }
    }
    statements
}

/// Brings a role's attributes and settings to the target ones.
fn sync_role(
    statements: &mut Vec<Statement>,
    name: &str,
    now: &RoleState,
    attributes: &crate::role::Attributes,
    settings: &[&Setting],
) {
    let options = now.attributes.changes_to(attributes);
    if !options.is_empty() {
        statements.push(sql::alter_role_options(name, &options));
    }
    let same_key = |a: &Setting, b: &Setting| a.database == b.database && a.name == b.name;
    for wanted in settings {
        if !now.settings.iter().any(|have| have == *wanted) {
            statements.push(sql::set_role_setting(
                name,
                wanted.database.as_deref(),
                &wanted.name,
                &wanted.value,
            ));
        }
    }
    for have in &now.settings {
        if !settings.iter().any(|wanted| same_key(have, wanted)) {
            statements.push(sql::reset_role_setting(
                name,
                have.database.as_deref(),
                &have.name,
            ));
        }
    }
}

/// Runs the plan in the open transaction, each statement on its own through the extended
/// protocol; stops at the first error.
async fn apply(
    client: &Client,
    users: UserPair<'_>,
    password: &SecretString,
) -> Result<(), SessionError> {
    let original = RoleState::read(client, users.original()).await?;
    let clone = RoleState::read(client, users.clone_user()).await?;
    let statements = plan(users, original.as_ref(), clone.as_ref(), password)
        .map_err(|error| SessionError::Precondition(error.to_string()))?;
    for statement in statements {
        // The error says what the server refused; the statement (with the verifier) is not
        // repeated in it.
        execute(client, &statement).await?;
    }
    Ok(())
}

#[async_trait]
impl CloneDatabase for Postgres {
    fn username_limit(&self) -> usize {
        MAX_USERNAME_BYTES
    }

    fn username_fits(&self, name: &str) -> bool {
        name.len() <= MAX_USERNAME_BYTES
    }

    /// One transaction: every statement, or none (a failure rolls back; a retry starts over).
    async fn set_alternate_user(
        &self,
        session: &mut Session,
        users: UserPair<'_>,
        password: &SecretString,
    ) -> Result<(), SessionError> {
        let client = session.client();
        execute(client, &sql::BEGIN).await?;
        match apply(client, users, password).await {
            Ok(()) => execute(client, &sql::COMMIT).await,
            Err(reason) => {
                // The session is dropped after this; a failed rollback changes nothing.
                let _ = execute(client, &sql::ROLLBACK).await;
                Err(reason)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::{Attributes, Membership};

    const FIRST: UserPair<'static> = UserPair {
        pending: "app_clone",
        current: "app",
    };
    const SECOND: UserPair<'static> = UserPair {
        pending: "app",
        current: "app_clone",
    };

    fn password() -> SecretString {
        SecretString::new("never-in-sql")
    }

    fn without_verifier(statements: Vec<Statement>) -> Vec<String> {
        statements
            .iter()
            .map(|s| match s.text().find(" PASSWORD ") {
                Some(at) => format!("{} PASSWORD <verifier>", &s.text()[..at]),
                None => s.text().to_owned(),
            })
            .collect()
    }

    /// The role a statement changes: the one after `ROLE`, or after `TO` in a `GRANT`.
    fn changed_role(statement: &str) -> &str {
        let rest = match statement.find(" TO \"") {
            Some(at) if statement.starts_with("GRANT ") => &statement[at + 4..],
            _ => &statement[statement.find(" ROLE \"").map_or(0, |at| at + 6)..],
        };
        let end = rest[1..].find('"').map_or(rest.len(), |at| at + 2);
        &rest[..end]
    }

    fn original() -> RoleState {
        RoleState {
            attributes: Attributes {
                create_db: true,
                connection_limit: 10,
                ..Attributes::of_new_login_role()
            },
            settings: vec![Setting {
                database: None,
                name: "search_path".into(),
                value: "app, public".into(),
            }],
            memberships: vec![Membership {
                role: "readers".into(),
                admin: false,
            }],
            in_use: true,
        }
    }

    fn synced_clone() -> RoleState {
        let mut clone = original();
        clone.settings.push(Setting {
            database: None,
            name: "role".into(),
            value: "app".into(),
        });
        clone.memberships = vec![Membership {
            role: "app".into(),
            admin: false,
        }];
        clone
    }

    #[test]
    fn the_first_rotation_creates_the_clone_as_a_copy_acting_as_the_original() {
        let statements = plan(FIRST, Some(&original()), None, &password()).unwrap();
        assert_eq!(
            without_verifier(statements.clone()),
            vec![
                "CREATE ROLE \"app_clone\" WITH LOGIN PASSWORD <verifier>",
                "GRANT \"app\" TO \"app_clone\"",
                "ALTER ROLE \"app_clone\" WITH CREATEDB CONNECTION LIMIT 10",
                "ALTER ROLE \"app_clone\" SET \"search_path\" = 'app', 'public'",
                "ALTER ROLE \"app_clone\" SET \"role\" = 'app'",
            ]
        );
        assert!(
            statements
                .iter()
                .all(|s| !s.text().contains("never-in-sql"))
        );
    }

    #[test]
    fn a_pair_in_step_only_changes_the_password() {
        for users in [FIRST, SECOND] {
            let statements =
                plan(users, Some(&original()), Some(&synced_clone()), &password()).unwrap();
            assert_eq!(
                without_verifier(statements),
                vec![format!(
                    "ALTER ROLE \"{}\" WITH LOGIN PASSWORD <verifier>",
                    users.pending
                )]
            );
        }
    }

    /// A clone that drifted: its own limit, NOINHERIT, a setting and a membership of its own;
    /// and an original with a setting the clone lacks.
    fn drifted() -> (RoleState, RoleState) {
        let mut clone = synced_clone();
        clone.attributes.connection_limit = 3;
        clone.attributes.inherit = false;
        clone.settings.push(Setting {
            database: Some("shop".into()),
            name: "work_mem".into(),
            value: "1GB".into(),
        });
        clone.memberships.push(Membership {
            role: "writers".into(),
            admin: true,
        });
        let mut original = original();
        original.settings.push(Setting {
            database: None,
            name: "statement_timeout".into(),
            value: "5s".into(),
        });
        (original, clone)
    }

    #[test]
    fn drift_is_repaired_on_the_clone_when_the_clone_is_pending() {
        let (original, clone) = drifted();
        assert_eq!(
            without_verifier(plan(FIRST, Some(&original), Some(&clone), &password()).unwrap()),
            vec![
                "ALTER ROLE \"app_clone\" WITH LOGIN PASSWORD <verifier>",
                "ALTER ROLE \"app_clone\" WITH INHERIT CONNECTION LIMIT 10",
                "ALTER ROLE \"app_clone\" SET \"statement_timeout\" = '5s'",
                "ALTER ROLE \"app_clone\" IN DATABASE \"shop\" RESET \"work_mem\"",
            ]
        );
    }

    #[test]
    fn when_the_original_is_pending_the_live_clone_is_left_alone_and_its_roles_reach_the_original()
    {
        let (original, clone) = drifted();
        assert_eq!(
            without_verifier(plan(SECOND, Some(&original), Some(&clone), &password()).unwrap()),
            vec![
                "ALTER ROLE \"app\" WITH LOGIN PASSWORD <verifier>",
                "GRANT \"writers\" TO \"app\" WITH ADMIN OPTION",
            ]
        );
    }

    #[test]
    fn only_the_pending_user_ever_changes() {
        let (drifted_original, drifted_clone) = drifted();
        let expired = RoleState {
            attributes: Attributes {
                connection_limit: 0,
                valid_until: Some("2000-01-01 00:00:00+00".into()),
                ..Attributes::of_new_login_role()
            },
            ..original()
        };
        let states = [
            None,
            Some(original()),
            Some(synced_clone()),
            Some(drifted_original),
            Some(drifted_clone),
            Some(expired),
            Some(RoleState::new_login_role()),
        ];
        for users in [FIRST, SECOND] {
            for original in &states {
                for clone in &states {
                    let Ok(statements) =
                        plan(users, original.as_ref(), clone.as_ref(), &password())
                    else {
                        continue;
                    };
                    let pending = format!("\"{}\"", users.pending);
                    // The one exception: a clone joins the original just made as its copy.
                    let joins_new_original = |s: &Statement| {
                        original.is_none()
                            && users.is_pending_original()
                            && s.text() == "GRANT \"app\" TO \"app_clone\""
                    };
                    for statement in statements.iter().filter(|s| !joins_new_original(s)) {
                        assert_eq!(
                            changed_role(statement.text()),
                            pending,
                            "{statement:?} with {users:?}, {original:?}, {clone:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_pre_created_clone_is_adopted() {
        let adopted = RoleState::new_login_role();
        assert_eq!(
            without_verifier(plan(FIRST, Some(&original()), Some(&adopted), &password()).unwrap()),
            vec![
                "ALTER ROLE \"app_clone\" WITH LOGIN PASSWORD <verifier>",
                "GRANT \"app\" TO \"app_clone\"",
                "ALTER ROLE \"app_clone\" WITH CREATEDB CONNECTION LIMIT 10",
                "ALTER ROLE \"app_clone\" SET \"search_path\" = 'app', 'public'",
                "ALTER ROLE \"app_clone\" SET \"role\" = 'app'",
            ]
        );
    }

    #[test]
    fn a_missing_original_is_created_as_a_copy_of_the_clone_which_only_joins_it() {
        let mut clone = original();
        clone.memberships = vec![Membership {
            role: "readers".into(),
            admin: false,
        }];
        assert_eq!(
            without_verifier(plan(SECOND, None, Some(&clone), &password()).unwrap()),
            vec![
                "CREATE ROLE \"app\" WITH LOGIN PASSWORD <verifier>",
                "ALTER ROLE \"app\" WITH CREATEDB CONNECTION LIMIT 10",
                "ALTER ROLE \"app\" SET \"search_path\" = 'app', 'public'",
                "GRANT \"app\" TO \"app_clone\"",
                "GRANT \"readers\" TO \"app\"",
            ]
        );
        // At the clone's next turn, it acts as the original.
        let created = RoleState {
            memberships: clone.memberships.clone(),
            ..original()
        };
        clone.memberships.push(Membership {
            role: "app".into(),
            admin: false,
        });
        assert_eq!(
            without_verifier(plan(FIRST, Some(&created), Some(&clone), &password()).unwrap()),
            vec![
                "ALTER ROLE \"app_clone\" WITH LOGIN PASSWORD <verifier>",
                "ALTER ROLE \"app_clone\" SET \"role\" = 'app'",
            ]
        );
    }

    #[test]
    fn hostile_catalog_text_stays_inside_its_quotes() {
        let hostile = RoleState {
            settings: vec![
                Setting {
                    database: Some("d'b\"; \\".into()),
                    name: "application_name".into(),
                    value: "x\\'; CREATE ROLE pwned; --".into(),
                },
                Setting {
                    database: None,
                    name: "search_path".into(),
                    value: "\"a\\'; DROP ROLE x; --\", public".into(),
                },
            ],
            memberships: vec![Membership {
                role: "g\"; ALTER ROLE app SUPERUSER; --".into(),
                admin: false,
            }],
            ..original()
        };
        let mut clone = synced_clone();
        clone
            .memberships
            .extend(hostile.memberships.iter().cloned());
        assert_eq!(
            without_verifier(
                plan(FIRST, Some(&hostile), Some(&synced_clone()), &password()).unwrap()
            )[1..],
            [
                "ALTER ROLE \"app_clone\" IN DATABASE \"d'b\"\"; \\\" SET \"application_name\" = E'x\\\\''; CREATE ROLE pwned; --'",
                "ALTER ROLE \"app_clone\" SET \"search_path\" = E'a\\\\''; DROP ROLE x; --', 'public'",
            ]
        );
        assert_eq!(
            without_verifier(plan(SECOND, Some(&original()), Some(&clone), &password()).unwrap())
                [1],
            "GRANT \"g\"\"; ALTER ROLE app SUPERUSER; --\" TO \"app\""
        );
    }

    #[test]
    fn an_existing_pending_user_is_changed_only_when_it_belongs_to_the_pair() {
        let stranger = RoleState {
            memberships: Vec::new(),
            ..original()
        };
        let unpaired_clone = original();
        let blank = RoleState::new_login_role();
        let superuser_blank = RoleState {
            attributes: Attributes {
                superuser: true,
                ..Attributes::of_new_login_role()
            },
            ..RoleState::new_login_role()
        };
        let owner_of_something = RoleState {
            in_use: true,
            ..RoleState::new_login_role()
        };
        let in_group = RoleState {
            memberships: vec![Membership {
                role: "vault".into(),
                admin: false,
            }],
            ..RoleState::new_login_role()
        };
        let unpaired = |original: &str, clone: &str| PairError::UnpairedOriginal {
            original: original.into(),
            clone: clone.into(),
        };
        let occupied = PairError::OccupiedClone {
            original: "app".into(),
            clone: "app_clone".into(),
        };
        for (users, original, clone, expected) in [
            // The original is pending and exists: the current clone must be its member.
            (
                SECOND,
                Some(&stranger),
                Some(&unpaired_clone),
                Err(unpaired("app", "app_clone")),
            ),
            (
                SECOND,
                Some(&stranger),
                Some(&blank),
                Err(unpaired("app", "app_clone")),
            ),
            (SECOND, Some(&stranger), Some(&synced_clone()), Ok(())),
            (SECOND, None, Some(&unpaired_clone), Ok(())),
            // The clone is pending and exists: a member of the original, or blank.
            (FIRST, Some(&original()), Some(&synced_clone()), Ok(())),
            (FIRST, Some(&original()), Some(&blank), Ok(())),
            (FIRST, Some(&original()), None, Ok(())),
            (
                FIRST,
                Some(&original()),
                Some(&superuser_blank),
                Err(occupied.clone()),
            ),
            (
                FIRST,
                Some(&original()),
                Some(&owner_of_something),
                Err(occupied.clone()),
            ),
            (
                FIRST,
                Some(&original()),
                Some(&in_group),
                Err(occupied.clone()),
            ),
        ] {
            assert_eq!(
                plan(users, original, clone, &password()).map(|_| ()),
                expected,
                "{users:?} {original:?} {clone:?}"
            );
        }
        let message = unpaired("postgres", "postgres_clone").to_string();
        assert!(
            message.contains("postgres_clone is not a member of it"),
            "{message}"
        );
        assert!(occupied.to_string().contains("adopts only a blank role"));
    }
}
