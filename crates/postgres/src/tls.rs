//! TLS for tokio-postgres over rustls, recording the protocol version the handshake agreed on.
//!
//! tokio-postgres keeps the TLS stream inside its connection task, where nothing can ask it
//! which protocol it speaks; this connector notes the version as the handshake completes, for
//! the login log. Channel binding (`SCRAM-SHA-256-PLUS`) works as with tokio-postgres-rustls:
//! the `tls-server-end-point` hash of the server's certificate (RFC 5929).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use sha2::{Digest, Sha256, Sha384, Sha512};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::oid::db::rfc5912::{
    ECDSA_WITH_SHA_256, ECDSA_WITH_SHA_384, ID_SHA_1, ID_SHA_256, ID_SHA_384, ID_SHA_512,
    SHA_1_WITH_RSA_ENCRYPTION, SHA_256_WITH_RSA_ENCRYPTION, SHA_384_WITH_RSA_ENCRYPTION,
    SHA_512_WITH_RSA_ENCRYPTION,
};

/// The protocol version of one connection, once its handshake is done (`TLSv1.3`).
pub type ProtocolSlot = Arc<OnceLock<String>>;

/// A `MakeTlsConnect` for one connection, writing the agreed version into a slot.
pub struct RecordingConnect {
    config: Arc<ClientConfig>,
    version: ProtocolSlot,
}

impl RecordingConnect {
    /// A connector with a rustls configuration; the version lands in the returned slot.
    pub fn new(config: Arc<ClientConfig>) -> (Self, ProtocolSlot) {
        let version = ProtocolSlot::default();
        let connect = RecordingConnect {
            config,
            version: Arc::clone(&version),
        };
        (connect, version)
    }
}

impl<S> MakeTlsConnect<S> for RecordingConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RecordedStream<S>;
    type TlsConnect = Handshake;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<Handshake> {
        let server_name = ServerName::try_from(domain.to_owned())
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        Ok(Handshake {
            connector: TlsConnector::from(Arc::clone(&self.config)),
            server_name,
            version: Arc::clone(&self.version),
        })
    }
}

/// One handshake to make.
pub struct Handshake {
    connector: TlsConnector,
    server_name: ServerName<'static>,
    version: ProtocolSlot,
}

impl<S> TlsConnect<S> for Handshake
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RecordedStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RecordedStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let stream = self.connector.connect(self.server_name, stream).await?;
            if let Some(version) = stream.get_ref().1.protocol_version() {
                let _ = self.version.set(version_name(version));
            }
            Ok(RecordedStream(stream))
        })
    }
}

/// `TLSv1.3`, as PostgreSQL and MySQL name versions (rustls writes `TLSv1_3`).
fn version_name(version: rustls::ProtocolVersion) -> String {
    format!("{version:?}").replace('_', ".")
}

/// The TLS stream of a connection.
pub struct RecordedStream<S>(TlsStream<S>);

impl<S> tokio_postgres::tls::TlsStream for RecordedStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn channel_binding(&self) -> ChannelBinding {
        let (_, session) = self.0.get_ref();
        let Some(leaf) = session.peer_certificates().and_then(|certs| certs.first()) else {
            return ChannelBinding::none();
        };
        Certificate::from_der(leaf)
            .ok()
            .and_then(|cert| end_point_hash(cert.signature_algorithm.oid, leaf))
            .map_or_else(ChannelBinding::none, ChannelBinding::tls_server_end_point)
    }
}

/// The `tls-server-end-point` hash: the certificate's own signature hash, SHA-1 raised to
/// SHA-256 (RFC 5929 §4.1); none for algorithms without a hash (Ed25519).
fn end_point_hash(signature_algorithm: ObjectIdentifier, der: &[u8]) -> Option<Vec<u8>> {
    match signature_algorithm {
        ID_SHA_1
        | ID_SHA_256
        | SHA_1_WITH_RSA_ENCRYPTION
        | SHA_256_WITH_RSA_ENCRYPTION
        | ECDSA_WITH_SHA_256 => Some(Sha256::digest(der).to_vec()),
        ID_SHA_384 | SHA_384_WITH_RSA_ENCRYPTION | ECDSA_WITH_SHA_384 => {
            Some(Sha384::digest(der).to_vec())
        }
        ID_SHA_512 | SHA_512_WITH_RSA_ENCRYPTION => Some(Sha512::digest(der).to_vec()),
        _ => None,
    }
}

impl<S> AsyncRead for RecordedStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S> AsyncWrite for RecordedStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_named_as_the_servers_name_them() {
        assert_eq!(version_name(rustls::ProtocolVersion::TLSv1_3), "TLSv1.3");
        assert_eq!(version_name(rustls::ProtocolVersion::TLSv1_2), "TLSv1.2");
    }

    #[test]
    fn the_end_point_hash_follows_the_signature_hash() {
        let der = b"certificate";
        let cases = [
            (SHA_256_WITH_RSA_ENCRYPTION, Some(32)),
            (SHA_1_WITH_RSA_ENCRYPTION, Some(32)),
            (ECDSA_WITH_SHA_384, Some(48)),
            (SHA_512_WITH_RSA_ENCRYPTION, Some(64)),
            (ObjectIdentifier::new_unwrap("1.3.101.112"), None), // Ed25519
        ];
        for (oid, length) in cases {
            assert_eq!(end_point_hash(oid, der).map(|h| h.len()), length, "{oid}");
        }
    }
}
