//! `STACK=compose cargo xtask stack up|env|down`: the local stack in containers, from the
//! repository's `docker-compose.yml` (PostgreSQL 16, MySQL 8.4, MariaDB 11.4 and moto), for
//! those who prefer containers to the private servers of `rotation-stack`.
//!
//! The ports are fixed in the compose file and the passwords come from the environment with
//! the same defaults as there, so the export lines are known without asking Docker.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::cargo::workspace_root;

/// The variable that selects this path, and its value.
pub const SELECTOR: (&str, &str) = ("STACK", "compose");

/// Host ports, as published in `docker-compose.yml`.
const MOTO_PORT: u16 = 55000;
const POSTGRES_PORT: u16 = 55432;
const MYSQL_PORT: u16 = 53306;
const MARIADB_PORT: u16 = 53307;

/// Password variables and their defaults, as in `docker-compose.yml`.
const PG_PASSWORD: (&str, &str) = ("ROTATION_STACK_PG_PASSWORD", "rotation-pg");
const MYSQL_PASSWORD: (&str, &str) = ("ROTATION_STACK_MYSQL_PASSWORD", "rotation-mysql");
const MARIADB_PASSWORD: (&str, &str) = ("ROTATION_STACK_MARIADB_PASSWORD", "rotation-mariadb");

/// Whether `STACK=compose` is set.
pub fn is_selected() -> bool {
    std::env::var(SELECTOR.0).is_ok_and(|value| value == SELECTOR.1)
}

/// `docker compose up -d --wait`: starts the containers (or keeps the running ones) and waits
/// until their health checks pass.
pub fn up() -> anyhow::Result<()> {
    preflight()?;
    compose(&["up", "-d", "--wait"])
}

/// `docker compose down -v`: removes the containers and their volumes.
pub fn down() -> anyhow::Result<()> {
    preflight()?;
    compose(&["down", "-v"])
}

/// The variables that point a shell at the containers, with the private stack's names where
/// they apply: `MYSQL_*` point at MariaDB, as there, and `ROTATION_STACK_MYSQL84_*` at MySQL
/// 8.4. No CA bundle or log paths: the images serve their own certificates (PostgreSQL none)
/// and keep their logs inside the containers.
pub fn env() -> Vec<(String, String)> {
    let password = |(name, default): (&str, &str)| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.is_empty())
            .unwrap_or_else(|| default.to_string())
    };
    let moto = format!("http://127.0.0.1:{MOTO_PORT}");
    [
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.clone()),
        ("SECRETS_MANAGER_ENDPOINT", moto),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("PGHOST", "127.0.0.1".into()),
        ("PGPORT", POSTGRES_PORT.to_string()),
        ("PGUSER", "postgres".into()),
        ("PGPASSWORD", password(PG_PASSWORD)),
        ("PGDATABASE", "postgres".into()),
        ("MYSQL_HOST", "127.0.0.1".into()),
        ("MYSQL_TCP_PORT", MARIADB_PORT.to_string()),
        ("MYSQL_PWD", password(MARIADB_PASSWORD)),
        ("ROTATION_STACK_MARIADB_USER", "root".into()),
        ("ROTATION_STACK_MYSQL84_PORT", MYSQL_PORT.to_string()),
        ("ROTATION_STACK_MYSQL84_PASSWORD", password(MYSQL_PASSWORD)),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect()
}

/// A one-line description of the containers, for the status output.
pub fn describe() -> String {
    format!(
        "containers (docker compose, project rotation-stack): moto 127.0.0.1:{MOTO_PORT}, \
         PostgreSQL 16 :{POSTGRES_PORT}, MySQL 8.4 :{MYSQL_PORT}, MariaDB 11.4 :{MARIADB_PORT}"
    )
}

fn compose_file() -> PathBuf {
    workspace_root().join("docker-compose.yml")
}

/// Fails with a clear message unless the Docker engine answers and Compose v2 is installed.
fn preflight() -> anyhow::Result<()> {
    const NEEDS: &str = "STACK=compose needs a running Docker engine";
    let info = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .output();
    let info = match info {
        Ok(output) => output,
        Err(error) => bail!(
            "{NEEDS}: the docker CLI could not be run ({error}); install Docker, or use the \
             private stack (unset STACK)"
        ),
    };
    if !info.status.success() {
        let stderr = String::from_utf8_lossy(&info.stderr);
        let reason = stderr
            .lines()
            .map(str::trim)
            .rfind(|line| !line.is_empty())
            .unwrap_or("no output");
        bail!(
            "{NEEDS}: `docker info` failed ({reason}); start the engine (or point DOCKER_HOST \
             at one), or use the private stack (unset STACK)"
        );
    }
    let version = Command::new("docker")
        .args(["compose", "version"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running `docker compose version`")?;
    if !version.success() {
        bail!(
            "STACK=compose needs Docker Compose v2 (`docker compose`): install the \
             docker-compose-plugin package, or use the private stack (unset STACK)"
        );
    }
    Ok(())
}

/// Runs `docker compose -f <root>/docker-compose.yml <args>`, its output on our stderr (stdout
/// is for export lines).
fn compose(args: &[&str]) -> anyhow::Result<()> {
    let file = compose_file();
    eprintln!("$ docker compose -f {} {}", file.display(), args.join(" "));
    let status = Command::new("docker")
        .arg("compose")
        .arg("-f")
        .arg(&file)
        .args(args)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .status()
        .with_context(|| format!("running docker compose {}", args.join(" ")))?;
    if !status.success() {
        bail!("`docker compose {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_password_defaults_match_the_compose_file() {
        let file = std::fs::read_to_string(compose_file()).expect("docker-compose.yml");
        for port in [MOTO_PORT, POSTGRES_PORT, MYSQL_PORT, MARIADB_PORT] {
            assert!(
                file.contains(&format!("\"127.0.0.1:{port}:")),
                "port {port} not published in docker-compose.yml"
            );
        }
        for (name, default) in [PG_PASSWORD, MYSQL_PASSWORD, MARIADB_PASSWORD] {
            assert!(
                file.contains(&format!("${{{name}:-{default}}}")),
                "{name} with default {default} not in docker-compose.yml"
            );
        }
        for service in ["postgres:16", "mysql:8.4", "mariadb:11.4"] {
            assert!(file.contains(&format!("image: {service}\n")), "{service}");
        }
    }

    #[test]
    fn env_uses_the_private_stacks_names_where_they_apply() {
        let env = env();
        let names: Vec<&str> = env.iter().map(|(name, _)| name.as_str()).collect();
        for name in [
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            "PGHOST",
            "PGPORT",
            "PGPASSWORD",
            "MYSQL_HOST",
            "MYSQL_TCP_PORT",
            "MYSQL_PWD",
            "ROTATION_STACK_MARIADB_USER",
        ] {
            assert_eq!(names.iter().filter(|n| **n == name).count(), 1, "{name}");
        }
        let value = |name: &str| {
            env.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(value("PGPORT"), "55432");
        assert_eq!(value("MYSQL_TCP_PORT"), "53307");
        assert_eq!(value("ROTATION_STACK_MYSQL84_PORT"), "53306");
        assert_eq!(
            value("AWS_ENDPOINT_URL_SECRETS_MANAGER"),
            "http://127.0.0.1:55000"
        );
    }
}
