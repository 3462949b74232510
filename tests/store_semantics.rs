//! Secrets Manager's rules as `rotation_core::conformance` states them, run against moto
//! through the real `AwsSecretStore`. The same table runs against `MemoryStore` in
//! `cargo test -p rotation-core`, so the in-memory model and the emulator the other end-to-end
//! tests use cannot drift apart: a row that moto breaks fails here, unless the row is marked
//! as a known moto deviation, and a marked row that moto no longer breaks fails too.
//!
//! Only moto is started (no database).

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::types::{RotationRulesType, Tag};
use rotation_core::conformance::{Backend, BackendKind, TABLE, run_table};
use rotation_core::{AwsSecretStore, SecretStore, StoreError, VersionToken, async_trait};
use rotation_e2e::unique;
use rotation_local::SecretsManagerDriver;
use rotation_stack::{Lifetime, MotoServer};

/// The function ARN recorded by `RotateSecret`; moto cannot invoke it, which is the point.
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:conformance";

/// moto as a conformance backend.
struct Moto {
    client: Client,
    store: AwsSecretStore,
}

fn store_error<E, R>(operation: &'static str, secret: &str, error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = error.code().map(str::to_owned);
    let error = StoreError::new(operation, secret, DisplayErrorContext(&error).to_string());
    match code {
        Some(code) => error.with_code(code),
        None => error,
    }
}

#[async_trait]
impl Backend for Moto {
    fn store(&self) -> &dyn SecretStore {
        &self.store
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Moto
    }

    async fn create_secret(
        &self,
        name: &str,
        value: &str,
        tags: &[(&str, &str)],
    ) -> Result<VersionToken, StoreError> {
        let tags = tags
            .iter()
            .map(|(key, value)| Tag::builder().key(*key).value(*value).build());
        let created = self
            .client
            .create_secret()
            .name(name)
            .secret_string(value)
            .set_tags(Some(tags.collect()))
            .send()
            .await
            .map_err(|error| store_error("CreateSecret", name, error))?;
        let version = created
            .version_id()
            .ok_or_else(|| StoreError::new("CreateSecret", name, "no VersionId in the answer"))?;
        Ok(VersionToken::new(version))
    }

    /// `RotateSecret` with a function moto does not know: moto does Secrets Manager's part
    /// (the value-less `AWSPENDING` version), then answers `ResourceNotFoundException` for
    /// the function, which is expected (see `rotation_local::SecretsManagerDriver`).
    async fn start_rotation(&self, secret_id: &str) -> Result<VersionToken, StoreError> {
        let token = format!("{:032x}", rand::random::<u128>());
        let rules = RotationRulesType::builder()
            .automatically_after_days(30)
            .build();
        let rotated = self
            .client
            .rotate_secret()
            .secret_id(secret_id)
            .client_request_token(&token)
            .rotation_lambda_arn(FUNCTION_ARN)
            .rotation_rules(rules)
            .rotate_immediately(true)
            .send()
            .await;
        match rotated {
            Ok(_) => Ok(VersionToken::new(token)),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|error| error.is_resource_not_found_exception()) =>
            {
                Ok(VersionToken::new(token))
            }
            Err(error) => Err(store_error("RotateSecret", secret_id, error)),
        }
    }
}

#[tokio::test]
async fn moto_follows_the_table_except_its_known_deviations() {
    let moto = tokio::task::spawn_blocking(|| MotoServer::start(Lifetime::WithProcess))
        .await
        .expect("the start of moto does not panic")
        .unwrap_or_else(|error| panic!("cannot start moto: {error}"));
    let client = SecretsManagerDriver::new(&moto.endpoint())
        .await
        .client()
        .clone();
    let backend = Moto {
        store: AwsSecretStore::from_client(client.clone()),
        client,
    };
    let report = run_table(&backend, &unique("conformance-")).await;
    for (name, why) in &report.known_deviations {
        eprintln!("known moto deviation: {name}: {why}");
    }
    assert!(
        report.failures.is_empty(),
        "moto breaks rows of the table:\n{}",
        report.failures_text()
    );
    let marked = TABLE.iter().filter(|case| case.moto.is_some()).count();
    assert_eq!(report.known_deviations.len(), marked);
    assert_eq!(report.passed.len(), TABLE.len() - marked);
}
