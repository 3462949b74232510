//! The rotator through the whole rotation contract of `rotation-testkit`: every clause of the
//! Secrets Manager protocol, with the real binary, against moto and a local HTTP service whose
//! users change their own password (`rotation-keyservice`).
//!
//! Your target: to test against your own service, change `new_account` (make a fresh user and
//! return its secret JSON) and `check` (prove that a secret's credentials log in), and let
//! `target_log` return your service's log, which the kit searches for passwords.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use rotation_core::PasswordPolicy;
use rotation_core::password::PasswordSettings;
use rotation_keyservice::KeyService;
use rotation_testkit::{Setup, Target, TargetError, assert_contract, async_trait};
use serde_json::{Value, json};

/// The local service, and what makes its accounts.
struct LocalService {
    service: KeyService,
    accounts: AtomicU32,
    passwords: PasswordPolicy,
    http: reqwest::Client,
}

impl LocalService {
    async fn start() -> LocalService {
        LocalService {
            service: KeyService::start()
                .await
                .unwrap_or_else(|error| panic!("the local service does not start: {error}")),
            accounts: AtomicU32::new(0),
            passwords: PasswordPolicy::new(&PasswordSettings::defaults(""))
                .expect("the default password settings are valid"),
            http: reqwest::Client::new(),
        }
    }
}

#[async_trait]
impl Target for LocalService {
    fn binary(&self) -> PathBuf {
        // Cargo builds the package's binary before its integration tests, and says where.
        PathBuf::from(env!("CARGO_BIN_EXE_{{project-name}}"))
    }

    async fn new_account(&self, _setup: &Setup) -> Result<String, TargetError> {
        let username = format!("app-{}", self.accounts.fetch_add(1, Ordering::Relaxed));
        let password = self.passwords.generate();
        if !self.service.add_user(&username, password.expose()) {
            return Err(format!("user {username} exists already").into());
        }
        let secret = json!({
            "baseUrl": self.service.base_url(),
            "username": username,
            "password": password.expose(),
        });
        Ok(secret.to_string())
    }

    async fn check(&self, secret: &str) -> Result<(), TargetError> {
        let secret: Value = serde_json::from_str(secret)?;
        let username = secret["username"].as_str().ok_or("no username")?;
        let password = secret["password"].as_str().ok_or("no password")?;
        let answer = self
            .http
            .get(format!("{}/v1/users/me", self.service.base_url()))
            .basic_auth(username, Some(password))
            .send()
            .await?;
        match answer.status() {
            reqwest::StatusCode::OK => Ok(()),
            status => {
                Err(format!("{username} cannot log in: GET /v1/users/me answered {status}").into())
            }
        }
    }

    async fn target_log(&self) -> Result<Option<String>, TargetError> {
        Ok(Some(self.service.requests().join("\n")))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rotation_contract_holds() {
    // The service runs on this test's runtime, which outlives the contract run.
    let target = LocalService::start().await;
    let report = assert_contract(&target).await;
    eprintln!("{report}");
}
