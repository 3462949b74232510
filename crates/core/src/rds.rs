//! The RDS secret JSON that AWS's console and templates use, as a typed view.
//!
//! `{"engine", "host", "port", "username", "password", "dbname", "ssl", "masterarn", ...}`:
//! the typed fields are read from a [`JsonSecret`], which keeps every other key (and the JSON
//! type of every known one) for the version that createSecret writes.

use serde_json::Value;

use crate::secret::{JsonSecret, SecretError, SecretString, ValueSource, json_type};

/// The database families a rotator serves, with the `engine` values each accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineFamily {
    /// `postgres`, `aurora-postgresql`.
    Postgres,
    /// `mysql`, `aurora-mysql`, `mariadb`.
    MySql,
}

impl EngineFamily {
    /// The accepted `engine` values.
    pub fn engines(self) -> &'static [&'static str] {
        match self {
            EngineFamily::Postgres => &["postgres", "aurora-postgresql"],
            EngineFamily::MySql => &["mysql", "aurora-mysql", "mariadb"],
        }
    }

    /// The default port.
    pub fn default_port(self) -> u16 {
        match self {
            EngineFamily::Postgres => 5432,
            EngineFamily::MySql => 3306,
        }
    }
}

/// The `ssl` key, with AWS's meaning (templates §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslFlag {
    /// No `ssl` key: try verified TLS, fall back to plaintext.
    Absent,
    /// `true` or `"true"` (any case): verified TLS, no fallback.
    True,
    /// `false` or `"false"` (any case): plaintext.
    False,
    /// Any other value: AWS treats it as absent.
    Unrecognised,
}

/// A database secret: the typed fields, and the JSON they came from.
#[derive(Debug, Clone)]
pub struct RdsSecret {
    json: JsonSecret,
    /// `engine`.
    pub engine: String,
    /// `host`.
    pub host: String,
    /// `port`, from a number or a numeric string; the family's default when absent.
    pub port: u16,
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: SecretString,
    /// `dbname`, when present and not null.
    pub dbname: Option<String>,
    /// `ssl`.
    pub ssl: SslFlag,
    /// `sslmode` (our extension, libpq names), unvalidated here: the TLS layer parses it.
    pub sslmode: Option<String>,
    /// `masterarn` (multi-user).
    pub masterarn: Option<String>,
}

impl RdsSecret {
    /// Parses and validates a secret value in AWS's order: the engine first, then `host`,
    /// `username`, `password`.
    pub fn parse(
        value: &SecretString,
        family: EngineFamily,
        source: &ValueSource,
    ) -> Result<Self, SecretError> {
        let json = JsonSecret::parse(value, source)?;
        Self::from_json(json, family, source)
    }

    /// Validates an already parsed JSON secret.
    pub fn from_json(
        json: JsonSecret,
        family: EngineFamily,
        source: &ValueSource,
    ) -> Result<Self, SecretError> {
        let invalid = |field: &'static str, problem: String| source.invalid(field, problem);
        let engine = match json.get("engine") {
            Some(Value::String(engine)) if family.engines().contains(&engine.as_str()) => {
                engine.clone()
            }
            other => {
                return Err(SecretError::WrongEngine {
                    arn: source.arn.clone(),
                    version: source.version.clone(),
                    expected: family
                        .engines()
                        .iter()
                        .map(|e| format!("'{e}'"))
                        .collect::<Vec<_>>()
                        .join(" or "),
                    found: match other {
                        None => "no engine key".to_owned(),
                        Some(Value::String(engine)) => format!("engine '{engine}'"),
                        Some(value) => format!("an engine that is {}", json_type(value)),
                    },
                });
            }
        };
        let text = |field: &'static str| json.required_string(field, source);
        let host = text("host")?;
        let username = text("username")?;
        let password = SecretString::new(text("password")?);
        let port = match json.get("port") {
            None | Some(Value::Null) => family.default_port(),
            Some(Value::Number(number)) => number
                .as_u64()
                .and_then(|port| u16::try_from(port).ok())
                .filter(|port| *port != 0)
                .ok_or_else(|| invalid("port", format!("must be 1 to 65535, not {number}")))?,
            Some(Value::String(text)) => text
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|port| *port != 0)
                .ok_or_else(|| invalid("port", format!("must be 1 to 65535, not {text:?}")))?,
            Some(value) => {
                return Err(invalid(
                    "port",
                    format!(
                        "must be a number or a numeric string, not {}",
                        json_type(value)
                    ),
                ));
            }
        };
        let dbname = match json.get("dbname") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) if !name.is_empty() => Some(name.clone()),
            Some(Value::String(_)) => None,
            Some(value) => {
                return Err(invalid(
                    "dbname",
                    format!("must be a string, not {}", json_type(value)),
                ));
            }
        };
        let ssl = match json.get("ssl") {
            None => SslFlag::Absent,
            Some(Value::Bool(true)) => SslFlag::True,
            Some(Value::Bool(false)) => SslFlag::False,
            Some(Value::String(text)) if text.eq_ignore_ascii_case("true") => SslFlag::True,
            Some(Value::String(text)) if text.eq_ignore_ascii_case("false") => SslFlag::False,
            Some(_) => SslFlag::Unrecognised,
        };
        let optional_text = |field: &'static str| -> Result<Option<String>, SecretError> {
            match json.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) => Ok(Some(text.clone())),
                Some(value) => Err(invalid(
                    field,
                    format!("must be a string, not {}", json_type(value)),
                )),
            }
        };
        let sslmode = optional_text("sslmode")?;
        let masterarn = optional_text("masterarn")?;
        Ok(RdsSecret {
            json,
            engine,
            host,
            port,
            username,
            password,
            dbname,
            ssl,
            sslmode,
            masterarn,
        })
    }

    /// The JSON this secret was read from.
    pub fn json(&self) -> &JsonSecret {
        &self.json
    }

    /// The same secret with a new password: every other key and type is kept.
    pub fn with_password(&self, password: &SecretString) -> SecretString {
        let mut json = self.json.clone();
        json.set_string("password", password.expose());
        json.to_secret_string()
    }

    /// The same secret with a new username and password (multi-user).
    pub fn with_user_and_password(&self, username: &str, password: &SecretString) -> SecretString {
        let mut json = self.json.clone();
        json.set_string("username", username);
        json.set_string("password", password.expose());
        json.to_secret_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RdsSecret, SecretError> {
        RdsSecret::parse(
            &SecretString::new(text),
            EngineFamily::Postgres,
            &ValueSource::new("arn:s", "AWSCURRENT"),
        )
    }

    #[test]
    fn reads_every_field() {
        let secret = parse(r#"{"engine":"aurora-postgresql","host":"h","port":"6543","username":"u","password":"p","dbname":"d","ssl":"TRUE","sslmode":"verify-ca","masterarn":"arn:m","extra":[1]}"#).unwrap();
        assert_eq!(secret.engine, "aurora-postgresql");
        assert_eq!((secret.host.as_str(), secret.port), ("h", 6543));
        assert_eq!(secret.username, "u");
        assert_eq!(secret.password.expose(), "p");
        assert_eq!(secret.dbname.as_deref(), Some("d"));
        assert_eq!(secret.ssl, SslFlag::True);
        assert_eq!(secret.sslmode.as_deref(), Some("verify-ca"));
        assert_eq!(secret.masterarn.as_deref(), Some("arn:m"));
    }

    #[test]
    fn defaults() {
        let secret =
            parse(r#"{"engine":"postgres","host":"h","username":"u","password":"p"}"#).unwrap();
        assert_eq!(secret.port, 5432);
        assert_eq!(secret.dbname, None);
        assert_eq!(secret.ssl, SslFlag::Absent);
    }

    #[test]
    fn ssl_values_follow_aws() {
        for (value, expected) in [
            ("true", SslFlag::True),
            ("false", SslFlag::False),
            ("\"True\"", SslFlag::True),
            ("\"FALSE\"", SslFlag::False),
            ("\"yes\"", SslFlag::Unrecognised),
            ("1", SslFlag::Unrecognised),
            ("null", SslFlag::Unrecognised),
        ] {
            let secret = parse(&format!(
                r#"{{"engine":"postgres","host":"h","username":"u","password":"p","ssl":{value}}}"#
            ))
            .unwrap();
            assert_eq!(secret.ssl, expected, "{value}");
        }
    }

    #[test]
    fn engine_is_checked_first_with_awss_message() {
        let error = parse(r#"{"engine":"mysql"}"#).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("Database engine must be set to 'postgres' or 'aurora-postgresql'"),
            "{error}"
        );
        let error = parse(r#"{"host":"h"}"#).unwrap_err();
        assert!(matches!(error, SecretError::WrongEngine { .. }));
    }

    #[test]
    fn missing_fields_are_named_in_awss_order() {
        let cases = [
            (r#"{"engine":"postgres"}"#, "host"),
            (r#"{"engine":"postgres","host":"h"}"#, "username"),
            (
                r#"{"engine":"postgres","host":"h","username":"u"}"#,
                "password",
            ),
            (
                r#"{"engine":"postgres","host":null,"username":"u","password":"p"}"#,
                "host",
            ),
        ];
        for (text, field) in cases {
            let error = parse(text).unwrap_err();
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("{field} key is missing from secret JSON")),
                "{error}"
            );
        }
    }

    #[test]
    fn bad_ports_are_refused() {
        for port in ["0", "70000", "\"abc\"", "-1", "1.5", "true", "[]"] {
            let error = parse(&format!(
                r#"{{"engine":"postgres","host":"h","username":"u","password":"p","port":{port}}}"#
            ))
            .unwrap_err();
            assert!(error.to_string().starts_with("port key"), "{port}: {error}");
        }
    }

    #[test]
    fn with_password_keeps_everything_else() {
        let text = r#"{"engine":"postgres","port":"5432","host":"h","username":"u","password":"old","x":{"y":null}}"#;
        let secret = parse(text).unwrap();
        let new = secret.with_password(&SecretString::new("new"));
        assert_eq!(
            new.expose(),
            r#"{"engine":"postgres","port":"5432","host":"h","username":"u","password":"new","x":{"y":null}}"#
        );
    }

    #[test]
    fn errors_do_not_contain_the_password() {
        let error =
            parse(r#"{"engine":"postgres","host":"h","username":"u","password":42}"#).unwrap_err();
        assert!(!error.to_string().contains("42"));
    }
}
