//! `{{project-name}}`: the Lambda. Everything it does is in `lib.rs`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    rotation_core::lambda::serve(env!("CARGO_BIN_NAME"), {{crate_name}}::from_env).await
}
