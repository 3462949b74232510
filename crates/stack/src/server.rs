//! What every private server (PostgreSQL, MariaDB, Redis) does the same way: start its process
//! and wait until it is ready, stop it and wait until its port is closed, and refuse a replica
//! of a stopped primary. Each server kind is a [`Kind`]; the servers keep only what is theirs
//! (their command line, their readiness probe, their files).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::port::wait_closed;
use crate::process::{ServerProcess, log_since};
use crate::{Lifetime, StackError};

/// How long the port may stay open after the server process is gone.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// One kind of server: its name, how it stops cleanly, and its time limits.
pub(crate) struct Kind {
    /// The name in errors and logs, e.g. `PostgreSQL`.
    pub(crate) name: &'static str,
    /// The signal that stops it cleanly.
    pub(crate) stop_signal: libc::c_int,
    /// How long it may take to be ready after it was started.
    pub(crate) ready_timeout: Duration,
    /// How long a clean shutdown may take before the server is killed.
    pub(crate) stop_grace: Duration,
}

impl Kind {
    /// Spawns `command` (its output appended to `log`) and waits until it is ready: until
    /// `ready_line`, when given, is in the log written since this start, and `probe` says yes.
    ///
    /// The log is read first: every probe connection lands in the log, and it must not fill it.
    pub(crate) fn launch(
        &self,
        command: Command,
        log: &Path,
        lifetime: Lifetime,
        ready_line: Option<&str>,
        mut probe: impl FnMut() -> bool,
    ) -> Result<ServerProcess, StackError> {
        let mut process =
            ServerProcess::spawn(command, self.name, log, lifetime, self.stop_signal)?;
        let from = process.log_start();
        process.wait_until_ready(self.ready_timeout, || {
            ready_line.is_none_or(|line| log_since(log, from).is_ok_and(|text| text.contains(line)))
                && probe()
        })?;
        Ok(process)
    }

    /// Stops `process`, if it runs, and waits until the process is gone and `port` closed.
    pub(crate) fn stop(
        &self,
        process: &mut Option<ServerProcess>,
        port: u16,
    ) -> Result<(), StackError> {
        if let Some(mut process) = process.take() {
            process.stop(self.stop_grace);
        }
        wait_closed(self.name, port, CLOSE_TIMEOUT)
    }

    /// Stops `process` whatever its lifetime, for a stack that could not start as a whole; a
    /// failure is only logged.
    pub(crate) fn terminate(&self, process: &mut Option<ServerProcess>, port: u16) {
        if let Err(error) = self.stop(process, port) {
            tracing::warn!(%error, "could not stop {}", self.name);
        }
    }

    /// `Ok` while the primary on `port` runs: a replica is made from a running server only.
    pub(crate) fn primary_running(
        &self,
        process: &Option<ServerProcess>,
        port: u16,
    ) -> Result<(), StackError> {
        match process {
            Some(_) => Ok(()),
            None => Err(StackError::PrimaryStopped {
                server: self.name,
                port,
            }),
        }
    }
}
