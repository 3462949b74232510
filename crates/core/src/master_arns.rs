//! `MASTER_SECRET_ARNS`: the operator's list of the secrets that may hold a managing
//! credential (a multi-user secret's `masterarn`, an api-key secret's `adminarn`).
//!
//! # Why
//!
//! The rotated secret is written by an application team, and it names the secret whose
//! credential manages it. The function's role may read more secrets than the team should
//! use (every secret the function rotates, for a start), so without a list a team could name
//! another team's credential. When the variable is set, a named secret must be one of the
//! listed ARNs, compared exactly, before it is read.

use crate::config::{ConfigError, Environment};

/// `MASTER_SECRET_ARNS`: comma-separated secret ARNs.
pub const MASTER_SECRET_ARNS_VARIABLE: &str = "MASTER_SECRET_ARNS";

/// The secrets a managing credential may come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterSecretArns {
    arns: Vec<String>,
}

/// A secret names a managing secret the operator did not list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{field} names {arn}, which is not one of the secrets {MASTER_SECRET_ARNS_VARIABLE} lists: \
     name one of them (the full ARN, exactly as listed), or ask the operator to add it to \
     {MASTER_SECRET_ARNS_VARIABLE}"
)]
pub struct NotListed {
    /// The field that names it (`masterarn`, `adminarn`).
    pub field: &'static str,
    /// What it names.
    pub arn: String,
}

impl MasterSecretArns {
    /// Reads `MASTER_SECRET_ARNS`; `None` when unset or blank (any secret the function can
    /// read may be named). Every entry must be a Secrets Manager secret ARN.
    pub fn from_env(env: &dyn Environment) -> Result<Option<MasterSecretArns>, ConfigError> {
        let Some(value) = env
            .var(MASTER_SECRET_ARNS_VARIABLE)
            .filter(|v| !v.trim().is_empty())
        else {
            return Ok(None);
        };
        let arns: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(bad) = arns.iter().find(|arn| !is_secret_arn(arn)) {
            return Err(ConfigError::new(
                MASTER_SECRET_ARNS_VARIABLE,
                format!(
                    "{bad:?} is not a secret ARN (arn:<partition>:secretsmanager:<region>:\
                     <account>:secret:<name>); list the full ARNs, comma-separated"
                ),
            ));
        }
        Ok(Some(MasterSecretArns { arns }))
    }

    /// Whether `arn`, the value of `field`, is listed (exact match).
    pub fn check(&self, field: &'static str, arn: &str) -> Result<(), NotListed> {
        if self.arns.iter().any(|listed| listed == arn) {
            Ok(())
        } else {
            Err(NotListed {
                field,
                arn: arn.to_owned(),
            })
        }
    }
}

/// Checks `arn` against an optional list: no list allows any secret.
pub fn check_listed(
    list: Option<&MasterSecretArns>,
    field: &'static str,
    arn: &str,
) -> Result<(), NotListed> {
    list.map_or(Ok(()), |list| list.check(field, arn))
}

fn is_secret_arn(text: &str) -> bool {
    let parts: Vec<&str> = text.splitn(7, ':').collect();
    parts.len() == 7
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && parts[2] == "secretsmanager"
        && parts[5] == "secret"
        && !parts[6].is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:admin-AbCdEf";
    const B: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-GhIjKl";

    #[test]
    fn the_list_is_parsed_or_named_at_fault() {
        let from =
            |value: &str| MasterSecretArns::from_env(&[(MASTER_SECRET_ARNS_VARIABLE, value)]);
        assert_eq!(from("").unwrap(), None);
        assert_eq!(from("  ").unwrap(), None);
        assert_eq!(MasterSecretArns::from_env(&[("OTHER", A)]).unwrap(), None);
        let both = format!(" {A} , {B},");
        let list = from(&both).unwrap().unwrap();
        assert_eq!(list.arns, [A, B]);
        for bad in [
            "admin-secret",
            "arn:aws:s3:::bucket",
            "arn:aws:secretsmanager:r:1:secret:",
        ] {
            let error = from(&format!("{A},{bad}")).unwrap_err();
            assert_eq!(error.variable, MASTER_SECRET_ARNS_VARIABLE, "{bad}");
            assert!(error.problem.contains(bad), "{error}");
        }
    }

    #[test]
    fn only_listed_arns_pass_exactly() {
        let list = MasterSecretArns {
            arns: vec![A.into()],
        };
        let cases: [(Option<&MasterSecretArns>, &str, bool); 6] = [
            (None, B, true),
            (Some(&list), A, true),
            (Some(&list), B, false),
            (Some(&list), "admin", false),
            (Some(&list), &A[..A.len() - 7], false),
            (Some(&list), &A.to_uppercase(), false),
        ];
        for (list, arn, allowed) in cases {
            assert_eq!(
                check_listed(list, "adminarn", arn).is_ok(),
                allowed,
                "{arn}"
            );
        }
        let error = list.check("masterarn", B).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("masterarn names {B}")),
            "{error}"
        );
        assert!(error.contains(MASTER_SECRET_ARNS_VARIABLE), "{error}");
    }
}
