//! Every outcome of `validate` (and of reading the event) through the handler, in AWS's
//! order, and that a rejected event writes nothing.

use serde_json::json;

use super::*;
use crate::memory_store::Call;
use crate::validate::ValidationError;

/// Whether the store was written to (PutSecretValue or UpdateSecretVersionStage).
fn wrote(store: &MemoryStore) -> bool {
    store.calls().iter().any(|call| {
        matches!(
            call,
            Call::PutPending | Call::PutCurrent | Call::MoveCurrent
        )
    })
}

fn payload(step: &str, secret: &str, token: &str) -> serde_json::Value {
    json!({"Step": step, "SecretId": secret, "ClientRequestToken": token})
}

#[tokio::test]
async fn rotation_disabled_is_rejected_for_every_step() {
    let fixture = single_user();
    fixture.store.cancel_rotation(SECRET).unwrap();
    for step in Step::ALL {
        let error = fixture.run(step).await.unwrap_err();
        assert!(
            matches!(
                error,
                RotationError::Validation(ValidationError::RotationDisabled { .. })
            ),
            "{step}: {error}"
        );
        assert_eq!(error.kind(), "RotationDisabled");
    }
    assert!(!wrote(&fixture.store));
}

#[tokio::test]
async fn rotation_disabled_wins_over_a_token_already_current() {
    let fixture = single_user();
    fixture.run_all(&Step::ALL).await;
    fixture.store.cancel_rotation(SECRET).unwrap();
    let error = fixture.run(Step::FinishSecret).await.unwrap_err();
    assert_eq!(error.kind(), "RotationDisabled");
}

#[tokio::test]
async fn a_token_that_is_no_version_is_rejected() {
    let fixture = single_user();
    let unknown = "00000000-0000-4000-8000-000000000000";
    let error = fixture
        .rotation
        .handle(&payload("createSecret", SECRET, unknown), deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            RotationError::Validation(ValidationError::UnknownVersion { .. })
        ),
        "{error}"
    );
    assert!(error.to_string().contains(unknown), "{error}");
    assert!(!wrote(&fixture.store));
}

#[tokio::test]
async fn a_token_already_current_is_a_quiet_success_for_every_step_and_any_step_name() {
    let fixture = single_user();
    fixture.run_all(&Step::ALL).await;
    let before = fixture.snapshot();
    let calls = fixture.store.calls().len();
    for step in Step::ALL {
        assert_eq!(
            fixture.run(step).await.unwrap(),
            StepOutcome::AlreadyCurrent,
            "{step}"
        );
    }
    let token = fixture.started.token.as_str();
    let answer = fixture
        .rotation
        .handle(&payload("dance", SECRET, token), deadline())
        .await
        .unwrap();
    assert_eq!(answer["outcome"], "already-current");
    assert!(
        fixture.snapshot() == before,
        "a step on a current token changed something"
    );
    assert!(!fixture.store.calls()[calls..].iter().any(|call| matches!(
        call,
        Call::PutPending | Call::PutCurrent | Call::MoveCurrent
    )));
}

#[tokio::test]
async fn a_token_without_awspending_is_rejected_and_a_superseded_one_is_unknown() {
    // The first version, AWSPREVIOUS after a rotation.
    let fixture = single_user();
    fixture.run_all(&Step::ALL).await;
    let old = crate::event::VersionToken::new(fixture.initial.clone());
    let mut event = fixture.started.event(Step::SetSecret);
    event.token = old;
    let error = fixture
        .rotation
        .handle_event(&event, deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            RotationError::Validation(ValidationError::NotPending { .. })
        ),
        "{error}"
    );
    assert_eq!(error.kind(), "NotPending");

    // A rotation's token whose AWSPENDING another version took: with no label left it is no
    // longer listed by DescribeSecret, so AWS's order reports it as no version of the secret.
    let fixture = single_user();
    let other = crate::event::VersionToken::new("11111111-1111-4111-8111-111111111111");
    let value = SecretString::new(r#"{"username":"app","password":"elsewhere"}"#);
    fixture
        .store
        .put_pending(SECRET, &other, &value, None)
        .await
        .unwrap();
    for step in Step::ALL {
        let error = fixture.run(step).await.unwrap_err();
        assert_eq!(error.kind(), "UnknownVersion", "{step}");
    }
    assert!(fixture.service.logs_in("app", "pw-0"));
}

#[tokio::test]
async fn an_unknown_step_on_the_pending_token_is_rejected() {
    let fixture = single_user();
    let token = fixture.started.token.as_str();
    let error = fixture
        .rotation
        .handle(&payload("dance", SECRET, token), deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            RotationError::Validation(ValidationError::InvalidStep { .. })
        ),
        "{error}"
    );
    assert!(!wrote(&fixture.store));
}

#[tokio::test]
async fn an_unknown_token_is_rejected_before_an_unknown_step() {
    let fixture = single_user();
    let error = fixture
        .rotation
        .handle(&payload("dance", SECRET, "nope"), deadline())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "UnknownVersion");
}

#[tokio::test]
async fn a_malformed_event_is_rejected_before_any_call() {
    let fixture = single_user();
    let error = fixture
        .rotation
        .handle(
            &json!({"Step": "createSecret", "SecretId": SECRET}),
            deadline(),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "InvalidEvent");
    assert!(fixture.store.calls().is_empty());
}

#[tokio::test]
async fn a_secret_that_does_not_exist_is_a_store_error_naming_it() {
    let fixture = single_user();
    let token = fixture.started.token.as_str();
    let error = fixture
        .rotation
        .handle(
            &payload("createSecret", "no-such-secret", token),
            deadline(),
        )
        .await
        .unwrap_err();
    match &error {
        RotationError::Store(store) => {
            assert_eq!(store.operation, "DescribeSecret");
            assert_eq!(store.code.as_deref(), Some("ResourceNotFoundException"));
            assert_eq!(store.secret, "no-such-secret");
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn steps_after_create_need_its_value() {
    let fixture = single_user();
    for step in [Step::SetSecret, Step::TestSecret] {
        let error = fixture.run(step).await.unwrap_err();
        assert!(
            matches!(
                error,
                RotationError::MissingVersion {
                    stage: Stage::Pending,
                    ..
                }
            ),
            "{step}: {error}"
        );
    }
    assert!(!wrote(&fixture.store));
}
