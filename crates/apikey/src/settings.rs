//! The variables of `api-key`.

use rotation_core::config::{ConfigError, Environment, bool_var};
use rotation_core::master_arns::MasterSecretArns;

use crate::admin::FUNCTION_NAME_VARIABLE;

use crate::profile::{BUILTIN, Profile, builtin};

/// `API_KEY_PROFILE`: a built-in profile for secrets that name none.
pub const PROFILE_VARIABLE: &str = "API_KEY_PROFILE";
/// `API_KEY_PROFILE_FILE`: a profile file (JSON) for secrets that name none.
pub const PROFILE_FILE_VARIABLE: &str = "API_KEY_PROFILE_FILE";
/// `API_KEY_REVOKE_AT_ONCE`: revoke the replaced key at finishSecret rather than one rotation
/// later.
pub const REVOKE_AT_ONCE_VARIABLE: &str = "API_KEY_REVOKE_AT_ONCE";

/// `API_KEY_ALLOW_HTTP`: allow plain `http://` base URLs to hosts that are not loopback
/// addresses.
pub const ALLOW_HTTP_VARIABLE: &str = "API_KEY_ALLOW_HTTP";

/// The settings of the process.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeySettings {
    /// The profile for secrets that name none.
    pub profile: Option<Profile>,
    /// Revoke the replaced key at once (default: keep it until the next rotation).
    pub revoke_at_once: bool,
    /// Plain `http://` to any host (default: only to loopback addresses).
    pub allow_http: bool,
    /// The secrets `adminarn` may name (`MASTER_SECRET_ARNS`; default: any the function can
    /// read, but never one this function rotates).
    pub master_arns: Option<MasterSecretArns>,
    /// This function's name (`AWS_LAMBDA_FUNCTION_NAME`, set by Lambda), to refuse an admin
    /// secret this function rotates.
    pub function_name: Option<String>,
}

impl ApiKeySettings {
    /// Reads `API_KEY_PROFILE` or `API_KEY_PROFILE_FILE` (one of them, optional: secrets
    /// may name their own profile), `API_KEY_REVOKE_AT_ONCE` and `API_KEY_ALLOW_HTTP` (both
    /// default false), `MASTER_SECRET_ARNS` (optional) and `AWS_LAMBDA_FUNCTION_NAME`.
    pub fn from_env(env: &dyn Environment) -> Result<ApiKeySettings, ConfigError> {
        let named = env.var(PROFILE_VARIABLE).filter(|v| !v.trim().is_empty());
        let file = env
            .var(PROFILE_FILE_VARIABLE)
            .filter(|v| !v.trim().is_empty());
        let profile = match (named, file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    PROFILE_FILE_VARIABLE,
                    format!("set only one of {PROFILE_VARIABLE} and {PROFILE_FILE_VARIABLE}"),
                ));
            }
            (Some(name), None) => Some(builtin(name.trim()).ok_or_else(|| {
                ConfigError::new(
                    PROFILE_VARIABLE,
                    format!(
                        "{name:?} is not a built-in profile (built in: {}); use {PROFILE_FILE_VARIABLE} for your own",
                        BUILTIN.join(", ")
                    ),
                )
            })?),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path.trim()).map_err(|error| {
                    ConfigError::new(PROFILE_FILE_VARIABLE, format!("cannot read {path}: {error}"))
                })?;
                Some(serde_json::from_str(&text).map_err(|error| {
                    ConfigError::new(
                        PROFILE_FILE_VARIABLE,
                        format!("{path} is not a valid profile: {error}"),
                    )
                })?)
            }
            (None, None) => None,
        };
        Ok(ApiKeySettings {
            profile,
            revoke_at_once: bool_var(env, REVOKE_AT_ONCE_VARIABLE, false)?,
            allow_http: bool_var(env, ALLOW_HTTP_VARIABLE, false)?,
            master_arns: MasterSecretArns::from_env(env)?,
            function_name: env
                .var(FUNCTION_NAME_VARIABLE)
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<ApiKeySettings, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ApiKeySettings::from_env(&vars)
    }

    #[test]
    fn variables() {
        assert_eq!(from(&[]).unwrap().profile, None);
        assert!(
            from(&[("API_KEY_PROFILE", "rotation-keyservice")])
                .unwrap()
                .profile
                .is_some()
        );
        assert!(
            from(&[("API_KEY_REVOKE_AT_ONCE", "true")])
                .unwrap()
                .revoke_at_once
        );
        assert!(!from(&[]).unwrap().allow_http);
        assert!(from(&[("API_KEY_ALLOW_HTTP", "true")]).unwrap().allow_http);
        for (vars, variable) in [
            (vec![("API_KEY_PROFILE", "nope")], "API_KEY_PROFILE"),
            (
                vec![("API_KEY_PROFILE_FILE", "/nonexistent.json")],
                "API_KEY_PROFILE_FILE",
            ),
            (
                vec![
                    ("API_KEY_PROFILE", "rotation-keyservice"),
                    ("API_KEY_PROFILE_FILE", "/x"),
                ],
                "API_KEY_PROFILE_FILE",
            ),
            (
                vec![("API_KEY_REVOKE_AT_ONCE", "maybe")],
                "API_KEY_REVOKE_AT_ONCE",
            ),
            (vec![("API_KEY_ALLOW_HTTP", "maybe")], "API_KEY_ALLOW_HTTP"),
            (vec![("MASTER_SECRET_ARNS", "admin")], "MASTER_SECRET_ARNS"),
        ] {
            assert_eq!(from(&vars).unwrap_err().variable, variable);
        }
    }
}
