//! `cargo xtask stack up|env|down`: the local stack for a shell, kept running between
//! commands (see the `rotation-stack` crate).
//!
//! Status goes to stderr and `export` lines to stdout, so that
//! `eval "$(cargo xtask stack up)"` both starts the stack and sets up the shell.
//!
//! With `STACK=compose`, the same commands drive the repository's `docker-compose.yml`
//! instead (see [`compose`]).

mod compose;

use anyhow::{Context, bail};

const USAGE: &str = "usage: [STACK=compose] cargo xtask stack up|env|down";

/// Runs `cargo xtask stack <args>`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let compose = compose::is_selected();
    match args {
        [command] if command == "up" && compose => compose_up(),
        [command] if command == "env" && compose => {
            print_exports(compose::env());
            Ok(())
        }
        [command] if command == "down" && compose => compose_down(),
        [command] if command == "up" => up(),
        [command] if command == "env" => env(),
        [command] if command == "down" => down(),
        _ => bail!("{USAGE}"),
    }
}

fn compose_up() -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    compose::up().context("starting the local stack with docker compose")?;
    eprintln!(
        "local stack up in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        compose::describe()
    );
    eprintln!("stop it with `STACK=compose cargo xtask stack down`");
    print_exports(compose::env());
    Ok(())
}

fn compose_down() -> anyhow::Result<()> {
    compose::down().context("stopping the local stack with docker compose")?;
    eprintln!("containers and their volumes removed");
    Ok(())
}

fn up() -> anyhow::Result<()> {
    let reused = rotation_stack::current()?;
    if reused.is_none() {
        eprintln!(
            "starting the local stack (the very first start also installs moto: about a minute)"
        );
    }
    let started = std::time::Instant::now();
    let state = rotation_stack::up().context("starting the local stack")?;
    let how = if reused.is_some() {
        "already up".to_string()
    } else {
        format!("started in {:.1} s", started.elapsed().as_secs_f64())
    };
    eprintln!("local stack {how}:");
    eprintln!(
        "  moto (Secrets Manager)  {}  pid {}  log {}",
        state.moto_endpoint(),
        state.moto_pid,
        state.moto_log.display()
    );
    eprintln!(
        "  PostgreSQL              {}:{}  pid {}  log {}",
        state.postgres_host,
        state.postgres_port,
        state.postgres_pid,
        state.postgres_log.display()
    );
    eprintln!("  CA certificate          {}", state.ca_cert.display());
    eprintln!(
        "  MariaDB                 {}:{}  pid {}  general log {}",
        state.mariadb_host,
        state.mariadb_port,
        state.mariadb_pid,
        state.mariadb_general_log.display()
    );
    eprintln!(
        "  MariaDB CA certificate  {}",
        state.mariadb_ca_cert.display()
    );
    eprintln!("stop it with `cargo xtask stack down`");
    print_exports(state.env());
    Ok(())
}

fn env() -> anyhow::Result<()> {
    match rotation_stack::current()? {
        Some(state) => {
            print_exports(state.env());
            Ok(())
        }
        None => bail!("no stack is up: run `cargo xtask stack up`"),
    }
}

fn down() -> anyhow::Result<()> {
    let was_up = rotation_stack::current()?.is_some();
    rotation_stack::down().context("stopping the local stack")?;
    if was_up {
        eprintln!("local stack stopped and its data deleted");
    } else {
        eprintln!("no stack was up (leftovers, if any, are removed)");
    }
    Ok(())
}

fn print_exports(env: Vec<(String, String)>) {
    for (name, value) in env {
        println!("export {name}={}", shell_quote(&value));
    }
}

/// `value` as one single-quoted shell word.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
