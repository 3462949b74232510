//! A tiny Lambda function for exercising [`rotation_local::LocalFunction`] with a real binary.
//!
//! It answers every event with the event itself, except:
//! - `{"fail": true}` returns an error (`errorType` `EchoFailed`);
//! - `{"exit": N}` ends the process with code `N` (`{"exit": true}` with code 3), as a crash would;
//! - `{"sleep_ms": N}` waits that long before answering.
//!
//! At start-up, `ECHO_INIT_DELAY_MS=N` makes it wait that long before asking for its first
//! event, as a slow start does; `ECHO_INIT_ERROR=1` makes it report an init error to the
//! Runtime API and exit, as a function with a bad configuration does.

use std::time::Duration;

use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    println!("echo_function starting");
    if let Some(ms) = std::env::var("ECHO_INIT_DELAY_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if std::env::var("ECHO_INIT_ERROR").is_ok_and(|value| value == "1") {
        report_init_error()?;
        std::process::exit(1);
    }
    lambda_runtime::run(service_fn(echo)).await
}

async fn echo(event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let (payload, context) = event.into_parts();
    eprintln!("echo_function handling {}", context.request_id);
    match payload.get("exit") {
        Some(Value::Bool(true)) => std::process::exit(3),
        Some(Value::Number(code)) => std::process::exit(code.as_i64().unwrap_or(3) as i32),
        _ => {}
    }
    if let Some(ms) = payload.get("sleep_ms").and_then(Value::as_u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if payload.get("fail") == Some(&Value::Bool(true)) {
        return Err(Diagnostic {
            error_type: "EchoFailed".into(),
            error_message: "asked to fail".into(),
        });
    }
    Ok(payload)
}

/// Posts to `/runtime/init/error` with plain HTTP/1.1, as a runtime does when start-up fails.
fn report_init_error() -> std::io::Result<()> {
    use std::io::{Read, Write};
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").map_err(std::io::Error::other)?;
    let body = r#"{"errorType":"EchoInitFailed","errorMessage":"ECHO_INIT_ERROR is set"}"#;
    let mut stream = std::net::TcpStream::connect(&api)?;
    write!(
        stream,
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\n\
         Lambda-Runtime-Function-Error-Type: EchoInitFailed\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(())
}
