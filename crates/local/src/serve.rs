//! The loopback HTTP/1 server the emulated services run on (the Runtime API and the fault
//! proxy here, the key service of `rotation-keyservice`).
//!
//! Each server is one tokio task owning its listener and every connection it accepted, so
//! aborting that task (which happens when the [`LocalServer`] is dropped) closes them all,
//! including a Runtime API long poll that would otherwise wait forever. A handler given to
//! [`LocalServer::start_or_drop`] may answer `None` to close the connection without writing
//! anything, which is what a service that crashed after acting looks like to its client.

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
pub type Reply = Response<Full<Bytes>>;

/// The service "error" that makes hyper close a connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("the connection was dropped on purpose (injected fault)")]
struct DropConnection;

/// A running server; dropping it stops the server and closes its connections.
pub struct LocalServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl LocalServer {
    /// Binds 127.0.0.1 on a free port and answers every request with `handler`.
    pub async fn start<F, Fut>(handler: F) -> std::io::Result<LocalServer>
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        LocalServer::start_or_drop(move |request| {
            let reply = handler(request);
            async move { Some(reply.await) }
        })
        .await
    }

    /// Binds 127.0.0.1 on a free port and answers every request with `handler`; a `None`
    /// answer closes the connection without writing anything.
    pub async fn start_or_drop<F, Fut>(handler: F) -> std::io::Result<LocalServer>
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
    pub fn addr(&self) -> SocketAddr {
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
                tracing::debug!(%error, "loopback connection ended with an error");
            }
        });
    }
}

/// A reply with a status and a JSON body (`application/json`).
pub fn json_reply(status: u16, body: &serde_json::Value) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body.to_string())));
    *reply.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    reply.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    reply
}
