//! The secret JSON: `{"host", "port", "username", "password", "masterarn"}`, every other key
//! kept as it is (a [`JsonSecret`]), so that createSecret writes back what it read with only
//! the password (and, for a pair, the user name) changed.

use rotation_core::secret::json_type;
use rotation_core::{JsonSecret, SecretError, SecretString, ValueSource};
use serde_json::Value;

use crate::session::Endpoint;

/// Redis's default port, when the secret has no `port`.
pub const DEFAULT_PORT: u16 = 6379;

/// A Redis ACL user's secret.
#[derive(Debug, Clone)]
pub struct RedisSecret {
    json: JsonSecret,
    /// `host`.
    pub host: String,
    /// `port`, from a number or a numeric string; 6379 when absent.
    pub port: u16,
    /// `username`: the ACL user.
    pub username: String,
    /// `password`.
    pub password: SecretString,
    /// `masterarn`: the secret of the user that sets passwords in multi-user rotation.
    pub masterarn: Option<String>,
}

impl RedisSecret {
    /// Parses and validates a secret value: `host`, `username` and `password` are required
    /// non-empty strings; `tls` or `ssl` set to true is refused, since this rotator speaks
    /// plain TCP only and must not send a password in the clear to a server meant for TLS.
    pub fn parse(value: &SecretString, source: &ValueSource) -> Result<RedisSecret, SecretError> {
        let json = JsonSecret::parse(value, source)?;
        let fields = Fields {
            json: &json,
            source,
        };
        for field in ["tls", "ssl"] {
            if matches!(json.get(field), Some(Value::Bool(true)))
                || matches!(json.get(field), Some(Value::String(text)) if text.eq_ignore_ascii_case("true"))
            {
                return Err(fields.invalid(
                    field,
                    "asks for TLS, which this rotator does not speak: it connects over plain \
                     TCP; rotate TLS-only servers another way, or remove the key if the server \
                     accepts plain connections"
                        .to_owned(),
                ));
            }
        }
        let host = fields.text("host")?;
        let username = fields.text("username")?;
        let password = SecretString::new(fields.text("password")?);
        let port = fields.port()?;
        let masterarn = match json.get("masterarn") {
            None | Some(Value::Null) => None,
            Some(Value::String(arn)) if !arn.is_empty() => Some(arn.clone()),
            Some(Value::String(_)) => return Err(fields.invalid("masterarn", "is empty".into())),
            Some(other) => {
                return Err(fields.invalid(
                    "masterarn",
                    format!("must be a string, not {}", json_type(other)),
                ));
            }
        };
        Ok(RedisSecret {
            json,
            host,
            port,
            username,
            password,
            masterarn,
        })
    }

    /// Where this secret's user logs in.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            host: self.host.clone(),
            port: self.port,
        }
    }

    /// The same secret with a new password: every other key and type is kept.
    pub fn with_password(&self, password: &SecretString) -> SecretString {
        self.json.with_strings(&[("password", password.expose())])
    }

    /// The same secret with a new user name and password (multi-user).
    pub fn with_user_and_password(&self, username: &str, password: &SecretString) -> SecretString {
        self.json
            .with_strings(&[("username", username), ("password", password.expose())])
    }
}

/// The master secret that `masterarn` names: `username` and `password`, and `host` and `port`
/// (the server it is used on, which must be the child's; without `host`, only a server the
/// operator lists in `MASTER_HOSTS`).
#[derive(Debug, Clone)]
pub struct MasterSecret {
    /// `username`: a user allowed to run `ACL GETUSER` and `ACL SETUSER`.
    pub username: String,
    /// `password`.
    pub password: SecretString,
    /// `host`, when the secret has one.
    pub host: Option<String>,
    /// `port`, when the secret has one.
    pub port: Option<u16>,
}

impl MasterSecret {
    /// Parses a master secret value.
    pub fn parse(value: &SecretString, source: &ValueSource) -> Result<MasterSecret, SecretError> {
        let json = JsonSecret::parse(value, source)?;
        let fields = Fields {
            json: &json,
            source,
        };
        Ok(MasterSecret {
            username: fields.text("username")?,
            password: SecretString::new(fields.text("password")?),
            host: match json.get("host") {
                None | Some(Value::Null) => None,
                Some(_) => Some(fields.text("host")?),
            },
            port: match json.get("port") {
                None | Some(Value::Null) => None,
                Some(_) => Some(fields.port()?),
            },
        })
    }
}

/// Reading typed fields of one secret value, with errors that name the field and the version
/// (never a value).
struct Fields<'a> {
    json: &'a JsonSecret,
    source: &'a ValueSource,
}

impl Fields<'_> {
    fn invalid(&self, field: &'static str, problem: String) -> SecretError {
        self.source.invalid(field, problem)
    }

    fn text(&self, field: &'static str) -> Result<String, SecretError> {
        self.json.required_string(field, self.source)
    }

    fn port(&self) -> Result<u16, SecretError> {
        let out_of_range =
            |shown: String| self.invalid("port", format!("must be 1 to 65535, not {shown}"));
        match self.json.get("port") {
            None | Some(Value::Null) => Ok(DEFAULT_PORT),
            Some(Value::Number(number)) => number
                .as_u64()
                .and_then(|port| u16::try_from(port).ok())
                .filter(|port| *port != 0)
                .ok_or_else(|| out_of_range(number.to_string())),
            Some(Value::String(text)) => text
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|port| *port != 0)
                .ok_or_else(|| out_of_range(format!("{text:?}"))),
            Some(value) => Err(self.invalid(
                "port",
                format!(
                    "must be a number or a numeric string, not {}",
                    json_type(value)
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> ValueSource {
        ValueSource::new("arn:s", "AWSCURRENT")
    }

    fn parse(text: &str) -> Result<RedisSecret, SecretError> {
        RedisSecret::parse(&SecretString::new(text), &source())
    }

    #[test]
    fn reads_the_fields_and_keeps_the_rest() {
        let secret = parse(
            r#"{"host":"cache","port":"6380","username":"app","password":"hunter22","note":[1]}"#,
        )
        .unwrap();
        assert_eq!((secret.host.as_str(), secret.port), ("cache", 6380));
        assert_eq!(secret.username, "app");
        assert_eq!(secret.masterarn, None);
        let rotated = secret.with_user_and_password("app_clone", &SecretString::new("new"));
        assert_eq!(
            rotated.expose(),
            r#"{"host":"cache","port":"6380","username":"app_clone","password":"new","note":[1]}"#
        );
    }

    #[test]
    fn the_port_defaults_and_masterarn_is_read() {
        let secret =
            parse(r#"{"host":"h","username":"u","password":"p","masterarn":"arn:m"}"#).unwrap();
        assert_eq!(secret.port, DEFAULT_PORT);
        assert_eq!(secret.masterarn.as_deref(), Some("arn:m"));
    }

    #[test]
    fn errors_name_the_field_and_never_the_password() {
        for (text, field) in [
            (r#"{"username":"u","password":"hunter22"}"#, "host"),
            (r#"{"host":"h","password":"hunter22"}"#, "username"),
            (r#"{"host":"h","username":"u","password":""}"#, "password"),
            (
                r#"{"host":"h","username":"u","password":"hunter22","port":70000}"#,
                "port",
            ),
            (
                r#"{"host":"h","username":"u","password":"hunter22","tls":true}"#,
                "tls",
            ),
            (
                r#"{"host":"h","username":"u","password":"hunter22","masterarn":7}"#,
                "masterarn",
            ),
        ] {
            let message = parse(text).unwrap_err().to_string();
            assert!(message.starts_with(field), "{message}");
            assert!(!message.contains("hunter22"), "{message}");
        }
    }

    #[test]
    fn a_master_needs_only_a_user_and_password() {
        let master = MasterSecret::parse(
            &SecretString::new(r#"{"username":"admin","password":"m"}"#),
            &source(),
        )
        .unwrap();
        assert_eq!(master.username, "admin");
        assert_eq!((master.host, master.port), (None, None));
    }
}
