//! The secret of an API key: JSON (`apiKey`, `apiKeyId`, `profile`, `baseUrl`, `adminarn`,
//! every other key kept) or, as AWS's generic template stores it, the bare key.

use rotation_core::{JsonSecret, SecretError, SecretString, ValueSource};
use serde_json::Value;

use crate::management::Declared;
use crate::profile::Profile;

/// The key in a JSON secret.
pub const API_KEY: &str = "apiKey";
/// The key's id at the provider.
pub const API_KEY_ID: &str = "apiKeyId";
/// A built-in profile's name, or a whole profile.
pub const PROFILE: &str = "profile";
/// Overrides the profile's `baseUrl` (regional endpoints, a local service).
pub const BASE_URL: &str = "baseUrl";
/// The secret holding the credential that manages keys, when it is not the key itself.
pub const ADMIN_ARN: &str = "adminarn";

/// Where the profile comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ProfileRef {
    /// Not in the secret: `API_KEY_PROFILE` or `API_KEY_PROFILE_FILE` give it.
    FromEnvironment,
    /// A built-in profile.
    Named(String),
    /// A profile written into the secret.
    Inline(Box<Profile>),
}

/// An API-key secret value.
#[derive(Debug, Clone)]
pub enum KeySecret {
    /// A JSON object.
    Json {
        /// The whole object, written back with every other key.
        json: JsonSecret,
        /// `apiKey`.
        key: SecretString,
        /// `apiKeyId`, when present.
        id: Option<String>,
        /// `profile`.
        profile: ProfileRef,
        /// `baseUrl`.
        base_url: Option<String>,
        /// `adminarn`.
        admin_arn: Option<String>,
    },
    /// The bare key.
    Plain {
        /// The key.
        key: SecretString,
    },
}

impl KeySecret {
    /// Reads a value: a JSON object must have a string `apiKey`; anything that is not a JSON
    /// object is the bare key.
    pub fn parse(value: &SecretString, source: &ValueSource) -> Result<KeySecret, SecretError> {
        let is_object = serde_json::from_str::<Value>(value.expose())
            .map(|parsed| parsed.is_object())
            .unwrap_or(false);
        if !is_object {
            if value.expose().trim().is_empty() {
                return Err(SecretError::InvalidField {
                    arn: source.arn.clone(),
                    version: source.version.clone(),
                    field: API_KEY,
                    problem: "is empty: the secret holds no key".to_owned(),
                });
            }
            return Ok(KeySecret::Plain { key: value.clone() });
        }
        let json = JsonSecret::parse(value, source)?;
        let invalid = |field: &'static str, problem: &str| SecretError::InvalidField {
            arn: source.arn.clone(),
            version: source.version.clone(),
            field,
            problem: problem.to_owned(),
        };
        let key = match json.get(API_KEY) {
            Some(Value::String(key)) if !key.is_empty() => SecretString::new(key.clone()),
            None => {
                return Err(SecretError::MissingField {
                    arn: source.arn.clone(),
                    version: source.version.clone(),
                    field: API_KEY,
                });
            }
            Some(_) => return Err(invalid(API_KEY, "must be a non-empty string")),
        };
        let optional_string = |field: &'static str| match json.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if !text.trim().is_empty() => Ok(Some(text.clone())),
            Some(_) => Err(invalid(field, "must be a non-empty string")),
        };
        let id = optional_string(API_KEY_ID)?;
        let base_url = optional_string(BASE_URL)?;
        let admin_arn = optional_string(ADMIN_ARN)?;
        let profile = match json.get(PROFILE) {
            None | Some(Value::Null) => ProfileRef::FromEnvironment,
            Some(Value::String(name)) => ProfileRef::Named(name.clone()),
            Some(inline @ Value::Object(_)) => {
                ProfileRef::Inline(Box::new(serde_json::from_value(inline.clone()).map_err(
                    |error| invalid(PROFILE, &format!("is not a valid profile: {error}")),
                )?))
            }
            Some(_) => {
                return Err(invalid(
                    PROFILE,
                    "must be the name of a built-in profile or a profile object",
                ));
            }
        };
        Ok(KeySecret::Json {
            json,
            key,
            id,
            profile,
            base_url,
            admin_arn,
        })
    }

    /// The key.
    pub fn key(&self) -> &SecretString {
        match self {
            KeySecret::Json { key, .. } | KeySecret::Plain { key } => key,
        }
    }

    /// The key's id, when the secret stores it.
    pub fn id(&self) -> Option<&str> {
        match self {
            KeySecret::Json { id, .. } => id.as_deref(),
            KeySecret::Plain { .. } => None,
        }
    }

    /// What the secret says about the provider (a bare key says nothing).
    pub fn declared(&self) -> Declared<'_> {
        const NOTHING: &ProfileRef = &ProfileRef::FromEnvironment;
        match self {
            KeySecret::Json {
                profile, base_url, ..
            } => Declared {
                profile,
                base_url: base_url.as_deref(),
            },
            KeySecret::Plain { .. } => Declared {
                profile: NOTHING,
                base_url: None,
            },
        }
    }

    /// `adminarn`: the secret holding the credential that manages keys, if not the key itself.
    pub fn admin_arn(&self) -> Option<&str> {
        match self {
            KeySecret::Json { admin_arn, .. } => admin_arn.as_deref(),
            KeySecret::Plain { .. } => None,
        }
    }

    /// The same secret with a new key (and, for JSON, its id); every other key is kept.
    pub fn with_new_key(&self, key: &str, id: &str) -> SecretString {
        match self {
            KeySecret::Json { json, .. } => {
                let mut json = json.clone();
                json.set_string(API_KEY, key);
                json.set_string(API_KEY_ID, id);
                json.to_secret_string()
            }
            KeySecret::Plain { .. } => SecretString::new(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<KeySecret, SecretError> {
        KeySecret::parse(
            &SecretString::new(text),
            &ValueSource::new("arn", "AWSCURRENT"),
        )
    }

    #[test]
    fn json_and_plain_secrets() {
        let secret = parse(
            r#"{"apiKey":"sk_1","apiKeyId":"key_1","profile":"rotation-keyservice","team":"x"}"#,
        )
        .unwrap();
        assert_eq!(secret.key().expose(), "sk_1");
        assert_eq!(secret.id(), Some("key_1"));
        let next = secret.with_new_key("sk_2", "key_2");
        let next: Value = serde_json::from_str(next.expose()).unwrap();
        assert_eq!(next["apiKey"], "sk_2");
        assert_eq!(next["apiKeyId"], "key_2");
        assert_eq!(next["team"], "x");
        let plain = parse("sk_plain_123").unwrap();
        assert_eq!(plain.id(), None);
        assert_eq!(plain.with_new_key("sk_new", "key_9").expose(), "sk_new");
    }

    #[test]
    fn mistakes_name_the_key_and_never_the_value() {
        for (text, needle) in [
            (r#"{"apiKeyId":"k"}"#, "apiKey key is missing"),
            (r#"{"apiKey":7}"#, "apiKey key in secret JSON must be"),
            (
                r#"{"apiKey":"sk_secret","profile":5}"#,
                "profile key in secret JSON must be",
            ),
            (
                r#"{"apiKey":"sk_secret","profile":{"name":"x"}}"#,
                "profile key in secret JSON is not a valid profile",
            ),
            (
                r#"{"apiKey":"sk_secret","adminarn":""}"#,
                "adminarn key in secret JSON must be",
            ),
            ("  ", "apiKey key in secret JSON is empty"),
        ] {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.contains(needle), "{text}: {error}");
            assert!(!error.contains("sk_secret"), "{error}");
        }
    }
}
