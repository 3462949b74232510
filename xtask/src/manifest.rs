//! What `cargo xtask package` writes next to the zips, so that they can be deployed by someone
//! who did not build them: `SHA256SUMS` (the format of `sha256sum`, so `sha256sum -c SHA256SUMS`
//! checks the zips in that directory) and `manifest.json` (for each zip its rotator,
//! architecture, size and SHA-256, and the commit the zips were built from).
//!
//! The same writer serves the zips under `target/lambda/` (named by their place,
//! `arm64/api-key/bootstrap.zip`) and a release directory, where each zip is copied under a
//! name of its own (`api-key-arm64.zip`), since a GitHub release's assets share one directory.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// The name of the checksum file, as `sha256sum -c` users expect it.
pub const SUMS: &str = "SHA256SUMS";

/// The name of the manifest.
pub const MANIFEST: &str = "manifest.json";

/// A built zip: which rotator, for which architecture, and where it is.
#[derive(Clone, Debug)]
pub struct Zip {
    /// The rotator's package name, e.g. `postgres-single-user`.
    pub rotator: String,
    /// The Lambda architecture, `arm64` or `x86_64`.
    pub arch: &'static str,
    /// The zip file.
    pub path: PathBuf,
}

impl Zip {
    /// The zip's name among a release's assets: `<rotator>-<arch>.zip`.
    pub fn release_name(&self) -> String {
        format!("{}-{}.zip", self.rotator, self.arch)
    }
}

/// The commit the zips were built from, as git describes the work tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// `git rev-parse HEAD`; `None` outside a git checkout (a source archive).
    pub commit: Option<String>,
    /// Whether `git status --porcelain` listed anything (a change, or an untracked file):
    /// then the zips hold code that the commit does not. `None` when git could not say.
    pub dirty: Option<bool>,
}

impl Source {
    /// Asks git about the checkout at `root`. Without git or outside a checkout, both fields
    /// are `None` and the manifest says so, rather than packaging failing.
    pub fn of_checkout(root: &Path) -> Source {
        let git = |args: &[&str]| -> Option<String> {
            let output = Command::new("git")
                .arg("-C")
                .arg(root)
                .args(args)
                .output()
                .ok()?;
            output
                .status
                .success()
                .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
        };
        let commit = git(&["rev-parse", "HEAD"]).map(|out| out.trim().to_owned());
        let dirty = commit
            .as_ref()
            .and_then(|_| git(&["status", "--porcelain"]))
            .map(|out| !out.trim().is_empty());
        Source { commit, dirty }
    }
}

/// One line of `SHA256SUMS` and one entry of the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    rotator: String,
    arch: &'static str,
    /// Relative to the directory the checksums are written in, with `/` separators.
    file: String,
    size: u64,
    sha256: String,
}

/// Writes `SHA256SUMS` and `manifest.json` into `dir` for `zips`, which must lie under `dir`;
/// each is named by its path relative to `dir`. Returns the two files written.
pub fn write(dir: &Path, zips: &[Zip], source: &Source) -> anyhow::Result<[PathBuf; 2]> {
    let mut entries = Vec::with_capacity(zips.len());
    for zip in zips {
        let file = relative_name(dir, &zip.path)?;
        entries.push(entry(zip, file)?);
    }
    write_entries(dir, &entries, source)
}

/// Copies each zip into `dir` (created if missing) as `<rotator>-<arch>.zip`, then writes
/// `SHA256SUMS` and `manifest.json` there for the copies: what a release publishes.
pub fn write_release(dir: &Path, zips: &[Zip], source: &Source) -> anyhow::Result<[PathBuf; 2]> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut entries = Vec::with_capacity(zips.len());
    for zip in zips {
        let name = zip.release_name();
        if entries.iter().any(|entry: &Entry| entry.file == name) {
            bail!("{name} is listed twice: one zip per rotator and architecture");
        }
        let copy = dir.join(&name);
        std::fs::copy(&zip.path, &copy)
            .with_context(|| format!("copying {} to {}", zip.path.display(), copy.display()))?;
        entries.push(entry(
            &Zip {
                path: copy,
                ..zip.clone()
            },
            name,
        )?);
    }
    write_entries(dir, &entries, source)
}

fn entry(zip: &Zip, file: String) -> anyhow::Result<Entry> {
    let (size, sha256) = sha256_of(&zip.path)?;
    Ok(Entry {
        rotator: zip.rotator.clone(),
        arch: zip.arch,
        file,
        size,
        sha256,
    })
}

fn write_entries(dir: &Path, entries: &[Entry], source: &Source) -> anyhow::Result<[PathBuf; 2]> {
    let sums = dir.join(SUMS);
    std::fs::write(&sums, sums_text(entries))
        .with_context(|| format!("writing {}", sums.display()))?;
    let manifest = dir.join(MANIFEST);
    let mut json = serde_json::to_string_pretty(&manifest_json(entries, source))
        .context("serializing the manifest")?;
    json.push('\n');
    std::fs::write(&manifest, json).with_context(|| format!("writing {}", manifest.display()))?;
    Ok([sums, manifest])
}

/// `path` relative to `dir`, `/`-separated, refused when it is not under `dir` or its name
/// would need escaping in `SHA256SUMS` (a backslash or a line break).
fn relative_name(dir: &Path, path: &Path) -> anyhow::Result<String> {
    let relative = path.strip_prefix(dir).with_context(|| {
        format!(
            "{} is not under {}, where its checksum is written",
            path.display(),
            dir.display()
        )
    })?;
    let parts: Option<Vec<&str>> = relative.iter().map(|part| part.to_str()).collect();
    let name = parts
        .with_context(|| format!("{} is not UTF-8", relative.display()))?
        .join("/");
    if name.is_empty() || name.contains(['\\', '\n', '\r']) {
        bail!("{name:?} cannot be a name in {SUMS}");
    }
    Ok(name)
}

/// The file's size and SHA-256 (lower-case hex), read in blocks.
fn sha256_of(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 64 * 1024];
    let mut size = 0u64;
    loop {
        let read = file
            .read(&mut buffer)
            .with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    Ok((size, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `sha256sum`'s text format: the digest, two spaces, the name.
fn sums_text(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|entry| format!("{}  {}\n", entry.sha256, entry.file))
        .collect()
}

fn manifest_json(entries: &[Entry], source: &Source) -> serde_json::Value {
    let zips: Vec<serde_json::Value> = entries
        .iter()
        .map(|entry| {
            serde_json::json!({
                "rotator": entry.rotator,
                "architecture": entry.arch,
                "file": entry.file,
                "size": entry.size,
                "sha256": entry.sha256,
            })
        })
        .collect();
    serde_json::json!({
        "commit": source.commit,
        "dirty": source.dirty,
        "zips": zips,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of its own under the system's temporary directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(test: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("xtask-manifest-{test}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        /// A fake zip at `relative`, holding `bytes`.
        fn zip(&self, rotator: &str, arch: &'static str, relative: &str, bytes: &[u8]) -> Zip {
            let path = self.0.join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
            Zip {
                rotator: rotator.to_owned(),
                arch,
                path,
            }
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const CLEAN: Source = Source {
        commit: None,
        dirty: None,
    };

    fn read_manifest(dir: &Path) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(MANIFEST)).unwrap()).unwrap()
    }

    /// Runs `sha256sum -c SHA256SUMS` in `dir` when the program exists: whether it accepted
    /// every line.
    fn sha256sum_accepts(dir: &Path) -> Option<bool> {
        crate::programs::find("sha256sum")?;
        let status = Command::new("sha256sum")
            .args(["-c", "--strict", SUMS])
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        Some(status.success())
    }

    #[test]
    fn checksums_are_the_sha256_of_known_inputs() {
        let scratch = Scratch::new("known");
        let empty = scratch.zip("api-key", "arm64", "arm64/api-key/bootstrap.zip", b"");
        let abc = scratch.zip("api-key", "x86_64", "x86_64/api-key/bootstrap.zip", b"abc");
        write(&scratch.0, &[empty, abc], &CLEAN).unwrap();
        assert_eq!(
            std::fs::read_to_string(scratch.0.join(SUMS)).unwrap(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  arm64/api-key/bootstrap.zip\n\
             ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  x86_64/api-key/bootstrap.zip\n"
        );
    }

    #[test]
    fn sha256sum_checks_the_zips_where_they_were_built() {
        let scratch = Scratch::new("in-place");
        let zips = [
            scratch.zip(
                "postgres-single-user",
                "arm64",
                "arm64/postgres-single-user/bootstrap.zip",
                b"PK arm",
            ),
            scratch.zip(
                "postgres-single-user",
                "x86_64",
                "x86_64/postgres-single-user/bootstrap.zip",
                &[7; 100_000],
            ),
        ];
        write(&scratch.0, &zips, &CLEAN).unwrap();
        if let Some(accepted) = sha256sum_accepts(&scratch.0) {
            assert!(accepted, "sha256sum -c refused SHA256SUMS");
            std::fs::write(&zips[1].path, b"tampered").unwrap();
            assert_eq!(sha256sum_accepts(&scratch.0), Some(false));
        }
    }

    #[test]
    fn manifest_lists_each_zip_with_its_size_digest_and_commit() {
        let scratch = Scratch::new("manifest");
        let zip = scratch.zip("replica-fanout", "arm64", "arm64/rf/bootstrap.zip", b"abc");
        let source = Source {
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            dirty: Some(true),
        };
        write(&scratch.0, &[zip], &source).unwrap();
        assert_eq!(
            read_manifest(&scratch.0),
            serde_json::json!({
                "commit": "0123456789abcdef0123456789abcdef01234567",
                "dirty": true,
                "zips": [{
                    "rotator": "replica-fanout",
                    "architecture": "arm64",
                    "file": "arm64/rf/bootstrap.zip",
                    "size": 3,
                    "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                }],
            })
        );
    }

    #[test]
    fn a_release_names_each_zip_by_rotator_and_architecture() {
        let scratch = Scratch::new("release");
        let built = ["arm64", "x86_64"].map(|arch| {
            scratch.zip(
                "mysql-single-user",
                arch,
                &format!("lambda/{arch}/mysql-single-user/bootstrap.zip"),
                arch.as_bytes(),
            )
        });
        let assets = scratch.0.join("dist");
        write_release(&assets, &built, &CLEAN).unwrap();
        let sums = std::fs::read_to_string(assets.join(SUMS)).unwrap();
        let names: Vec<&str> = sums
            .lines()
            .map(|line| line.split_once("  ").unwrap().1)
            .collect();
        assert_eq!(
            names,
            [
                "mysql-single-user-arm64.zip",
                "mysql-single-user-x86_64.zip"
            ]
        );
        assert_eq!(
            std::fs::read(assets.join("mysql-single-user-x86_64.zip")).unwrap(),
            b"x86_64"
        );
        let manifest = read_manifest(&assets);
        assert_eq!(manifest["zips"][1]["file"], "mysql-single-user-x86_64.zip");
        assert_eq!(manifest["zips"][1]["architecture"], "x86_64");
        assert!(sha256sum_accepts(&assets).unwrap_or(true));
    }

    #[test]
    fn a_zip_outside_the_directory_or_listed_twice_is_refused() {
        let scratch = Scratch::new("refused");
        let zip = scratch.zip("api-key", "arm64", "elsewhere/bootstrap.zip", b"x");
        let error = write(
            &scratch.0.join("lambda"),
            std::slice::from_ref(&zip),
            &CLEAN,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("is not under"), "{error}");
        let error = write_release(&scratch.0.join("dist"), &[zip.clone(), zip], &CLEAN)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("api-key-arm64.zip is listed twice"),
            "{error}"
        );
    }

    #[test]
    fn this_checkout_has_a_commit() {
        let source = Source::of_checkout(&crate::cargo::workspace_root());
        // A source archive has no .git: then nothing is claimed.
        if crate::cargo::workspace_root().join(".git").exists() {
            let commit = source.commit.expect("git rev-parse HEAD");
            assert_eq!(commit.len(), 40, "{commit}");
            assert!(source.dirty.is_some());
        } else {
            assert_eq!(source, CLEAN);
        }
    }
}
