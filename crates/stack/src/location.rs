//! Where the stack keeps things on disk: the shared state directory, and one directory per
//! server for its data and logs.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::{Lifetime, StackError, random};

/// Prefix of the per-server temporary directories of [`Lifetime::WithProcess`] servers.
const TEMP_PREFIX: &str = "rotation-stack-";

/// Where the stack keeps its venv and state.
///
/// `ROTATION_STACK_DIR` when set, else `<cargo target dir>/rotation-stack`, so that a
/// `cargo clean` removes it and every checkout has its own. The target directory is
/// `CARGO_TARGET_DIR` when it is an absolute path, else the nearest ancestor named `target` of
/// the running executable (tests run from `target/debug/deps/`, xtask from `target/debug/`),
/// else `CARGO_TARGET_DIR` relative to the current directory, else `./target`.
///
/// A relative `CARGO_TARGET_DIR` is only a last resort because cargo resolves it against the
/// directory cargo was started in, while test binaries run in their package's directory.
pub fn stack_dir() -> PathBuf {
    resolve_stack_dir(
        std::env::var_os("ROTATION_STACK_DIR"),
        std::env::var_os("CARGO_TARGET_DIR"),
        std::env::current_exe().ok(),
    )
}

fn resolve_stack_dir(
    stack_dir: Option<OsString>,
    target_dir: Option<OsString>,
    exe: Option<PathBuf>,
) -> PathBuf {
    if let Some(dir) = stack_dir.filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    let target_dir = target_dir.filter(|dir| !dir.is_empty()).map(PathBuf::from);
    let absolute_target = target_dir.as_ref().filter(|dir| dir.is_absolute()).cloned();
    let exe_target = || {
        exe.as_deref()?
            .ancestors()
            .find(|dir| dir.file_name() == Some("target".as_ref()))
            .map(Path::to_path_buf)
    };
    absolute_target
        .or_else(exe_target)
        .or(target_dir)
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("rotation-stack")
}

/// The directory one server keeps its data, certificate and log in.
///
/// For [`Lifetime::WithProcess`] it is a fresh directory under the system temporary directory,
/// removed on drop; for [`Lifetime::Detached`] it is `stack_dir()/run/<server>`, emptied at
/// start and kept on drop (`down()` removes it).
#[derive(Debug)]
pub(crate) struct ServerDir {
    path: PathBuf,
    remove_on_drop: bool,
}

impl ServerDir {
    /// Creates the directory for `server` ("moto", "postgres").
    pub(crate) fn create(server: &str, lifetime: Lifetime) -> Result<ServerDir, StackError> {
        match lifetime {
            Lifetime::WithProcess => {
                remove_abandoned_temp_dirs();
                let name = format!(
                    "{TEMP_PREFIX}{}-{server}-{}",
                    std::process::id(),
                    random::hex(8)?
                );
                let path = std::env::temp_dir().join(name);
                std::fs::create_dir(&path).map_err(StackError::io("creating directory", &path))?;
                Ok(ServerDir {
                    path,
                    remove_on_drop: true,
                })
            }
            Lifetime::Detached => {
                let path = run_dir().join(server);
                if path.exists() {
                    std::fs::remove_dir_all(&path)
                        .map_err(StackError::io("removing old directory", &path))?;
                }
                std::fs::create_dir_all(&path)
                    .map_err(StackError::io("creating directory", &path))?;
                Ok(ServerDir {
                    path,
                    remove_on_drop: false,
                })
            }
        }
    }

    /// The directory itself.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ServerDir {
    fn drop(&mut self) {
        if self.remove_on_drop
            && let Err(error) = std::fs::remove_dir_all(&self.path)
        {
            tracing::warn!(path = %self.path.display(), %error, "could not remove server directory");
        }
    }
}

/// Where detached servers keep their data: `stack_dir()/run`.
pub(crate) fn run_dir() -> PathBuf {
    stack_dir().join("run")
}

/// Removes the temporary directories of test processes that have ended, and what their
/// killed PostgreSQL servers left in shared memory.
///
/// A server shared through a `static` is never dropped (statics are not), so its process dies
/// by the parent-death signal and its directory stays behind; the next start cleans it up. The
/// process id in the name tells whether its owner is still running.
fn remove_abandoned_temp_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|name| name.strip_prefix(TEMP_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !crate::process::exists(owner) {
            let path = entry.path();
            crate::shared_memory::release_shared_memory(&path);
            if let Err(error) = std::fs::remove_dir_all(&path) {
                tracing::debug!(path = %path.display(), %error, "could not remove abandoned directory");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_EXE: &str = "/repo/target/debug/deps/stack-0123";
    const XTASK_EXE: &str = "/repo/target/debug/xtask";
    const ELSEWHERE_EXE: &str = "/usr/bin/tool";

    /// `stack_dir()` for these values of ROTATION_STACK_DIR, CARGO_TARGET_DIR and the
    /// executable's path.
    fn resolve(stack: Option<&str>, target: Option<&str>, exe: Option<&str>) -> PathBuf {
        resolve_stack_dir(
            stack.map(OsString::from),
            target.map(OsString::from),
            exe.map(PathBuf::from),
        )
    }

    #[test]
    fn explicit_directory_wins() {
        let dir = resolve(Some("/data/stack"), Some("/build"), Some(TEST_EXE));
        assert_eq!(dir, Path::new("/data/stack"));
    }

    #[test]
    fn empty_explicit_directory_is_ignored() {
        let dir = resolve(Some(""), None, Some(TEST_EXE));
        assert_eq!(dir, Path::new("/repo/target/rotation-stack"));
    }

    #[test]
    fn absolute_target_dir_is_used() {
        let dir = resolve(None, Some("/build"), Some(TEST_EXE));
        assert_eq!(dir, Path::new("/build/rotation-stack"));
    }

    #[test]
    fn test_binaries_and_xtask_share_the_target_dir() {
        for exe in [TEST_EXE, XTASK_EXE] {
            let dir = resolve(None, None, Some(exe));
            assert_eq!(dir, Path::new("/repo/target/rotation-stack"), "{exe}");
        }
    }

    #[test]
    fn relative_target_dir_loses_to_the_executables() {
        let dir = resolve(None, Some("out"), Some(TEST_EXE));
        assert_eq!(dir, Path::new("/repo/target/rotation-stack"));
    }

    #[test]
    fn relative_target_dir_when_the_executable_says_nothing() {
        let dir = resolve(None, Some("out"), Some(ELSEWHERE_EXE));
        assert_eq!(dir, Path::new("out/rotation-stack"));
    }

    #[test]
    fn nothing_known_means_dot_target() {
        assert_eq!(
            resolve(None, None, Some(ELSEWHERE_EXE)),
            Path::new("target/rotation-stack")
        );
        assert_eq!(
            resolve(None, None, None),
            Path::new("target/rotation-stack")
        );
    }
}
