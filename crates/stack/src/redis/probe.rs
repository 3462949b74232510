//! Asking a redis-server whether the administrative user gets in: `AUTH` and `PING` in RESP
//! over a plain `std::net::TcpStream`, so that the stack needs no Redis client.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// How long one probe may take to connect, and to get each answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest answer a probe reads: `+OK` and `+PONG`, or one error line.
const MAX_ANSWER: usize = 4096;

/// Whether `AUTH user password` then `PING` on `127.0.0.1:port` answer `+OK` and `+PONG`.
pub(super) fn authenticates(port: u16, user: &str, password: &str) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, PROBE_TIMEOUT) else {
        return false;
    };
    if stream.set_read_timeout(Some(PROBE_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(PROBE_TIMEOUT)).is_err()
    {
        return false;
    }
    let mut request = command(&["AUTH", user, password]);
    request.extend(command(&["PING"]));
    if stream.write_all(&request).is_err() {
        return false;
    }
    let expected = b"+OK\r\n+PONG\r\n";
    let mut answer = Vec::new();
    let mut buffer = [0; 512];
    while answer.len() < expected.len() && answer.len() < MAX_ANSWER {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return false,
            Ok(read) => answer.extend_from_slice(&buffer[..read]),
        }
        if answer.first() == Some(&b'-') {
            return false;
        }
    }
    answer == expected
}

/// A command as RESP: an array of bulk strings.
fn command(parts: &[&str]) -> Vec<u8> {
    let mut bytes = format!("*{}\r\n", parts.len()).into_bytes();
    for part in parts {
        bytes.extend(format!("${}\r\n", part.len()).into_bytes());
        bytes.extend(part.as_bytes());
        bytes.extend(b"\r\n");
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(
            command(&["AUTH", "admin", "pw"]),
            b"*3\r\n$4\r\nAUTH\r\n$5\r\nadmin\r\n$2\r\npw\r\n"
        );
    }

    #[test]
    fn nothing_listening_is_not_authenticated() {
        let port = crate::port::free_port().expect("free port");
        assert!(!authenticates(port, "admin", "pw"));
    }
}
