//! A private Redis server: its own directory, a random port, the `default` user switched off
//! and an administrative user with a random password, so that every client must authenticate,
//! as ACL users of a managed Redis do.
//!
//! redis-server runs as whoever runs the tests, root included: unlike PostgreSQL and MariaDB it
//! does not refuse root, and its files are only its configuration and log. Its configuration
//! (which holds the administrative password) is written readable by its owner only. Nothing is
//! saved (`save ""`, `appendonly no`) and ACL users live in memory (no `aclfile`): a restart
//! keeps the port and the administrative user but loses every key and every user created
//! since the start.

mod probe;
mod setup;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use setup::ADMIN;

use crate::files::write_private;
use crate::location::ServerDir;
use crate::port::start_on_free_port;
use crate::process::ServerProcess;
use crate::server::Kind;
use crate::{Lifetime, StackError, random};

/// Redis: a clean shutdown (SIGTERM) may take 10 s before the server is killed, and
/// redis-server may take 30 s to let the administrative user in after it was started.
const KIND: Kind = Kind {
    name: "Redis",
    stop_signal: libc::SIGTERM,
    ready_timeout: Duration::from_secs(30),
    stop_grace: Duration::from_secs(10),
};

/// A running (or deliberately stopped) Redis server on `127.0.0.1`.
pub struct RedisServer {
    // Fields drop in order: the process stops before its directory is removed.
    process: Option<ServerProcess>,
    lifetime: Lifetime,
    program: PathBuf,
    port: u16,
    password: String,
    config: PathBuf,
    log: PathBuf,
    dir: ServerDir,
}

impl RedisServer {
    /// Starts `redis-server` in a new directory on a free port and waits (up to 30 s) until
    /// `AUTH admin <password>` and `PING` answer `+OK` and `+PONG` over TCP.
    ///
    /// The program is `ROTATION_STACK_REDIS_SERVER` when set, else the first `redis-server`
    /// on the PATH (or in `/usr/bin`, `/usr/local/bin`, `/usr/sbin`). The `default` user is off:
    /// a client that does not authenticate gets `-NOAUTH` for every command.
    pub fn start(lifetime: Lifetime) -> Result<RedisServer, StackError> {
        let program = setup::locate()?;
        let dir = ServerDir::create("redis", lifetime)?;
        let mut server = RedisServer {
            process: None,
            lifetime,
            program,
            port: 0,
            password: random::password(32)?,
            config: dir.path().join("redis.conf"),
            log: dir.path().join("redis.log"),
            dir,
        };
        start_on_free_port(|port| {
            server.port = port;
            server.write_config()?;
            server.launch()
        })?;
        tracing::info!(port = server.port, pid = server.pid(), "Redis is up");
        Ok(server)
    }

    /// The host to connect to, `127.0.0.1`.
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    /// The port redis-server listens on (on `127.0.0.1` only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The administrative user, `admin` (`on ~* &* +@all`: every command, key and channel,
    /// `ACL SETUSER` included).
    pub fn admin_user(&self) -> &str {
        ADMIN
    }

    /// The administrative user's password, random for every server (letters and digits).
    pub fn admin_password(&self) -> &str {
        &self.password
    }

    /// The server's log (its `logfile`, and whatever it printed before opening it). Redis
    /// logs start-up, shutdown and warnings, never commands.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The server's directory: its configuration file (`redis.conf`, readable by its owner
    /// only: it holds the administrative password) and its log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id of redis-server, `None` while stopped.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ServerProcess::pid)
    }

    /// Stops the server cleanly (SIGTERM; nothing is saved) and waits until the process is
    /// gone and the port closed. Stopping a stopped server does nothing.
    pub fn stop(&mut self) -> Result<(), StackError> {
        KIND.stop(&mut self.process, self.port)
    }

    /// Starts the server again with the same configuration and port (stopping it first if it
    /// runs), and waits until the administrative user gets in. Keys and the ACL users created
    /// since the start are gone: only `admin` is in the configuration.
    pub fn restart(&mut self) -> Result<(), StackError> {
        self.stop()?;
        self.launch()
    }

    /// Writes the configuration for `self.port`, replacing the one of an attempt on a port
    /// that was taken.
    fn write_config(&self) -> Result<(), StackError> {
        match std::fs::remove_file(&self.config) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(StackError::io("removing", &self.config)(error));
            }
            _ => {}
        }
        let text = setup::config(self.dir.path(), self.port, &self.log, &self.password);
        write_private(&self.config, &text)
    }

    /// Starts redis-server on its configuration and waits until `AUTH` and `PING` work.
    fn launch(&mut self) -> Result<(), StackError> {
        let mut command = Command::new(&self.program);
        command.arg(&self.config).current_dir(self.dir.path());
        let process = KIND.launch(command, &self.log, self.lifetime, None, || {
            probe::authenticates(self.port, ADMIN, &self.password)
        })?;
        self.process = Some(process);
        Ok(())
    }
}

impl std::fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisServer")
            .field("pid", &self.pid())
            .field("port", &self.port)
            .field("password", &"<redacted>")
            .field("dir", &self.dir.path())
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}
