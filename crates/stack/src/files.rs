//! Small file helpers shared by the servers: private files, permissions.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::StackError;

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
