//! Loopback TCP ports: picking a free one, and asking whether something listens on one.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::StackError;

/// How many times a server is started on a new port when another process took the one we
/// picked before the server could bind it.
const ATTEMPTS: usize = 3;

/// A port nobody listens on right now, chosen by the kernel.
pub(crate) fn free_port() -> Result<u16, StackError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(StackError::io("binding a free port on", "127.0.0.1"))
}

/// Runs `start` on a free port, again on another one when the port was taken in between.
pub(crate) fn start_on_free_port<T>(
    mut start: impl FnMut(u16) -> Result<T, StackError>,
) -> Result<T, StackError> {
    let mut attempt = 1;
    loop {
        match start(free_port()?) {
            Err(error) if error.is_port_taken() && attempt < ATTEMPTS => {
                tracing::debug!(%error, "port taken, trying another");
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// Whether something accepts TCP connections on `127.0.0.1:port`.
pub(crate) fn accepts(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok()
}

/// Waits until nothing accepts connections on `port` any more.
pub(crate) fn wait_closed(
    server: &'static str,
    port: u16,
    timeout: Duration,
) -> Result<(), StackError> {
    let deadline = Instant::now() + timeout;
    while accepts(port) {
        if Instant::now() >= deadline {
            return Err(StackError::PortStillOpen {
                server,
                port,
                timeout,
            });
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_accepts_nothing_until_bound() {
        let port = free_port().expect("free port");
        assert!(!accepts(port));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("bind");
        assert!(accepts(port));
        drop(listener);
        wait_closed("test", port, Duration::from_secs(5)).expect("closed");
    }
}
