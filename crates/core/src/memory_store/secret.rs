//! One secret as Secrets Manager keeps it (versions, their values, their staging labels) and the
//! rules of the calls that change it. Pure: no locking, no faults, no I/O.

use crate::event::{RotationToken, VersionToken};
use crate::secret::SecretString;
use crate::stage::{Stage, VersionStages};
use crate::store::VersionRef;
use crate::validate::SecretMetadata;
use crate::versions::SecretVersion;

/// Why Secrets Manager refused a call: its error code and message (never a secret value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refusal {
    pub(super) code: &'static str,
    pub(super) message: String,
}

impl Refusal {
    pub(super) fn not_found(message: impl Into<String>) -> Refusal {
        Refusal {
            code: "ResourceNotFoundException",
            message: message.into(),
        }
    }

    fn invalid_parameter(message: impl Into<String>) -> Refusal {
        Refusal {
            code: "InvalidParameterException",
            message: message.into(),
        }
    }

    fn invalid_request(message: impl Into<String>) -> Refusal {
        Refusal {
            code: "InvalidRequestException",
            message: message.into(),
        }
    }
}

/// One version: its id, its value (none for the placeholder `RotateSecret` creates) and labels.
#[derive(Debug, Clone)]
pub(super) struct Version {
    pub(super) id: String,
    pub(super) value: Option<SecretString>,
    pub(super) stages: Vec<Stage>,
}

/// A secret and its versions, oldest first. Versions that lose every label are kept, as
/// Secrets Manager keeps them (it deprecates them later), but `DescribeSecret` no longer lists
/// them.
#[derive(Debug, Clone)]
pub(super) struct Secret {
    pub(super) name: String,
    pub(super) arn: String,
    pub(super) rotation_enabled: Option<bool>,
    pub(super) rotation_lambda_arn: Option<String>,
    pub(super) tags: Vec<(String, String)>,
    pub(super) versions: Vec<Version>,
    /// The `RotationToken` of the rotation in progress, handed to the rotation function.
    pub(super) rotation_token: Option<RotationToken>,
}

impl Secret {
    /// `CreateSecret` with a value: one version, `AWSCURRENT`. Rotation is not reported until
    /// the first `RotateSecret`, as on AWS (`RotationEnabled` is absent).
    pub(super) fn new(name: &str, arn: String, version_id: String, value: SecretString) -> Self {
        Secret {
            name: name.to_owned(),
            arn,
            rotation_enabled: None,
            rotation_lambda_arn: None,
            tags: Vec::new(),
            versions: vec![Version {
                id: version_id,
                value: Some(value),
                stages: vec![Stage::Current],
            }],
            rotation_token: None,
        }
    }

    fn version(&self, id: &str) -> Option<&Version> {
        self.versions.iter().find(|version| version.id == id)
    }

    fn version_mut(&mut self, id: &str) -> Option<&mut Version> {
        self.versions.iter_mut().find(|version| version.id == id)
    }

    fn holder(&self, stage: Stage) -> Option<&Version> {
        self.versions
            .iter()
            .find(|version| version.stages.contains(&stage))
    }

    /// `DescribeSecret`: only versions that carry a label are listed.
    pub(super) fn metadata(&self) -> SecretMetadata {
        let mut versions = VersionStages::new();
        for version in self.versions.iter().filter(|v| !v.stages.is_empty()) {
            let labels = version.stages.iter().map(|stage| stage.as_str().to_owned());
            versions.insert(version.id.clone(), labels);
        }
        SecretMetadata {
            arn: self.arn.clone(),
            rotation_enabled: self.rotation_enabled,
            versions,
            rotation_lambda_arn: self.rotation_lambda_arn.clone(),
        }
    }

    /// `GetSecretValue`. A version without a value is `ResourceNotFoundException`, as is a
    /// label nobody carries; a version id with a label it does not carry is
    /// `InvalidRequestException` (both must name the same version).
    pub(super) fn read(&self, version: &VersionRef) -> Result<SecretVersion, Refusal> {
        let found = match version {
            VersionRef::Stage(stage) => self.holder(*stage).ok_or_else(|| {
                Refusal::not_found(format!("no version of {} carries {stage}", self.name))
            })?,
            VersionRef::Pending(token) => {
                let version = self.version(token.as_str()).ok_or_else(|| {
                    Refusal::not_found(format!("{} has no version {token}", self.name))
                })?;
                if !version.stages.contains(&Stage::Pending) {
                    return Err(Refusal::invalid_request(
                        "You provided a VersionStage that is not associated to the provided \
                         VersionId.",
                    ));
                }
                version
            }
        };
        let value = found.value.clone().ok_or_else(|| {
            Refusal::not_found(format!(
                "Secrets Manager can't find the specified secret value for version {} of {}",
                found.id, self.name
            ))
        })?;
        Ok(SecretVersion {
            version_id: found.id.clone(),
            value,
        })
    }

    /// `PutSecretValue(ClientRequestToken=token, VersionStages=[stage])`.
    ///
    /// The token is idempotent: a version that has the same value already is left as it is
    /// (its labels too); one with another value is `ResourceExistsException`. The value-less
    /// version that `RotateSecret` made gets its value. `rotation_token`, when given, must be
    /// the one of the rotation in progress.
    pub(super) fn put(
        &mut self,
        token: &VersionToken,
        value: &SecretString,
        stage: Stage,
        rotation_token: Option<&RotationToken>,
    ) -> Result<(), Refusal> {
        if let Some(given) = rotation_token
            && self.rotation_token.as_ref() != Some(given)
        {
            return Err(Refusal::invalid_request(
                "The RotationToken is not the one of this secret's rotation in progress.",
            ));
        }
        if let Some(version) = self.version_mut(token.as_str()) {
            match version.value.as_ref() {
                Some(existing) if existing == value => return Ok(()),
                Some(_) => {
                    return Err(Refusal {
                        code: "ResourceExistsException",
                        message: format!(
                            "You can't modify an existing version, you can only create a new \
                             version (version {token})."
                        ),
                    });
                }
                None => version.value = Some(value.clone()),
            }
        } else {
            self.versions.push(Version {
                id: token.as_str().to_owned(),
                value: Some(value.clone()),
                stages: Vec::new(),
            });
        }
        self.attach(stage, token.as_str());
        Ok(())
    }

    /// `UpdateSecretVersionStage(stage, MoveToVersionId=to, RemoveFromVersionId=from)`. A label
    /// held by another version moves only when `from` names that version.
    pub(super) fn move_stage(
        &mut self,
        stage: Stage,
        to: &str,
        from: Option<&str>,
    ) -> Result<(), Refusal> {
        if self.version(to).is_none() {
            return Err(Refusal::invalid_parameter(format!(
                "{} has no version {to} to move {stage} to",
                self.name
            )));
        }
        let holder = self.holder(stage).map(|version| version.id.clone());
        match holder {
            Some(holder) if holder != to && from != Some(holder.as_str()) => {
                Err(Refusal::invalid_parameter(format!(
                    "The parameter RemoveFromVersionId can't be empty. Staging label {stage} is \
                     currently attached to version {holder}, so you must explicitly reference \
                     that version in RemoveFromVersionId."
                )))
            }
            _ => {
                self.attach(stage, to);
                Ok(())
            }
        }
    }

    /// `RotateSecret` up to the invocation of the function: a value-less version `token` with
    /// `AWSPENDING`, rotation enabled, a new `RotationToken`. Refused while a rotation is
    /// unfinished (`AWSPENDING` on a version without `AWSCURRENT`).
    pub(super) fn start_rotation(
        &mut self,
        token: &VersionToken,
        lambda_arn: &str,
        rotation_token: RotationToken,
    ) -> Result<(), Refusal> {
        if let Some(pending) = self.holder(Stage::Pending)
            && !pending.stages.contains(&Stage::Current)
        {
            return Err(Refusal::invalid_request(format!(
                "A previous rotation isn't complete (version {} is AWSPENDING). That rotation \
                 will be reattempted.",
                pending.id
            )));
        }
        if self.version(token.as_str()).is_some() {
            return Err(Refusal::invalid_request(format!(
                "{} has a version {token} already",
                self.name
            )));
        }
        self.versions.push(Version {
            id: token.as_str().to_owned(),
            value: None,
            stages: Vec::new(),
        });
        self.attach(Stage::Pending, token.as_str());
        self.rotation_enabled = Some(true);
        self.rotation_lambda_arn = Some(lambda_arn.to_owned());
        self.rotation_token = Some(rotation_token);
        Ok(())
    }

    /// Attaches `stage` to version `to`, taking it from whichever version had it. Moving
    /// `AWSCURRENT` also moves `AWSPREVIOUS` to the version that lost it, as Secrets Manager
    /// does.
    fn attach(&mut self, stage: Stage, to: &str) {
        let from = self.holder(stage).map(|version| version.id.clone());
        if from.as_deref() == Some(to) {
            return;
        }
        for version in &mut self.versions {
            version.stages.retain(|held| *held != stage);
        }
        if stage == Stage::Current
            && let Some(from) = &from
        {
            self.attach(Stage::Previous, from);
        }
        if let Some(version) = self.version_mut(to) {
            version.stages.push(stage);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("s", "arn:s".into(), "v0".into(), SecretString::new("zero"))
    }

    fn labels(secret: &Secret) -> Vec<(String, Vec<&'static str>)> {
        let mut labels: Vec<_> = secret
            .versions
            .iter()
            .map(|version| {
                let mut stages: Vec<_> = version.stages.iter().map(|s| s.as_str()).collect();
                stages.sort();
                (version.id.clone(), stages)
            })
            .collect();
        labels.sort();
        labels
    }

    #[test]
    fn moving_current_twice_leaves_the_oldest_version_unlabelled_but_kept() {
        let mut secret = secret();
        let one = VersionToken::new("v1");
        let two = VersionToken::new("v2");
        secret
            .put(&one, &SecretString::new("one"), Stage::Current, None)
            .unwrap();
        secret
            .put(&two, &SecretString::new("two"), Stage::Current, None)
            .unwrap();
        assert_eq!(
            labels(&secret),
            [
                ("v0".to_owned(), vec![]),
                ("v1".to_owned(), vec!["AWSPREVIOUS"]),
                ("v2".to_owned(), vec!["AWSCURRENT"]),
            ]
        );
        assert!(
            secret
                .metadata()
                .versions
                .labels_of(&VersionToken::new("v0"))
                .is_none()
        );
    }

    #[test]
    fn a_foreign_rotation_token_is_refused() {
        let mut secret = secret();
        let token = VersionToken::new("t");
        secret
            .start_rotation(&token, "arn:fn", RotationToken::new("ours"))
            .unwrap();
        let refusal = secret
            .put(
                &token,
                &SecretString::new("one"),
                Stage::Pending,
                Some(&RotationToken::new("theirs")),
            )
            .unwrap_err();
        assert_eq!(refusal.code, "InvalidRequestException");
        secret
            .put(
                &token,
                &SecretString::new("one"),
                Stage::Pending,
                Some(&RotationToken::new("ours")),
            )
            .unwrap();
    }
}
