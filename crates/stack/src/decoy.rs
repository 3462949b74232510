//! A decoy server: what an attacker who can write a rotated secret points its `host` at, to
//! catch the credentials the rotator sends there.
//!
//! # Why
//!
//! The promise "master credentials go only where the operator or RDS put them" is only proven
//! by a server that would gladly take them. A [`Decoy`] listens on `127.0.0.1`, speaks just
//! enough of one protocol to make a client hand over its user name and password, records every
//! byte it receives, and then refuses the login, so that a test can assert that a secret never
//! reached it (and that no connection ever named the master user).
//!
//! # How
//!
//! - [`Protocol::Postgres`]: answers `SSLRequest` with `N` (no TLS, so a client that prefers
//!   TLS falls back to plaintext), reads the `StartupMessage` (records `user`), asks for a
//!   cleartext password (`AuthenticationCleartextPassword`), records whatever comes back (a
//!   `PasswordMessage`, or a SCRAM client-first message from a client that refuses cleartext),
//!   then sends a FATAL `28P01` error.
//! - [`Protocol::MySql`]: sends a v10 handshake without `CLIENT_SSL` naming
//!   `mysql_clear_password`, reads the `HandshakeResponse41` (records the user name), sends an
//!   auth switch to `mysql_clear_password`, records the answer, then an `ER_ACCESS_DENIED_ERROR`.
//! - [`Protocol::Redis`]: reads RESP commands, records the user of `AUTH user pass` (or
//!   `default` for `AUTH pass`, and `HELLO ... AUTH user pass`), and answers every command
//!   with `-WRONGPASS`.
//!
//! - [`Decoy::relay`] puts the same listener in front of a real server: TLS refused, the
//!   user name recorded, every byte copied both ways, so the logins it relays succeed (as
//!   they would through an attacker's host that forwards to the victim's database) and a
//!   rotator goes on to the steps after the login.
//!
//! Each connection is served on its own thread with a read timeout; the listener thread stops
//! when the [`Decoy`] is dropped. Plain `std`: the stack has no async runtime.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use crate::StackError;

/// The protocol a [`Decoy`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// PostgreSQL's frontend/backend protocol 3.0.
    Postgres,
    /// MySQL's client/server protocol (handshake v10).
    MySql,
    /// Redis's RESP.
    Redis,
}

/// One connection a decoy accepted: the user name the client gave, if any, and every byte
/// it sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// The user name the client logged in as (PostgreSQL `user`, MySQL user, Redis `AUTH`).
    pub user: Option<String>,
    /// Everything the client sent, in order.
    pub received: Vec<u8>,
}

/// A listener on `127.0.0.1` that records the credentials clients send it and refuses them.
#[derive(Debug)]
pub struct Decoy {
    port: u16,
    protocol: Protocol,
    upstream: Option<u16>,
    contacts: Arc<Mutex<Vec<Contact>>>,
    stop: Arc<AtomicBool>,
}

/// How long a connection may stay silent before the decoy drops it.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest message a decoy reads: a login never needs more.
const MAX_MESSAGE: usize = 64 * 1024;

impl Decoy {
    /// Starts a decoy of a protocol on a free port of `127.0.0.1` that asks every client for
    /// a cleartext password and refuses it.
    pub fn start(protocol: Protocol) -> Result<Decoy, StackError> {
        Decoy::listen(protocol, None)
    }

    /// Starts a decoy that relays every connection to the real server on `127.0.0.1:upstream`
    /// (as an attacker's host in front of the victim's database would, so that the logins it
    /// relays succeed), recording what clients send. It refuses TLS (PostgreSQL's
    /// `SSLRequest` is answered `N`, MySQL's `CLIENT_SSL` is taken out of the server's
    /// greeting) so that it sees the user names in the clear.
    pub fn relay(protocol: Protocol, upstream: u16) -> Result<Decoy, StackError> {
        Decoy::listen(protocol, Some(upstream))
    }

    fn listen(protocol: Protocol, upstream: Option<u16>) -> Result<Decoy, StackError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(StackError::io("binding a decoy listener on", "127.0.0.1:0"))?;
        let port = listener
            .local_addr()
            .map_err(StackError::io(
                "reading the local address of the decoy on",
                "127.0.0.1",
            ))?
            .port();
        listener.set_nonblocking(true).map_err(StackError::io(
            "making non-blocking the decoy listener on",
            "127.0.0.1",
        ))?;
        let contacts = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopped) = (Arc::clone(&contacts), Arc::clone(&stop));
        thread::spawn(move || accept_until_stopped(&listener, protocol, upstream, &seen, &stopped));
        Ok(Decoy {
            port,
            protocol,
            upstream,
            contacts,
            stop,
        })
    }

    /// The address it listens on: always `127.0.0.1`.
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the server it relays to, if it is a relay.
    pub fn upstream(&self) -> Option<u16> {
        self.upstream
    }

    /// The protocol it speaks.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Every connection so far.
    pub fn contacts(&self) -> Vec<Contact> {
        self.contacts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The user names clients logged in as, in order.
    pub fn users(&self) -> Vec<String> {
        self.contacts().into_iter().filter_map(|c| c.user).collect()
    }

    /// Whether any client sent these bytes (a password, say), anywhere in its stream.
    pub fn received(&self, needle: &str) -> bool {
        let needle = needle.as_bytes();
        !needle.is_empty()
            && self.contacts().iter().any(|contact| {
                contact
                    .received
                    .windows(needle.len())
                    .any(|window| window == needle)
            })
    }
}

impl Drop for Decoy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn accept_until_stopped(
    listener: &TcpListener,
    protocol: Protocol,
    upstream: Option<u16>,
    contacts: &Arc<Mutex<Vec<Contact>>>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let contacts = Arc::clone(contacts);
                thread::spawn(move || serve(stream, protocol, upstream, &contacts));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A connection being served: the stream, and what it has recorded so far (published to the
/// decoy's list as it goes, so that a test sees a login while the connection is still open).
struct Conversation<'a> {
    stream: TcpStream,
    contact: Contact,
    contacts: &'a Mutex<Vec<Contact>>,
    index: usize,
}

impl Conversation<'_> {
    fn publish(&self) {
        let mut contacts = self.contacts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = contacts.get_mut(self.index) {
            entry.clone_from(&self.contact);
        }
    }

    fn set_user(&mut self, user: &[u8]) {
        self.contact.user = Some(String::from_utf8_lossy(user).into_owned());
        self.publish();
    }

    fn read_exact(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        if n > MAX_MESSAGE {
            return Err(std::io::Error::new(
                ErrorKind::InvalidData,
                "message too long",
            ));
        }
        let mut buffer = vec![0; n];
        self.stream.read_exact(&mut buffer)?;
        self.contact.received.extend_from_slice(&buffer);
        self.publish();
        Ok(buffer)
    }

    fn read_some(&mut self) -> std::io::Result<Vec<u8>> {
        let mut buffer = vec![0; 4096];
        let n = self.stream.read(&mut buffer)?;
        buffer.truncate(n);
        self.contact.received.extend_from_slice(&buffer);
        self.publish();
        Ok(buffer)
    }

    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }
}

fn serve(
    stream: TcpStream,
    protocol: Protocol,
    upstream: Option<u16>,
    contacts: &Mutex<Vec<Contact>>,
) {
    // Blocking reads with a timeout: the listener is non-blocking, accepted sockets need not be.
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let index = {
        let mut list = contacts.lock().unwrap_or_else(PoisonError::into_inner);
        list.push(Contact::default());
        list.len() - 1
    };
    let mut conversation = Conversation {
        stream,
        contact: Contact::default(),
        contacts,
        index,
    };
    // A client that hangs up half-way has still sent what it sent: it is recorded either way.
    let _ = match (protocol, upstream) {
        (Protocol::Postgres, None) => postgres(&mut conversation),
        (Protocol::MySql, None) => mysql(&mut conversation),
        (Protocol::Redis, None) => redis(&mut conversation),
        (Protocol::Postgres, Some(port)) => relay_postgres(&mut conversation, port),
        (Protocol::MySql, Some(port)) => relay_mysql(&mut conversation, port),
        (Protocol::Redis, Some(port)) => relay_redis(&mut conversation, port),
    };
    conversation.publish();
}

fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The PostgreSQL side: startup, a cleartext password request, a refusal.
fn postgres(c: &mut Conversation) -> std::io::Result<()> {
    postgres_startup(c)?;
    // AuthenticationCleartextPassword.
    c.send(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3])?;
    let header = c.read_exact(5)?;
    let length = be_u32(&header[1..]) as usize;
    c.read_exact(length.saturating_sub(4))?;
    let mut error = Vec::new();
    for (code, text) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "28P01"),
        (b'M', "password authentication failed (decoy)"),
    ] {
        error.push(code);
        error.extend_from_slice(text.as_bytes());
        error.push(0);
    }
    error.push(0);
    let mut message = vec![b'E'];
    message.extend_from_slice(&(error.len() as u32 + 4).to_be_bytes());
    message.extend_from_slice(&error);
    c.send(&message)
}

/// Copies both ways between the client and the upstream server until either side closes,
/// recording what the client sends.
fn pump(c: &mut Conversation, upstream: TcpStream) -> std::io::Result<()> {
    pump_watching(c, upstream, |_| {})
}

/// [`pump`], calling `watch` after each chunk the client sends.
fn pump_watching(
    c: &mut Conversation,
    mut upstream: TcpStream,
    mut watch: impl FnMut(&mut Conversation),
) -> std::io::Result<()> {
    let mut from_server = upstream.try_clone()?;
    let mut to_client = c.stream.try_clone()?;
    let copier = thread::spawn(move || {
        let _ = std::io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(std::net::Shutdown::Both);
    });
    loop {
        match c.read_some() {
            Ok(chunk) if chunk.is_empty() => break,
            Ok(chunk) => {
                watch(c);
                if upstream.write_all(&chunk).is_err() {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let _ = upstream.shutdown(std::net::Shutdown::Both);
    let _ = copier.join();
    Ok(())
}

fn connect_upstream(port: u16) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    Ok(stream)
}

/// PostgreSQL relayed: TLS refused, the startup message read (its user recorded) and
/// forwarded, then everything copied.
fn relay_postgres(c: &mut Conversation, port: u16) -> std::io::Result<()> {
    let startup = postgres_startup(c)?;
    let mut upstream = connect_upstream(port)?;
    upstream.write_all(&startup)?;
    pump(c, upstream)
}

/// Reads up to the startup message (answering TLS requests with `N`), records its user and
/// returns the message as sent.
fn postgres_startup(c: &mut Conversation) -> std::io::Result<Vec<u8>> {
    const SSL_REQUEST: u32 = 80_877_103;
    const GSSENC_REQUEST: u32 = 80_877_104;
    let (header, body) = loop {
        let header = c.read_exact(4)?;
        let body = c.read_exact((be_u32(&header) as usize).saturating_sub(4))?;
        if body.len() < 4 {
            return Err(std::io::Error::new(ErrorKind::InvalidData, "short startup"));
        }
        match be_u32(&body) {
            SSL_REQUEST | GSSENC_REQUEST => c.send(b"N")?,
            _ => break (header, body),
        }
    };
    // key\0value\0 ... \0 after the protocol version.
    let mut fields = body[4..].split(|b| *b == 0);
    while let (Some(key), Some(value)) = (fields.next(), fields.next()) {
        if key == b"user" {
            c.set_user(value);
        }
    }
    let mut message = header;
    message.extend_from_slice(&body);
    Ok(message)
}

/// MySQL relayed: the server's greeting forwarded without `CLIENT_SSL`, the client's
/// handshake response read (its user recorded) and forwarded, then everything copied.
fn relay_mysql(c: &mut Conversation, port: u16) -> std::io::Result<()> {
    const CLIENT_SSL: u8 = 0x08; // 0x800, in the second byte of the lower capability flags
    let mut upstream = connect_upstream(port)?;
    let mut header = [0u8; 4];
    upstream.read_exact(&mut header)?;
    let length = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    if length > MAX_MESSAGE {
        return Err(std::io::Error::new(
            ErrorKind::InvalidData,
            "greeting too long",
        ));
    }
    let mut greeting = vec![0; length];
    upstream.read_exact(&mut greeting)?;
    // protocol version (1), server version (NUL-terminated), thread id (4), scramble (8),
    // filler (1), then the lower capability flags (2).
    if let Some(end) = greeting.iter().skip(1).position(|b| *b == 0) {
        let flags = 1 + end + 1 + 4 + 8 + 1;
        if let Some(byte) = greeting.get_mut(flags + 1) {
            *byte &= !CLIENT_SSL;
        }
    }
    c.send(&[&header[..], &greeting].concat())?;
    let (sequence, response) = read_mysql_packet(c)?;
    if let Some(rest) = response.get(32..) {
        let name = rest.split(|b| *b == 0).next().unwrap_or_default();
        c.set_user(name);
    }
    upstream.write_all(&mysql_packet(sequence, &response))?;
    pump(c, upstream)
}

/// Redis relayed: everything copied, the user of each `AUTH` recorded as it passes.
fn relay_redis(c: &mut Conversation, port: u16) -> std::io::Result<()> {
    let upstream = connect_upstream(port)?;
    let mut parsed = 0;
    pump_watching(c, upstream, |c| {
        while let Some((command, used)) = resp_command(&c.contact.received[parsed..]) {
            parsed += used;
            if let Some(user) = auth_user(&command) {
                c.set_user(user.as_bytes());
            }
        }
    })
}

/// The user an `AUTH` or `HELLO ... AUTH` command logs in as.
fn auth_user(command: &[Vec<u8>]) -> Option<String> {
    let upper = |i: usize| {
        command
            .get(i)
            .map(|part| String::from_utf8_lossy(part).to_ascii_uppercase())
    };
    let user = match upper(0).as_deref() {
        Some("AUTH") if command.len() >= 3 => command.get(1)?.clone(),
        Some("AUTH") => b"default".to_vec(),
        Some("HELLO") => {
            let at = (1..command.len()).find(|i| upper(*i).as_deref() == Some("AUTH"))?;
            command.get(at + 1)?.clone()
        }
        _ => return None,
    };
    Some(String::from_utf8_lossy(&user).into_owned())
}

/// A MySQL packet: 3-byte little-endian length, sequence id, payload.
fn mysql_packet(sequence: u8, payload: &[u8]) -> Vec<u8> {
    let length = payload.len() as u32;
    let mut packet = length.to_le_bytes()[..3].to_vec();
    packet.push(sequence);
    packet.extend_from_slice(payload);
    packet
}

fn read_mysql_packet(c: &mut Conversation) -> std::io::Result<(u8, Vec<u8>)> {
    let header = c.read_exact(4)?;
    let length = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    Ok((header[3], c.read_exact(length)?))
}

/// The MySQL side: a handshake asking for `mysql_clear_password`, an auth switch to it, a
/// refusal.
fn mysql(c: &mut Conversation) -> std::io::Result<()> {
    const PLUGIN: &[u8] = b"mysql_clear_password";
    // LONG_PASSWORD, CONNECT_WITH_DB, PROTOCOL_41, TRANSACTIONS, SECURE_CONNECTION,
    // PLUGIN_AUTH, PLUGIN_AUTH_LENENC_CLIENT_DATA; no CLIENT_SSL.
    let capabilities: u32 = 0x1 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x8_0000 | 0x20_0000;
    let mut greeting = vec![10];
    greeting.extend_from_slice(b"5.7.44-decoy\0");
    greeting.extend_from_slice(&7u32.to_le_bytes());
    greeting.extend_from_slice(b"abcdefgh\0");
    greeting.extend_from_slice(&capabilities.to_le_bytes()[..2]);
    greeting.push(0x21);
    greeting.extend_from_slice(&2u16.to_le_bytes());
    greeting.extend_from_slice(&capabilities.to_le_bytes()[2..]);
    greeting.push(21);
    greeting.extend_from_slice(&[0; 10]);
    greeting.extend_from_slice(b"ijklmnopqrst\0");
    greeting.extend_from_slice(PLUGIN);
    greeting.push(0);
    c.send(&mysql_packet(0, &greeting))?;
    let (sequence, response) = read_mysql_packet(c)?;
    // capabilities (4), max packet (4), charset (1), filler (23), then the user name.
    if let Some(rest) = response.get(32..) {
        let name = rest.split(|b| *b == 0).next().unwrap_or_default();
        c.set_user(name);
    }
    let mut switch = vec![0xfe];
    switch.extend_from_slice(PLUGIN);
    switch.push(0);
    c.send(&mysql_packet(sequence.wrapping_add(1), &switch))?;
    let (sequence, _password) = read_mysql_packet(c)?;
    let mut error = vec![0xff];
    error.extend_from_slice(&1045u16.to_le_bytes());
    error.extend_from_slice(b"#28000Access denied (decoy)");
    c.send(&mysql_packet(sequence.wrapping_add(1), &error))
}

/// The Redis side: every command is answered `-WRONGPASS`; `AUTH` and `HELLO ... AUTH` name
/// the user.
fn redis(c: &mut Conversation) -> std::io::Result<()> {
    let mut pending = Vec::new();
    loop {
        let chunk = c.read_some()?;
        if chunk.is_empty() {
            return Ok(());
        }
        pending.extend_from_slice(&chunk);
        while let Some((command, used)) = resp_command(&pending) {
            pending.drain(..used);
            if let Some(user) = auth_user(&command) {
                c.set_user(user.as_bytes());
            }
            c.send(b"-WRONGPASS invalid username-password pair or user is disabled. (decoy)\r\n")?;
        }
        if pending.len() > MAX_MESSAGE {
            return Ok(());
        }
    }
}

/// One RESP array of bulk strings from the front of `bytes`, and how many bytes it took.
fn resp_command(bytes: &[u8]) -> Option<(Vec<Vec<u8>>, usize)> {
    fn line(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let end = bytes.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        Some((&bytes[at..at + end], at + end + 2))
    }
    let (header, mut at) = line(bytes, 0)?;
    let count: usize = std::str::from_utf8(header.strip_prefix(b"*")?)
        .ok()?
        .parse()
        .ok()?;
    let mut parts = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let (size, next) = line(bytes, at)?;
        let size: usize = std::str::from_utf8(size.strip_prefix(b"$")?)
            .ok()?
            .parse()
            .ok()?;
        let part = bytes.get(next..next + size)?;
        parts.push(part.to_vec());
        at = next + size + 2;
        if bytes.len() < at {
            return None;
        }
    }
    Some((parts, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_for_contact(decoy: &Decoy) -> Contact {
        for _ in 0..200 {
            if let Some(contact) = decoy.contacts().pop() {
                return contact;
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!("no contact recorded");
    }

    #[test]
    fn the_postgres_decoy_records_the_user_and_the_cleartext_password() {
        let decoy = Decoy::start(Protocol::Postgres).unwrap();
        let mut stream = TcpStream::connect((decoy.host(), decoy.port())).unwrap();
        stream.write_all(&[0, 0, 0, 8, 4, 210, 22, 47]).unwrap();
        let mut answer = [0u8; 1];
        stream.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"N");
        let mut startup = vec![0, 3, 0, 0];
        startup.extend_from_slice(b"user\0admin\0database\0db\0\0");
        let mut message = ((startup.len() + 4) as u32).to_be_bytes().to_vec();
        message.extend_from_slice(&startup);
        stream.write_all(&message).unwrap();
        let mut request = [0u8; 9];
        stream.read_exact(&mut request).unwrap();
        assert_eq!(request, [b'R', 0, 0, 0, 8, 0, 0, 0, 3]);
        stream.write_all(b"p\0\0\0\x0bsecret\0").unwrap();
        let mut error = [0u8; 1];
        stream.read_exact(&mut error).unwrap();
        assert_eq!(&error, b"E");
        let contact = wait_for_contact(&decoy);
        assert_eq!(contact.user.as_deref(), Some("admin"));
        assert!(decoy.received("secret"));
        assert_eq!(decoy.users(), ["admin"]);
    }

    #[test]
    fn the_redis_decoy_records_auth() {
        let decoy = Decoy::start(Protocol::Redis).unwrap();
        let mut stream = TcpStream::connect((decoy.host(), decoy.port())).unwrap();
        stream
            .write_all(b"*3\r\n$4\r\nAUTH\r\n$5\r\nadmin\r\n$6\r\nsecret\r\n")
            .unwrap();
        let mut answer = [0u8; 10];
        stream.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"-WRONGPASS");
        drop(stream);
        let contact = wait_for_contact(&decoy);
        assert_eq!(contact.user.as_deref(), Some("admin"));
        assert!(decoy.received("secret") && !decoy.received("other"));
    }

    #[test]
    fn resp_commands_are_split_whole_or_not_at_all() {
        let bytes = b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*1";
        let (command, used) = resp_command(bytes).unwrap();
        assert_eq!(command, [b"AUTH".to_vec(), b"pw".to_vec()]);
        assert_eq!(used, bytes.len() - 2);
        assert!(resp_command(b"*2\r\n$4\r\nAUTH\r\n$2\r\np").is_none());
    }
}
