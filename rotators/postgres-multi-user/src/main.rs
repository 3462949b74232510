//! `postgres-multi-user`: the Lambda that alternates a PostgreSQL user and its `_clone`, setting
//! the new password through the master secret that `masterarn` names. A drop-in for AWS's
//! `SecretsManagerRDSPostgreSQLRotationMultiUser` template, without its ownership trap.

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    rotation_core::lambda::serve(
        env!("CARGO_BIN_NAME"),
        rotation_postgres::multi_user_from_env,
    )
    .await
}
