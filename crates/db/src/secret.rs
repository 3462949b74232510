//! The RDS secret JSON that AWS's console and templates use, as a typed view.
//!
//! `{"engine", "host", "port", "username", "password", "dbname", "ssl", "masterarn", ...}`:
//! the typed fields are read from a [`JsonSecret`], which keeps every other key (and the JSON
//! type of every known one) for the version that createSecret writes. The `engine` is checked
//! against the engine the rotator serves ([`EngineDescriptor`]), which also gives the default
//! port.

use rotation_core::secret::json_type;
use rotation_core::{JsonSecret, SecretError, SecretString, ValueSource};
use serde_json::Value;

use crate::engine::{self, EngineDescriptor};

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
    /// `port`, from a number or a numeric string; the engine's default when absent.
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
        engine: &EngineDescriptor,
        source: &ValueSource,
    ) -> Result<Self, SecretError> {
        let json = JsonSecret::parse(value, source)?;
        Self::from_json(json, engine, source)
    }

    /// Validates an already parsed JSON secret for `engine`.
    pub fn from_json(
        json: JsonSecret,
        engine: &EngineDescriptor,
        source: &ValueSource,
    ) -> Result<Self, SecretError> {
        engine::choose(std::slice::from_ref(engine), |e| e, &json, source)?;
        let text = |field: &'static str| json.required_string(field, source);
        let (host, username) = (text("host")?, text("username")?);
        let password = SecretString::new(text("password")?);
        Ok(RdsSecret {
            engine: text("engine")?,
            host,
            port: port(json.get("port"), engine.default_port(), source)?,
            username,
            password,
            dbname: dbname(json.get("dbname"), source)?,
            ssl: ssl_flag(json.get("ssl")),
            sslmode: optional_text(&json, "sslmode", source)?,
            masterarn: optional_text(&json, "masterarn", source)?,
            json,
        })
    }

    /// The JSON this secret was read from.
    pub fn json(&self) -> &JsonSecret {
        &self.json
    }

    /// The same secret with a new password: every other key and type is kept.
    pub fn with_password(&self, password: &SecretString) -> SecretString {
        self.json.with_strings(&[("password", password.expose())])
    }

    /// The same secret with a new username and password (multi-user).
    pub fn with_user_and_password(&self, username: &str, password: &SecretString) -> SecretString {
        self.json
            .with_strings(&[("username", username), ("password", password.expose())])
    }
}

/// `port`: a number or a numeric string, 1 to 65535; `default` when absent or null.
fn port(value: Option<&Value>, default: u16, source: &ValueSource) -> Result<u16, SecretError> {
    let invalid = |problem: String| source.invalid("port", problem);
    let nonzero = |port: &u16| *port != 0;
    match value {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(number)) => number
            .as_u64()
            .and_then(|port| u16::try_from(port).ok())
            .filter(nonzero)
            .ok_or_else(|| invalid(format!("must be 1 to 65535, not {number}"))),
        Some(Value::String(text)) => text
            .trim()
            .parse::<u16>()
            .ok()
            .filter(nonzero)
            .ok_or_else(|| invalid(format!("must be 1 to 65535, not {text:?}"))),
        Some(value) => Err(invalid(format!(
            "must be a number or a numeric string, not {}",
            json_type(value)
        ))),
    }
}

/// `dbname`: a string; absent, null and empty all mean the engine's default database.
fn dbname(value: Option<&Value>, source: &ValueSource) -> Result<Option<String>, SecretError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(name)) if !name.is_empty() => Ok(Some(name.clone())),
        Some(Value::String(_)) => Ok(None),
        Some(value) => Err(source.invalid(
            "dbname",
            format!("must be a string, not {}", json_type(value)),
        )),
    }
}

/// `ssl`, with AWS's reading: booleans, or their names in any case; anything else is
/// [`SslFlag::Unrecognised`].
fn ssl_flag(value: Option<&Value>) -> SslFlag {
    match value {
        None => SslFlag::Absent,
        Some(Value::Bool(true)) => SslFlag::True,
        Some(Value::Bool(false)) => SslFlag::False,
        Some(Value::String(text)) if text.eq_ignore_ascii_case("true") => SslFlag::True,
        Some(Value::String(text)) if text.eq_ignore_ascii_case("false") => SslFlag::False,
        Some(_) => SslFlag::Unrecognised,
    }
}

/// An optional string key: absent or null is `None`, any other type an error.
fn optional_text(
    json: &JsonSecret,
    field: &'static str,
    source: &ValueSource,
) -> Result<Option<String>, SecretError> {
    match json.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(value) => {
            Err(source.invalid(field, format!("must be a string, not {}", json_type(value))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine as the PostgreSQL crate declares it (this crate knows no engine).
    const ENGINE: EngineDescriptor =
        EngineDescriptor::new(&["postgres", "aurora-postgresql"], 5432, "");

    fn parse(text: &str) -> Result<RdsSecret, SecretError> {
        RdsSecret::parse(
            &SecretString::new(text),
            &ENGINE,
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
        assert!(matches!(error, SecretError::NotServed { .. }));
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
