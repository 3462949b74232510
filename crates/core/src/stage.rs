//! Staging labels and the version-to-labels map of a secret.

use std::collections::BTreeMap;
use std::fmt;

use crate::event::VersionToken;

/// The staging labels that rotation uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// `AWSCURRENT`: the version clients use.
    Current,
    /// `AWSPENDING`: the version being rotated in.
    Pending,
    /// `AWSPREVIOUS`: the version that was current before the last rotation.
    Previous,
}

impl Stage {
    /// The label as Secrets Manager spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Current => "AWSCURRENT",
            Stage::Pending => "AWSPENDING",
            Stage::Previous => "AWSPREVIOUS",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `VersionIdsToStages` of `DescribeSecret`: which labels each version carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionStages(BTreeMap<String, Vec<String>>);

impl VersionStages {
    /// An empty map.
    pub fn new() -> Self {
        VersionStages::default()
    }

    /// Adds a version with its labels (builder style, for tests and stores).
    pub fn with(mut self, version: impl Into<String>, labels: &[&str]) -> Self {
        self.insert(version, labels.iter().map(|label| label.to_string()));
        self
    }

    /// Adds or replaces a version's labels.
    pub fn insert(&mut self, version: impl Into<String>, labels: impl IntoIterator<Item = String>) {
        self.0.insert(version.into(), labels.into_iter().collect());
    }

    /// The labels of a version, or `None` when the secret has no such version.
    pub fn labels_of(&self, token: &VersionToken) -> Option<&[String]> {
        self.0.get(token.as_str()).map(Vec::as_slice)
    }

    /// Whether the version carries the label.
    pub fn has(&self, token: &VersionToken, stage: Stage) -> bool {
        self.labels_of(token)
            .is_some_and(|labels| labels.iter().any(|label| label == stage.as_str()))
    }

    /// The version that carries the label, if any.
    pub fn version_with(&self, stage: Stage) -> Option<&str> {
        self.0
            .iter()
            .find(|(_, labels)| labels.iter().any(|label| label == stage.as_str()))
            .map(|(version, _)| version.as_str())
    }

    /// Iterates over versions and their labels.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0.iter().map(|(v, l)| (v.as_str(), l.as_slice()))
    }
}
