//! Password generation with the same variables and defaults as AWS's templates, done locally
//! with a CSPRNG instead of a `GetRandomPassword` call (one network round trip less, and no
//! dependency on the emulator's password generator).

use rand::RngExt;
use rand::seq::SliceRandom;

use crate::config::{ConfigError, Environment, bool_var, number_var};
use crate::secret::SecretString;

const LOWERCASE: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPERCASE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const NUMBERS: &str = "0123456789";
/// The 32 ASCII punctuation characters, as `GetRandomPassword` uses them.
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// The longest password `GetRandomPassword` generates.
pub const MAX_LENGTH: u64 = 4096;

/// How passwords are generated: `EXCLUDE_CHARACTERS`, `PASSWORD_LENGTH`, `EXCLUDE_NUMBERS`,
/// `EXCLUDE_PUNCTUATION`, `EXCLUDE_UPPERCASE`, `EXCLUDE_LOWERCASE`, `REQUIRE_EACH_INCLUDED_TYPE`.
///
/// Built only through [`PasswordPolicy::from_env`] or [`PasswordPolicy::new`], which refuse
/// combinations that cannot produce a password, so [`PasswordPolicy::generate`] cannot fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    length: usize,
    /// The allowed characters of each included type (types with none left are dropped).
    classes: Vec<Vec<char>>,
    require_each: bool,
}

/// The settings behind a policy, as the variables give them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordSettings {
    /// `PASSWORD_LENGTH` (default 32).
    pub length: u64,
    /// `EXCLUDE_CHARACTERS`.
    pub exclude_characters: String,
    /// `EXCLUDE_NUMBERS`.
    pub exclude_numbers: bool,
    /// `EXCLUDE_PUNCTUATION`.
    pub exclude_punctuation: bool,
    /// `EXCLUDE_UPPERCASE`.
    pub exclude_uppercase: bool,
    /// `EXCLUDE_LOWERCASE`.
    pub exclude_lowercase: bool,
    /// `REQUIRE_EACH_INCLUDED_TYPE` (default true).
    pub require_each_included_type: bool,
}

impl PasswordSettings {
    /// AWS's defaults, with the given default excluded characters.
    pub fn defaults(exclude_characters: &str) -> Self {
        PasswordSettings {
            length: 32,
            exclude_characters: exclude_characters.to_owned(),
            exclude_numbers: false,
            exclude_punctuation: false,
            exclude_uppercase: false,
            exclude_lowercase: false,
            require_each_included_type: true,
        }
    }
}

impl PasswordPolicy {
    /// Reads the policy from the environment, with `default_excluded` (the target's default,
    /// such as a database engine's) when `EXCLUDE_CHARACTERS` is not set.
    pub fn from_env(env: &dyn Environment, default_excluded: &str) -> Result<Self, ConfigError> {
        let settings = PasswordSettings {
            length: number_var(env, "PASSWORD_LENGTH", 32, 1, MAX_LENGTH)?,
            exclude_characters: env
                .var("EXCLUDE_CHARACTERS")
                .unwrap_or_else(|| default_excluded.to_owned()),
            exclude_numbers: bool_var(env, "EXCLUDE_NUMBERS", false)?,
            exclude_punctuation: bool_var(env, "EXCLUDE_PUNCTUATION", false)?,
            exclude_uppercase: bool_var(env, "EXCLUDE_UPPERCASE", false)?,
            exclude_lowercase: bool_var(env, "EXCLUDE_LOWERCASE", false)?,
            require_each_included_type: bool_var(env, "REQUIRE_EACH_INCLUDED_TYPE", true)?,
        };
        Self::new(&settings)
    }

    /// Builds a policy, refusing settings that cannot produce a password.
    pub fn new(settings: &PasswordSettings) -> Result<Self, ConfigError> {
        if settings.length == 0 || settings.length > MAX_LENGTH {
            return Err(ConfigError::new(
                "PASSWORD_LENGTH",
                format!(
                    "{} is out of range (expected 1 to {MAX_LENGTH})",
                    settings.length
                ),
            ));
        }
        let types = [
            (LOWERCASE, settings.exclude_lowercase),
            (UPPERCASE, settings.exclude_uppercase),
            (NUMBERS, settings.exclude_numbers),
            (PUNCTUATION, settings.exclude_punctuation),
        ];
        let classes: Vec<Vec<char>> = types
            .iter()
            .filter(|(_, excluded)| !excluded)
            .map(|(chars, _)| {
                chars
                    .chars()
                    .filter(|c| !settings.exclude_characters.contains(*c))
                    .collect::<Vec<char>>()
            })
            .filter(|class| !class.is_empty())
            .collect();
        if classes.is_empty() {
            return Err(ConfigError::new(
                "EXCLUDE_CHARACTERS",
                "together with EXCLUDE_LOWERCASE, EXCLUDE_UPPERCASE, EXCLUDE_NUMBERS and \
                 EXCLUDE_PUNCTUATION it excludes every character: no password can be generated",
            ));
        }
        let length = usize::try_from(settings.length).unwrap_or(usize::MAX);
        if settings.require_each_included_type && length < classes.len() {
            return Err(ConfigError::new(
                "PASSWORD_LENGTH",
                format!(
                    "{length} is shorter than the {} character types that \
                     REQUIRE_EACH_INCLUDED_TYPE asks for",
                    classes.len()
                ),
            ));
        }
        Ok(PasswordPolicy {
            length,
            classes,
            require_each: settings.require_each_included_type,
        })
    }

    /// The password length.
    pub fn length(&self) -> usize {
        self.length
    }

    /// Generates a password from the operating system's CSPRNG (through `rand`'s thread RNG,
    /// a ChaCha generator seeded and reseeded from the OS).
    pub fn generate(&self) -> SecretString {
        let mut rng = rand::rng();
        let all: Vec<char> = self.classes.iter().flatten().copied().collect();
        let mut chars: Vec<char> = Vec::with_capacity(self.length);
        if self.require_each {
            for class in &self.classes {
                chars.push(class[rng.random_range(0..class.len())]);
            }
        }
        while chars.len() < self.length {
            chars.push(all[rng.random_range(0..all.len())]);
        }
        chars.shuffle(&mut rng);
        SecretString::new(chars.into_iter().collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A default exclusion set, as a target would give it.
    const EXCLUDED: &str = ":/@\"'\\";

    fn policy(env: &[(&str, &str)]) -> Result<PasswordPolicy, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        PasswordPolicy::from_env(&env, EXCLUDED)
    }

    #[test]
    fn defaults_match_aws() {
        let policy = policy(&[]).unwrap();
        for _ in 0..200 {
            let password = policy.generate();
            let text = password.expose();
            assert_eq!(text.chars().count(), 32);
            assert!(!text.chars().any(|c| EXCLUDED.contains(c)), "{text}");
            assert!(text.chars().any(|c| c.is_ascii_lowercase()));
            assert!(text.chars().any(|c| c.is_ascii_uppercase()));
            assert!(text.chars().any(|c| c.is_ascii_digit()));
            assert!(text.chars().any(|c| c.is_ascii_punctuation()));
            assert!(!text.contains(' '));
        }
    }

    #[test]
    fn every_variable_is_honoured() {
        let only_z = policy(&[
            ("PASSWORD_LENGTH", "7"),
            ("EXCLUDE_NUMBERS", "true"),
            ("EXCLUDE_PUNCTUATION", "yes"),
            ("EXCLUDE_UPPERCASE", "1"),
            ("EXCLUDE_CHARACTERS", "abcdefghijklmnopqrstuvwxy"),
        ])
        .unwrap();
        assert_eq!(only_z.generate().expose(), "zzzzzzz");

        let upper = policy(&[("EXCLUDE_LOWERCASE", "true"), ("PASSWORD_LENGTH", "64")]).unwrap();
        let password = upper.generate();
        assert!(!password.expose().chars().any(|c| c.is_ascii_lowercase()));
        assert_eq!(password.len(), 64);
    }

    #[test]
    fn require_each_type_can_be_turned_off() {
        let short = policy(&[
            ("PASSWORD_LENGTH", "1"),
            ("REQUIRE_EACH_INCLUDED_TYPE", "false"),
        ])
        .unwrap();
        assert_eq!(short.generate().len(), 1);
    }

    #[test]
    fn impossible_settings_are_refused_naming_the_variable() {
        let cases: [(&[(&str, &str)], &str); 7] = [
            (&[("PASSWORD_LENGTH", "0")], "PASSWORD_LENGTH"),
            (&[("PASSWORD_LENGTH", "4097")], "PASSWORD_LENGTH"),
            (&[("PASSWORD_LENGTH", "thirty")], "PASSWORD_LENGTH"),
            (&[("PASSWORD_LENGTH", "3")], "PASSWORD_LENGTH"),
            (&[("EXCLUDE_NUMBERS", "maybe")], "EXCLUDE_NUMBERS"),
            (
                &[
                    ("EXCLUDE_LOWERCASE", "true"),
                    ("EXCLUDE_UPPERCASE", "true"),
                    ("EXCLUDE_NUMBERS", "true"),
                    ("EXCLUDE_PUNCTUATION", "true"),
                ],
                "EXCLUDE_CHARACTERS",
            ),
            (
                &[(
                    "EXCLUDE_CHARACTERS",
                    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
                )],
                "EXCLUDE_CHARACTERS",
            ),
        ];
        for (env, variable) in cases {
            let error = policy(env).unwrap_err();
            assert_eq!(error.variable, variable, "{env:?}: {error}");
        }
    }

    #[test]
    fn max_length_is_allowed() {
        assert_eq!(
            policy(&[("PASSWORD_LENGTH", "4096")])
                .unwrap()
                .generate()
                .len(),
            4096
        );
    }
}
