//! The self-signed TLS certificates the database servers serve, which clients also use as
//! their CA bundle to verify them (hostname included).

use rcgen::{CertificateParams, DnType, KeyPair};

use crate::StackError;

/// The names the certificate is valid for: what `PostgresServer::host` returns, and the
/// address the servers listen on (`MariaDbServer::host`).
pub(crate) const SUBJECT_ALT_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// A certificate and its private key, both PEM.
pub(crate) struct ServerCertificate {
    /// The certificate, also the trust anchor clients verify against.
    pub(crate) cert_pem: String,
    /// The private key (PKCS#8).
    pub(crate) key_pem: String,
}

/// Generates a fresh key pair and a self-signed certificate for [`SUBJECT_ALT_NAMES`], with
/// `common_name` as its subject.
pub(crate) fn self_signed(common_name: &str) -> Result<ServerCertificate, StackError> {
    let certificate = |source| StackError::Certificate { source };
    let names = SUBJECT_ALT_NAMES.map(String::from).to_vec();
    let mut params = CertificateParams::new(names).map_err(certificate)?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let key = KeyPair::generate().map_err(certificate)?;
    let cert = params.self_signed(&key).map_err(certificate)?;
    Ok(ServerCertificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes the base64 body of a PEM block, enough to look at the DER inside.
    fn der(pem: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let body: Vec<u8> = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .flat_map(|line| line.bytes())
            .filter(|byte| *byte != b'=')
            .collect();
        let sextets: Vec<u32> = body
            .iter()
            .map(|byte| {
                let index = ALPHABET.iter().position(|a| a == byte).expect("base64");
                u32::try_from(index).expect("small")
            })
            .collect();
        let mut bytes = Vec::new();
        for chunk in sextets.chunks(4) {
            let word = chunk
                .iter()
                .enumerate()
                .fold(0, |word, (i, sextet)| word | sextet << (18 - 6 * i));
            let [_, b0, b1, b2] = word.to_be_bytes();
            bytes.extend_from_slice(&[b0, b1, b2][..chunk.len() - 1]);
        }
        bytes
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack
            .windows(needle.len())
            .any(|window| window == needle)
    }

    #[test]
    fn certificate_names_localhost_and_the_loopback_address() {
        let generated = self_signed("test").expect("certificate");
        assert!(
            generated
                .cert_pem
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        let der = der(&generated.cert_pem);
        // GeneralName dNSName [2] "localhost" and iPAddress [7] 127.0.0.1, as DER encodes them.
        let dns_localhost = [&[0x82, 9][..], b"localhost"].concat();
        assert!(contains(&der, &dns_localhost), "no DNS SAN localhost");
        assert!(
            contains(&der, &[0x87, 4, 127, 0, 0, 1]),
            "no IP SAN 127.0.0.1"
        );
    }

    #[test]
    fn key_is_pkcs8_pem() {
        let generated = self_signed("test").expect("certificate");
        assert!(generated.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    }

    #[test]
    fn every_certificate_has_its_own_key() {
        let first = self_signed("test").expect("certificate");
        let second = self_signed("test").expect("certificate");
        assert_ne!(first.key_pem, second.key_pem);
    }
}
