//! The step semantics of [`RotationHandler`], branch by branch, against [`MemoryStore`]: every
//! validation outcome, every step run twice, and a crash after every store call of every step
//! followed by a retry, for a single-user and a multi-user rotator.

mod crashes;
mod metrics;
mod repeats;
mod target;
mod validation;

use std::time::Duration;

use super::*;
use crate::memory_store::{Call, MemoryStore, StartedRotation, StoredVersion};
use crate::secret::SecretString;
use target::{MultiUser, Service, SingleUser};

const SECRET: &str = "app";
const MASTER: &str = "master";

/// A secret, its target service, a rotation started on it, and the handler.
struct Fixture<R> {
    store: MemoryStore,
    service: Service,
    rotation: RotationHandler<R>,
    started: StartedRotation,
    initial: String,
}

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(10))
}

fn setup<R: Rotator>(
    value: &str,
    service: Service,
    rotator: impl FnOnce(Service) -> R,
) -> Fixture<R> {
    let store = MemoryStore::new();
    let created = store
        .create_secret(SECRET, &SecretString::new(value))
        .unwrap();
    store
        .create_secret(
            MASTER,
            &SecretString::new(r#"{"username":"admin","password":"master-pw"}"#),
        )
        .unwrap();
    let started = store.start_rotation(SECRET).unwrap();
    Fixture {
        rotation: RotationHandler::new(rotator(service.clone()), store.clone()),
        store,
        service,
        started,
        initial: created.version.as_str().to_owned(),
    }
}

fn single_user() -> Fixture<SingleUser> {
    setup(
        r#"{"username":"app","password":"pw-0","port":5432}"#,
        Service::default().with_user("app", "pw-0"),
        SingleUser::new,
    )
}

fn multi_user() -> Fixture<MultiUser> {
    setup(
        r#"{"username":"app","password":"pw-0","masterarn":"master"}"#,
        Service::default()
            .with_user("app", "pw-0")
            .with_user("admin", "master-pw"),
        MultiUser::new,
    )
}

impl<R: Rotator> Fixture<R> {
    async fn run(&self, step: Step) -> Result<StepOutcome, RotationError> {
        let result = self
            .rotation
            .handle_event(&self.started.event(step), deadline())
            .await;
        self.assert_current_is_proven();
        result
    }

    async fn run_all(&self, steps: &[Step]) {
        for step in steps {
            if let Err(error) = self.run(*step).await {
                panic!("{step}: {error}");
            }
        }
    }

    fn versions(&self) -> Vec<StoredVersion> {
        self.store.versions(SECRET).unwrap()
    }

    fn holder(&self, stage: Stage) -> Option<StoredVersion> {
        let mut holders = self
            .versions()
            .into_iter()
            .filter(|version| version.stages.contains(&stage));
        let holder = holders.next();
        assert!(holders.next().is_none(), "two versions carry {stage}");
        holder
    }

    /// `AWSCURRENT` is the first value, or one that testSecret proved: never an unproven one.
    fn assert_current_is_proven(&self) {
        let current = self
            .holder(Stage::Current)
            .expect("a version is AWSCURRENT");
        if current.id == self.initial {
            return;
        }
        let value = current.value.expect("AWSCURRENT has a value");
        let password = password_of(&value);
        assert!(
            self.service.proved(&password),
            "AWSCURRENT moved to version {} before testSecret proved it",
            current.id
        );
    }

    /// The end of a good rotation: the token is `AWSCURRENT` (and still `AWSPENDING`), the
    /// first version `AWSPREVIOUS`, and the service takes the current credentials.
    fn assert_rotated(&self) {
        let token = self.started.token.as_str();
        let current = self.holder(Stage::Current).unwrap();
        assert_eq!(current.id, token, "AWSCURRENT is on the rotation's token");
        assert!(current.stages.contains(&Stage::Pending));
        assert_eq!(self.holder(Stage::Previous).unwrap().id, self.initial);
        let (user, password) = credentials(&current.value.unwrap());
        assert!(
            self.service.logs_in(&user, &password),
            "the current credentials log in"
        );
        let pending_versions = self
            .versions()
            .into_iter()
            .filter(|version| version.value.is_some())
            .count();
        assert_eq!(pending_versions, 2, "exactly one new version was stored");
    }

    /// Everything a step could change: the secret's versions and the service.
    fn snapshot(&self) -> (Vec<StoredVersion>, target::ServiceState) {
        (self.versions(), self.service.snapshot())
    }
}

fn credentials(value: &SecretString) -> (String, String) {
    let json: serde_json::Value = serde_json::from_str(value.expose()).unwrap();
    (
        json["username"].as_str().unwrap().to_owned(),
        json["password"].as_str().unwrap().to_owned(),
    )
}

fn password_of(value: &SecretString) -> String {
    credentials(value).1
}

/// The first `n` steps, in order.
fn first(n: usize) -> &'static [Step] {
    static STEPS: [Step; 4] = Step::ALL;
    &STEPS[..n]
}

#[tokio::test]
async fn a_rotation_runs_through_for_both_rotators() {
    let fixture = single_user();
    fixture.run_all(&Step::ALL).await;
    fixture.assert_rotated();
    assert!(
        !fixture.service.logs_in("app", "pw-0"),
        "single user: the old password is gone"
    );

    let fixture = multi_user();
    fixture.run_all(&Step::ALL).await;
    fixture.assert_rotated();
    assert!(
        fixture.service.logs_in("app", "pw-0"),
        "multi user: the previous user still works"
    );
    let current = fixture.holder(Stage::Current).unwrap().value.unwrap();
    assert_eq!(credentials(&current).0, "app_clone");
}

/// Two rotations in one warm process: the first makes `calls` store calls in all; in the
/// second, the current value is the one this process wrote as the first's pending value, so
/// it is not read again (`reads` reads: the new token's pending version, not there yet, and
/// a master secret), and the rotation moves on from the right value.
async fn rotate_twice<R: Rotator>(mut fixture: Fixture<R>, calls: usize, reads: usize) {
    fixture.run_all(&Step::ALL).await;
    assert_eq!(fixture.store.calls().len(), calls);
    let first_token = fixture.started.token.as_str().to_owned();
    fixture.started = fixture.store.start_rotation(SECRET).unwrap();
    let before = fixture.store.calls().len();
    fixture.run_all(&Step::ALL).await;
    let second_reads = fixture.store.calls()[before..]
        .iter()
        .filter(|call| **call == Call::GetValue)
        .count();
    assert_eq!(second_reads, reads);
    assert_eq!(fixture.holder(Stage::Previous).unwrap().id, first_token);
    let current = fixture.holder(Stage::Current).unwrap();
    assert_eq!(current.id, fixture.started.token.as_str());
    let (user, password) = credentials(&current.value.unwrap());
    assert!(fixture.service.logs_in(&user, &password));
}

#[tokio::test]
async fn a_warm_process_reads_each_version_once_and_never_a_stale_one() {
    rotate_twice(single_user(), 8, 1).await;
    rotate_twice(multi_user(), 9, 2).await;
}

#[tokio::test]
async fn the_rotation_token_reaches_put_secret_value() {
    // MemoryStore refuses a PutSecretValue whose RotationToken is not the rotation's own.
    let fixture = single_user();
    let mut event = fixture.started.event(Step::CreateSecret);
    event.rotation_token = Some(crate::RotationToken::new("someone else's"));
    let error = fixture
        .rotation
        .handle_event(&event, deadline())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "SecretsManagerError");
    fixture.run_all(&Step::ALL).await;
    fixture.assert_rotated();
}

#[tokio::test]
async fn a_failing_test_secret_keeps_awscurrent_where_it_is() {
    let fixture = single_user();
    fixture.run_all(first(2)).await;
    // The service loses the new password (someone set it back): testSecret must fail.
    let _ = fixture.service.clone().with_user("app", "pw-0");
    let error = fixture.run(Step::TestSecret).await.unwrap_err();
    assert_eq!(error.kind(), "TargetError");
    assert_eq!(fixture.holder(Stage::Current).unwrap().id, fixture.initial);
    // A later attempt repairs it: setSecret falls back to the current password.
    fixture.run_all(&Step::ALL[1..]).await;
    fixture.assert_rotated();
}

#[tokio::test]
#[should_panic(expected = "before testSecret proved it")]
async fn the_invariant_check_catches_awscurrent_on_an_unproven_version() {
    // Secrets Manager never skips testSecret; if it did, finishSecret would move AWSCURRENT to
    // a value nobody proved, and every run of these tests checks for exactly that.
    let fixture = single_user();
    fixture
        .run_all(&[Step::CreateSecret, Step::SetSecret, Step::FinishSecret])
        .await;
}
