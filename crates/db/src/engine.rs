//! What a rotator knows about an engine before it opens a session, as data: the `engine`
//! values of a secret it serves, its default port, AWS's default excluded password characters,
//! and the log targets of its client library to quiet.
//!
//! An engine crate declares one [`EngineDescriptor`] as a `const` and names it in its
//! [`Database::ENGINE`](crate::Database::ENGINE); nothing outside the engine crate lists
//! engines. A secret's `engine` is matched against one descriptor (a rotator of one engine,
//! [`crate::RdsSecret`]) or several ([`choose`], for a rotator that serves a list of engines).

use rotation_core::secret::json_type;
use rotation_core::{JsonSecret, SecretError, ValueSource};
use serde_json::Value;

/// An engine as data. Built only by [`EngineDescriptor::new`], a `const fn` that refuses (at
/// compile time, in a `const`) an engine with no `engine` value, an empty one, or port 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineDescriptor {
    engines: &'static [&'static str],
    default_port: u16,
    default_excluded: &'static str,
    log_targets: &'static [&'static str],
}

impl EngineDescriptor {
    /// An engine that serves secrets whose `engine` is one of `engines` (AWS's values, such as
    /// `postgres` and `aurora-postgresql`), listens on `default_port` when a secret has no
    /// `port`, and excludes `default_excluded` from generated passwords when
    /// `EXCLUDE_CHARACTERS` is not set (AWS's default for the engine's template).
    ///
    /// # Panics
    ///
    /// When `engines` is empty, one of them is empty, or `default_port` is 0; in a `const`,
    /// that is a compile error.
    pub const fn new(
        engines: &'static [&'static str],
        default_port: u16,
        default_excluded: &'static str,
    ) -> Self {
        assert!(
            !engines.is_empty(),
            "an engine serves at least one `engine` value"
        );
        let mut i = 0;
        while i < engines.len() {
            assert!(!engines[i].is_empty(), "an `engine` value is not empty");
            i += 1;
        }
        assert!(default_port != 0, "a default port is 1 to 65535");
        EngineDescriptor {
            engines,
            default_port,
            default_excluded,
            log_targets: &[],
        }
    }

    /// The same engine, whose client library logs under `targets` (crate or module paths):
    /// they are capped at `info` whatever `RUST_LOG` asks
    /// ([`rotation_core::logging::quiet`]), since a client may print statements at `debug`.
    pub const fn quieting(self, targets: &'static [&'static str]) -> Self {
        EngineDescriptor {
            log_targets: targets,
            ..self
        }
    }

    /// The `engine` values this engine serves.
    pub const fn engines(&self) -> &'static [&'static str] {
        self.engines
    }

    /// Whether a secret's `engine` value is one of this engine's.
    pub fn serves(&self, engine: &str) -> bool {
        self.engines.contains(&engine)
    }

    /// The port when a secret has none.
    pub const fn default_port(&self) -> u16 {
        self.default_port
    }

    /// AWS's default `EXCLUDE_CHARACTERS` for this engine.
    pub const fn default_excluded(&self) -> &'static str {
        self.default_excluded
    }

    /// The log targets of the engine's client library.
    pub const fn log_targets(&self) -> &'static [&'static str] {
        self.log_targets
    }
}

/// The engine among `engines` that serves a secret's `engine` key (the first, when several
/// do), or AWS's error naming every accepted value in order.
pub fn choose<'a, T>(
    engines: &'a [T],
    descriptor: impl Fn(&T) -> &EngineDescriptor,
    json: &JsonSecret,
    source: &ValueSource,
) -> Result<&'a T, SecretError> {
    let found = json.get("engine");
    if let Some(Value::String(engine)) = found
        && let Some(chosen) = engines.iter().find(|e| descriptor(e).serves(engine))
    {
        return Ok(chosen);
    }
    let expected: Vec<String> = engines
        .iter()
        .flat_map(|e| descriptor(e).engines())
        .map(|engine| format!("'{engine}'"))
        .collect();
    Err(source.not_served(
        format!(
            "Database engine must be set to {} in order to use this rotation lambda",
            expected.join(" or ")
        ),
        match found {
            None => "no engine key".to_owned(),
            Some(Value::String(engine)) => format!("engine '{engine}'"),
            Some(value) => format!("an engine that is {}", json_type(value)),
        },
    ))
}

#[cfg(test)]
mod tests {
    use rotation_core::SecretString;

    use super::*;

    const FIRST: EngineDescriptor = EngineDescriptor::new(&["one", "one-cloud"], 1000, "/");
    const SECOND: EngineDescriptor = EngineDescriptor::new(&["two"], 2000, "@").quieting(&["c"]);

    fn choose_for(text: &str) -> Result<u16, String> {
        let source = ValueSource::new("arn:s", "AWSCURRENT");
        let json = JsonSecret::parse(&SecretString::new(text), &source).unwrap();
        choose(&[FIRST, SECOND], |e| e, &json, &source)
            .map(EngineDescriptor::default_port)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn the_engine_key_picks_the_engine_that_lists_it() {
        assert_eq!(choose_for(r#"{"engine":"one-cloud"}"#), Ok(1000));
        assert_eq!(choose_for(r#"{"engine":"two"}"#), Ok(2000));
        assert_eq!(SECOND.log_targets(), ["c"]);
        assert_eq!(FIRST.log_targets(), [] as [&str; 0]);
    }

    #[test]
    fn no_engine_names_every_accepted_value_in_awss_words() {
        let cases = [
            (r#"{"engine":"three"}"#, "has engine 'three'"),
            (r#"{"engine":"ONE"}"#, "has engine 'ONE'"),
            (r#"{"host":"h"}"#, "has no engine key"),
            (r#"{"engine":7}"#, "has an engine that is a number"),
        ];
        for (text, found) in cases {
            let error = choose_for(text).unwrap_err();
            assert_eq!(
                error,
                format!(
                    "Database engine must be set to 'one' or 'one-cloud' or 'two' in order to \
                     use this rotation lambda (AWSCURRENT value of secret arn:s {found})"
                ),
                "{text}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "a default port is 1 to 65535")]
    fn port_zero_is_refused() {
        let _ = EngineDescriptor::new(&["x"], 0, "");
    }

    #[test]
    #[should_panic(expected = "at least one")]
    fn an_engine_with_no_name_is_refused() {
        let _ = EngineDescriptor::new(&[], 1, "");
    }
}
