//! Child process lifetime: starting a server so that it dies with us (or, deliberately, does
//! not), waiting until it is ready, and stopping it; and running the short-lived helper
//! programs (pg_basebackup, the mariadb client) with a time limit.
//!
//! Processes are plain `std::process` children, not tokio ones: a server must outlive the
//! tokio runtime of the test that started it, since every `#[tokio::test]` has its own.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::{Lifetime, StackError};

/// How often readiness and exit are polled.
const POLL: Duration = Duration::from_millis(50);

/// How long a dropped server may take to stop before it is killed.
const DROP_GRACE: Duration = Duration::from_secs(5);

/// How often a helper program is polled for its end: they mostly take milliseconds.
const HELPER_POLL: Duration = Duration::from_millis(10);

/// A running server process, stopped on drop when its lifetime is [`Lifetime::WithProcess`].
#[derive(Debug)]
pub(crate) struct ServerProcess {
    child: Child,
    server: &'static str,
    log: PathBuf,
    log_start: u64,
    lifetime: Lifetime,
    stop_signal: libc::c_int,
}

impl ServerProcess {
    /// Starts `command` with stdin closed and stdout and stderr appended to `log`.
    ///
    /// `server` names it in errors; `stop_signal` is the signal that stops it cleanly.
    pub(crate) fn spawn(
        mut command: Command,
        server: &'static str,
        log: &Path,
        lifetime: Lifetime,
        stop_signal: libc::c_int,
    ) -> Result<ServerProcess, StackError> {
        let output = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(StackError::io("opening log", log))?;
        let log_start = output
            .metadata()
            .map_err(StackError::io("reading the size of", log))?
            .len();
        let errors = output
            .try_clone()
            .map_err(StackError::io("opening log", log))?;
        command.stdin(Stdio::null()).stdout(output).stderr(errors);
        let program = PathBuf::from(command.get_program());
        let spawned = match lifetime {
            Lifetime::WithProcess => {
                die_with_parent(&mut command);
                spawn_from_keeper_thread(command)
            }
            Lifetime::Detached => {
                detach(&mut command);
                command.spawn()
            }
        };
        let child = spawned.map_err(|source| StackError::Spawn { program, source })?;
        tracing::debug!(server, pid = child.id(), "started");
        Ok(ServerProcess {
            child,
            server,
            log: log.to_path_buf(),
            log_start,
            lifetime,
            stop_signal,
        })
    }

    /// The operating system's id of the process.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where this run's output starts in the log (a restarted server appends to it).
    pub(crate) fn log_start(&self) -> u64 {
        self.log_start
    }

    /// Polls until `ready` says yes, failing early if the process exits, and after `timeout`
    /// (stopping the process then).
    pub(crate) fn wait_until_ready(
        &mut self,
        timeout: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), StackError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return Err(StackError::Exited {
                    server: self.server,
                    status: status.to_string(),
                    log: self.log.clone(),
                    tail: log_tail(&self.log, self.log_start),
                });
            }
            if ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                // Of no use now, and a detached one would otherwise run on unrecorded.
                self.stop(DROP_GRACE);
                return Err(StackError::NotReady {
                    server: self.server,
                    timeout,
                    log: self.log.clone(),
                    tail: log_tail(&self.log, self.log_start),
                });
            }
            thread::sleep(POLL);
        }
    }

    /// Sends the stop signal and waits until the process has exited, killing it if it takes
    /// longer than `grace`.
    pub(crate) fn stop(&mut self, grace: Duration) {
        if self.exit_status().is_some() {
            return;
        }
        signal(self.pid(), self.stop_signal);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exit_status().is_some() {
                tracing::debug!(server = self.server, pid = self.pid(), "stopped");
                return;
            }
            thread::sleep(POLL);
        }
        tracing::warn!(
            server = self.server,
            pid = self.pid(),
            "did not stop within {} s, killing it",
            grace.as_secs()
        );
        // Errors here mean the process is already gone, which is the goal.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn exit_status(&mut self) -> Option<ExitStatus> {
        // An error means there is no such child any more: treat it as gone.
        self.child
            .try_wait()
            .unwrap_or_else(|_| Some(ExitStatus::default()))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.lifetime == Lifetime::WithProcess {
            self.stop(DROP_GRACE);
        }
    }
}

/// Makes the child receive SIGKILL when its parent dies, even without any clean-up code
/// running (a test process that panics, is killed, or simply exits with servers in statics).
fn die_with_parent(command: &mut Command) {
    let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(libc::pid_t::MAX);
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls (prctl, getppid), allocating nothing. It runs after std
    // has switched user and group, which matters: a change of credentials clears the
    // parent-death signal.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then nobody will signal us.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Puts the child in a session of its own, so that it survives its parent and the terminal's
/// signals (Ctrl-C in the shell that ran `cargo xtask stack up`).
fn detach(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only calls setsid, which is
    // async-signal-safe, allocating nothing.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `command` from a thread that lives as long as the process.
///
/// The parent-death signal fires when the *thread* that forked the child ends, not the
/// process. Test harnesses run each test on a thread of its own, so a server started by one
/// test and shared with the others through a `static` would be killed when that first test
/// returned. Forking from one thread that never ends ties the servers to the process instead.
fn spawn_from_keeper_thread(command: Command) -> std::io::Result<Child> {
    static KEEPER: OnceLock<Option<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (requests, incoming) = mpsc::channel::<SpawnRequest>();
        thread::Builder::new()
            .name("rotation-stack-spawner".into())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    // The requester waits for this answer; if it is gone, so is the need.
                    let _ = reply.send(command.spawn());
                }
            })
            .ok()
            .map(|_| requests)
    });
    let no_keeper = || std::io::Error::other("the rotation-stack spawner thread is not running");
    let keeper = keeper.as_ref().ok_or_else(no_keeper)?;
    let (reply, answer) = mpsc::channel();
    keeper.send((command, reply)).map_err(|_| no_keeper())?;
    answer.recv().map_err(|_| no_keeper())?
}

/// Sends `signal` to `pid`; a process that is already gone is not an error.
pub(crate) fn signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Whether `pid` is a live (not zombie) process whose command line contains `marker`, so that
/// a recorded pid reused by an unrelated process is not mistaken for our server.
pub(crate) fn is_running(pid: u32, marker: &str) -> bool {
    let proc_dir = Path::new("/proc").join(pid.to_string());
    let Ok(cmdline) = std::fs::read(proc_dir.join("cmdline")) else {
        return false;
    };
    let zombie = std::fs::read_to_string(proc_dir.join("stat"))
        .ok()
        .and_then(|stat| {
            let (_, after_name) = stat.rsplit_once(')')?;
            after_name
                .split_whitespace()
                .next()
                .map(|state| state == "Z")
        })
        .unwrap_or(false);
    !zombie && String::from_utf8_lossy(&cmdline).contains(marker)
}

/// Stops a process that is not our child (recorded by an earlier `cargo xtask stack up`):
/// sends `signal`, waits up to `grace`, then kills it.
pub(crate) fn stop_recorded(pid: u32, marker: &str, stop_signal: libc::c_int, grace: Duration) {
    if !is_running(pid, marker) {
        return;
    }
    signal(pid, stop_signal);
    for (sig, wait) in [(None, grace), (Some(libc::SIGKILL), DROP_GRACE)] {
        if let Some(sig) = sig {
            tracing::warn!(pid, "did not stop within {} s, killing it", grace.as_secs());
            signal(pid, sig);
        }
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if !is_running(pid, marker) {
                return;
            }
            thread::sleep(POLL);
        }
    }
}

/// Runs a set-up program (initdb, mariadb-install-db, python's venv, pip) to completion, as
/// `account` when given, with stdin closed and stdout and stderr appended to `log`; says
/// whether it succeeded. The caller names a failure, with [`log_tail`].
pub(crate) fn run_logged(
    command: &mut Command,
    account: Option<crate::account::Account>,
    log: &Path,
) -> std::io::Result<bool> {
    let output = OpenOptions::new().create(true).append(true).open(log)?;
    if let Some(account) = account {
        account.run_as(command);
    }
    let status = command
        .stdin(Stdio::null())
        .stdout(output.try_clone()?)
        .stderr(output)
        .status()?;
    Ok(status.success())
}

/// Waits until `child` exits, killing it after `timeout`: its exit status, `None` when it had
/// to be killed.
pub(crate) fn wait_within(
    child: &mut Child,
    timeout: Duration,
) -> std::io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            // Errors here mean the process is already gone, which is the goal.
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(HELPER_POLL);
    }
}

/// Runs `command` with `input` fed to its stdin and its stdout and stderr captured, killing it
/// after `timeout`: what it printed and how it ended, `None` when it had to be killed.
///
/// The input is fed from a thread of its own, so that it may be another program's output
/// (a dump streamed into a client); that thread ends when the input does or the program stops
/// reading, and nobody waits for it.
pub(crate) fn run_captured(
    mut command: Command,
    input: impl Read + Send + 'static,
    timeout: Duration,
) -> std::io::Result<Option<Output>> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        let mut input = input;
        thread::spawn(move || {
            // A program that exits early closes the pipe: the rest of the input is of no use.
            let _ = std::io::copy(&mut input, &mut stdin);
        });
    }
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                // What could be read is all there is to report.
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = read(
        child
            .stdout
            .take()
            .map(|pipe| Box::new(pipe) as Box<dyn Read + Send>),
    );
    let stderr = read(
        child
            .stderr
            .take()
            .map(|pipe| Box::new(pipe) as Box<dyn Read + Send>),
    );
    let status = wait_within(&mut child, timeout)?;
    // The pipes close when the program is gone, so the readers end now; one that panicked
    // simply read nothing.
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(status.map(|status| Output {
        status,
        stdout,
        stderr,
    }))
}

/// Whether `command` runs to success, with stdin closed and its output discarded: a login
/// probe, whose only answer is its exit status.
pub(crate) fn succeeds_quietly(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// What was written to `log` from byte `from` on.
pub(crate) fn log_since(log: &Path, from: u64) -> std::io::Result<String> {
    let mut file = std::fs::File::open(log)?;
    file.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The last lines of a log written from byte `from` on, for error messages.
pub(crate) fn log_tail(log: &Path, from: u64) -> String {
    const LINES: usize = 25;
    const ERRORS: usize = 10;
    match log_since(log, from) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LINES)..];
            // The lines that say what went wrong often come before a long epilogue (as with
            // mariadb-install-db's advice): keep them too.
            let errors: Vec<&str> = lines[..lines.len() - tail.len()]
                .iter()
                .filter(|line| line.contains("ERROR") || line.contains("[Error]"))
                .take(ERRORS)
                .copied()
                .collect();
            if errors.is_empty() {
                tail.join("\n")
            } else {
                format!("{}\n...\n{}", errors.join("\n"), tail.join("\n"))
            }
        }
        Err(error) => format!("(could not read {}: {error})", log.display()),
    }
}
