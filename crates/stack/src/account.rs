//! The operating-system account a database server runs as: ourselves, or its own system user
//! (`postgres`, `mysql`) when we are root, since neither server runs as root by default.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::StackError;

/// A user and group to run a server's programs as and to give its files to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Account {
    uid: u32,
    gid: u32,
}

impl Account {
    /// Makes `command` run as this account. std switches user with setgid/setuid in the child
    /// itself, unlike `runuser`/`su`, so the server is our direct child and the parent-death
    /// signal still reaches it.
    pub(crate) fn run_as(self, command: &mut Command) {
        command.uid(self.uid).gid(self.gid);
    }

    /// Gives `path` to this account.
    pub(crate) fn give(self, path: &Path) -> Result<(), StackError> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
            .map_err(StackError::io("changing the owner of", path))
    }
}

/// `None` when we are not root (the server then runs as us), else the user called `name`;
/// `missing` is the error when there is none.
pub(crate) fn server_account(
    name: &str,
    missing: StackError,
) -> Result<Option<Account>, StackError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let passwd =
        std::fs::read_to_string("/etc/passwd").map_err(StackError::io("reading", "/etc/passwd"))?;
    find(&passwd, name).map(Some).ok_or(missing)
}

/// The account called `name` in the text of an /etc/passwd file.
fn find(passwd: &str, name: &str) -> Option<Account> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let _password = fields.next()?;
        Some(Account {
            uid: fields.next()?.parse().ok()?,
            gid: fields.next()?.parse().ok()?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        postgresql:x:7:7::/:/bin/false\n\
        postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n";

    #[test]
    fn finds_the_postgres_user_by_exact_name() {
        assert_eq!(
            find(PASSWD, "postgres"),
            Some(Account { uid: 101, gid: 104 })
        );
    }

    #[test]
    fn missing_user_is_none() {
        assert_eq!(find("root:x:0:0:root:/root:/bin/bash\n", "postgres"), None);
    }

    #[test]
    fn malformed_line_is_none() {
        assert_eq!(find("postgres:x:abc:104::/:/bin/sh\n", "postgres"), None);
    }
}
