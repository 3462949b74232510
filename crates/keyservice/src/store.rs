//! The keys: who is alive, and which key a bearer token is; and the user accounts, with their
//! passwords.
//!
//! Revoked keys are forgotten at once, so "alive" is simply "stored". The admin key lives apart
//! from the others: it is never listed and cannot be revoked through the API, only through
//! [`crate::KeyService::revoke_admin_key`].

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngExt;
use rand::distr::Alphanumeric;

use crate::{KeyInfo, MintedKey};

/// Random alphanumerics after the `sk_live_` prefix of a minted key.
const KEY_RANDOM_CHARS: usize = 40;
/// The id `whoami` gives for the admin key (and its name).
pub(crate) const ADMIN_ID: &str = "admin";

/// One alive, minted key.
struct StoredKey {
    id: String,
    name: String,
    key: String,
    created: u64,
}

impl StoredKey {
    fn info(&self) -> KeyInfo {
        KeyInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            created: self.created,
        }
    }
}

/// Who made a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    /// The admin key made at start.
    Admin,
    /// A minted key, by id and name.
    Key {
        /// Its id.
        id: String,
        /// Its name.
        name: String,
    },
}

/// Every alive key, oldest first, the admin key, and the users.
pub(crate) struct Store {
    admin_key: String,
    admin_alive: bool,
    keys: Vec<StoredKey>,
    /// Each user's name and current password.
    users: BTreeMap<String, String>,
}

impl Store {
    /// A store with a fresh admin key and no other key.
    pub(crate) fn new() -> Store {
        Store {
            admin_key: format!("sk_admin_{}", random_alphanumerics(KEY_RANDOM_CHARS)),
            admin_alive: true,
            keys: Vec::new(),
            users: BTreeMap::new(),
        }
    }

    /// The admin key (valid or not).
    pub(crate) fn admin_key(&self) -> &str {
        &self.admin_key
    }

    /// Makes the admin key invalid from now on.
    pub(crate) fn revoke_admin_key(&mut self) {
        self.admin_alive = false;
    }

    /// Mints a key named `name`, returning it and its creation time.
    pub(crate) fn mint(&mut self, name: &str) -> (MintedKey, u64) {
        let id = loop {
            let id = format!("key_{:016x}", rand::random::<u64>());
            if self.keys.iter().all(|key| key.id != id) {
                break id;
            }
        };
        let key = format!("sk_live_{}", random_alphanumerics(KEY_RANDOM_CHARS));
        let created = now();
        self.keys.push(StoredKey {
            id: id.clone(),
            name: name.to_owned(),
            key: key.clone(),
            created,
        });
        (
            MintedKey {
                id,
                name: name.to_owned(),
                key,
            },
            created,
        )
    }

    /// Who `key` belongs to, if it is alive.
    pub(crate) fn caller(&self, key: &str) -> Option<Caller> {
        if self.admin_alive && key == self.admin_key {
            return Some(Caller::Admin);
        }
        self.keys
            .iter()
            .find(|stored| stored.key == key)
            .map(|stored| Caller::Key {
                id: stored.id.clone(),
                name: stored.name.clone(),
            })
    }

    /// The alive key with this id (never the admin key).
    pub(crate) fn get(&self, id: &str) -> Option<KeyInfo> {
        self.keys
            .iter()
            .find(|key| key.id == id)
            .map(StoredKey::info)
    }

    /// Every alive minted key, oldest first.
    pub(crate) fn alive(&self) -> Vec<KeyInfo> {
        self.keys.iter().map(StoredKey::info).collect()
    }

    /// Revokes the key with this id; false if there is no such alive key.
    pub(crate) fn revoke(&mut self, id: &str) -> bool {
        let before = self.keys.len();
        self.keys.retain(|key| key.id != id);
        self.keys.len() != before
    }

    /// Adds a user with this password; false (and nothing changed) if the name is taken.
    pub(crate) fn add_user(&mut self, name: &str, password: &str) -> bool {
        if self.users.contains_key(name) {
            return false;
        }
        self.users.insert(name.to_owned(), password.to_owned());
        true
    }

    /// Whether `password` is the user's current password (false for an unknown user).
    pub(crate) fn is_user_password(&self, name: &str, password: &str) -> bool {
        self.users
            .get(name)
            .is_some_and(|stored| stored == password)
    }

    /// Replaces the user's password with `new` if `current` is still its password (checked
    /// and changed in one step); false, and nothing changed, otherwise.
    pub(crate) fn change_user_password(&mut self, name: &str, current: &str, new: &str) -> bool {
        match self.users.get_mut(name) {
            Some(stored) if stored == current => {
                new.clone_into(stored);
                true
            }
            _ => false,
        }
    }
}

fn random_alphanumerics(n: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_have_the_documented_shape() {
        let mut store = Store::new();
        let (minted, created) = store.mint("a");
        let hex = minted.id.strip_prefix("key_").unwrap();
        assert_eq!(hex.len(), 16);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
        let random = minted.key.strip_prefix("sk_live_").unwrap();
        assert_eq!(random.len(), 40);
        assert!(random.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(created > 1_600_000_000);
    }

    #[test]
    fn a_revoked_key_is_no_caller_and_the_admin_key_is_apart() {
        let mut store = Store::new();
        let (first, _) = store.mint("first");
        let (second, _) = store.mint("second");
        let admin = store.admin_key().to_owned();
        assert_eq!(store.caller(&admin), Some(Caller::Admin));
        assert_eq!(
            store
                .alive()
                .iter()
                .map(|k| k.id.as_str())
                .collect::<Vec<_>>(),
            [first.id.as_str(), second.id.as_str()]
        );
        assert!(store.revoke(&first.id));
        assert!(!store.revoke(&first.id));
        assert_eq!(store.caller(&first.key), None);
        assert!(store.caller(&second.key).is_some());
        assert!(!store.revoke(ADMIN_ID));
        store.revoke_admin_key();
        assert_eq!(store.caller(&admin), None);
    }

    #[test]
    fn a_user_name_is_taken_once_and_only_the_current_password_matches() {
        let mut store = Store::new();
        assert!(store.add_user("app", "first-password"));
        assert!(!store.add_user("app", "other-password"));
        assert!(store.is_user_password("app", "first-password"));
        assert!(!store.is_user_password("app", "other-password"));
        assert!(!store.is_user_password("nobody", "first-password"));
        assert!(!store.change_user_password("app", "wrong-password", "second-password"));
        assert!(store.is_user_password("app", "first-password"));
        assert!(store.change_user_password("app", "first-password", "second-password"));
        assert!(!store.is_user_password("app", "first-password"));
        assert!(store.is_user_password("app", "second-password"));
        assert!(!store.change_user_password("nobody", "first-password", "x-password"));
    }
}
