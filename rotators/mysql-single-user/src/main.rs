//! `mysql-single-user`: the Lambda that rotates a MySQL, Aurora MySQL or MariaDB user's own
//! password. A drop-in for AWS's `SecretsManagerRDSMySQLRotationSingleUser` and
//! `SecretsManagerRDSMariaDBRotationSingleUser` templates.

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    rotation_core::lambda::serve(env!("CARGO_BIN_NAME"), rotation_mysql::single_user_from_env).await
}
