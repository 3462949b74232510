//! Which secret may hold the admin key (`adminarn`).
//!
//! # Why
//!
//! The rotated secret is written by an application team and names its admin secret. The
//! function's role may read every secret this function rotates, and each of those holds a
//! key of some team: named as `adminarn`, another team's key would mint a key (at that team's
//! provider) that lands in the naming team's secret. So, whether or not `MASTER_SECRET_ARNS`
//! pins the admin secrets, an admin secret that this same function rotates, or that is the
//! rotated secret itself, is refused before its value is read.
//!
//! # How
//!
//! [`judge`] is the pure decision over what `DescribeSecret` reports on the admin secret,
//! table-tested below; the I/O lives in [`crate::rotator`].

/// `AWS_LAMBDA_FUNCTION_NAME`: this function's name, set by Lambda.
pub const FUNCTION_NAME_VARIABLE: &str = "AWS_LAMBDA_FUNCTION_NAME";

/// What `DescribeSecret` says about the admin secret, and who is asking.
#[derive(Debug, Clone, Copy)]
pub struct AdminFacts<'a> {
    /// The rotated secret's ARN.
    pub rotated: &'a str,
    /// The admin secret's ARN, as `DescribeSecret` reports it.
    pub admin: &'a str,
    /// Its `RotationEnabled`.
    pub rotation_enabled: Option<bool>,
    /// Its `RotationLambdaARN`.
    pub rotation_lambda: Option<&'a str>,
    /// This function's name (`AWS_LAMBDA_FUNCTION_NAME`), when known.
    pub this_function: Option<&'a str>,
}

/// Why a secret may not hold the admin key. Names secrets and functions, never a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminRefusal {
    /// `adminarn` names the rotated secret.
    #[error(
        "adminarn names {arn}, the rotated secret itself: the admin key is the operator's and \
         lives in a secret of its own; name that secret, or remove adminarn to let the key \
         manage itself"
    )]
    Itself {
        /// The secret.
        arn: String,
    },
    /// `adminarn` names a secret this function rotates.
    #[error(
        "adminarn names {arn}, which is rotated by this function ({lambda}): a secret this \
         function rotates holds a team's key, never the operator's admin key; name the \
         operator's admin secret"
    )]
    RotatedHere {
        /// The admin secret.
        arn: String,
        /// Its `RotationLambdaARN`.
        lambda: String,
    },
    /// The admin secret is rotated, and this function does not know its own name.
    #[error(
        "adminarn names {arn}, which has rotation turned on ({lambda}), and \
         {FUNCTION_NAME_VARIABLE} is not set, so whether it is rotated by this function is \
         unknown: set {FUNCTION_NAME_VARIABLE} (Lambda sets it), or name an admin secret \
         without rotation"
    )]
    UnknownFunction {
        /// The admin secret.
        arn: String,
        /// Its `RotationLambdaARN`.
        lambda: String,
    },
}

/// Refuses an admin secret that is the rotated secret or is rotated by this function.
pub fn judge(facts: &AdminFacts<'_>) -> Result<(), AdminRefusal> {
    if facts.admin == facts.rotated {
        return Err(AdminRefusal::Itself {
            arn: facts.admin.to_owned(),
        });
    }
    let Some(lambda) = facts.rotation_lambda.filter(|l| !l.is_empty()) else {
        return Ok(());
    };
    if facts.rotation_enabled != Some(true) {
        // Rotation turned off: no rotation of this function reads or writes it as a
        // team's secret.
        return Ok(());
    }
    match facts.this_function {
        None => Err(AdminRefusal::UnknownFunction {
            arn: facts.admin.to_owned(),
            lambda: lambda.to_owned(),
        }),
        Some(this) if function_name(lambda) == function_name(this) => {
            Err(AdminRefusal::RotatedHere {
                arn: facts.admin.to_owned(),
                lambda: lambda.to_owned(),
            })
        }
        Some(_) => Ok(()),
    }
}

/// The function name in a Lambda ARN (full or partial) or name, without its qualifier
/// (version or alias): `arn:aws:lambda:r:1:function:f:PROD` is `f`.
pub fn function_name(arn_or_name: &str) -> &str {
    let parts: Vec<&str> = arn_or_name.split(':').collect();
    match parts.iter().position(|part| *part == "function") {
        Some(at) => parts.get(at + 1).copied().unwrap_or_default(),
        None => parts.first().copied().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROTATED: &str = "arn:aws:secretsmanager:us-east-1:1:secret:team-a-AbCdEf";
    const ADMIN: &str = "arn:aws:secretsmanager:us-east-1:1:secret:team-b-GhIjKl";
    const HERE: &str = "arn:aws:lambda:us-east-1:1:function:api-key";

    #[test]
    fn function_names_lose_their_qualifier() {
        for (text, name) in [
            (HERE, "api-key"),
            (
                "arn:aws:lambda:us-east-1:1:function:api-key:PROD",
                "api-key",
            ),
            (
                "arn:aws:lambda:us-east-1:1:function:api-key:$LATEST",
                "api-key",
            ),
            ("1:function:api-key:3", "api-key"),
            ("api-key", "api-key"),
            ("api-key:PROD", "api-key"),
            ("", ""),
        ] {
            assert_eq!(function_name(text), name, "{text}");
        }
    }

    #[test]
    fn an_admin_secret_rotated_here_or_the_secret_itself_is_refused() {
        let facts = |admin, enabled, lambda, this| AdminFacts {
            rotated: ROTATED,
            admin,
            rotation_enabled: enabled,
            rotation_lambda: lambda,
            this_function: this,
        };
        let here = |lambda: &str| AdminRefusal::RotatedHere {
            arn: ADMIN.into(),
            lambda: lambda.into(),
        };
        let qualified = "arn:aws:lambda:us-east-1:1:function:api-key:PROD";
        let cases = [
            (facts(ADMIN, None, None, Some("api-key")), Ok(())),
            (facts(ADMIN, Some(false), None, Some("api-key")), Ok(())),
            (
                facts(ADMIN, Some(false), Some(HERE), Some("api-key")),
                Ok(()),
            ),
            (
                facts(ADMIN, Some(true), Some(HERE), Some("api-key")),
                Err(here(HERE)),
            ),
            (
                facts(ADMIN, Some(true), Some(qualified), Some("api-key")),
                Err(here(qualified)),
            ),
            (
                facts(ADMIN, Some(true), Some(HERE), Some(HERE)),
                Err(here(HERE)),
            ),
            (
                facts(ADMIN, Some(true), Some(HERE), Some("admin-rotator")),
                Ok(()),
            ),
            (
                facts(
                    ADMIN,
                    Some(true),
                    Some("arn:aws:lambda:us-east-1:1:function:api-key-2"),
                    Some("api-key"),
                ),
                Ok(()),
            ),
            (
                facts(ADMIN, Some(true), Some(HERE), None),
                Err(AdminRefusal::UnknownFunction {
                    arn: ADMIN.into(),
                    lambda: HERE.into(),
                }),
            ),
            (
                facts(ROTATED, None, None, Some("api-key")),
                Err(AdminRefusal::Itself {
                    arn: ROTATED.into(),
                }),
            ),
        ];
        for (index, (facts, expected)) in cases.into_iter().enumerate() {
            assert_eq!(judge(&facts), expected, "case {index}");
        }
    }
}
