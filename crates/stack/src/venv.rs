//! The Python virtual environment that holds moto, created once per stack directory.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{log_tail, run_logged};
use crate::{StackError, stack_dir};

/// The moto release the stack is tested with; its deviations from AWS are documented against
/// this version, so it is pinned.
pub(crate) const MOTO_REQUIREMENT: &str = "moto[server]==5.2.1";

/// Written into the venv once pip has succeeded, holding [`MOTO_REQUIREMENT`]: a venv without
/// it is a half-finished install (interrupted, or for another moto version) and is rebuilt.
const READY_MARKER: &str = "rotation-stack-ready";

/// A venv with moto's server installed.
#[derive(Debug)]
pub(crate) struct Venv {
    dir: PathBuf,
}

impl Venv {
    /// Returns `stack_dir()/venv`, creating it first if needed.
    ///
    /// A file lock serializes creation, so test binaries started in parallel wait for one
    /// install instead of running several into the same directory.
    pub(crate) fn ensure() -> Result<Venv, StackError> {
        let base = stack_dir();
        let venv = Venv {
            dir: base.join("venv"),
        };
        if venv.is_ready() {
            return Ok(venv);
        }
        std::fs::create_dir_all(&base).map_err(StackError::io("creating directory", &base))?;
        let lock_path = base.join("venv.lock");
        let lock = File::create(&lock_path).map_err(StackError::io("creating", &lock_path))?;
        lock.lock().map_err(StackError::io("locking", &lock_path))?;
        if venv.is_ready() {
            return Ok(venv);
        }
        venv.create(&base.join("venv-install.log"))?;
        Ok(venv)
    }

    /// The `moto_server` program of the venv.
    pub(crate) fn moto_server(&self) -> PathBuf {
        self.dir.join("bin").join("moto_server")
    }

    fn is_ready(&self) -> bool {
        let marker = std::fs::read_to_string(self.dir.join(READY_MARKER));
        marker.is_ok_and(|installed| installed == MOTO_REQUIREMENT) && self.moto_server().exists()
    }

    fn create(&self, log: &Path) -> Result<(), StackError> {
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)
                .map_err(StackError::io("removing unfinished venv", &self.dir))?;
        }
        // Each attempt starts a fresh log, so that its tail explains this failure.
        File::create(log).map_err(StackError::io("creating", log))?;
        let started = std::time::Instant::now();
        tracing::info!(venv = %self.dir.display(), "creating the moto venv (once; about a minute)");
        let python = std::env::var("ROTATION_STACK_PYTHON").unwrap_or_else(|_| "python3".into());
        let created = run_logged(
            Command::new(&python).arg("-m").arg("venv").arg(&self.dir),
            None,
            log,
        )
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => StackError::PythonMissing {
                python: python.clone(),
            },
            _ => StackError::io("running", &python)(error),
        })?;
        if !created {
            return Err(StackError::VenvCreate {
                venv: self.dir.clone(),
                log: log.to_path_buf(),
                tail: log_tail(log, 0),
            });
        }
        let pip = self.dir.join("bin").join("pip");
        let installed = run_logged(
            Command::new(&pip)
                .args(["install", "--no-input", "--disable-pip-version-check"])
                .arg(MOTO_REQUIREMENT),
            None,
            log,
        )
        .map_err(StackError::io("running", &pip))?;
        if !installed || !self.moto_server().exists() {
            return Err(StackError::PipInstall {
                requirement: MOTO_REQUIREMENT,
                venv: self.dir.clone(),
                log: log.to_path_buf(),
                tail: log_tail(log, 0),
            });
        }
        let marker = self.dir.join(READY_MARKER);
        std::fs::write(&marker, MOTO_REQUIREMENT).map_err(StackError::io("writing", &marker))?;
        tracing::info!(seconds = started.elapsed().as_secs(), "moto venv ready");
        Ok(())
    }
}
