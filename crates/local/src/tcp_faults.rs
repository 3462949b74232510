//! A TCP proxy in front of a database that drops a connection right after the server has
//! done something, so a client sees an error for work the server did.
//!
//! A connection can die between a statement's execution and its answer (a failover, a NAT
//! timeout, a Lambda frozen mid-call). The client then cannot tell whether the change
//! happened; a rotator that fans a change out to several hosts must treat such a host as
//! changed. Real servers rarely do this on cue, so this proxy forwards bytes unchanged in
//! both directions until the server sends a chosen byte string (for PostgreSQL, the
//! `CommandComplete` tag `ALTER ROLE`, which the server sends only after the statement has
//! committed), then swallows that answer and closes both sides.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::LocalError;

/// A byte-level proxy that can cut connections after a chosen server answer; dropping it
/// stops it (open connections end with it).
pub struct TcpFaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    state: Arc<CutState>,
    accept: JoinHandle<()>,
}

#[derive(Default)]
struct CutState {
    rule: Mutex<Option<CutRule>>,
    cuts: AtomicUsize,
}

/// Cut the next `remaining` connections whose server sends `needle`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CutRule {
    needle: Vec<u8>,
    remaining: usize,
}

impl TcpFaultProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Result<TcpFaultProxy, LocalError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|source| LocalError::Listen {
                what: "TCP fault proxy",
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| LocalError::Listen {
            what: "TCP fault proxy",
            source,
        })?;
        let state = Arc::new(CutState::default());
        let accept_state = Arc::clone(&state);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let state = Arc::clone(&accept_state);
                tokio::spawn(async move {
                    match TcpStream::connect(upstream).await {
                        Ok(server) => relay(client, server, &state).await,
                        Err(error) => {
                            tracing::debug!(%upstream, %error, "TCP fault proxy: upstream refused")
                        }
                    }
                });
            }
        });
        Ok(TcpFaultProxy {
            addr,
            upstream,
            state,
            accept,
        })
    }

    /// The proxy's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Drops the next `times` connections whose server sends `needle` (e.g. `b"ALTER ROLE"`),
    /// at the moment it does: that answer never reaches the client. Other connections, and
    /// later ones, pass unchanged.
    pub fn cut_when_server_sends(&self, needle: &[u8], times: usize) {
        *lock(&self.state.rule) = (times > 0 && !needle.is_empty()).then(|| CutRule {
            needle: needle.to_vec(),
            remaining: times,
        });
    }

    /// How many connections the proxy has cut so far.
    pub fn cuts(&self) -> usize {
        self.state.cuts.load(Ordering::SeqCst)
    }
}

impl Drop for TcpFaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl std::fmt::Debug for TcpFaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpFaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.upstream)
            .field("cuts", &self.cuts())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Copies bytes both ways until either side closes, or the server sends the rule's needle.
async fn relay(mut client: TcpStream, mut server: TcpStream, state: &CutState) {
    let (mut from_client, mut to_client) = client.split();
    let (mut from_server, mut to_server) = server.split();
    let mut up = vec![0u8; 16 * 1024];
    let mut down = vec![0u8; 16 * 1024];
    // The end of what the server sent so far, so a needle split across reads is still seen.
    let mut tail: Vec<u8> = Vec::new();
    loop {
        tokio::select! {
            read = from_client.read(&mut up) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to_server.write_all(&up[..n]).await.is_err() {
                        break;
                    }
                }
            },
            read = from_server.read(&mut down) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if take_cut(state, &mut tail, &down[..n]) {
                        state.cuts.fetch_add(1, Ordering::SeqCst);
                        tracing::debug!("TCP fault proxy: cut a connection after the server's answer");
                        break;
                    }
                    if to_client.write_all(&down[..n]).await.is_err() {
                        break;
                    }
                }
            },
        }
    }
    // Dropping both streams closes both sides.
}

/// Whether this chunk from the server completes the needle (and a cut is left to make).
fn take_cut(state: &CutState, tail: &mut Vec<u8>, chunk: &[u8]) -> bool {
    let mut rule = lock(&state.rule);
    let Some(active) = rule.as_mut() else {
        return false;
    };
    let seen = sees_needle(tail, chunk, &active.needle);
    if !seen {
        return false;
    }
    active.remaining -= 1;
    if active.remaining == 0 {
        *rule = None;
    }
    true
}

/// Appends `chunk` to the kept `tail` and says whether the needle occurs in them; keeps only
/// as many bytes as a needle split across two reads needs.
fn sees_needle(tail: &mut Vec<u8>, chunk: &[u8], needle: &[u8]) -> bool {
    tail.extend_from_slice(chunk);
    let found = tail.windows(needle.len()).any(|window| window == needle);
    let keep = needle.len().saturating_sub(1).min(tail.len());
    tail.drain(..tail.len() - keep);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_needle_is_seen_whole_or_split_across_reads_and_only_once() {
        for (chunks, expected) in [
            (vec![&b"xxALTER ROLEyy"[..]], vec![true]),
            (vec![&b"xxALTER"[..], b" ROLEyy"], vec![false, true]),
            (vec![&b"A"[..], b"LTER R", b"OLE"], vec![false, false, true]),
            (vec![&b"ALTER"[..], b"xROLE"], vec![false, false]),
            (vec![&b"ALTER ROLE"[..], b"more"], vec![true, false]),
        ] {
            let mut tail = Vec::new();
            let seen: Vec<bool> = chunks
                .iter()
                .map(|chunk| sees_needle(&mut tail, chunk, b"ALTER ROLE"))
                .collect();
            assert_eq!(seen, expected, "{chunks:?}");
            assert!(tail.len() < b"ALTER ROLE".len());
        }
    }

    #[test]
    fn a_rule_cuts_as_many_times_as_asked() {
        let state = CutState::default();
        *lock(&state.rule) = Some(CutRule {
            needle: b"ok".to_vec(),
            remaining: 1,
        });
        let mut tail = Vec::new();
        assert!(!take_cut(&state, &mut tail, b"nothing"));
        assert!(take_cut(&state, &mut tail, b"is ok"));
        assert!(!take_cut(&state, &mut Vec::new(), b"is ok again"));
    }

    #[tokio::test]
    async fn bytes_pass_until_the_server_sends_the_needle() {
        let upstream = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = upstream.accept().await {
                tokio::spawn(async move {
                    let mut buffer = [0u8; 64];
                    // An answer the proxy could not make up: the request, upper-cased.
                    while let Ok(n) = stream.read(&mut buffer).await {
                        let answer = buffer[..n].to_ascii_uppercase();
                        if n == 0 || stream.write_all(&answer).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let proxy = TcpFaultProxy::start(upstream_addr).await.unwrap();
        proxy.cut_when_server_sends(b"CUT", 1);
        for (sent, answered) in [("hello", true), ("cut", false), ("cut", true)] {
            let mut stream = TcpStream::connect(("127.0.0.1", proxy.port()))
                .await
                .unwrap();
            stream.write_all(sent.as_bytes()).await.unwrap();
            let mut answer = vec![0u8; sent.len()];
            let read = stream.read_exact(&mut answer).await;
            assert_eq!(read.is_ok(), answered, "{sent}");
            if answered {
                assert_eq!(answer, sent.to_ascii_uppercase().as_bytes());
            }
        }
        assert_eq!(proxy.cuts(), 1);
    }
}
