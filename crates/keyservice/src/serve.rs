//! The loopback HTTP/1 server the key service runs on.
//!
//! One tokio task owns the listener and every connection it accepted, so aborting that task
//! (which happens when the [`LocalServer`] is dropped) closes them all. A handler answers
//! `None` to close the connection without any answer: hyper shuts an HTTP/1 connection down,
//! writing nothing, when the service fails, which is exactly what a provider that crashed after
//! acting looks like to its client.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// What every handler answers: small, fully buffered bodies.
pub(crate) type Reply = Response<Full<Bytes>>;

/// A running server; dropping it stops the server and closes its connections.
pub(crate) struct LocalServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

/// The service "error" that makes hyper close a connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("the connection was dropped on purpose (injected fault)")]
struct DropConnection;

impl LocalServer {
    /// Binds 127.0.0.1 on a free port and answers every request with `handler`; a `None`
    /// answer closes the connection without writing anything.
    pub(crate) async fn start<F, Fut>(handler: F) -> std::io::Result<LocalServer>
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Reply>> + Send + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept_loop(listener, Arc::new(handler)));
        Ok(LocalServer { addr, task })
    }

    /// The address the server listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop<F, Fut>(listener: TcpListener, handler: Arc<F>)
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<Reply>> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Usually a transient shortage of file descriptors; keep serving.
                    tracing::warn!(%error, "accepting a loopback connection failed");
                    continue;
                }
            },
            // Reap finished connections so the set does not grow without bound.
            Some(_) = connections.join_next() => continue,
        };
        let handler = Arc::clone(&handler);
        let service = service_fn(move |request| {
            let reply = handler(request);
            async move { reply.await.ok_or(DropConnection) }
        });
        connections.spawn(async move {
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "key service connection ended with an error");
            }
        });
    }
}
