//! What a private redis-server needs before it starts: the program, and a configuration file
//! that keeps it on loopback, saves nothing, and lets no client in without a password.

use std::path::{Path, PathBuf};

use crate::StackError;
use crate::files::{dir_list, first_executable, is_executable};

/// The administrative user: every command, key and channel.
pub(super) const ADMIN: &str = "admin";

/// Directories searched for `redis-server` when `ROTATION_STACK_REDIS_SERVER` is not set:
/// the PATH, then the places packages put it.
const FALLBACK_DIRS: [&str; 3] = ["/usr/bin", "/usr/local/bin", "/usr/sbin"];

/// `ROTATION_STACK_REDIS_SERVER` when set (it must be executable), else the first
/// `redis-server` on the PATH or in [`FALLBACK_DIRS`].
pub(super) fn locate() -> Result<PathBuf, StackError> {
    let dirs: Vec<PathBuf> = match std::env::var_os("ROTATION_STACK_REDIS_SERVER") {
        Some(program) => {
            let program = PathBuf::from(program);
            return if is_executable(&program) {
                Ok(program)
            } else {
                Err(StackError::RedisMissing {
                    looked_in: format!("{} (ROTATION_STACK_REDIS_SERVER)", program.display()),
                })
            };
        }
        None => std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .chain(FALLBACK_DIRS.map(PathBuf::from))
            .collect(),
    };
    first_executable(&dirs, &["redis-server"]).ok_or_else(|| StackError::RedisMissing {
        looked_in: dir_list(&dirs),
    })
}

/// The configuration of a server in `dir` on `port`: loopback only, no persistence, its log in
/// `log`, the `default` user off and [`ADMIN`] with `password` (letters and digits, so it
/// needs no quoting). ACL users live in memory only: there is no `aclfile`.
pub(super) fn config(dir: &Path, port: u16, log: &Path, password: &str) -> String {
    format!(
        "bind 127.0.0.1\n\
         port {port}\n\
         protected-mode yes\n\
         daemonize no\n\
         dir {}\n\
         save \"\"\n\
         appendonly no\n\
         logfile {}\n\
         user default off\n\
         user {ADMIN} on >{password} ~* &* +@all\n",
        quote(&dir.display().to_string()),
        quote(&log.display().to_string()),
    )
}

/// A double-quoted string of redis's configuration syntax.
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_locks_out_the_default_user_and_quotes_paths() {
        let text = config(
            Path::new("/tmp/a \"b\""),
            6390,
            Path::new("/tmp/x/redis.log"),
            "Secret1",
        );
        assert!(text.contains("port 6390\n"), "{text}");
        assert!(text.contains("dir \"/tmp/a \\\"b\\\"\"\n"), "{text}");
        assert!(text.contains("logfile \"/tmp/x/redis.log\"\n"), "{text}");
        assert!(text.contains("user default off\n"), "{text}");
        assert!(
            text.contains("user admin on >Secret1 ~* &* +@all\n"),
            "{text}"
        );
        assert!(text.contains("save \"\"\n") && text.contains("appendonly no\n"));
    }

    #[test]
    fn a_missing_redis_server_names_the_places_searched() {
        let error = StackError::RedisMissing {
            looked_in: "/nonexistent".into(),
        };
        let message = error.to_string();
        assert!(message.starts_with("redis-server not found"), "{message}");
        assert!(
            message.contains("apt-get install redis-server"),
            "{message}"
        );
    }
}
