//! Small file helpers shared by the servers: private files, permissions.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::account::Account;
use crate::{StackError, cert};

/// Creates `path` readable and writable by its owner only, before anything is written to it.
pub(crate) fn write_private(path: &Path, contents: &str) -> Result<(), StackError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(contents.as_bytes()))
        .map_err(StackError::io("writing", path))
}

/// Sets the permission bits of `path`.
pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<(), StackError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(StackError::io("setting the permissions of", path))
}

/// Gives `path` to `account` (a no-op when we are not root and run servers as ourselves).
pub(crate) fn give(account: Option<Account>, path: &Path) -> Result<(), StackError> {
    account.map_or(Ok(()), |account| account.give(path))
}

/// Creates the data directory `dir/name` of a server: private (0700), owned by `account`, in a
/// `dir` the account can reach (0755).
pub(crate) fn data_dir(
    dir: &Path,
    name: &str,
    account: Option<Account>,
) -> Result<PathBuf, StackError> {
    set_mode(dir, 0o755)?;
    let data_dir = dir.join(name);
    std::fs::create_dir(&data_dir).map_err(StackError::io("creating directory", &data_dir))?;
    set_mode(&data_dir, 0o700)?;
    give(account, &data_dir)?;
    Ok(data_dir)
}

/// A server's TLS identity written beside it.
pub(crate) struct ServerIdentity {
    /// `dir/server.crt`, readable by anyone: the clients' CA bundle.
    pub(crate) cert: PathBuf,
    /// `dir/server.key`, readable by its owner (`account`) only, as servers insist.
    pub(crate) key: PathBuf,
}

/// Generates a self-signed certificate for `common_name` and writes it and its key into `dir`.
pub(crate) fn server_identity(
    dir: &Path,
    common_name: &str,
    account: Option<Account>,
) -> Result<ServerIdentity, StackError> {
    let certificate = cert::self_signed(common_name)?;
    let cert = dir.join("server.crt");
    std::fs::write(&cert, &certificate.cert_pem).map_err(StackError::io("writing", &cert))?;
    set_mode(&cert, 0o644)?;
    let key = dir.join("server.key");
    write_private(&key, &certificate.key_pem)?;
    give(account, &key)?;
    Ok(ServerIdentity { cert, key })
}
/// Whether `path` is a file that someone may execute.
pub(crate) fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The first of `names`, in that order, that is an executable in one of `dirs` (searched in
/// order for each name).
pub(crate) fn first_executable(dirs: &[PathBuf], names: &[&str]) -> Option<PathBuf> {
    names.iter().find_map(|name| {
        dirs.iter()
            .map(|dir| dir.join(name))
            .find(|path| is_executable(path))
    })
}

/// `dirs` as a list for an error message: `/usr/bin, /usr/local/bin`.
pub(crate) fn dir_list(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|dir| dir.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
