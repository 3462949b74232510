//! `cargo xtask new <name> [--dir <path>] [--git <url>]`: a new rotator crate from the starter
//! in `templates/starter/`, which builds, passes the rotation contract and deploys as it is.
//!
//! The starter's files are copied with their placeholders filled in: `{{project-name}}` (the
//! name as given: the package and binary), `{{crate_name}}` (the same with `_` for `-`: the
//! library), and `{{rotation-<x>}}` for each framework crate `crates/<x>`, which becomes
//! `{ path = "<this checkout>/crates/<x>" }`, or `{ git = "<url>" }` with `--git`. This
//! workspace's `Cargo.lock` is copied too, so that the new crate starts from the same versions
//! of everything they share.
//!
//! [`check_starter`] generates one into the target directory and runs its tests and lints:
//! `cargo xtask test` calls it, so the starter cannot rot.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::cargo;

const USAGE: &str = "usage: cargo xtask new <name> [--dir <path>] [--git <url>]";

/// Where the starter's files are, in the workspace.
const STARTER: &str = "templates/starter";

/// The name of the crate [`check_starter`] generates.
const CHECK_NAME: &str = "starter-check-rotator";

/// Rust's keywords (strict and reserved, 2024 edition): a library cannot be named after one.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Names that would shadow a crate the starter uses, or the standard ones.
const TAKEN: &[&str] = &[
    "alloc",
    "core",
    "proc_macro",
    "reqwest",
    "serde_json",
    "std",
    "test",
    "tokio",
    "tracing",
];

/// Where the framework crates come from in the new crate's `Cargo.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// This checkout, by absolute path.
    Path(PathBuf),
    /// A git repository holding this workspace.
    Git(String),
}

/// What `new` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Request {
    name: String,
    dir: Option<PathBuf>,
    git: Option<String>,
}

/// Runs `cargo xtask new`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let request = parse_args(args)?;
    check_name(&request.name)?;
    // `cargo xtask` runs in the caller's directory, so a relative path is the caller's.
    let dir = std::path::absolute(request.dir.unwrap_or_else(|| PathBuf::from(&request.name)))?;
    let root = cargo::workspace_root();
    let source = match request.git {
        Some(url) => Source::Git(url),
        None => Source::Path(root.clone()),
    };
    generate(&request.name, &dir, &source)?;
    let from = match &source {
        Source::Path(root) => format!("the framework crates by path from {}", root.display()),
        Source::Git(url) => format!("the framework crates from {url}"),
    };
    println!(
        "created {name} in {dir} ({from})

next:
  cd {dir}
  edit src/lib.rs (the places marked `// Your target:`) and tests/contract.rs
  cargo test        # the rotation contract against moto and a local HTTP service
  cargo lambda build --release --arm64 --output-format zip
  see README.md there for deploying",
        name = request.name,
        dir = dir.display(),
    );
    Ok(())
}

/// Generates a starter into `<target dir>/starter-check/`, afresh, and runs rustfmt's check,
/// its tests and clippy there with this workspace's target directory, so the dependencies compiled for the
/// workspace are reused and the stack's venv is found.
pub fn check_starter() -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = std::path::absolute(cargo::target_dir())?
        .join("starter-check")
        .join(CHECK_NAME);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("removing the previous check in {}", dir.display()))?;
    }
    generate(CHECK_NAME, &dir, &Source::Path(cargo::workspace_root()))?;
    cargo::run_in(&dir, &["fmt", "--check"])?;
    // Its tests, and clippy on every target of it (a lib, a bin, tests) as they compile.
    cargo::run_linted(Some(&dir), &["test"])?;
    println!(
        "starter check: a generated rotator passed its tests and clippy in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn parse_args(args: &[String]) -> anyhow::Result<Request> {
    let mut name = None;
    let mut dir = None;
    let mut git = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .cloned()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--dir" if dir.is_none() => dir = Some(PathBuf::from(value("--dir")?)),
            "--git" if git.is_none() => git = Some(value("--git")?),
            flag if flag.starts_with('-') => bail!("unexpected option {flag}\n{USAGE}"),
            _ if name.is_none() => name = Some(arg.clone()),
            extra => bail!("unexpected argument {extra}\n{USAGE}"),
        }
    }
    let name = name.with_context(|| format!("no name given\n{USAGE}"))?;
    Ok(Request { name, dir, git })
}

/// Refuses a name cargo would refuse, or that would not make a usable library name.
fn check_name(name: &str) -> anyhow::Result<()> {
    let problem = if name.is_empty() || name.len() > 64 {
        Some("must be 1 to 64 characters")
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some("must start with a lowercase letter")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        Some("may only contain lowercase letters, digits, - and _")
    } else if name.ends_with(['-', '_']) {
        Some("must not end with - or _")
    } else if KEYWORDS.contains(&crate_name(name).as_str()) {
        Some("is a Rust keyword")
    } else if TAKEN.contains(&crate_name(name).as_str()) {
        Some("is the name of a crate the starter uses")
    } else if crate_name(name).starts_with("rotation_") {
        Some("starts with rotation-, the framework's own prefix")
    } else {
        None
    };
    match problem {
        Some(problem) => bail!("the name {name:?} {problem} (for example: my-service-rotator)"),
        None => Ok(()),
    }
}

/// The library's name: `-` becomes `_`.
fn crate_name(name: &str) -> String {
    name.replace('-', "_")
}

/// Writes the starter for `name` into `dir` (which must not exist or be empty) and copies
/// this workspace's `Cargo.lock` next to it.
fn generate(name: &str, dir: &Path, source: &Source) -> anyhow::Result<()> {
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir)
            .with_context(|| format!("{} exists and is not a directory", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} exists and is not empty: choose another --dir",
                dir.display()
            );
        }
    }
    let root = cargo::workspace_root();
    let values = placeholders(name, source, &framework_crates(&root)?);
    let starter = root.join(STARTER);
    for relative in files_under(&starter)? {
        let from = starter.join(&relative);
        let text = std::fs::read_to_string(&from)
            .with_context(|| format!("reading {}", from.display()))?;
        let filled = fill(&text, &values).with_context(|| format!("in {}", from.display()))?;
        let to = dir.join(&relative);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&to, filled).with_context(|| format!("writing {}", to.display()))?;
    }
    let lock = root.join("Cargo.lock");
    std::fs::copy(&lock, dir.join("Cargo.lock"))
        .with_context(|| format!("copying {}", lock.display()))?;
    Ok(())
}

/// The directories of `crates/`: `core` is the crate `rotation-core`.
fn framework_crates(root: &Path) -> anyhow::Result<Vec<String>> {
    let crates = root.join("crates");
    let mut names = Vec::new();
    for entry in
        std::fs::read_dir(&crates).with_context(|| format!("reading {}", crates.display()))?
    {
        let entry = entry?;
        if entry.path().join("Cargo.toml").is_file() {
            names.extend(entry.file_name().to_str().map(str::to_owned));
        }
    }
    names.sort();
    Ok(names)
}

/// Every file under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let here = dir.join(&relative);
        for entry in
            std::fs::read_dir(&here).with_context(|| format!("reading {}", here.display()))?
        {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Each placeholder and its value.
fn placeholders(name: &str, source: &Source, crates: &[String]) -> Vec<(String, String)> {
    let mut values = vec![
        ("{{project-name}}".to_owned(), name.to_owned()),
        ("{{crate_name}}".to_owned(), crate_name(name)),
    ];
    for krate in crates {
        // A JSON string is a valid TOML basic string: quotes and backslashes are escaped.
        let dependency = match source {
            Source::Path(root) => {
                let path = root.join("crates").join(krate);
                format!("{{ path = {} }}", json_string(&path.to_string_lossy()))
            }
            Source::Git(url) => format!("{{ git = {} }}", json_string(url)),
        };
        values.push((format!("{{{{rotation-{krate}}}}}"), dependency));
    }
    values
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// `text` with every placeholder replaced; an error names any `{{word}}` left over (a
/// placeholder nobody fills: a typo in the starter, or a framework crate that is gone).
fn fill(text: &str, values: &[(String, String)]) -> anyhow::Result<String> {
    let mut filled = text.to_owned();
    for (placeholder, value) in values {
        filled = filled.replace(placeholder, value);
    }
    let mut rest = filled.as_str();
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        if let Some(end) = after.find("}}") {
            let word = &after[..end];
            let is_placeholder = !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if is_placeholder {
                bail!("unknown placeholder {{{{{word}}}}}");
            }
        }
        rest = after;
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| (*arg).to_owned()).collect()
    }

    #[test]
    fn arguments() {
        assert_eq!(
            parse_args(&args(&["my-svc"])).unwrap(),
            Request {
                name: "my-svc".into(),
                dir: None,
                git: None
            }
        );
        assert_eq!(
            parse_args(&args(&["--git", "https://g/r.git", "a", "--dir", "/tmp/a"])).unwrap(),
            Request {
                name: "a".into(),
                dir: Some(PathBuf::from("/tmp/a")),
                git: Some("https://g/r.git".into())
            }
        );
        for bad in [
            &[][..],
            &["a", "b"],
            &["a", "--dir"],
            &["a", "--dir", "x", "--dir", "y"],
            &["a", "--force"],
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names() {
        for good in [
            "my-svc",
            "a",
            "vault_users",
            "svc2-rotator",
            &"a".repeat(64),
        ] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            &"a".repeat(65),
            "2fa",
            "-svc",
            "My-Svc",
            "my svc",
            "my.svc",
            "svc-",
            "fn",
            "async",
            "self",
            "test",
            "tokio",
            "serde-json",
            "rotation-core",
        ] {
            let error = check_name(bad).unwrap_err().to_string();
            assert!(error.contains(&format!("{bad:?}")), "{error}");
        }
    }

    #[test]
    fn placeholders_by_path_and_by_git() {
        let crates = ["core".to_owned(), "testkit".to_owned()];
        let path = placeholders("my-svc", &Source::Path("/w/a \"b\"".into()), &crates);
        let text = "name = \"{{project-name}}\"\nuse {{crate_name}};\nc = {{rotation-core}}\nt = {{rotation-testkit}}\n";
        assert_eq!(
            fill(text, &path).unwrap(),
            "name = \"my-svc\"\nuse my_svc;\nc = { path = \"/w/a \\\"b\\\"/crates/core\" }\nt = { path = \"/w/a \\\"b\\\"/crates/testkit\" }\n"
        );
        let git = placeholders("my-svc", &Source::Git("https://g/r.git".into()), &crates);
        assert_eq!(
            fill("{{rotation-core}}", &git).unwrap(),
            "{ git = \"https://g/r.git\" }"
        );
    }

    #[test]
    fn a_placeholder_nobody_fills_is_an_error_and_other_braces_are_text() {
        let values = placeholders("a", &Source::Git("u".into()), &["core".to_owned()]);
        let error = fill("x = {{rotation-gone}}", &values).unwrap_err();
        assert!(error.to_string().contains("{{rotation-gone}}"), "{error}");
        assert!(fill("{{Project Name}}", &values).is_ok());
        assert!(fill("format!(\"{{}}\") {{ a }}", &values).is_ok());
    }

    #[test]
    fn every_placeholder_of_the_starter_is_filled() {
        let root = cargo::workspace_root();
        let values = placeholders(
            "my-svc",
            &Source::Path(root.clone()),
            &framework_crates(&root).unwrap(),
        );
        let starter = root.join(STARTER);
        let files = files_under(&starter).unwrap();
        for required in [
            "Cargo.toml",
            "src/lib.rs",
            "src/main.rs",
            "tests/contract.rs",
        ] {
            assert!(files.contains(&PathBuf::from(required)), "{required}");
        }
        for file in files {
            let text = std::fs::read_to_string(starter.join(&file)).unwrap();
            if let Err(error) = fill(&text, &values) {
                panic!("{}: {error}", file.display());
            }
        }
    }

    /// Packages the workspace optimises in `dev` that a generated starter does not build
    /// (cargo warns about a profile section that matches no package).
    const NOT_IN_STARTER: [&str; 4] = ["sha1", "md-5", "postgres-protocol", "sqlx-postgres"];

    /// The `[profile.*]` sections of a manifest, as written, but those of [`NOT_IN_STARTER`].
    fn profiles(manifest: &str) -> String {
        let mut sections = String::new();
        let mut inside = false;
        for line in manifest.lines() {
            if line.starts_with('[') {
                inside = line.starts_with("[profile.")
                    && !NOT_IN_STARTER
                        .iter()
                        .any(|name| line == format!("[profile.dev.package.{name}]"));
            }
            if inside && !line.trim().is_empty() && !line.starts_with('#') {
                sections.push_str(line);
                sections.push('\n');
            }
        }
        sections
    }

    #[test]
    fn the_starter_builds_with_the_workspace_profiles() {
        let root = cargo::workspace_root();
        let read = |path: PathBuf| std::fs::read_to_string(path).unwrap();
        let workspace = profiles(&read(root.join("Cargo.toml")));
        assert!(workspace.contains("[profile.release]"), "{workspace}");
        assert_eq!(
            profiles(&read(root.join(STARTER).join("Cargo.toml"))),
            workspace,
            "templates/starter/Cargo.toml must have the workspace's [profile.*] sections"
        );
    }
}
