//! The event Secrets Manager sends to a rotation function, as a typed value.

use std::fmt;

use serde_json::Value;

use crate::step::Step;

/// The version id of the version being rotated (`ClientRequestToken` in the event).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionToken(String);

impl VersionToken {
    /// Wraps a version id.
    pub fn new(token: impl Into<String>) -> Self {
        VersionToken(token.into())
    }

    /// The version id as Secrets Manager knows it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VersionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The opaque `RotationToken` of the event. It proves that a `PutSecretValue` call comes from the
/// rotation (and is required for cross-account rotation), so it is treated as a credential:
/// its `Debug` form does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct RotationToken(String);

impl RotationToken {
    /// Wraps the token.
    pub fn new(token: impl Into<String>) -> Self {
        RotationToken(token.into())
    }

    /// The token, to pass on to `PutSecretValue`.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RotationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RotationToken(<redacted>)")
    }
}

/// The `Step` field as received: a known step, or a name this function does not know.
///
/// An unknown name is not an error while the event is parsed: AWS validates the token first and
/// only then rejects the step (a token that is already `AWSCURRENT` succeeds whatever the step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestedStep {
    /// One of the four protocol steps.
    Known(Step),
    /// Any other value.
    Unknown(String),
}

impl fmt::Display for RequestedStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestedStep::Known(step) => step.fmt(f),
            RequestedStep::Unknown(name) => f.write_str(name),
        }
    }
}

/// One invocation of the rotation function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationEvent {
    /// Which step to run.
    pub step: RequestedStep,
    /// The secret's ARN or name.
    pub secret_id: String,
    /// The version being rotated.
    pub token: VersionToken,
    /// Passed to `PutSecretValue` when present.
    pub rotation_token: Option<RotationToken>,
}

/// Why an event could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The payload is not a JSON object.
    #[error(
        "the event is not a JSON object: expected {{\"Step\", \"SecretId\", \"ClientRequestToken\"}}"
    )]
    NotAnObject,
    /// A required field is absent.
    #[error("the event has no {0} field")]
    MissingField(&'static str),
    /// A field is present but not a non-empty string.
    #[error("the event's {0} field must be a non-empty string")]
    NotAString(&'static str),
    /// A preflight payload that is malformed (see [`crate::preflight`]).
    #[error("invalid preflight request: {0}")]
    Preflight(&'static str),
}

impl RotationEvent {
    /// Builds an event for a known step (what a driver or a test sends).
    pub fn new(step: Step, secret_id: impl Into<String>, token: VersionToken) -> Self {
        RotationEvent {
            step: RequestedStep::Known(step),
            secret_id: secret_id.into(),
            token,
            rotation_token: None,
        }
    }

    /// Reads the event from the JSON payload Secrets Manager sends.
    pub fn from_json(payload: &Value) -> Result<Self, EventError> {
        let object = payload.as_object().ok_or(EventError::NotAnObject)?;
        let required = |field: &'static str| -> Result<String, EventError> {
            match object.get(field) {
                None | Some(Value::Null) => Err(EventError::MissingField(field)),
                Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
                Some(_) => Err(EventError::NotAString(field)),
            }
        };
        let step_name = required("Step")?;
        let secret_id = required("SecretId")?;
        let token = VersionToken::new(required("ClientRequestToken")?);
        let rotation_token = match object.get("RotationToken") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if !text.is_empty() => Some(RotationToken::new(text.clone())),
            Some(_) => return Err(EventError::NotAString("RotationToken")),
        };
        let step = match Step::parse(&step_name) {
            Some(step) => RequestedStep::Known(step),
            None => RequestedStep::Unknown(step_name),
        };
        Ok(RotationEvent {
            step,
            secret_id,
            token,
            rotation_token,
        })
    }

    /// The JSON payload for this event, as Secrets Manager would send it.
    pub fn to_json(&self) -> Value {
        let mut object = serde_json::Map::new();
        object.insert("Step".into(), Value::String(self.step.to_string()));
        object.insert("SecretId".into(), Value::String(self.secret_id.clone()));
        object.insert(
            "ClientRequestToken".into(),
            Value::String(self.token.as_str().to_owned()),
        );
        if let Some(token) = &self.rotation_token {
            object.insert(
                "RotationToken".into(),
                Value::String(token.expose().to_owned()),
            );
        }
        Value::Object(object)
    }
}

/// A random version-4 UUID in its usual text form (`xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`),
/// for version tokens and request ids.
///
/// Secrets Manager accepts any 32 to 64 characters as a `ClientRequestToken`; a UUID is what
/// it generates itself, so tokens made locally look the same as on AWS.
pub fn new_uuid() -> String {
    let mut bits: u128 = rand::random();
    bits = (bits & !(0xf << 76)) | (0x4 << 76); // version 4
    bits = (bits & !(0x3 << 62)) | (0x2 << 62); // RFC 4122 variant
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_have_version_4_and_the_rfc_variant_and_differ() {
        for _ in 0..100 {
            let id = new_uuid();
            let groups: Vec<&str> = id.split('-').collect();
            assert_eq!(
                groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(groups[2].starts_with('4'), "{id}");
            assert!(
                matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
                "{id}"
            );
        }
        assert_ne!(new_uuid(), new_uuid());
    }
    use serde_json::json;

    #[test]
    fn reads_a_full_event() {
        let event = RotationEvent::from_json(&json!({
            "Step": "setSecret", "SecretId": "arn:s", "ClientRequestToken": "t1", "RotationToken": "rt"
        }))
        .unwrap();
        assert_eq!(event.step, RequestedStep::Known(Step::SetSecret));
        assert_eq!(event.secret_id, "arn:s");
        assert_eq!(event.token.as_str(), "t1");
        assert_eq!(event.rotation_token.unwrap().expose(), "rt");
    }

    #[test]
    fn rotation_token_is_optional_and_hidden_from_debug() {
        let event = RotationEvent::from_json(
            &json!({"Step": "testSecret", "SecretId": "s", "ClientRequestToken": "t"}),
        )
        .unwrap();
        assert!(event.rotation_token.is_none());
        let token = RotationToken::new("very-private");
        assert!(!format!("{token:?}").contains("very-private"));
    }

    #[test]
    fn unknown_step_is_kept_for_later() {
        let event = RotationEvent::from_json(
            &json!({"Step": "dance", "SecretId": "s", "ClientRequestToken": "t"}),
        )
        .unwrap();
        assert_eq!(event.step, RequestedStep::Unknown("dance".into()));
    }

    #[test]
    fn malformed_events_name_the_field() {
        let cases = [
            (json!([]), EventError::NotAnObject),
            (json!("createSecret"), EventError::NotAnObject),
            (
                json!({"SecretId": "s", "ClientRequestToken": "t"}),
                EventError::MissingField("Step"),
            ),
            (
                json!({"Step": "createSecret", "ClientRequestToken": "t"}),
                EventError::MissingField("SecretId"),
            ),
            (
                json!({"Step": "createSecret", "SecretId": "s"}),
                EventError::MissingField("ClientRequestToken"),
            ),
            (
                json!({"Step": "createSecret", "SecretId": "s", "ClientRequestToken": 7}),
                EventError::NotAString("ClientRequestToken"),
            ),
            (
                json!({"Step": "createSecret", "SecretId": "", "ClientRequestToken": "t"}),
                EventError::NotAString("SecretId"),
            ),
            (
                json!({"Step": "createSecret", "SecretId": "s", "ClientRequestToken": "t", "RotationToken": 1}),
                EventError::NotAString("RotationToken"),
            ),
        ];
        for (payload, expected) in cases {
            assert_eq!(
                RotationEvent::from_json(&payload).unwrap_err(),
                expected,
                "{payload}"
            );
        }
    }

    #[test]
    fn to_json_round_trips() {
        let mut event = RotationEvent::new(Step::FinishSecret, "s", VersionToken::new("t"));
        event.rotation_token = Some(RotationToken::new("rt"));
        assert_eq!(RotationEvent::from_json(&event.to_json()).unwrap(), event);
    }
}
