//! Whether a linked secret (`replicaSecretArns`) lets this rotation write it.
//!
//! The list of linked secrets comes from the rotated secret itself, which its owner edits, and
//! the function's role may write every secret it rotates. Without a check, the owner of one
//! secret could list another team's secret and have the rotator overwrite it. So the linked
//! secret must consent: its own `AWSCURRENT` value names the rotated secret in
//! [`PRIMARY_SECRET_ARN`], which only whoever may write the linked secret can put there, and
//! the user it holds (if any) is the one this rotation changes.

use rotation_core::JsonSecret;
use serde_json::Value;
use thiserror::Error;

/// The key of a linked secret that names the secret whose rotation may write it.
pub const PRIMARY_SECRET_ARN: &str = "primarySecretArn";

/// Why a linked secret may not be written by this rotation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    /// The linked secret names no primary.
    #[error("it has no {PRIMARY_SECRET_ARN} key")]
    NoBackReference,
    /// `primarySecretArn` is there but not a string.
    #[error("its {PRIMARY_SECRET_ARN} is not text")]
    BackReferenceNotText,
    /// `primarySecretArn` names a different secret (or this one by name or partial ARN).
    #[error(
        "its {PRIMARY_SECRET_ARN} names another secret (it must be the full ARN of the rotated \
         secret, exactly)"
    )]
    OtherPrimary,
    /// `username` is not a string.
    #[error("its username is not text")]
    UsernameNotText,
    /// `username` is a user this rotation does not change.
    #[error("its username is neither the current nor the pending user of this rotation")]
    OtherUser,
}

/// Checks a linked secret's `AWSCURRENT` JSON: it names `primary_arn` (the ARN Secrets Manager
/// reports for the rotated secret) in [`PRIMARY_SECRET_ARN`], and its `username`, when present,
/// is one of `users` (the current and pending user of this rotation).
pub fn check(linked: &JsonSecret, primary_arn: &str, users: &[&str]) -> Result<(), Refusal> {
    match linked.get(PRIMARY_SECRET_ARN) {
        None | Some(Value::Null) => return Err(Refusal::NoBackReference),
        Some(Value::String(named)) if named == primary_arn => {}
        Some(Value::String(_)) => return Err(Refusal::OtherPrimary),
        Some(_) => return Err(Refusal::BackReferenceNotText),
    }
    match linked.get("username") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(user)) if users.contains(&user.as_str()) => Ok(()),
        Some(Value::String(_)) => Err(Refusal::OtherUser),
        Some(_) => Err(Refusal::UsernameNotText),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rotation_core::{SecretString, ValueSource};
    use serde_json::json;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:team-a-AbCdEf";

    #[test]
    fn a_linked_secret_is_written_only_when_it_names_this_secret_and_user_back() {
        let cases = [
            (json!({"primarySecretArn": ARN}), Ok(())),
            (json!({"primarySecretArn": ARN, "username": "app"}), Ok(())),
            (
                json!({"primarySecretArn": ARN, "username": "app_clone"}),
                Ok(()),
            ),
            (json!({"primarySecretArn": ARN, "username": null}), Ok(())),
            (json!({}), Err(Refusal::NoBackReference)),
            (json!({"username": "app"}), Err(Refusal::NoBackReference)),
            (
                json!({"primarySecretArn": null}),
                Err(Refusal::NoBackReference),
            ),
            (
                json!({"primarySecretArn": [ARN]}),
                Err(Refusal::BackReferenceNotText),
            ),
            (
                json!({"primarySecretArn": "team-a"}),
                Err(Refusal::OtherPrimary),
            ),
            (
                json!({"primarySecretArn": "team-a-AbCdEf"}),
                Err(Refusal::OtherPrimary),
            ),
            (
                json!({"primarySecretArn": ARN.to_uppercase()}),
                Err(Refusal::OtherPrimary),
            ),
            (
                json!({"primarySecretArn": format!("{ARN} ")}),
                Err(Refusal::OtherPrimary),
            ),
            (
                json!({"primarySecretArn": ARN, "username": "team_b"}),
                Err(Refusal::OtherUser),
            ),
            (
                json!({"primarySecretArn": ARN, "username": 7}),
                Err(Refusal::UsernameNotText),
            ),
        ];
        for (value, expected) in cases {
            let linked = JsonSecret::parse(
                &SecretString::new(value.to_string()),
                &ValueSource::new("arn:linked", "AWSCURRENT"),
            )
            .unwrap();
            assert_eq!(
                check(&linked, ARN, &["app", "app_clone"]),
                expected,
                "{value}"
            );
        }
    }
}
