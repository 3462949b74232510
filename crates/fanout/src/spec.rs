//! The keys a fan-out secret adds to the RDS JSON: `replicas`, `replicaMode` and
//! `replicaSecretArns`, read from the `AWSCURRENT` value and checked with errors that name them.

use std::fmt;

use rotation_core::{JsonSecret, SecretError, SecretString, ValueSource};
use serde_json::Value;

/// One replica or host: where it listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// Host name or address.
    pub host: String,
    /// Port; the primary's when absent.
    pub port: Option<u16>,
}

impl fmt::Display for Replica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// How the password reaches the replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The primary replicates users to the replicas (RDS, Aurora, streaming or binlog
    /// replicas): change the primary only, then wait until every replica accepts it.
    Replicated,
    /// The hosts do not replicate users (separate instances sharing one credential): change
    /// each host, and set the changed ones back if any fails.
    Independent,
}

/// What a fan-out secret asks for beyond the RDS JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanoutSpec {
    /// The replicas (or, independent, the other hosts); may be empty.
    pub replicas: Vec<Replica>,
    /// How the password reaches them.
    pub mode: Mode,
    /// Secrets of replica endpoints that carry the same credentials, updated at finishSecret.
    pub linked: Vec<String>,
}

/// The key of the replica list.
pub const REPLICAS: &str = "replicas";
/// The key of the mode.
pub const REPLICA_MODE: &str = "replicaMode";
/// The key of the linked secrets.
pub const REPLICA_SECRET_ARNS: &str = "replicaSecretArns";

impl FanoutSpec {
    /// Reads the fan-out keys of a secret value; every key is optional.
    pub fn parse(value: &SecretString, source: &ValueSource) -> Result<FanoutSpec, SecretError> {
        let json = JsonSecret::parse(value, source)?;
        let invalid = |field: &'static str, problem: String| SecretError::InvalidField {
            arn: source.arn.clone(),
            version: source.version.clone(),
            field,
            problem,
        };
        let replicas = match json.get(REPLICAS) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(entries)) => entries
                .iter()
                .enumerate()
                .map(|(i, entry)| {
                    replica(entry)
                        .map_err(|problem| invalid(REPLICAS, format!("entry {i} {problem}")))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(invalid(
                    REPLICAS,
                    format!(
                        "must be a list of {{\"host\": ..., \"port\": ...}} objects, not {}",
                        rotation_core::secret::json_type(other)
                    ),
                ));
            }
        };
        let mode = match json.get(REPLICA_MODE) {
            None | Some(Value::Null) => Mode::Replicated,
            Some(Value::String(mode)) if mode == "replicated" => Mode::Replicated,
            Some(Value::String(mode)) if mode == "independent" => Mode::Independent,
            Some(_) => {
                return Err(invalid(
                    REPLICA_MODE,
                    "must be \"replicated\" (the default) or \"independent\"".to_owned(),
                ));
            }
        };
        let linked = match json.get(REPLICA_SECRET_ARNS) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(arns)) => arns
                .iter()
                .enumerate()
                .map(|(i, arn)| match arn {
                    Value::String(arn) if !arn.trim().is_empty() => Ok(arn.clone()),
                    _ => Err(invalid(
                        REPLICA_SECRET_ARNS,
                        format!("entry {i} must be a secret ARN or name"),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(invalid(
                    REPLICA_SECRET_ARNS,
                    "must be a list of secret ARNs".to_owned(),
                ));
            }
        };
        Ok(FanoutSpec {
            replicas,
            mode,
            linked,
        })
    }
}

fn replica(entry: &Value) -> Result<Replica, String> {
    let Value::Object(fields) = entry else {
        return Err("must be an object with a host".to_owned());
    };
    let host = match fields.get("host") {
        Some(Value::String(host)) if !host.trim().is_empty() => host.trim().to_owned(),
        _ => return Err("has no host".to_owned()),
    };
    let port = match fields.get("port") {
        None | Some(Value::Null) => None,
        Some(Value::Number(port)) => Some(
            port.as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
                .ok_or("has a port outside 1-65535")?,
        ),
        Some(Value::String(port)) => Some(
            port.trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or("has a port that is not a number from 1 to 65535")?,
        ),
        Some(_) => return Err("has a port that is not a number".to_owned()),
    };
    Ok(Replica { host, port })
}

/// The same secret value pointing at another host (and port, when given): what the rotators
/// of the earlier issues need to act on a replica as they act on the primary.
pub fn at_host(value: &SecretString, replica: &Replica) -> SecretString {
    let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(value.expose()) else {
        // Parsed before this is called; an unparsable value is passed on to fail there.
        return value.clone();
    };
    fields.insert("host".to_owned(), Value::String(replica.host.clone()));
    if let Some(port) = replica.port {
        fields.insert("port".to_owned(), Value::from(port));
    }
    SecretString::new(Value::Object(fields).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<FanoutSpec, SecretError> {
        FanoutSpec::parse(
            &SecretString::new(json),
            &ValueSource::new("arn", "AWSCURRENT"),
        )
    }

    #[test]
    fn every_key_is_optional() {
        assert_eq!(
            parse(r#"{"host":"db"}"#).unwrap(),
            FanoutSpec {
                replicas: vec![],
                mode: Mode::Replicated,
                linked: vec![]
            }
        );
    }

    #[test]
    fn replicas_ports_modes_and_linked_secrets_are_read() {
        let spec = parse(
            r#"{"replicas":[{"host":"r1"},{"host":"r2","port":5433},{"host":"r3","port":"6000"}],
                "replicaMode":"independent","replicaSecretArns":["arn:1"]}"#,
        )
        .unwrap();
        assert_eq!(spec.mode, Mode::Independent);
        assert_eq!(spec.linked, ["arn:1"]);
        assert_eq!(
            spec.replicas
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["r1", "r2:5433", "r3:6000"]
        );
    }

    #[test]
    fn mistakes_name_the_key_and_the_entry() {
        for (json, needle) in [
            (
                r#"{"replicas":"r1"}"#,
                "replicas key in secret JSON must be a list",
            ),
            (
                r#"{"replicas":[{"port":1}]}"#,
                "replicas key in secret JSON entry 0 has no host",
            ),
            (
                r#"{"replicas":[{"host":"a"},{"host":"b","port":70000}]}"#,
                "entry 1 has a port outside",
            ),
            (
                r#"{"replicas":[{"host":"a","port":"x"}]}"#,
                "entry 0 has a port that is not a number",
            ),
            (r#"{"replicas":["a"]}"#, "entry 0 must be an object"),
            (
                r#"{"replicaMode":"sometimes"}"#,
                "replicaMode key in secret JSON must be",
            ),
            (
                r#"{"replicaSecretArns":"arn"}"#,
                "replicaSecretArns key in secret JSON must be a list",
            ),
            (
                r#"{"replicaSecretArns":[""]}"#,
                "replicaSecretArns key in secret JSON entry 0",
            ),
        ] {
            let error = parse(json).unwrap_err().to_string();
            assert!(error.contains(needle), "{json}: {error}");
        }
    }

    #[test]
    fn at_host_changes_host_and_port_only() {
        let value = SecretString::new(
            r#"{"host":"p","port":"5432","username":"u","password":"pw","x":[1]}"#,
        );
        let moved = at_host(
            &value,
            &Replica {
                host: "r".into(),
                port: Some(6000),
            },
        );
        let moved: Value = serde_json::from_str(moved.expose()).unwrap();
        assert_eq!(moved["host"], "r");
        assert_eq!(moved["port"], 6000);
        assert_eq!(moved["password"], "pw");
        assert_eq!(moved["x"], serde_json::json!([1]));
        let kept = at_host(
            &value,
            &Replica {
                host: "r".into(),
                port: None,
            },
        );
        let kept: Value = serde_json::from_str(kept.expose()).unwrap();
        assert_eq!(kept["port"], "5432");
    }
}
