//! What the catalog says about a role: its attributes, per-role settings and memberships, read
//! in the master session for multi-user rotation.

use rotation_db::SessionError;
use tokio_postgres::Client;

use crate::database::session_error;
use crate::sql::{self, RoleOption};

/// A role's attributes (`pg_roles`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    /// `rolsuper`.
    pub superuser: bool,
    /// `rolcreatedb`.
    pub create_db: bool,
    /// `rolcreaterole`.
    pub create_role: bool,
    /// `rolinherit`.
    pub inherit: bool,
    /// `rolcanlogin`.
    pub login: bool,
    /// `rolreplication`.
    pub replication: bool,
    /// `rolbypassrls`.
    pub bypass_rls: bool,
    /// `rolconnlimit` (-1: no limit).
    pub connection_limit: i32,
    /// `rolvaliduntil` as text; `None` when it never expires.
    pub valid_until: Option<String>,
}

impl Attributes {
    /// What `CREATE ROLE ... WITH LOGIN` gives a new role.
    pub fn of_new_login_role() -> Self {
        Attributes {
            superuser: false,
            create_db: false,
            create_role: false,
            inherit: true,
            login: true,
            replication: false,
            bypass_rls: false,
            connection_limit: -1,
            valid_until: None,
        }
    }

    /// The options that turn `self` into `target`; only what differs, so that a master user
    /// that is not a superuser (RDS's) never touches an attribute only a superuser may set.
    pub fn changes_to(&self, target: &Attributes) -> Vec<RoleOption> {
        let mut options = Vec::new();
        let flags = [
            (
                self.superuser,
                target.superuser,
                RoleOption::Superuser as fn(bool) -> RoleOption,
            ),
            (self.create_db, target.create_db, RoleOption::CreateDb),
            (self.create_role, target.create_role, RoleOption::CreateRole),
            (self.inherit, target.inherit, RoleOption::Inherit),
            (self.login, target.login, RoleOption::Login),
            (
                self.replication,
                target.replication,
                RoleOption::Replication,
            ),
            (self.bypass_rls, target.bypass_rls, RoleOption::BypassRls),
        ];
        for (have, want, option) in flags {
            if have != want {
                options.push(option(want));
            }
        }
        if self.connection_limit != target.connection_limit {
            options.push(RoleOption::ConnectionLimit(target.connection_limit));
        }
        if expiry(&self.valid_until) != expiry(&target.valid_until) {
            options.push(RoleOption::ValidUntil(target.valid_until.clone()));
        }
        options
    }
}

/// `infinity` and no expiry are the same thing.
fn expiry(valid_until: &Option<String>) -> Option<&str> {
    valid_until.as_deref().filter(|until| *until != "infinity")
}

/// One per-role setting (`ALTER ROLE ... [IN DATABASE ...] SET name = value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The database it applies in; `None` for all.
    pub database: Option<String>,
    /// The variable.
    pub name: String,
    /// The value as stored.
    pub value: String,
}

/// A direct membership of a role in another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The role it is a member of.
    pub role: String,
    /// Whether it may grant that role to others.
    pub admin: bool,
}

/// Everything multi-user rotation keeps in step between the two users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleState {
    /// Attributes.
    pub attributes: Attributes,
    /// Per-role settings.
    pub settings: Vec<Setting>,
    /// Direct memberships.
    pub memberships: Vec<Membership>,
    /// Whether something else hangs on it: it owns an object or holds a privilege in some
    /// database (`pg_shdepend`), or a role other than the session's is a member of it.
    pub in_use: bool,
}

impl RoleState {
    /// A role that `CREATE ROLE ... WITH LOGIN` just made.
    pub fn new_login_role() -> Self {
        RoleState {
            attributes: Attributes::of_new_login_role(),
            settings: Vec::new(),
            memberships: Vec::new(),
            in_use: false,
        }
    }

    /// Whether it holds nothing that giving its password away would hand over: no attribute
    /// beyond a new login role's (`CONNECTION LIMIT` and `VALID UNTIL` aside), no membership,
    /// no member, nothing owned or granted.
    pub fn is_blank(&self) -> bool {
        let a = &self.attributes;
        !(a.superuser || a.create_db || a.create_role || a.replication || a.bypass_rls)
            && self.memberships.is_empty()
            && !self.in_use
    }

    /// Whether it is a direct member of `role`.
    pub fn is_member_of(&self, role: &str) -> bool {
        self.memberships.iter().any(|m| m.role == role)
    }

    /// Reads a role from the catalog; `None` when it does not exist.
    pub async fn read(client: &Client, name: &str) -> Result<Option<RoleState>, SessionError> {
        let Some(row) = client
            .query_opt(sql::ROLE_ATTRIBUTES, &[&name])
            .await
            .map_err(|e| session_error(&e))?
        else {
            return Ok(None);
        };
        let oid: u32 = row.try_get(0).map_err(|e| session_error(&e))?;
        let attributes = Attributes {
            superuser: row.try_get(1).map_err(|e| session_error(&e))?,
            inherit: row.try_get(2).map_err(|e| session_error(&e))?,
            create_role: row.try_get(3).map_err(|e| session_error(&e))?,
            create_db: row.try_get(4).map_err(|e| session_error(&e))?,
            login: row.try_get(5).map_err(|e| session_error(&e))?,
            replication: row.try_get(6).map_err(|e| session_error(&e))?,
            bypass_rls: row.try_get(7).map_err(|e| session_error(&e))?,
            connection_limit: row.try_get(8).map_err(|e| session_error(&e))?,
            valid_until: row.try_get(9).map_err(|e| session_error(&e))?,
        };
        let mut settings = Vec::new();
        for row in client
            .query(sql::ROLE_SETTINGS, &[&oid])
            .await
            .map_err(|e| session_error(&e))?
        {
            let database: Option<String> = row.try_get(0).map_err(|e| session_error(&e))?;
            let config: Vec<String> = row.try_get(1).map_err(|e| session_error(&e))?;
            settings.extend(config.iter().filter_map(|entry| {
                let (name, value) = entry.split_once('=')?;
                Some(Setting {
                    database: database.clone(),
                    name: name.to_owned(),
                    value: value.to_owned(),
                })
            }));
        }
        let mut memberships = Vec::new();
        for row in client
            .query(sql::ROLE_MEMBERSHIPS, &[&oid])
            .await
            .map_err(|e| session_error(&e))?
        {
            memberships.push(Membership {
                role: row.try_get(0).map_err(|e| session_error(&e))?,
                admin: row.try_get(1).map_err(|e| session_error(&e))?,
            });
        }
        let in_use: bool = client
            .query_one(sql::ROLE_IN_USE, &[&oid])
            .await
            .and_then(|row| row.try_get(0))
            .map_err(|e| session_error(&e))?;
        Ok(Some(RoleState {
            attributes,
            settings,
            memberships,
            in_use,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_differences_become_options() {
        let base = Attributes::of_new_login_role();
        assert!(base.changes_to(&base).is_empty());
        let target = Attributes {
            create_db: true,
            connection_limit: 5,
            valid_until: Some("2030-01-01 00:00:00+00".into()),
            ..base.clone()
        };
        assert_eq!(
            base.changes_to(&target),
            vec![
                RoleOption::CreateDb(true),
                RoleOption::ConnectionLimit(5),
                RoleOption::ValidUntil(Some("2030-01-01 00:00:00+00".into()))
            ]
        );
        assert_eq!(
            target.changes_to(&base),
            vec![
                RoleOption::CreateDb(false),
                RoleOption::ConnectionLimit(-1),
                RoleOption::ValidUntil(None)
            ]
        );
        let infinite = Attributes {
            valid_until: Some("infinity".into()),
            ..base.clone()
        };
        assert!(base.changes_to(&infinite).is_empty());
    }
}
