//! The secret values an application reads: the RDS JSON of a database user, and an API key.
//!
//! Parsed by hand from a `serde_json::Value`, so that an error names the field that is wrong
//! and never quotes its text (serde's own messages quote the offending value).

use rotation_core::SecretString;
use serde_json::Value;

use crate::error::ClientError;

/// One version of a secret, parsed: its version id (which never changes value, so it names the
/// credentials) and the value.
#[derive(Debug)]
pub struct Versioned<T> {
    /// The Secrets Manager version id.
    pub version_id: String,
    /// The parsed value.
    pub value: T,
    /// When the version was created, when Secrets Manager says: a version that worked is not
    /// given up for an older one that a cache still calls current.
    pub created: Option<std::time::SystemTime>,
}

/// A value type a secret's text parses into.
pub trait SecretValue: Sized + Send + Sync + 'static {
    /// Parses the text of a version of `secret_id`; the error names the field, never the text.
    fn parse(text: &SecretString, secret_id: &str) -> Result<Self, ClientError>;
}

/// A database user's credentials: the RDS JSON that AWS's console and templates write
/// (`engine`, `host`, `port`, `username`, `password`, `dbname`, `ssl`); other keys are ignored.
#[derive(Clone, Debug)]
pub struct DatabaseSecret {
    /// `engine`, e.g. `postgres` or `mariadb` (empty when absent).
    pub engine: String,
    /// `host`.
    pub host: String,
    /// `port` (a number or a string of digits); `None` when absent: the driver's default.
    pub port: Option<u16>,
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: SecretString,
    /// `dbname`, when present.
    pub dbname: Option<String>,
    /// `ssl` (`true`/`false` or `"true"`/`"false"`), when present: `Some(true)` asks for TLS,
    /// `Some(false)` for plaintext; `None` leaves the application's own setting.
    pub ssl: Option<bool>,
}

impl SecretValue for DatabaseSecret {
    fn parse(text: &SecretString, secret_id: &str) -> Result<Self, ClientError> {
        let value = json_object(text, secret_id)?;
        let field = |name: &'static str| value.get(name).filter(|v| !v.is_null());
        let string = |name: &'static str| -> Result<String, ClientError> {
            match field(name) {
                Some(Value::String(text)) => Ok(text.clone()),
                _ => Err(invalid(secret_id, name, "a string is required")),
            }
        };
        let port = match field("port") {
            None => None,
            Some(Value::Number(n)) => Some(
                n.as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .ok_or_else(|| invalid(secret_id, "port", "not a port number"))?,
            ),
            Some(Value::String(s)) => Some(
                s.parse()
                    .map_err(|_| invalid(secret_id, "port", "not a port number"))?,
            ),
            Some(_) => return Err(invalid(secret_id, "port", "not a port number")),
        };
        let ssl = match field("ssl") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
            Some(_) => return Err(invalid(secret_id, "ssl", "true or false is required")),
        };
        let dbname = match field("dbname") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(invalid(secret_id, "dbname", "a string is required")),
        };
        Ok(DatabaseSecret {
            engine: field("engine")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            host: string("host")?,
            port,
            username: string("username")?,
            password: SecretString::new(string("password")?),
            dbname,
            ssl,
        })
    }
}

/// An API key: the JSON the `api-key` rotator writes (`apiKey`, and `baseUrl` when present),
/// or a bare key as the whole secret.
#[derive(Clone, Debug)]
pub struct ApiKeySecret {
    /// The key, sent as `Authorization: Bearer <key>`.
    pub key: SecretString,
    /// `baseUrl`, when the secret says where the key is used.
    pub base_url: Option<String>,
}

impl SecretValue for ApiKeySecret {
    fn parse(text: &SecretString, secret_id: &str) -> Result<Self, ClientError> {
        let trimmed = text.expose().trim_start();
        if !trimmed.starts_with('{') {
            if trimmed.is_empty() {
                return Err(invalid(secret_id, "apiKey", "the secret is empty"));
            }
            return Ok(ApiKeySecret {
                key: SecretString::new(text.expose().trim()),
                base_url: None,
            });
        }
        let value = json_object(text, secret_id)?;
        let key = match value.get("apiKey") {
            Some(Value::String(key)) if !key.is_empty() => SecretString::new(key.as_str()),
            _ => {
                return Err(invalid(
                    secret_id,
                    "apiKey",
                    "a non-empty string is required",
                ));
            }
        };
        Ok(ApiKeySecret {
            key,
            base_url: value
                .get("baseUrl")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

fn json_object(
    text: &SecretString,
    secret_id: &str,
) -> Result<serde_json::Map<String, Value>, ClientError> {
    match serde_json::from_str::<Value>(text.expose()) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ClientError::NotJson {
            secret_id: secret_id.to_owned(),
            reason: "not a JSON object".to_owned(),
        }),
        // Line and column only: serde's message could quote the text.
        Err(error) => Err(ClientError::NotJson {
            secret_id: secret_id.to_owned(),
            reason: format!("line {}, column {}", error.line(), error.column()),
        }),
    }
}

fn invalid(secret_id: &str, field: &'static str, problem: &'static str) -> ClientError {
    ClientError::InvalidField {
        secret_id: secret_id.to_owned(),
        field,
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(text: &str) -> Result<DatabaseSecret, ClientError> {
        DatabaseSecret::parse(&SecretString::new(text), "app")
    }

    #[test]
    fn an_rds_secret_parses_with_every_form_aws_writes() {
        let secret = db(
            r#"{"engine":"postgres","host":"h","port":"5432","username":"u",
            "password":"p","dbname":"d","ssl":"true","extra":1}"#,
        )
        .unwrap();
        assert_eq!(
            (secret.port, secret.ssl, secret.dbname.as_deref()),
            (Some(5432), Some(true), Some("d"))
        );
        assert_eq!(secret.password.expose(), "p");
        let bare = db(r#"{"host":"h","username":"u","password":"p"}"#).unwrap();
        assert_eq!((bare.port, bare.ssl, bare.dbname), (None, None, None));
    }

    #[test]
    fn a_bad_secret_names_the_field_and_never_the_text() {
        for (text, field) in [
            (r#"{"host":"h","username":"u"}"#, "password"),
            (
                r#"{"host":"h","username":"u","password":"p","port":"sekrit"}"#,
                "port",
            ),
            (
                r#"{"host":"h","username":"u","password":"p","ssl":"sekrit"}"#,
                "ssl",
            ),
        ] {
            let message = db(text).unwrap_err().to_string();
            assert!(message.contains(field), "{message}");
            assert!(!message.contains("sekrit"), "{message}");
        }
        let message = db(r#"{"password": "sekrit"#).unwrap_err().to_string();
        assert!(!message.contains("sekrit"), "{message}");
    }

    #[test]
    fn an_api_key_is_json_or_bare() {
        let json = ApiKeySecret::parse(
            &SecretString::new(r#"{"apiKey":"k1","baseUrl":"http://x"}"#),
            "a",
        )
        .unwrap();
        assert_eq!(
            (json.key.expose(), json.base_url.as_deref()),
            ("k1", Some("http://x"))
        );
        let bare = ApiKeySecret::parse(&SecretString::new(" k2\n"), "a").unwrap();
        assert_eq!(bare.key.expose(), "k2");
        assert!(ApiKeySecret::parse(&SecretString::new(r#"{"apiKey":""}"#), "a").is_err());
    }
}
