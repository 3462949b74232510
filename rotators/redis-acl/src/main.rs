//! `redis-acl`: the Lambda that rotates the password of a Redis ACL user, alone (the user
//! changes its own password) or as a pair that takes turns (when the secret has `masterarn`).

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    rotation_core::lambda::serve(env!("CARGO_BIN_NAME"), redis_acl::from_env).await
}
