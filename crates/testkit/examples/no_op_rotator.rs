//! A rotator that breaks the contract on purpose: it answers every event with success and
//! does nothing. The kit's own tests run the contract against it and expect it to fail.

use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(answer)).await
}

async fn answer(_: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    Ok(json!({}))
}
