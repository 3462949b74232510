//! Whether the two accounts of a multi-user secret are a pair, so that the master may set the
//! pending one's password.
//!
//! setSecret proves only that whoever wrote the secret holds the **current** user (its
//! credentials log in). A user with `CREATE USER` can create any account that does not exist
//! yet, so the name in the secret proves nothing: it can create `boss_clone` (where `boss` is an
//! administrator) and write it into its own secret, making `boss` the pending user; or create
//! `other` and make another team's `other_clone` the pending one. MySQL has no membership
//! between the two accounts to prove the pair (PostgreSQL's fix), so the proof is in what the
//! accounts hold: handing over the pending account's password must give nothing the current
//! one does not already have.
//!
//! - **An existing original** (pending, the clone current) is changed only when, on each of its
//!   host entries, the clone's entry on the same host holds every privilege, role, proxy grant
//!   and grant/admin option it holds (and no partial revoke it lacks).
//! - **An existing clone** (pending, the original current) is adopted only when, on each of its
//!   host entries, it holds nothing beyond the original's entry on the same host. A clone the
//!   rotator made (a copy of the original) or an operator made with a subset of the original's
//!   grants passes; an account with grants of its own does not.
//!
//! The comparison is per privilege and object, from `SHOW GRANTS` parsed by
//! [`crate::grants`]: `ALL PRIVILEGES` on an object covers any privilege on it, and a privilege
//! on `*.*` or `db.*` covers the same privilege on what is inside. Anything it cannot prove is
//! refused (TLS requirements and resource limits only restrict, so they are not compared).

use std::fmt;

use crate::grants::{Grant, Object, Privilege};

/// Why the master refuses to change the pending user: the pair is not proven. Each names both
/// accounts, the host entry and the first privilege at fault (never a password), and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairError {
    /// The pending original holds something the current clone does not.
    #[error(
        "the pending user {original} exists and {original}@{host} holds {held}, which the \
         current user {clone} does not hold at {host}: {clone} is not proven to be its clone, \
         so the master does not hand over the password of {original} (it would give {clone}'s \
         holder more than it has). If the two are a pair, give {clone}@{host} every grant of \
         {original}@{host} and rotate again"
    )]
    UnpairedOriginal {
        /// The pending user.
        original: String,
        /// The current user.
        clone: String,
        /// The host entry at fault.
        host: String,
        /// The first privilege, role or proxy grant the clone lacks.
        held: String,
    },
    /// The pending clone holds something the current original does not.
    #[error(
        "the pending user {clone} exists and {clone}@{host} holds {held}, which the current user \
         {original} does not hold at {host}: the rotator adopts an existing clone only when it \
         holds nothing beyond the original, so that it never hands over another account. If \
         {clone} is this pair's clone, grant the same to {original}@{host} or revoke it from \
         {clone}@{host}, and rotate again"
    )]
    OccupiedClone {
        /// The current user.
        original: String,
        /// The pending user.
        clone: String,
        /// The host entry at fault.
        host: String,
        /// The first privilege, role or proxy grant the original lacks.
        held: String,
    },
}

/// One thing an account holds, in a form two accounts can be compared by.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// A privilege (`GRANT OPTION` included) on an object, at a column or the whole object.
    Privilege {
        name: String,
        object: Object,
        column: Option<String>,
    },
    /// A role, and whether with `WITH ADMIN OPTION`.
    Role {
        name: String,
        host: Option<String>,
        admin: bool,
    },
    /// `PROXY` on an account, and whether with `WITH GRANT OPTION`.
    Proxy {
        user: String,
        host: String,
        grant_option: bool,
    },
}

impl fmt::Display for Item {
    /// The item as a grant would name it (names quoted, nothing secret).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Privilege {
                name,
                object,
                column: Some(column),
            } => write!(f, "{name} (`{column}`) ON {object}"),
            Item::Privilege { name, object, .. } => write!(f, "{name} ON {object}"),
            Item::Role { name, host, admin } => {
                write!(f, "role `{name}`")?;
                if let Some(host) = host {
                    write!(f, "@`{host}`")?;
                }
                if *admin {
                    f.write_str(" WITH ADMIN OPTION")?;
                }
                Ok(())
            }
            Item::Proxy {
                user,
                host,
                grant_option,
            } => {
                write!(f, "PROXY ON '{user}'@'{host}'")?;
                if *grant_option {
                    f.write_str(" WITH GRANT OPTION")?;
                }
                Ok(())
            }
        }
    }
}

/// What one host entry of an account holds: its grants, and its partial revokes (MySQL 8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdings {
    granted: Vec<Item>,
    revoked: Vec<Item>,
}

const GRANT_OPTION: &str = "GRANT OPTION";

fn is_all(name: &str) -> bool {
    name == "ALL PRIVILEGES" || name == "ALL"
}

/// Every (privilege, column) of a privilege list, `USAGE` (nothing) left out.
fn privilege_items(privileges: &[Privilege], object: &Object, grant_option: bool) -> Vec<Item> {
    let mut items = Vec::new();
    for privilege in privileges.iter().filter(|p| p.name != "USAGE") {
        let columns: Vec<Option<String>> = if privilege.columns.is_empty() {
            vec![None]
        } else {
            privilege.columns.iter().cloned().map(Some).collect()
        };
        for column in columns {
            items.push(Item::Privilege {
                name: privilege.name.clone(),
                object: object.clone(),
                column,
            });
        }
    }
    if grant_option {
        items.push(Item::Privilege {
            name: GRANT_OPTION.to_owned(),
            object: object.clone(),
            column: None,
        });
    }
    items
}

impl Holdings {
    /// What the parsed lines of one `SHOW GRANTS` give (MariaDB's default role gives nothing:
    /// the role itself is a line of its own).
    pub fn from_grants(grants: &[Grant]) -> Self {
        let mut holdings = Holdings::default();
        for grant in grants {
            match grant {
                Grant::Privileges {
                    privileges,
                    object,
                    grant_option,
                } => holdings
                    .granted
                    .extend(privilege_items(privileges, object, *grant_option)),
                Grant::Revoke { privileges, object } => holdings
                    .revoked
                    .extend(privilege_items(privileges, object, false)),
                Grant::Roles {
                    roles,
                    admin_option,
                } => holdings.granted.extend(roles.iter().map(|role| Item::Role {
                    name: role.name.clone(),
                    host: role.host.clone(),
                    admin: *admin_option,
                })),
                Grant::Proxy {
                    proxied,
                    grant_option,
                } => holdings.granted.push(Item::Proxy {
                    user: proxied.user.clone(),
                    host: proxied.host.clone(),
                    grant_option: *grant_option,
                }),
                Grant::DefaultRole(_) => {}
            }
        }
        holdings
    }

    /// The first item of `other` that this one does not hold (`None`: this one holds all of
    /// `other`). A partial revoke of this one that `other` lacks counts as missing too, since it
    /// takes away what a wider grant gives.
    fn first_missing(&self, other: &Holdings) -> Option<String> {
        if let Some(item) = other.granted.iter().find(|item| !self.covers(item)) {
            return Some(item.to_string());
        }
        self.revoked
            .iter()
            .find(|revoke| !other.revoked.contains(revoke))
            .map(|revoke| format!("what is partially revoked from it here ({revoke})"))
    }

    /// Whether one of this account's grants gives `wanted`.
    fn covers(&self, wanted: &Item) -> bool {
        self.granted.iter().any(|have| gives(have, wanted))
    }
}

/// Whether holding `have` gives `wanted`.
fn gives(have: &Item, wanted: &Item) -> bool {
    match (have, wanted) {
        (
            Item::Privilege {
                name: have_name,
                object: have_object,
                column: have_column,
            },
            Item::Privilege {
                name,
                object,
                column,
            },
        ) => {
            let same_name = have_name == name || (is_all(have_name) && name != GRANT_OPTION);
            let place = if have_object == object {
                have_column.is_none() || have_column == column
            } else {
                have_column.is_none() && contains(have_object, object)
            };
            same_name && place
        }
        (
            Item::Role {
                name: have_name,
                host: have_host,
                admin: have_admin,
            },
            Item::Role { name, host, admin },
        ) => have_name == name && have_host == host && (*have_admin || !admin),
        (
            Item::Proxy {
                user: have_user,
                host: have_host,
                grant_option: have_option,
            },
            Item::Proxy {
                user,
                host,
                grant_option,
            },
        ) => have_user == user && have_host == host && (*have_option || !grant_option),
        _ => false,
    }
}

/// Whether `outer` is a wider level that includes `inner` (`*.*` includes everything, `db.*`
/// the tables and routines of `db`).
fn contains(outer: &Object, inner: &Object) -> bool {
    match (outer, inner) {
        (Object::Global, Object::Global) => false,
        (Object::Global, _) => true,
        (Object::Database(db), Object::Table { database, .. })
        | (Object::Database(db), Object::Routine { database, .. }) => db == database,
        _ => false,
    }
}

/// The host entries of one account with what each holds.
pub type Entries = [(String, Holdings)];

/// The first host entry of `held` whose holdings `holder`'s entry on the same host (or nothing,
/// when it has none) does not cover, with the first item missing.
fn first_uncovered(holder: &Entries, held: &Entries) -> Option<(String, String)> {
    let nothing = Holdings::default();
    held.iter().find_map(|(host, holdings)| {
        let have = holder
            .iter()
            .find(|(h, _)| h == host)
            .map_or(&nothing, |(_, h)| h);
        have.first_missing(holdings)
            .map(|item| (host.clone(), item))
    })
}

/// Checks that the master may hand over the pending user of the pair: an existing pending
/// original only when the current clone holds all it holds; an existing pending clone only
/// when it holds nothing beyond the current original. `original` and `clone` are the host
/// entries of each (empty: the account does not exist, which is always fine: it is created).
pub fn check(
    pending_is_original: bool,
    (original_name, original): (&str, &Entries),
    (clone_name, clone): (&str, &Entries),
) -> Result<(), PairError> {
    if pending_is_original {
        if let Some((host, held)) = first_uncovered(clone, original) {
            return Err(PairError::UnpairedOriginal {
                original: original_name.to_owned(),
                clone: clone_name.to_owned(),
                host,
                held,
            });
        }
    } else if let Some((host, held)) = first_uncovered(original, clone) {
        return Err(PairError::OccupiedClone {
            original: original_name.to_owned(),
            clone: clone_name.to_owned(),
            host,
            held,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
