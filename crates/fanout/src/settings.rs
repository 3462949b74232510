//! The variables of `replica-fanout` beyond those of the database rotators.

use std::time::Duration;

use rotation_core::config::{ConfigError, Environment, number_var, seconds_var};

/// `ROTATION_STRATEGY`: which of the database rotators does the work.
pub const STRATEGY_VARIABLE: &str = "ROTATION_STRATEGY";
/// `REPLICA_WAIT_SECONDS`: the longest setSecret waits for replicas to catch up.
pub const WAIT_VARIABLE: &str = "REPLICA_WAIT_SECONDS";
/// `REPLICA_CONCURRENCY`: how many hosts independent mode changes at once.
pub const CONCURRENCY_VARIABLE: &str = "REPLICA_CONCURRENCY";

/// Which rotation strategy applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategyChoice {
    /// Multi-user when the secret has a `masterarn`, single-user otherwise (the default).
    FromSecret,
    /// The user changes its own password (`postgres-single-user`, `mysql-single-user`).
    SingleUser,
    /// `user` and `user_clone` alternate through the master secret (`*-multi-user`).
    MultiUser,
}

/// The fan-out settings of the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanoutSettings {
    /// The strategy.
    pub strategy: StrategyChoice,
    /// The longest setSecret waits for replicas; `None` waits as long as the Lambda deadline
    /// allows.
    pub wait: Option<Duration>,
    /// How many hosts independent mode changes at once.
    pub concurrency: usize,
}

impl FanoutSettings {
    /// Reads `ROTATION_STRATEGY` (`single-user` or `multi-user`; unset: from the secret),
    /// `REPLICA_WAIT_SECONDS` (0 to 900; unset: until shortly before the Lambda deadline) and
    /// `REPLICA_CONCURRENCY` (1 to 64, default 4).
    pub fn from_env(env: &dyn Environment) -> Result<FanoutSettings, ConfigError> {
        let strategy = match env.var(STRATEGY_VARIABLE).as_deref().map(str::trim) {
            None | Some("") => StrategyChoice::FromSecret,
            Some("single-user") => StrategyChoice::SingleUser,
            Some("multi-user") => StrategyChoice::MultiUser,
            Some(other) => {
                return Err(ConfigError::new(
                    STRATEGY_VARIABLE,
                    format!(
                        "{other:?} is not a strategy: use single-user or multi-user, or leave it \
                         unset to use multi-user exactly when the secret has a masterarn"
                    ),
                ));
            }
        };
        let wait = match env.var(WAIT_VARIABLE) {
            Some(raw) if !raw.trim().is_empty() => {
                Some(seconds_var(env, WAIT_VARIABLE, Duration::ZERO, 0.0, 900.0)?)
            }
            _ => None,
        };
        let concurrency = number_var(env, CONCURRENCY_VARIABLE, 4, 1, 64)? as usize;
        Ok(FanoutSettings {
            strategy,
            wait,
            concurrency,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<FanoutSettings, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        FanoutSettings::from_env(&vars)
    }

    #[test]
    fn defaults() {
        assert_eq!(
            from(&[]).unwrap(),
            FanoutSettings {
                strategy: StrategyChoice::FromSecret,
                wait: None,
                concurrency: 4
            }
        );
    }

    #[test]
    fn values_are_read_and_mistakes_name_the_variable() {
        let settings = from(&[
            ("ROTATION_STRATEGY", "multi-user"),
            ("REPLICA_WAIT_SECONDS", "2.5"),
            ("REPLICA_CONCURRENCY", "8"),
        ])
        .unwrap();
        assert_eq!(settings.strategy, StrategyChoice::MultiUser);
        assert_eq!(settings.wait, Some(Duration::from_millis(2500)));
        assert_eq!(settings.concurrency, 8);
        for (variable, value) in [
            ("ROTATION_STRATEGY", "both"),
            ("REPLICA_WAIT_SECONDS", "soon"),
            ("REPLICA_WAIT_SECONDS", "1000"),
            ("REPLICA_CONCURRENCY", "0"),
        ] {
            let error = from(&[(variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable);
        }
    }
}
