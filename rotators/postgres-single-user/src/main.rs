//! `postgres-single-user`: the Lambda that rotates a PostgreSQL user's own password.
//! A drop-in for AWS's `SecretsManagerRDSPostgreSQLRotationSingleUser` template.

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    rotation_core::lambda::serve(
        env!("CARGO_BIN_NAME"),
        rotation_postgres::single_user_from_env,
    )
    .await
}
