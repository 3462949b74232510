//! Which certificate authority a database server's certificate comes from, for the preflight's
//! TLS check: one TLS handshake on a connection of its own (no login), the certificates the
//! server presents read, and the authority that issued the top one looked up among the roots
//! the process trusts.
//!
//! The engines' clients keep their TLS streams to themselves, so the handshake is done here:
//! the engine only brings a fresh connection to where TLS starts
//! ([`Database::tls_preamble`](crate::Database::tls_preamble)).

use std::sync::Arc;

use rotation_core::Deadline;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

use crate::login::{Connector, Database, Endpoint};
use crate::tls::{RootSource, Verification};

/// What a server presented: who its certificate is for, who issued its chain's top, and
/// which of the process's trusted roots that issuer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCertificate {
    /// The end-entity certificate's subject (RFC 4514, `CN=db.example.com`).
    pub subject: String,
    /// The issuer of the last certificate the server sent (RFC 4514): the root the chain
    /// needs.
    pub issuer: String,
    /// Where the process trusts that root from; `None` when it does not.
    pub trusted_by: Option<RootSource>,
}

impl std::fmt::Display for ServerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "certificate for {}, issued under {}",
            self.subject, self.issuer
        )?;
        // A name, not a proof: whether the chain verifies is the login's to say.
        match self.trusted_by {
            Some(source) => write!(f, " (a root of that name is in {source})"),
            None => f.write_str(" (this function does not trust a root of that name)"),
        }
    }
}

impl<D: Database> Connector<D> {
    /// The certificate the server at `endpoint` presents, read in a TLS handshake that checks
    /// nothing (the login says whether it verifies); `Ok(None)` when the server offers no TLS.
    /// Bounded by the connect timeout and `deadline`.
    pub async fn server_certificate(
        &self,
        endpoint: &Endpoint,
        deadline: Deadline,
    ) -> Result<Option<ServerCertificate>, String> {
        let limit = deadline.cap(self.settings().connect_timeout);
        let handshake = async {
            let address = (endpoint.host.as_str(), endpoint.port);
            let mut stream = TcpStream::connect(address)
                .await
                .map_err(|error| format!("cannot connect to {endpoint}: {error}"))?;
            let offered = self
                .database()
                .tls_preamble(&mut stream)
                .await
                .map_err(|error| format!("{endpoint} before TLS: {error}"))?;
            if !offered {
                return Ok(None);
            }
            let name = ServerName::try_from(endpoint.host.clone())
                .map_err(|error| format!("{} is not a host name: {error}", endpoint.host))?;
            let config = self.settings().tls.client_config(Verification::None);
            let tls = TlsConnector::from(Arc::clone(&config))
                .connect(name, stream)
                .await
                .map_err(|error| format!("TLS handshake with {endpoint} failed: {error}"))?;
            let chain = tls.get_ref().1.peer_certificates().unwrap_or_default();
            describe(chain, |issuer| self.settings().tls.trust_source(issuer)).map(Some)
        };
        match tokio::time::timeout(limit, handshake).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "{endpoint} did not complete a TLS handshake within {} ms",
                limit.as_millis()
            )),
        }
    }
}

/// The subject of the chain's first certificate, the issuer of its last, and where that issuer
/// is trusted from (`trust` takes the issuer's name as DER contents, the form of a trust
/// anchor's subject).
fn describe(
    chain: &[CertificateDer<'_>],
    trust: impl Fn(&[u8]) -> Option<RootSource>,
) -> Result<ServerCertificate, String> {
    let parse = |der: &CertificateDer<'_>| {
        Certificate::from_der(der.as_ref())
            .map_err(|error| format!("the server's certificate cannot be read: {error}"))
    };
    let (Some(first), Some(last)) = (chain.first(), chain.last()) else {
        return Err("the server presented no certificate".to_owned());
    };
    let (first, last) = (parse(first)?, parse(last)?);
    let issuer = &last.tbs_certificate.issuer;
    let issuer_der = issuer
        .to_der()
        .map_err(|error| format!("the issuer's name cannot be encoded: {error}"))?;
    Ok(ServerCertificate {
        subject: printable(&first.tbs_certificate.subject.to_string()),
        issuer: printable(&issuer.to_string()),
        trusted_by: trust(der_contents(&issuer_der)),
    })
}

/// The longest server-given text a report repeats.
const MAX_SERVER_TEXT: usize = 200;

/// Text a server chose, fit for a report: control characters replaced, at most
/// [`MAX_SERVER_TEXT`] characters.
pub fn printable(text: &str) -> String {
    let mut kept: String = text
        .chars()
        .take(MAX_SERVER_TEXT)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().nth(MAX_SERVER_TEXT).is_some() {
        kept.push('…');
    }
    kept
}

/// The contents of a DER value (its tag and length dropped).
pub(crate) fn der_contents(der: &[u8]) -> &[u8] {
    let header = match der.get(1) {
        Some(&length) if length & 0x80 != 0 => 2 + usize::from(length & 0x7f),
        Some(_) => 2,
        None => return &[],
    };
    der.get(header..).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_of_the_top_certificate_is_looked_up_as_a_trust_anchor_subject() {
        let root = rcgen::generate_simple_self_signed(vec!["root.test".to_owned()]).unwrap();
        let chain = [root.cert.der().clone()];
        let anchor = webpki::anchor_from_trusted_cert(&chain[0]).unwrap();
        let expected = anchor.subject.as_ref().to_vec();
        let found = describe(&chain, |issuer| {
            (issuer == expected.as_slice()).then_some(RootSource::CaBundle)
        })
        .unwrap();
        assert_eq!(found.trusted_by, Some(RootSource::CaBundle));
        assert_eq!(found.subject, found.issuer);
        assert!(found.to_string().contains("DATABASE_CA_BUNDLE"), "{found}");
        assert!(describe(&[], |_| None).is_err());
    }

    #[test]
    fn server_text_is_cut_and_has_no_control_characters() {
        assert_eq!(printable("CN=db\u{1b}[31m"), "CN=db?[31m");
        let long = "x".repeat(1000);
        assert_eq!(printable(&long).chars().count(), MAX_SERVER_TEXT + 1);
    }

    #[test]
    fn der_contents_skip_short_and_long_lengths() {
        assert_eq!(der_contents(&[0x30, 0x02, 1, 2]), &[1, 2]);
        let mut long = vec![0x30, 0x81, 0x80];
        long.extend(std::iter::repeat_n(7, 0x80));
        assert_eq!(der_contents(&long).len(), 0x80);
        assert_eq!(der_contents(&[0x30]), &[] as &[u8]);
    }
}
