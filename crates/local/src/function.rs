//! A real function binary, run as a child process under the emulated Runtime API.
//!
//! The process gets the environment Lambda gives a function (the `AWS_LAMBDA_*` variables,
//! a region, credentials), inherits the rest of this process's environment, and has its stdout
//! and stderr captured line by line. Like Lambda, an invocation that passes its deadline ends
//! the process: whatever it was still doing must not change the world after the caller has
//! been told it timed out.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::outcome::Outcome;
use crate::runtime_api::{Event, RuntimeApi};
use crate::{ACCOUNT_ID, LocalError, REGION, new_uuid};

/// The name a function gets when none is given.
pub(crate) const DEFAULT_FUNCTION_NAME: &str = "rotation-local";

/// How long [`LocalFunction::stop`] waits for the output pipes to close after the kill
/// (longer only if the binary left children of its own holding them).
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

/// How to run a [`LocalFunction`].
#[derive(Clone, Debug)]
pub struct FunctionOptions {
    /// The function name (`AWS_LAMBDA_FUNCTION_NAME`, and the end of its ARN).
    pub name: String,
    /// How long one invocation may take, and how long [`LocalFunction::ready`] waits.
    pub timeout: Duration,
    /// Extra environment variables; they win over the ones this crate sets.
    pub env: Vec<(String, String)>,
}

impl Default for FunctionOptions {
    fn default() -> Self {
        FunctionOptions {
            name: DEFAULT_FUNCTION_NAME.to_owned(),
            timeout: Duration::from_secs(30),
            env: Vec::new(),
        }
    }
}

/// One invocation: how it ended and how long it took, from sending the event to the outcome
/// (a first invocation includes the function's start-up, as a Lambda cold start does).
#[derive(Clone, Debug)]
pub struct Invocation {
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took.
    pub duration: Duration,
}

/// A function binary running under an emulated Lambda Runtime API.
///
/// Dropping it kills the process and stops the server.
pub struct LocalFunction {
    name: String,
    timeout: Duration,
    api: RuntimeApi,
    pid: Option<u32>,
    spawned_at: Instant,
    /// `Some(code)` once the process has ended.
    exit: watch::Receiver<Option<Option<i32>>>,
    /// Sending, or dropping, this ends the process.
    kill: Mutex<Option<oneshot::Sender<()>>>,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    /// Invocations are sequential, as on Lambda.
    invoking: tokio::sync::Mutex<()>,
}

impl LocalFunction {
    /// Serves the Runtime API on a free loopback port and starts `binary` against it.
    ///
    /// The process gets `AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128`, `AWS_LAMBDA_FUNCTION_VERSION=$LATEST`,
    /// `AWS_LAMBDA_LOG_GROUP_NAME`, `AWS_LAMBDA_LOG_STREAM_NAME`, `AWS_REGION` and
    /// `AWS_DEFAULT_REGION` (`us-east-1`), and test credentials (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, as Lambda always provides credentials); `options.env` wins over
    /// all of them. Its stdout and stderr are captured, and echoed to this process's stderr
    /// when `ROTATION_LOCAL_ECHO=1`.
    pub async fn start(
        binary: impl AsRef<Path>,
        options: FunctionOptions,
    ) -> Result<LocalFunction, LocalError> {
        let binary = binary.as_ref();
        let api = RuntimeApi::start()
            .await
            .map_err(|source| LocalError::Listen {
                what: "Lambda Runtime API",
                source,
            })?;
        let mut command = Command::new(binary);
        command
            .envs(lambda_env(&options, api.addr()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let spawned_at = Instant::now();
        let mut child = command.spawn().map_err(|source| LocalError::Spawn {
            binary: binary.to_path_buf(),
            source,
        })?;
        let pid = child.id();

        let output = Arc::new(Mutex::new(String::new()));
        let echo = std::env::var("ROTATION_LOCAL_ECHO")
            .is_ok_and(|value| value == "1")
            .then(|| options.name.clone());
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(tokio::spawn(capture(
                stdout,
                Arc::clone(&output),
                echo.clone(),
            )));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(tokio::spawn(capture(stderr, Arc::clone(&output), echo)));
        }

        let (exit_sender, exit) = watch::channel(None);
        let (kill, kill_receiver) = oneshot::channel();
        tokio::spawn(supervise(child, kill_receiver, exit_sender));

        Ok(LocalFunction {
            name: options.name,
            timeout: options.timeout,
            api,
            pid,
            spawned_at,
            exit,
            kill: Mutex::new(Some(kill)),
            output,
            readers,
            invoking: tokio::sync::Mutex::new(()),
        })
    }

    /// Time from spawn until the binary first asked for an event, waiting for that (at most
    /// the invocation timeout).
    pub async fn ready(&self) -> Result<Duration, LocalError> {
        let mut status = self.api.status();
        let polled = async {
            tokio::select! {
                biased;
                Ok(reported) = status.wait_for(|s| {
                    s.first_poll.is_some() || s.init_error.is_some()
                }) => {
                    if let Some(polled) = reported.first_poll {
                        return Ok(polled.duration_since(self.spawned_at));
                    }
                    let (error_type, error_message) =
                        reported.init_error.clone().unwrap_or_default();
                    Err(LocalError::InitFailed {
                        name: self.name.clone(),
                        error_type,
                        error_message,
                    })
                }
                code = self.exited() => Err(LocalError::ExitedBeforeReady {
                    name: self.name.clone(),
                    code,
                }),
            }
        };
        tokio::time::timeout(self.timeout, polled)
            .await
            .unwrap_or_else(|_| {
                Err(LocalError::NotReady {
                    name: self.name.clone(),
                    waited: self.timeout,
                })
            })
    }

    /// Sends one event and waits for its outcome: the function's answer or error, an init
    /// error, the process exiting, or the timeout passing (which stops the process). Never
    /// hangs longer than the timeout.
    ///
    /// The event carries `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms` (now
    /// plus the timeout), `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id`.
    /// Concurrent calls are served one after the other.
    pub async fn invoke(&self, payload: &Value) -> Invocation {
        let _one_at_a_time = self.invoking.lock().await;
        let started = Instant::now();
        let outcome = self.run_invocation(payload).await;
        Invocation {
            outcome,
            duration: started.elapsed(),
        }
    }

    async fn run_invocation(&self, payload: &Value) -> Outcome {
        if let Some((error_type, error_message)) = self.api.status().borrow().init_error.clone() {
            return Outcome::InitError {
                error_type,
                error_message,
            };
        }
        if let Some(code) = *self.exit.borrow() {
            return Outcome::Exited(code);
        }
        let answer = self.api.submit(Event {
            request_id: new_uuid(),
            payload: Bytes::from(payload.to_string()),
            deadline_ms: deadline_ms(self.timeout),
            function_arn: self.arn(),
        });
        let mut status = self.api.status();
        let ended = async {
            tokio::select! {
                biased;
                Ok(outcome) = answer => outcome,
                Ok(reported) = status.wait_for(|s| s.init_error.is_some()) => {
                    let (error_type, error_message) =
                        reported.init_error.clone().unwrap_or_default();
                    Outcome::InitError {
                        error_type,
                        error_message,
                    }
                }
                code = self.exited() => Outcome::Exited(code),
            }
        };
        let outcome = tokio::time::timeout(self.timeout, ended)
            .await
            .unwrap_or_else(|_| {
                self.kill();
                Outcome::TimedOut
            });
        self.api.settle();
        outcome
    }

    /// Everything the binary printed so far, stdout and stderr interleaved by line.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Kills the process (if still alive) and returns everything it printed.
    pub async fn stop(mut self) -> String {
        self.kill();
        self.exited().await;
        for reader in std::mem::take(&mut self.readers) {
            // A reader ends when the pipe closes; a grandchild may hold it open.
            let _ = tokio::time::timeout(OUTPUT_DRAIN, reader).await;
        }
        self.output()
    }

    /// The process id while the process runs, `None` once it has ended.
    pub fn pid(&self) -> Option<u32> {
        self.pid.filter(|_| self.exit.borrow().is_none())
    }

    /// Peak resident memory of the running process in KiB (`VmHWM` of `/proc/PID/status`;
    /// Linux only). Call it before [`LocalFunction::stop`].
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        vm_hwm_kib(&status)
    }

    /// Where the Runtime API listens (the value of `AWS_LAMBDA_RUNTIME_API`).
    pub fn runtime_api_addr(&self) -> SocketAddr {
        self.api.addr()
    }

    /// The function name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ARN the function is invoked as.
    pub fn arn(&self) -> String {
        function_arn(&self.name)
    }

    /// Waits until the process has ended and returns its exit code.
    async fn exited(&self) -> Option<i32> {
        let mut exit = self.exit.clone();
        match exit.wait_for(Option::is_some).await {
            Ok(code) => code.flatten(),
            // The supervisor is gone (runtime shutting down); the child was dropped and killed.
            Err(_) => None,
        }
    }

    /// Kills the process now, as a crash or Lambda recycling the execution environment would,
    /// without waiting for it to end; later invocations report [`Outcome::Exited`]. Killing a
    /// process that has ended does nothing.
    pub fn kill(&self) {
        let kill = self
            .kill
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(kill) = kill {
            // The supervisor may have seen the exit already; then there is nothing to kill.
            let _ = kill.send(());
        }
    }
}

impl fmt::Debug for LocalFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalFunction")
            .field("name", &self.name)
            .field("runtime_api", &self.api.addr())
            .field("pid", &self.pid)
            .field("exit", &*self.exit.borrow())
            .finish_non_exhaustive()
    }
}

/// The Lambda ARN of a function called `name` in the emulated account.
pub(crate) fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}")
}

/// The environment Lambda gives a function, with `options.env` applied last.
fn lambda_env(options: &FunctionOptions, api: SocketAddr) -> BTreeMap<String, String> {
    let name = &options.name;
    let log_stream = format!("local/[$LATEST]{}", new_uuid().replace('-', ""));
    let defaults = [
        ("AWS_LAMBDA_RUNTIME_API", api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", log_stream),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_DEFAULT_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
    ];
    let mut env: BTreeMap<String, String> = defaults
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
    env.extend(options.env.iter().cloned());
    env
}

fn deadline_ms(timeout: Duration) -> u128 {
    (SystemTime::now() + timeout)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since_epoch| since_epoch.as_millis())
}

/// Reads `VmHWM:   1234 kB` from the text of `/proc/PID/status`.
fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Waits for the child to end, or kills it when asked (or when the owner is dropped), and
/// publishes its exit code.
async fn supervise(
    mut child: Child,
    kill: oneshot::Receiver<()>,
    exit: watch::Sender<Option<Option<i32>>>,
) {
    let status = tokio::select! {
        status = child.wait() => status,
        _ = kill => {
            if let Err(error) = child.start_kill() {
                tracing::debug!(%error, "killing the function process failed (already ended?)");
            }
            child.wait().await
        }
    };
    let code = status.ok().and_then(|status| status.code());
    exit.send_replace(Some(code));
}

/// Appends every line from `pipe` to `output`, echoing it to stderr under `echo`'s name.
async fn capture(pipe: impl AsyncRead + Unpin, output: Arc<Mutex<String>>, echo: Option<String>) {
    let mut pipe = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        match pipe.read_until(b'\n', &mut line).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) => {
                tracing::debug!(%error, "reading the function's output failed");
                break;
            }
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        if let Some(name) = &echo {
            eprintln!("[{name}] {text}");
        }
        let mut output = output.lock().unwrap_or_else(PoisonError::into_inner);
        output.push_str(text);
        output.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_env_has_the_runtime_variables_and_options_win() {
        let options = FunctionOptions {
            name: "fn-a".into(),
            env: vec![
                ("AWS_REGION".into(), "eu-west-1".into()),
                ("EXTRA".into(), "1".into()),
            ],
            ..FunctionOptions::default()
        };
        let env = lambda_env(&options, "127.0.0.1:9001".parse().unwrap());
        assert_eq!(env["AWS_LAMBDA_RUNTIME_API"], "127.0.0.1:9001");
        assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "fn-a");
        assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "128");
        assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
        assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/fn-a");
        assert!(env["AWS_LAMBDA_LOG_STREAM_NAME"].starts_with("local/[$LATEST]"));
        assert_eq!(env["AWS_REGION"], "eu-west-1");
        assert_eq!(env["AWS_DEFAULT_REGION"], "us-east-1");
        assert_eq!(env["EXTRA"], "1");
    }

    #[test]
    fn reads_peak_rss_from_proc_status() {
        let status = "Name:\tx\nVmPeak:\t  2000 kB\nVmHWM:\t    1234 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(vm_hwm_kib(status), Some(1234));
        assert_eq!(vm_hwm_kib("Name:\tx\n"), None);
    }

    #[test]
    fn function_arn_is_in_the_emulated_account() {
        assert_eq!(
            function_arn("f"),
            "arn:aws:lambda:us-east-1:123456789012:function:f"
        );
    }
}
