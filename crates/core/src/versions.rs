//! Secret values by version, kept for the life of the process.
//!
//! A version's value never changes once written (Secrets Manager refuses a second
//! `PutSecretValue` with the same `ClientRequestToken` and another value), so a value read or
//! written once can be used again by the later steps of the same rotation in a warm process:
//! setSecret and testSecret then read nothing. Which version holds which label still comes from
//! `DescribeSecret` at every step, so validation sees the labels as they are.
//!
//! The cache is small (a rotation uses three versions at most) and every value is a
//! [`SecretString`], overwritten when it is evicted or the process ends.

use crate::recent::Recent;
use crate::secret::SecretString;

/// How many values the process keeps: the current, pending and previous versions of two
/// secrets, with room to spare.
const CAPACITY: usize = 8;

/// One version's value, as `GetSecretValue` returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretVersion {
    /// The version's id (`VersionId`).
    pub version_id: String,
    /// The version's `SecretString`.
    pub value: SecretString,
}

/// Values by secret ARN and version id, the most recently used last.
#[derive(Debug)]
pub(crate) struct VersionCache(Recent<SecretString>);

impl Default for VersionCache {
    fn default() -> Self {
        VersionCache(Recent::new(CAPACITY))
    }
}

impl VersionCache {
    /// The value of a version, if this process read or wrote it.
    pub(crate) fn get(&self, arn: &str, version_id: &str) -> Option<SecretString> {
        self.0.get(arn, version_id)
    }

    /// Whether any version of the secret is kept.
    pub(crate) fn knows(&self, arn: &str) -> bool {
        self.0.knows(arn)
    }

    /// Keeps a version's value, dropping the least recently used one when full. A value
    /// without a version id is not kept.
    pub(crate) fn put(&self, arn: &str, version_id: &str, value: &SecretString) {
        if !version_id.is_empty() {
            self.0.put(arn, version_id, value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::new(text)
    }

    #[test]
    fn values_are_kept_by_secret_and_version() {
        let cache = VersionCache::default();
        cache.put("arn:a", "v1", &secret("one"));
        cache.put("arn:b", "v1", &secret("other secret"));
        assert_eq!(cache.get("arn:a", "v1"), Some(secret("one")));
        assert_eq!(cache.get("arn:b", "v1"), Some(secret("other secret")));
        assert_eq!(cache.get("arn:a", "v2"), None);
        assert!(cache.knows("arn:a") && !cache.knows("arn:c"));
        // The same version again replaces, never duplicates.
        cache.put("arn:a", "v1", &secret("one"));
        assert_eq!(cache.0.len(), 2);
    }

    #[test]
    fn the_least_recently_used_value_goes_first() {
        let cache = VersionCache::default();
        for n in 0..CAPACITY {
            cache.put("arn:a", &format!("v{n}"), &secret("x"));
        }
        // v0 used again: v1 is now the oldest.
        assert!(cache.get("arn:a", "v0").is_some());
        cache.put("arn:a", "new", &secret("x"));
        assert_eq!(cache.0.len(), CAPACITY);
        assert!(cache.get("arn:a", "v0").is_some());
        assert!(cache.get("arn:a", "v1").is_none());
        assert!(cache.get("arn:a", "new").is_some());
    }
}
