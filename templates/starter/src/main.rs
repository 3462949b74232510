//! `{{project-name}}`: the Lambda. Everything it does is in `lib.rs`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    rotation_core::lambda::serve({{crate_name}}::from_env).await
}
