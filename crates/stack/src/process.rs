//! Child process lifetime: starting a server so that it dies with us (or, deliberately, does
//! not), waiting until it is ready, and stopping it; and running the short-lived helper
//! programs (pg_basebackup, the mariadb client) with a time limit.
//!
//! Processes are plain `std::process` children, not tokio ones: a server must outlive the
//! tokio runtime of the test that started it, since every `#[tokio::test]` has its own.
//!
//! Linux has two things other unixes (macOS, the BSDs) lack, and both have a fallback there:
//! the parent-death signal (`prctl(PR_SET_PDEATHSIG)`), for which [`exit_guard`] kills the
//! servers at the process's normal exit instead (a process killed with SIGKILL leaves them
//! running there); and `/proc`, for which `ps` tells what a recorded pid runs.

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
        #[cfg(not(target_os = "linux"))]
        if lifetime == Lifetime::WithProcess {
            exit_guard::track(child.id());
        }
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
        #[cfg(not(target_os = "linux"))]
        exit_guard::forget(self.pid());
    }

    fn exit_status(&mut self) -> Option<ExitStatus> {
        // An error means there is no such child any more: treat it as gone.
        let status = self
            .child
            .try_wait()
            .unwrap_or_else(|_| Some(ExitStatus::default()));
        // Reaped: its pid may now be given to an unrelated process, which must not be killed.
        #[cfg(not(target_os = "linux"))]
        if status.is_some() {
            exit_guard::forget(self.pid());
        }
        status
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
#[cfg(target_os = "linux")]
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

/// Without a parent-death signal, the child is killed at our normal exit by [`exit_guard`]
/// (registered by [`ServerProcess::spawn`]) or when its [`ServerProcess`] is dropped.
#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

/// Where the parent-death signal is missing: the pids of the running [`Lifetime::WithProcess`]
/// servers, killed by an `atexit` handler, so that servers kept in statics (never dropped) do not
/// outlive a test binary that returns or calls `exit`. (Compiled on Linux too for its tests.)
#[cfg(any(not(target_os = "linux"), test))]
mod exit_guard {
    use std::sync::{Mutex, Once, TryLockError};

    static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    static AT_EXIT: Once = Once::new();

    /// Kills `pid` at exit unless [`forget`] is called first.
    pub(super) fn track(pid: u32) {
        AT_EXIT.call_once(|| {
            // SAFETY: `kill_children` is an `extern "C"` function that neither unwinds nor
            // blocks. A failed registration (no room for handlers) leaves the drop path.
            if unsafe { libc::atexit(kill_children) } != 0 {
                tracing::warn!("atexit failed: servers in statics may outlive this process");
            }
        });
        let mut children = CHILDREN
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        children.push(pid);
    }

    /// `pid` has been reaped: it is no longer ours to kill.
    pub(super) fn forget(pid: u32) {
        let mut children = CHILDREN
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        children.retain(|child| *child != pid);
    }

    pub(super) extern "C" fn kill_children() {
        // Never wait at exit: a thread that held the lock when `exit` was called will not let go.
        let children = match CHILDREN.try_lock() {
            Ok(children) => children,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        for pid in children.iter() {
            super::signal(*pid, libc::SIGKILL);
        }
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

/// Whether a process with this id exists (a zombie included), ours or another user's.
pub(crate) fn exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 sends nothing; it only checks that the process exists.
    let found = unsafe { libc::kill(pid, 0) } == 0;
    // EPERM: it exists, but belongs to someone else.
    found || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether `pid` is a live (not zombie) process whose command line contains `marker`, so that
/// a recorded pid reused by an unrelated process is not mistaken for our server.
pub(crate) fn is_running(pid: u32, marker: &str) -> bool {
    command_line(pid).is_some_and(|(zombie, command)| !zombie && command.contains(marker))
}

/// Whether `pid` is a zombie, and its command line; `None` when there is no such process.
#[cfg(target_os = "linux")]
fn command_line(pid: u32) -> Option<(bool, String)> {
    let proc_dir = Path::new("/proc").join(pid.to_string());
    let cmdline = std::fs::read(proc_dir.join("cmdline")).ok()?;
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
    Some((zombie, String::from_utf8_lossy(&cmdline).into_owned()))
}

/// Whether `pid` is a zombie, and its command line; `None` when there is no such process.
#[cfg(not(target_os = "linux"))]
fn command_line(pid: u32) -> Option<(bool, String)> {
    ps_command_line(pid)
}

/// [`command_line`] without `/proc`: from `ps` (`-ww`: the whole command line, however wide).
/// (Compiled on Linux too for its tests.)
#[cfg(any(not(target_os = "linux"), test))]
fn ps_command_line(pid: u32) -> Option<(bool, String)> {
    let output = Command::new("ps")
        .args(["-ww", "-o", "stat=", "-o", "command=", "-p"])
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    parse_ps_line(&String::from_utf8_lossy(&output.stdout))
}

/// `ps -o stat= -o command=`'s line: the state (`Z...` for a zombie), blanks, the command.
#[cfg(any(not(target_os = "linux"), test))]
fn parse_ps_line(output: &str) -> Option<(bool, String)> {
    let line = output
        .lines()
        .find(|line| !line.trim().is_empty())?
        .trim_start();
    let (state, command) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    Some((state.starts_with('Z'), command.trim().to_owned()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_lines_give_the_state_and_the_command() {
        assert_eq!(
            parse_ps_line("Ss   /usr/lib/postgresql/16/bin/postgres -D /tmp/data\n"),
            Some((
                false,
                "/usr/lib/postgresql/16/bin/postgres -D /tmp/data".to_owned()
            ))
        );
        assert_eq!(
            parse_ps_line("Z+   (moto_server)\n"),
            Some((true, "(moto_server)".to_owned()))
        );
        assert_eq!(parse_ps_line(""), None);
    }

    #[test]
    fn this_process_exists_and_runs_its_own_command() {
        assert!(exists(std::process::id()));
        let exe = std::env::current_exe().unwrap();
        let name = exe.file_name().unwrap().to_str().unwrap();
        assert!(is_running(std::process::id(), name));
        assert!(!is_running(
            std::process::id(),
            "no-such-marker-in-a-command-line"
        ));
    }

    #[test]
    fn ps_and_proc_agree_on_this_process() {
        let pid = std::process::id();
        let (zombie, command) = ps_command_line(pid).expect("ps lists this process");
        assert!(!zombie);
        let exe = std::env::current_exe().unwrap();
        let name = exe.file_name().unwrap().to_str().unwrap();
        assert!(command.contains(name), "{command}");
        assert_eq!(ps_command_line(u32::MAX / 2), None);
    }

    #[test]
    fn the_exit_guard_kills_what_it_tracks_and_spares_what_it_forgot() {
        use std::os::unix::process::ExitStatusExt;
        let mut tracked = Command::new("sleep").arg("30").spawn().unwrap();
        let mut forgotten = Command::new("sleep").arg("30").spawn().unwrap();
        exit_guard::track(tracked.id());
        exit_guard::track(forgotten.id());
        exit_guard::forget(forgotten.id());
        exit_guard::kill_children();
        assert_eq!(tracked.wait().unwrap().signal(), Some(libc::SIGKILL));
        exit_guard::forget(tracked.id());
        assert_eq!(
            forgotten.try_wait().unwrap(),
            None,
            "a forgotten child was killed"
        );
        forgotten.kill().unwrap();
        forgotten.wait().unwrap();
    }

    #[test]
    fn a_reaped_child_no_longer_exists() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        // The pid could be reused in between, but not this quickly in practice.
        assert!(!exists(pid));
        assert!(!is_running(pid, "true"));
    }
}
