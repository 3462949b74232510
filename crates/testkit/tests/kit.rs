//! The kit must fail a rotator that breaks the contract, clause by clause, and must find a
//! secret value wherever it is logged.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;

use rotation_testkit::{AfterRotation, Clause, Contract, Setup, Target, TargetError, async_trait};

/// The no-op example, built by `cargo test -p rotation-testkit` next to this test.
fn no_op_rotator() -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary's path");
    let profile_dir = test_binary
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in target/<profile>/deps");
    let example = profile_dir.join("examples").join("no_op_rotator");
    assert!(
        example.is_file(),
        "{} is missing: run `cargo test -p rotation-testkit`, which builds it",
        example.display()
    );
    example
}

/// Accounts that exist only in this process: a password works once `new_account` made it.
#[derive(Default)]
struct InMemory {
    accepted: Mutex<BTreeSet<String>>,
    leak_into_log: bool,
}

#[async_trait]
impl Target for InMemory {
    fn binary(&self) -> PathBuf {
        no_op_rotator()
    }

    async fn new_account(&self, _: &Setup) -> Result<String, TargetError> {
        let password = format!("Password-{:016x}", rand_u64());
        self.accepted.lock().unwrap().insert(password.clone());
        Ok(serde_json::json!({"username": "app", "password": password}).to_string())
    }

    async fn check(&self, secret: &str) -> Result<(), TargetError> {
        let value: serde_json::Value = serde_json::from_str(secret)?;
        let password = value["password"].as_str().ok_or("no password")?;
        if self.accepted.lock().unwrap().contains(password) {
            Ok(())
        } else {
            Err("wrong password".into())
        }
    }

    fn after_rotation(&self) -> AfterRotation {
        AfterRotation::PreviousRevoked
    }

    async fn target_log(&self) -> Result<Option<String>, TargetError> {
        if !self.leak_into_log {
            return Ok(None);
        }
        let accepted = self.accepted.lock().unwrap();
        Ok(Some(format!(
            "login ok with {}\n",
            accepted.iter().next().cloned().unwrap_or_default()
        )))
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

#[tokio::test]
async fn a_rotator_that_does_nothing_fails_every_clause_that_needs_work() {
    let target = InMemory::default();
    let failure = Contract::new()
        .await
        .run(&target)
        .await
        .expect_err("a no-op rotator must not pass the contract");
    let failed: BTreeSet<&str> = failure.failures.iter().map(|f| f.clause.name()).collect();
    let expected: BTreeSet<&str> = Clause::ALL
        .iter()
        .filter(|clause| {
            !matches!(
                clause,
                // Doing nothing is right for these.
                Clause::CurrentTokenIsNoOp | Clause::NoSecretInLogs
            )
        })
        .map(|clause| clause.name())
        .collect();
    assert_eq!(failed, expected, "{failure}");
    let report = failure.to_string();
    assert!(
        report.contains("AWSCURRENT is not on the new version"),
        "{report}"
    );
    assert!(report.contains("expected an error InvalidStep"), "{report}");
    assert!(
        report.contains("expected an error RotationDisabled"),
        "{report}"
    );
}

#[tokio::test]
async fn a_secret_value_in_the_target_log_is_found_and_not_repeated() {
    let target = InMemory {
        leak_into_log: true,
        ..InMemory::default()
    };
    let failure = Contract::new().await.run(&target).await.unwrap_err();
    let leak = failure
        .failures
        .iter()
        .find(|f| f.clause == Clause::NoSecretInLogs)
        .unwrap_or_else(|| panic!("the leak was not found: {failure}"));
    assert!(
        leak.message.contains("appears in the target's log"),
        "{}",
        leak.message
    );
    assert!(leak.message.contains("login ok with <the secret value>"));
    let leaked = target
        .accepted
        .lock()
        .unwrap()
        .iter()
        .next()
        .cloned()
        .unwrap();
    assert!(
        !failure.to_string().contains(&leaked),
        "the report repeats the secret"
    );
}
