//! Secret values: a string that cannot be logged, and JSON secrets that keep every key.

use std::collections::HashMap;
use std::fmt;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A secret value (a password, a whole `SecretString`, an API key).
///
/// Its `Debug` form is redacted and it has no `Display`, so it cannot reach a log line or an
/// error message by accident; [`SecretString::expose`] is the one way to read it. The memory is
/// overwritten when the value is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }

    /// The secret itself. Every call site is a place where a secret leaves its box: keep them few.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in bytes (safe to log).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        // Overwrite the buffer before it goes back to the allocator (`into_bytes` keeps it).
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

/// Why a secret value could not be read. Never contains the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The value is not JSON.
    #[error("the {version} value of secret {arn} is not valid JSON ({reason})")]
    NotJson {
        /// The secret.
        arn: String,
        /// Which version (stage or token).
        version: String,
        /// Where parsing failed (category, line and column only: never the text).
        reason: String,
    },
    /// The value is JSON but not an object.
    #[error("the {version} value of secret {arn} is JSON but not an object (found {found})")]
    NotAnObject {
        /// The secret.
        arn: String,
        /// Which version.
        version: String,
        /// The JSON type found.
        found: &'static str,
    },
    /// A required key is absent (AWS's message: `<field> key is missing from secret JSON`).
    #[error("{field} key is missing from secret JSON ({version} value of secret {arn})")]
    MissingField {
        /// The secret.
        arn: String,
        /// Which version.
        version: String,
        /// The key.
        field: &'static str,
    },
    /// A key has a value of the wrong type or form.
    #[error("{field} key in secret JSON {problem} ({version} value of secret {arn})")]
    InvalidField {
        /// The secret.
        arn: String,
        /// Which version.
        version: String,
        /// The key.
        field: &'static str,
        /// What is wrong (never the value of a secret field).
        problem: String,
    },
    /// The value is for a target this rotator does not serve (a database secret whose `engine`
    /// names another engine): `requirement` is the rotator's sentence for what it needs.
    #[error("{requirement} ({version} value of secret {arn} has {found})")]
    NotServed {
        /// The secret.
        arn: String,
        /// Which version.
        version: String,
        /// What the rotator needs, as a sentence (AWS's wording, for the database rotators).
        requirement: String,
        /// What the value has instead (never the value of a secret field).
        found: String,
    },
}

/// Where a secret value came from, for error messages: the secret and the version's label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueSource {
    /// The secret's ARN.
    pub arn: String,
    /// `AWSCURRENT`, `AWSPENDING`, `AWSPREVIOUS` or a version id.
    pub version: String,
}

impl ValueSource {
    /// A source.
    pub fn new(arn: impl Into<String>, version: impl Into<String>) -> Self {
        ValueSource {
            arn: arn.into(),
            version: version.into(),
        }
    }

    /// [`SecretError::InvalidField`] for `field` of this value: `problem` says what is wrong
    /// with it ("must be 1 to 65535, not 0"), without quoting a secret.
    pub fn invalid(&self, field: &'static str, problem: impl Into<String>) -> SecretError {
        SecretError::InvalidField {
            arn: self.arn.clone(),
            version: self.version.clone(),
            field,
            problem: problem.into(),
        }
    }

    /// [`SecretError::NotServed`] for this value: the rotator needs `requirement`, the value
    /// has `found`.
    pub fn not_served(
        &self,
        requirement: impl Into<String>,
        found: impl Into<String>,
    ) -> SecretError {
        SecretError::NotServed {
            arn: self.arn.clone(),
            version: self.version.clone(),
            requirement: requirement.into(),
            found: found.into(),
        }
    }
}

/// A JSON object secret that keeps every key, in order, with its JSON type.
///
/// Rotators change one or two keys (`password`, `username`) and write everything else back as it
/// was, so a `port` stored as a string stays a string and unknown keys survive. "As it was" is
/// the text: a number outside the 64-bit range (`123456789012345678901234567890`), a float's
/// own digits (`1.50`, `1e2`) and a string's escapes come back exactly, not as the value
/// serde_json would print.
#[derive(Clone)]
pub struct JsonSecret {
    /// Every key, parsed.
    values: Map<String, Value>,
    /// The text of the keys whose parsed value prints differently, while they are unchanged
    /// (few: a list is enough).
    verbatim: Vec<(String, Box<RawValue>)>,
}

impl PartialEq for JsonSecret {
    fn eq(&self, other: &Self) -> bool {
        self.values == other.values
            && self.verbatim.len() == other.verbatim.len()
            && self.verbatim.iter().all(|(key, raw)| {
                other
                    .verbatim_text(key)
                    .is_some_and(|theirs| theirs == raw.get())
            })
    }
}

impl fmt::Debug for JsonSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonSecret")
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl JsonSecret {
    /// Parses a `SecretString`. Errors say where and why parsing failed, never what the text is.
    pub fn parse(value: &SecretString, source: &ValueSource) -> Result<Self, SecretError> {
        let parsed: Value = serde_json::from_str(value.expose()).map_err(|error| {
            let category = match error.classify() {
                serde_json::error::Category::Eof => "unexpected end of input",
                serde_json::error::Category::Syntax => "syntax error",
                serde_json::error::Category::Data => "invalid data",
                serde_json::error::Category::Io => "read error",
            };
            SecretError::NotJson {
                arn: source.arn.clone(),
                version: source.version.clone(),
                reason: format!(
                    "{category} at line {} column {}",
                    error.line(),
                    error.column()
                ),
            }
        })?;
        match parsed {
            Value::Object(values) => Ok(JsonSecret {
                verbatim: verbatim_texts(value.expose(), &values),
                values,
            }),
            other => Err(SecretError::NotAnObject {
                arn: source.arn.clone(),
                version: source.version.clone(),
                found: json_type(&other),
            }),
        }
    }

    /// The raw value of a key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// A required, non-empty string key. A missing (or null), empty or non-string key is an
    /// error that names the key and the version, never a value.
    pub fn required_string(
        &self,
        field: &'static str,
        source: &ValueSource,
    ) -> Result<String, SecretError> {
        match self.get(field) {
            None | Some(Value::Null) => Err(SecretError::MissingField {
                arn: source.arn.clone(),
                version: source.version.clone(),
                field,
            }),
            Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
            Some(Value::String(_)) => Err(source.invalid(field, "is empty")),
            Some(other) => {
                Err(source.invalid(field, format!("must be a string, not {}", json_type(other))))
            }
        }
    }

    /// Sets a key to a string, keeping its position when it exists.
    pub fn set_string(&mut self, key: &str, value: &str) {
        self.verbatim.retain(|(kept, _)| kept != key);
        self.values
            .insert(key.to_owned(), Value::String(value.to_owned()));
    }

    /// The same secret with these keys set to strings (`("password", new)`, and for
    /// multi-user rotation `("username", alternate)`), every other key written back as it
    /// came: what a rotator stores as the new version.
    pub fn with_strings(&self, changes: &[(&str, &str)]) -> SecretString {
        let mut json = self.clone();
        for (key, value) in changes {
            json.set_string(key, value);
        }
        json.to_secret_string()
    }

    /// The keys, in order (safe to log).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// Serialises back to a `SecretString`.
    pub fn to_secret_string(&self) -> SecretString {
        let mut text = String::from("{");
        for (index, (key, value)) in self.values.iter().enumerate() {
            if index > 0 {
                text.push(',');
            }
            text.push_str(&Value::String(key.clone()).to_string());
            text.push(':');
            match self.verbatim_text(key) {
                Some(raw) => text.push_str(raw),
                None => text.push_str(&value.to_string()),
            }
        }
        text.push('}');
        SecretString::new(text)
    }

    fn verbatim_text(&self, key: &str) -> Option<&str> {
        self.verbatim
            .iter()
            .find(|(kept, _)| kept == key)
            .map(|(_, raw)| raw.get())
    }
}

fn printed(value: &Value) -> String {
    value.to_string()
}

/// The text of each top-level number or string of `text` that serde_json would print
/// otherwise (big numbers, a float's digits, escapes), so it can be written back as it came.
/// Values that print the same (passwords, as a rule) are not kept twice.
///
/// Only numbers and strings: the text of an object or array is never kept, because with
/// serde_json's `raw_value` feature an object whose key is its private raw-value marker parses
/// as the value inside it (`{"$serde_json::private::RawValue":"\"admin\""}` is the string
/// `admin`), and keeping that text would write back something other readers see as an object
/// where the rotator used a string. Objects and arrays are written as parsed.
fn verbatim_texts(text: &str, values: &Map<String, Value>) -> Vec<(String, Box<RawValue>)> {
    let Ok(raw) = serde_json::from_str::<HashMap<String, Box<RawValue>>>(text) else {
        return Vec::new();
    };
    raw.into_iter()
        .filter(|(key, raw)| {
            let scalar = raw
                .get()
                .starts_with(|first: char| first == '"' || first == '-' || first.is_ascii_digit());
            // Printed, not compared as a Value (`Value == str` compares a JSON string).
            scalar
                && values.get(key).is_some_and(|value| {
                    matches!(value, Value::Number(_) | Value::String(_))
                        && printed(value) != raw.get()
                })
        })
        .collect()
}

/// The JSON type name of a value, for messages.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> ValueSource {
        ValueSource::new("arn:s", "AWSCURRENT")
    }

    #[test]
    fn untouched_values_are_written_back_as_they_came() {
        let text = r#"{"big":123456789012345678901234567890,"ratio":1.50,"exp":1e2,"neg":-0.0,"accent":"\u00e9t\u00e9","team":{"tags":[1,2]},"password":"old","port":5432}"#;
        let mut json = JsonSecret::parse(&SecretString::new(text), &source()).unwrap();
        // Unchanged, the text is the same byte for byte.
        assert_eq!(json.to_secret_string().expose(), text);
        json.set_string("password", "new");
        json.set_string("big", "now a string");
        assert_eq!(
            json.to_secret_string().expose(),
            text.replace(r#""password":"old""#, r#""password":"new""#)
                .replace("123456789012345678901234567890", r#""now a string""#)
        );
        // A value that is an object is written as parsed: its text may hide another value
        // (serde_json's raw-value marker), which must not reach other readers.
        let marker =
            r#"{"username":{"$serde_json::private::RawValue":"\"admin\""},"n":{"m":1.50}}"#;
        let hidden = JsonSecret::parse(&SecretString::new(marker), &source()).unwrap();
        assert_eq!(hidden.get("username"), Some(&Value::String("admin".into())));
        assert_eq!(
            hidden.to_secret_string().expose(),
            r#"{"username":"admin","n":{"m":1.5}}"#
        );
        // A key that prints the same is not kept twice.
        assert!(json.verbatim_text("password").is_none() && json.verbatim_text("port").is_none());
        assert_eq!(json.verbatim_text("ratio"), Some("1.50"));
    }

    #[test]
    fn required_strings_name_the_key_and_never_the_value() {
        let value = SecretString::new(
            r#"{"host":"db","empty":"","port":5432,"nothing":null,"password":"s3cret-Value"}"#,
        );
        let json = JsonSecret::parse(&value, &source()).unwrap();
        assert_eq!(json.required_string("host", &source()).unwrap(), "db");
        for (field, expected) in [
            ("missing", "missing"),
            ("nothing", "missing"),
            ("empty", "is empty"),
            ("port", "must be a string, not a number"),
        ] {
            let error = json
                .required_string(field, &source())
                .unwrap_err()
                .to_string();
            assert!(error.contains(field), "{error}");
            assert!(
                error.contains(expected) && error.contains("AWSCURRENT"),
                "{error}"
            );
            assert!(!error.contains("s3cret-Value"), "{error}");
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = SecretString::new("hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
        let json =
            JsonSecret::parse(&SecretString::new(r#"{"password":"hunter2"}"#), &source()).unwrap();
        assert!(!format!("{json:?}").contains("hunter2"));
    }

    #[test]
    fn parse_errors_never_show_the_secret() {
        for text in [
            "hunter2",
            r#""hunter2""#,
            r#"{"password": "hunter2""#,
            r#"{"password": hunter2}"#,
            "[\"hunter2\"]",
        ] {
            let error = JsonSecret::parse(&SecretString::new(text), &source()).unwrap_err();
            let message = error.to_string();
            assert!(!message.contains("hunter2"), "{message}");
            assert!(message.contains("arn:s"), "{message}");
        }
    }

    #[test]
    fn keeps_keys_order_and_types() {
        let text = r#"{"zeta":1,"port":"5432","password":"a","nested":{"x":[1,2]},"ssl":true}"#;
        let mut json = JsonSecret::parse(&SecretString::new(text), &source()).unwrap();
        json.set_string("password", "b");
        assert_eq!(
            json.to_secret_string().expose(),
            r#"{"zeta":1,"port":"5432","password":"b","nested":{"x":[1,2]},"ssl":true}"#
        );
    }
}
