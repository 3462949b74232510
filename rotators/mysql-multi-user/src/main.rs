//! `mysql-multi-user`: the Lambda that rotates a MySQL, Aurora MySQL or MariaDB user pair
//! (`user` and `user_clone` take turns) through a master secret. A drop-in for AWS's
//! `SecretsManagerRDSMySQLRotationMultiUser` and `SecretsManagerRDSMariaDBRotationMultiUser`
//! templates.

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    rotation_core::lambda::serve(env!("CARGO_BIN_NAME"), rotation_mysql::multi_user_from_env).await
}
