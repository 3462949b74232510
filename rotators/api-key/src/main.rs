//! `api-key`: the Lambda that rotates a third-party API key described by a provider profile,
//! with overlap and without ever leaving an unrecorded key at the provider.

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    rotation_core::lambda::serve(env!("CARGO_BIN_NAME"), rotation_apikey::api_key_from_env).await
}
