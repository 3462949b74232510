//! Runs rows against a backend and says where it answered otherwise.

use std::collections::HashMap;

use crate::event::VersionToken;
use crate::secret::SecretString;
use crate::stage::Stage;
use crate::store::{StoreError, VersionRef};
use crate::versions::SecretVersion;

use super::{Backend, BackendKind, Case, Got, Op, Outcome, Read, TABLE, TAGS, Ver};

/// What a backend did with the whole table.
#[derive(Debug, Default)]
pub struct Report {
    /// Rows that behaved as the table says.
    pub passed: Vec<&'static str>,
    /// Rows marked as a moto deviation that failed on moto, as expected, with the mismatch.
    pub known_deviations: Vec<(&'static str, String)>,
    /// Rows that did not behave as the table says (or a marked deviation that moto no longer
    /// shows), with the first mismatch.
    pub failures: Vec<(&'static str, String)>,
}

impl Report {
    /// Every failure, one line each; empty when the backend follows the table.
    pub fn failures_text(&self) -> String {
        self.failures
            .iter()
            .map(|(name, why)| format!("- {name}: {why}\n"))
            .collect()
    }
}

/// Runs every row of [`TABLE`], each on a fresh secret whose name starts with `prefix`.
pub async fn run_table(backend: &dyn Backend, prefix: &str) -> Report {
    let mut report = Report::default();
    for (index, case) in TABLE.iter().enumerate() {
        let name = format!("{prefix}-{index}");
        let result = run_case(backend, case, &name).await;
        let deviates = backend.kind() == BackendKind::Moto && case.moto.is_some();
        match (result, deviates) {
            (Ok(()), false) => report.passed.push(case.name),
            (Err(why), false) => report.failures.push((case.name, why)),
            (Err(why), true) => report.known_deviations.push((case.name, why)),
            (Ok(()), true) => report.failures.push((
                case.name,
                format!(
                    "marked as a moto deviation ({}), but moto now behaves as AWS: remove the mark",
                    case.moto.unwrap_or_default()
                ),
            )),
        }
    }
    report
}

/// Runs one row on a new secret called `secret_name`; the first mismatch, if any.
pub async fn run_case(backend: &dyn Backend, case: &Case, secret_name: &str) -> Result<(), String> {
    let initial = backend
        .create_secret(secret_name, "v0", TAGS)
        .await
        .map_err(|error| format!("CreateSecret failed: {error}"))?;
    let mut run = Run {
        backend,
        secret_id: secret_name.to_owned(),
        versions: HashMap::from([(Ver::Initial, initial)]),
    };
    for (step, op) in case.ops.iter().enumerate() {
        run.op(op)
            .await
            .map_err(|why| format!("call {} ({op:?}): {why}", step + 1))?;
    }
    Ok(())
}

/// The state of one row: the secret, and the real id of every version it named.
struct Run<'a> {
    backend: &'a dyn Backend,
    secret_id: String,
    versions: HashMap<Ver, VersionToken>,
}

impl Run<'_> {
    /// The real id of `ver`; a `Fresh` one is made up on first use.
    fn id(&mut self, ver: Ver) -> Result<VersionToken, String> {
        if let Some(id) = self.versions.get(&ver) {
            return Ok(id.clone());
        }
        match ver {
            Ver::Fresh(_) => {
                let id = VersionToken::new(fresh_id());
                self.versions.insert(ver, id.clone());
                Ok(id)
            }
            _ => Err(format!(
                "{ver:?} names no version (its rotation did not start)"
            )),
        }
    }

    /// The role of a real version id, for messages.
    fn role(&self, id: &str) -> String {
        self.versions
            .iter()
            .find(|(_, known)| known.as_str() == id)
            .map_or_else(|| format!("version {id}"), |(ver, _)| format!("{ver:?}"))
    }

    async fn op(&mut self, op: &Op) -> Result<(), String> {
        let store = self.backend.store();
        let id = self.secret_id.clone();
        match op {
            Op::Rotate(number, expected) => {
                let result = self.backend.start_rotation(&id).await;
                if let Ok(token) = &result {
                    self.versions.insert(Ver::Rotation(*number), token.clone());
                }
                outcome(result.map(drop), *expected)
            }
            Op::PutPending(ver, value, expected) => {
                let token = self.id(*ver)?;
                let value = SecretString::new(*value);
                outcome(
                    store.put_pending(&id, &token, &value, None).await,
                    *expected,
                )
            }
            Op::PutCurrent(ver, value, expected) => {
                let token = self.id(*ver)?;
                let value = SecretString::new(*value);
                outcome(store.put_current(&id, &token, &value).await, *expected)
            }
            Op::MoveCurrent(to, from, expected) => {
                let to = self.id(*to)?;
                let from = from.map(|ver| self.id(ver)).transpose()?;
                let result = store
                    .move_current(&id, &to, from.as_ref().map(VersionToken::as_str))
                    .await;
                outcome(result, *expected)
            }
            Op::Get(read, expected) => {
                let version = match read {
                    Read::Stage(stage) => VersionRef::Stage(*stage),
                    Read::Pending(ver) => VersionRef::Pending(self.id(*ver)?),
                };
                got(store.get_value(&id, &version).await, *expected)
            }
            Op::Describe(expected) => outcome(store.describe(&id).await.map(drop), *expected),
            Op::Labels(expected) => {
                let metadata = store.describe(&id).await.map_err(unexpected)?;
                let mut want = Vec::new();
                for (ver, stages) in *expected {
                    let token = self.id(*ver)?;
                    want.push((self.role(token.as_str()), sorted(stages)));
                }
                want.sort();
                let mut have: Vec<_> = metadata
                    .versions
                    .iter()
                    .filter(|(_, labels)| !labels.is_empty())
                    .map(|(version, labels)| {
                        let mut labels = labels.to_vec();
                        labels.sort();
                        (self.role(version), labels)
                    })
                    .collect();
                have.sort();
                expect_eq(have, want)
            }
            Op::Unlisted(ver) => {
                let token = self.id(*ver)?;
                let metadata = store.describe(&id).await.map_err(unexpected)?;
                match metadata.versions.labels_of(&token) {
                    None => Ok(()),
                    Some(labels) => Err(format!("listed, with labels {labels:?}")),
                }
            }
            Op::RotationEnabled(enabled) => {
                let metadata = store.describe(&id).await.map_err(unexpected)?;
                expect_eq(metadata.rotation_enabled == Some(true), *enabled)
            }
            Op::Tags(expected) => {
                let mut have = store.tags(&id).await.map_err(unexpected)?;
                have.sort();
                let mut want: Vec<(String, String)> = expected
                    .iter()
                    .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                    .collect();
                want.sort();
                expect_eq(have, want)
            }
            Op::ViaArn => {
                self.secret_id = store.describe(&id).await.map_err(unexpected)?.arn;
                Ok(())
            }
            Op::Missing(inner) => {
                let kept = std::mem::replace(&mut self.secret_id, format!("{id}-missing"));
                let result = Box::pin(self.op(inner)).await;
                self.secret_id = kept;
                result
            }
        }
    }
}

fn sorted(stages: &[Stage]) -> Vec<String> {
    let mut labels: Vec<String> = stages.iter().map(|s| s.as_str().to_owned()).collect();
    labels.sort();
    labels
}

fn expect_eq<T: PartialEq + std::fmt::Debug>(have: T, want: T) -> Result<(), String> {
    if have == want {
        Ok(())
    } else {
        Err(format!("expected {want:?}, got {have:?}"))
    }
}

fn unexpected(error: StoreError) -> String {
    format!("unexpected error {:?}: {error}", error.code)
}

fn outcome(result: Result<(), StoreError>, expected: Outcome) -> Result<(), String> {
    match (result, expected) {
        (Ok(()), Outcome::Ok) => Ok(()),
        (Err(error), Outcome::Err(code)) if error.code.as_deref() == Some(code) => Ok(()),
        (Ok(()), Outcome::Err(code)) => Err(format!("expected {code}, got success")),
        (Err(error), _) => Err(unexpected(error)),
    }
}

/// Compares a read with the row. The values are the table's own made-up strings, never
/// secrets, so they may appear in the message.
fn got(result: Result<Option<SecretVersion>, StoreError>, expected: Got) -> Result<(), String> {
    let have = match result {
        Ok(Some(read)) => Got::Value(known_value(read.value.expose())),
        Ok(None) => Got::NoValue,
        Err(error) => match (error.code.as_deref(), expected) {
            (Some(code), Got::Err(want)) if code == want => return Ok(()),
            _ => return Err(unexpected(error)),
        },
    };
    expect_eq(have, expected)
}

/// The table's values are `v0` to `v9`; anything else is reported as "another value".
fn known_value(value: &str) -> &'static str {
    const VALUES: [&str; 10] = ["v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9"];
    VALUES
        .into_iter()
        .find(|known| *known == value)
        .unwrap_or("<another value>")
}

/// A new `ClientRequestToken` (32 to 64 characters, as Secrets Manager requires).
fn fresh_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}
