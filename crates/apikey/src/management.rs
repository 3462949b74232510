//! Who chooses the provider a managing credential is sent to.
//!
//! The rotated secret is written by an application team, who may not know the admin key. So
//! when an admin key manages keys (`adminarn`), the provider's profile and base URL come only
//! from the operator: the admin secret (`profile`, `baseUrl`) or the function's variables
//! (`API_KEY_PROFILE`, `API_KEY_PROFILE_FILE`). A rotated secret may repeat that choice, never
//! change it: a different `profile` or `baseUrl` there is an error that names both, before any
//! request. When the key manages itself, the secret's own choice is used: the key is theirs.
//! Either way the base URL passes [`Endpoint::parse`].

use crate::endpoint::{Endpoint, EndpointError};
use crate::profile::{BUILTIN, Profile, builtin};
use crate::secret::ProfileRef;

/// What one secret says about the provider.
#[derive(Debug, Clone, Copy)]
pub struct Declared<'a> {
    /// Its `profile`.
    pub profile: &'a ProfileRef,
    /// Its `baseUrl`.
    pub base_url: Option<&'a str>,
}

/// The provider chosen, and where its base URL came from (for messages).
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The profile.
    pub profile: Profile,
    /// The checked base URL.
    pub endpoint: Endpoint,
}

/// Why no provider may be used. Names fields and variables, never a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChoiceError {
    /// A `profile` names no built-in profile.
    #[error(
        "{owner} profile {name:?} is not a built-in profile (built in: {builtin}); write the \
         profile into the secret or name it with API_KEY_PROFILE_FILE"
    )]
    UnknownProfile {
        /// `the secret's` or `the admin secret's`.
        owner: &'static str,
        /// The name.
        name: String,
        /// The built-in names.
        builtin: String,
    },
    /// A self-managed secret without a profile, and none configured.
    #[error(
        "no provider profile: put \"profile\" in the secret (a built-in name or a profile \
         object), or set API_KEY_PROFILE or API_KEY_PROFILE_FILE"
    )]
    NoProfile,
    /// An admin key, and no profile from the operator.
    #[error(
        "no provider profile for the admin key (adminarn): put \"profile\" and \"baseUrl\" in \
         the admin secret, or set API_KEY_PROFILE or API_KEY_PROFILE_FILE; the admin key is never \
         sent where the rotated secret says"
    )]
    NoOperatorProfile,
    /// The rotated secret names another provider than the operator's.
    #[error(
        "the secret's {field} differs from the one the operator set ({operator}): with adminarn \
         the admin key goes only to the provider the operator chose (the admin secret's profile \
         and baseUrl, or API_KEY_PROFILE / API_KEY_PROFILE_FILE); remove {field} from the secret \
         or make it the same"
    )]
    Differs {
        /// `profile` or `baseUrl`.
        field: &'static str,
        /// Where the operator's choice came from.
        operator: String,
    },
    /// The base URL is refused.
    #[error("{origin} {error}")]
    Endpoint {
        /// Where the base URL came from.
        origin: String,
        /// Why it is refused.
        error: EndpointError,
    },
}

/// Chooses the provider: `secret` is the rotated secret, `admin` the admin secret when
/// `adminarn` is set, `configured` the profile of the variables.
pub fn choose(
    secret: Declared<'_>,
    admin: Option<Declared<'_>>,
    configured: Option<&Profile>,
    allow_http: bool,
) -> Result<Choice, ChoiceError> {
    let (profile, base_url, origin) = match admin {
        None => {
            let profile = resolve(secret.profile, "the secret's")?
                .or_else(|| configured.cloned())
                .ok_or(ChoiceError::NoProfile)?;
            match secret.base_url {
                Some(url) => (profile, url.to_owned(), "the secret's baseUrl".to_owned()),
                None => {
                    let origin = format!("the baseUrl of profile {}", profile.name);
                    let url = profile.base_url.clone();
                    (profile, url, origin)
                }
            }
        }
        Some(admin) => {
            let (profile, profile_origin) = match resolve(admin.profile, "the admin secret's")? {
                Some(profile) => (profile, "the admin secret's profile"),
                None => (
                    configured.cloned().ok_or(ChoiceError::NoOperatorProfile)?,
                    "API_KEY_PROFILE / API_KEY_PROFILE_FILE",
                ),
            };
            let (url, origin) = match admin.base_url {
                Some(url) => (url.to_owned(), "the admin secret's baseUrl".to_owned()),
                None => (
                    profile.base_url.clone(),
                    format!("the baseUrl of profile {} ({profile_origin})", profile.name),
                ),
            };
            // The rotated secret may repeat the operator's choice (secrets written before
            // this rule), never change it.
            if let Some(theirs) = resolve(secret.profile, "the secret's")?
                && theirs != profile
            {
                return Err(ChoiceError::Differs {
                    field: "profile",
                    operator: profile_origin.to_owned(),
                });
            }
            if let Some(theirs) = secret.base_url
                && normal(theirs) != normal(&url)
            {
                return Err(ChoiceError::Differs {
                    field: "baseUrl",
                    operator: origin,
                });
            }
            (profile, url, origin)
        }
    };
    let endpoint = Endpoint::parse(&base_url, allow_http)
        .map_err(|error| ChoiceError::Endpoint { origin, error })?;
    Ok(Choice { profile, endpoint })
}

fn resolve(reference: &ProfileRef, owner: &'static str) -> Result<Option<Profile>, ChoiceError> {
    match reference {
        ProfileRef::FromEnvironment => Ok(None),
        ProfileRef::Inline(profile) => Ok(Some((**profile).clone())),
        ProfileRef::Named(name) => {
            builtin(name)
                .map(Some)
                .ok_or_else(|| ChoiceError::UnknownProfile {
                    owner,
                    name: name.clone(),
                    builtin: BUILTIN.join(", "),
                })
        }
    }
}

fn normal(url: &str) -> &str {
    url.trim().trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPERATOR: &str = "https://api.example.com";
    const ATTACKER: &str = "https://attacker.example";

    fn named(name: &str) -> ProfileRef {
        ProfileRef::Named(name.to_owned())
    }

    fn inline(base_url: &str, auth_header: &str) -> ProfileRef {
        let mut profile = builtin("rotation-keyservice").unwrap();
        profile.base_url = base_url.to_owned();
        profile.auth.header = auth_header.to_owned();
        ProfileRef::Inline(Box::new(profile))
    }

    /// (secret profile, secret baseUrl, admin: Some(profile, baseUrl), configured, expected
    /// base URL or error).
    type Case<'a> = (
        &'a ProfileRef,
        Option<&'a str>,
        Option<(&'a ProfileRef, Option<&'a str>)>,
        Option<&'a Profile>,
        Result<&'a str, ChoiceError>,
    );

    #[test]
    fn who_chooses_the_provider() {
        let env = ProfileRef::FromEnvironment;
        let keyservice = named("rotation-keyservice");
        let mut configured = builtin("rotation-keyservice").unwrap();
        configured.base_url = OPERATOR.to_owned();
        let leaky = inline(ATTACKER, "Authorization");
        let forwarding = inline(OPERATOR, "X-Forward-To");
        let sendgrid = named("sendgrid");
        let nope = named("nope");
        let differs = |field: &'static str, operator: &str| {
            Err(ChoiceError::Differs {
                field,
                operator: operator.to_owned(),
            })
        };
        let cases: Vec<Case<'_>> = vec![
            // The key manages itself: the secret chooses.
            (&keyservice, Some(ATTACKER), None, None, Ok(ATTACKER)),
            (&env, None, None, Some(&configured), Ok(OPERATOR)),
            (&env, Some(ATTACKER), None, Some(&configured), Ok(ATTACKER)),
            (&env, None, None, None, Err(ChoiceError::NoProfile)),
            // An admin key: the operator chooses, the secret may only agree.
            (
                &env,
                None,
                Some((&keyservice, Some(OPERATOR))),
                None,
                Ok(OPERATOR),
            ),
            (
                &keyservice,
                Some(OPERATOR),
                Some((&keyservice, Some(OPERATOR))),
                None,
                Ok(OPERATOR),
            ),
            (
                &env,
                Some("https://api.example.com/"),
                Some((&keyservice, Some(OPERATOR))),
                None,
                Ok(OPERATOR),
            ),
            (
                &env,
                None,
                Some((&env, None)),
                Some(&configured),
                Ok(OPERATOR),
            ),
            (
                &env,
                None,
                Some((&env, Some(OPERATOR))),
                Some(&configured),
                Ok(OPERATOR),
            ),
            (
                &keyservice,
                Some(ATTACKER),
                Some((&keyservice, Some(OPERATOR))),
                None,
                differs("baseUrl", "the admin secret's baseUrl"),
            ),
            (
                &env,
                Some(ATTACKER),
                Some((&env, None)),
                Some(&configured),
                differs(
                    "baseUrl",
                    "the baseUrl of profile rotation-keyservice (API_KEY_PROFILE / API_KEY_PROFILE_FILE)",
                ),
            ),
            (
                &leaky,
                None,
                Some((&keyservice, Some(OPERATOR))),
                None,
                differs("profile", "the admin secret's profile"),
            ),
            (
                &forwarding,
                None,
                Some((&env, None)),
                Some(&configured),
                differs("profile", "API_KEY_PROFILE / API_KEY_PROFILE_FILE"),
            ),
            (
                &sendgrid,
                None,
                Some((&keyservice, Some(OPERATOR))),
                None,
                differs("profile", "the admin secret's profile"),
            ),
            // A bare admin key and no variable: the rotated secret's choice is not taken.
            (
                &keyservice,
                Some(OPERATOR),
                Some((&env, None)),
                None,
                Err(ChoiceError::NoOperatorProfile),
            ),
            (
                &nope,
                None,
                None,
                None,
                Err(ChoiceError::UnknownProfile {
                    owner: "the secret's",
                    name: "nope".into(),
                    builtin: BUILTIN.join(", "),
                }),
            ),
            (
                &keyservice,
                Some("http://provider.example"),
                None,
                None,
                Err(ChoiceError::Endpoint {
                    origin: "the secret's baseUrl".into(),
                    error: EndpointError::PlainHttp {
                        host: "provider.example".into(),
                    },
                }),
            ),
        ];
        for (index, (profile, base_url, admin, configured, expected)) in
            cases.into_iter().enumerate()
        {
            let secret = Declared { profile, base_url };
            let admin = admin.map(|(profile, base_url)| Declared { profile, base_url });
            let chosen = choose(secret, admin, configured, false);
            assert_eq!(
                chosen
                    .as_ref()
                    .map(|c| c.endpoint.as_str())
                    .map_err(Clone::clone),
                expected,
                "case {index}"
            );
        }
    }

    #[test]
    fn plain_http_to_a_loopback_address_or_when_allowed() {
        let keyservice = named("rotation-keyservice");
        let secret = |base_url| Declared {
            profile: &keyservice,
            base_url: Some(base_url),
        };
        assert!(choose(secret("http://127.0.0.1:8080"), None, None, false).is_ok());
        assert!(choose(secret("http://10.1.2.3"), None, None, false).is_err());
        assert!(choose(secret("http://10.1.2.3"), None, None, true).is_ok());
    }
}
