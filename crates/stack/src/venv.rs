//! Python programs from PyPI (moto's server, and the tools the xtask uses: cargo-lambda,
//! cfn-lint, checkov), each installed once into its own virtual environment under
//! [`stack_dir`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{log_tail, run_logged};
use crate::{StackError, stack_dir};

/// A Python program installed from PyPI into a venv of its own, created on first use.
///
/// The requirements are pinned (`name==version`), so every machine runs the same tool; the
/// venv records what it was built with and is rebuilt when that changes or when an install
/// was interrupted.
///
/// ```no_run
/// use rotation_stack::PythonTool;
///
/// const LINT: PythonTool = PythonTool::new("template-lint", &["cfn-lint==1.58.0"], "cfn-lint");
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cfn_lint = LINT.ensure()?; // <stack dir>/venv-template-lint/bin/cfn-lint
/// std::process::Command::new(cfn_lint).arg("template.yaml").status()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct PythonTool {
    name: &'static str,
    requirements: &'static [&'static str],
    program: &'static str,
}

/// moto's server, as the stack runs it. The release is pinned because moto's deviations from
/// AWS are documented against it.
pub(crate) const MOTO: PythonTool =
    PythonTool::new("moto", &["moto[server]==5.2.1"], "moto_server");

/// Written into the venv once pip has succeeded, holding the requirements: a venv without it
/// is a half-finished install (interrupted, or for other versions) and is rebuilt.
const READY_MARKER: &str = "rotation-stack-ready";

impl PythonTool {
    /// A tool called `name` (its venv is `<stack dir>/venv-<name>`, moto's is `venv`), made of
    /// the pip `requirements`, whose program is `bin/<program>` in the venv.
    pub const fn new(
        name: &'static str,
        requirements: &'static [&'static str],
        program: &'static str,
    ) -> PythonTool {
        PythonTool {
            name,
            requirements,
            program,
        }
    }

    /// Returns the path of the program, creating the venv first if needed (`python3 -m venv`,
    /// then `pip install`; `ROTATION_STACK_PYTHON` names another interpreter).
    ///
    /// A file lock serializes creation, so processes started in parallel wait for one install
    /// instead of running several into the same directory.
    pub fn ensure(&self) -> Result<PathBuf, StackError> {
        let base = stack_dir();
        let dir = self.dir(&base);
        if self.is_ready(&dir) {
            return Ok(self.program_in(&dir));
        }
        std::fs::create_dir_all(&base).map_err(StackError::io("creating directory", &base))?;
        let lock_path = base.join(format!("{}.lock", self.dir_name()));
        let lock = File::create(&lock_path).map_err(StackError::io("creating", &lock_path))?;
        lock.lock().map_err(StackError::io("locking", &lock_path))?;
        if !self.is_ready(&dir) {
            self.create(&dir, &base.join(format!("{}-install.log", self.dir_name())))?;
        }
        Ok(self.program_in(&dir))
    }

    /// The venv's `bin` directory, where the program and its companions (`python-zig` next
    /// to `cargo-lambda`, say) are; meaningful once [`PythonTool::ensure`] succeeded.
    pub fn bin_dir(&self) -> PathBuf {
        self.dir(&stack_dir()).join("bin")
    }

    fn dir_name(&self) -> String {
        // moto's venv keeps the name it had before there were other tools.
        if self.name == MOTO.name {
            "venv".to_owned()
        } else {
            format!("venv-{}", self.name)
        }
    }

    fn dir(&self, base: &Path) -> PathBuf {
        base.join(self.dir_name())
    }

    fn program_in(&self, dir: &Path) -> PathBuf {
        dir.join("bin").join(self.program)
    }

    fn marker(&self) -> String {
        self.requirements.join(" ")
    }

    fn is_ready(&self, dir: &Path) -> bool {
        let marker = std::fs::read_to_string(dir.join(READY_MARKER));
        marker.is_ok_and(|installed| installed == self.marker()) && self.program_in(dir).exists()
    }

    fn create(&self, dir: &Path, log: &Path) -> Result<(), StackError> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .map_err(StackError::io("removing unfinished venv", dir))?;
        }
        // Each attempt starts a fresh log, so that its tail explains this failure.
        File::create(log).map_err(StackError::io("creating", log))?;
        let started = std::time::Instant::now();
        tracing::info!(venv = %dir.display(), tool = self.name, "creating a Python venv (once)");
        let python = std::env::var("ROTATION_STACK_PYTHON").unwrap_or_else(|_| "python3".into());
        let created = run_logged(
            Command::new(&python).arg("-m").arg("venv").arg(dir),
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
                venv: dir.to_path_buf(),
                log: log.to_path_buf(),
                tail: log_tail(log, 0),
            });
        }
        let pip = dir.join("bin").join("pip");
        let installed = run_logged(
            Command::new(&pip)
                .args(["install", "--no-input", "--disable-pip-version-check"])
                .args(self.requirements),
            None,
            log,
        )
        .map_err(StackError::io("running", &pip))?;
        if !installed || !self.program_in(dir).exists() {
            return Err(StackError::PipInstall {
                requirement: self.marker(),
                venv: dir.to_path_buf(),
                log: log.to_path_buf(),
                tail: log_tail(log, 0),
            });
        }
        let marker = dir.join(READY_MARKER);
        std::fs::write(&marker, self.marker()).map_err(StackError::io("writing", &marker))?;
        tracing::info!(
            seconds = started.elapsed().as_secs(),
            tool = self.name,
            "Python venv ready"
        );
        Ok(())
    }
}
