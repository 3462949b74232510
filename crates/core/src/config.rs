//! Environment variables, read once at start-up. A bad value is an error that names the variable.

use std::time::Duration;

/// A configuration mistake, found at start-up. The message names the variable and says what is
/// accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: String,
    /// What is wrong and what is accepted.
    pub problem: String,
}

impl ConfigError {
    /// An error about a variable.
    pub fn new(variable: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError {
            variable: variable.into(),
            problem: problem.into(),
        }
    }
}

/// Where variables are read from: the process environment, or a fixed list in tests.
pub trait Environment {
    /// The value of a variable, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Environment for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<const N: usize> Environment for [(&str, &str); N] {
    fn var(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    }
}

impl Environment for Vec<(String, String)> {
    fn var(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    }
}

/// A boolean variable. AWS's templates accept `true`, `1`, `y`, `yes` (any case) as true and
/// treat anything else as false; we accept the same true values and `false`, `0`, `n`, `no`
/// (and an empty value, for the default), and refuse anything else, so that a typo is not
/// silently read as false.
pub fn bool_var(env: &dyn Environment, name: &str, default: bool) -> Result<bool, ConfigError> {
    let Some(raw) = env.var(name) else {
        return Ok(default);
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "" => Ok(default),
        "true" | "1" | "y" | "yes" => Ok(true),
        "false" | "0" | "n" | "no" => Ok(false),
        _ => Err(ConfigError::new(
            name,
            format!("{raw:?} is not a boolean: use true or false"),
        )),
    }
}

/// A whole-number variable within `min..=max`.
pub fn number_var(
    env: &dyn Environment,
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(raw) = env.var(name) else {
        return Ok(default);
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(default);
    }
    let value: u64 = trimmed.parse().map_err(|_| {
        ConfigError::new(
            name,
            format!("{raw:?} is not a whole number (expected {min} to {max})"),
        )
    })?;
    if value < min || value > max {
        return Err(ConfigError::new(
            name,
            format!("{value} is out of range (expected {min} to {max})"),
        ));
    }
    Ok(value)
}

/// A duration in seconds (fractions allowed), within `min..=max` seconds.
pub fn seconds_var(
    env: &dyn Environment,
    name: &str,
    default: Duration,
    min: f64,
    max: f64,
) -> Result<Duration, ConfigError> {
    let Some(raw) = env.var(name) else {
        return Ok(default);
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(default);
    }
    match trimmed.parse::<f64>() {
        Ok(value) if value >= min && value <= max => Ok(Duration::from_secs_f64(value)),
        _ => Err(ConfigError::new(
            name,
            format!("{raw:?} is not a number of seconds from {min} to {max}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        for (raw, expected) in [
            ("true", true),
            ("YES", true),
            ("1", true),
            ("y", true),
            ("False", false),
            ("0", false),
            ("no", false),
            ("", true),
        ] {
            assert_eq!(
                bool_var(&[("B", raw)], "B", true).unwrap(),
                expected,
                "{raw}"
            );
        }
        assert!(bool_var(&[], "B", false).is_ok_and(|b| !b));
        let error = bool_var(&[("B", "ture")], "B", false).unwrap_err();
        assert_eq!(error.variable, "B");
    }

    #[test]
    fn numbers() {
        assert_eq!(number_var(&[("N", " 12 ")], "N", 3, 1, 20).unwrap(), 12);
        assert_eq!(number_var(&[], "N", 3, 1, 20).unwrap(), 3);
        for raw in ["0", "21", "abc", "-1", "1.5"] {
            let error = number_var(&[("N", raw)], "N", 3, 1, 20).unwrap_err();
            assert!(error.to_string().starts_with("N: "), "{error}");
        }
    }
}
