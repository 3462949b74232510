//! TLS to the database: AWS's `ssl` key, libpq's `sslmode`, and `DATABASE_CA_BUNDLE`.
//!
//! | secret | meaning |
//! |---|---|
//! | no `ssl` (AWS default) | verified TLS (chain and host name); plaintext, with a WARN log, only when the server offers no TLS at all; a certificate that fails verification is an error |
//! | `ssl: true` / `"true"` | verified TLS (chain and host name), no plaintext |
//! | `ssl: false` / `"false"` | plaintext |
//! | `sslmode` (wins over `ssl`) | `disable`, `prefer` (unverified TLS; plaintext when the server offers no TLS or the handshake fails, as libpq), `require` (unverified TLS), `verify-ca` (chain only), `verify-full` (chain and host name) |
//!
//! One trust store for every engine (PostgreSQL, MySQL/MariaDB, their replicas):
//!
//! | source | read |
//! |---|---|
//! | the Mozilla roots (webpki-roots) | compiled in |
//! | the system bundle: `SSL_CERT_FILE` / `SSL_CERT_DIR` when set (as rustls-native-certs reads them), else the distribution's bundle file | on the first TLS login |
//! | the RDS and Aurora CAs ([`crate::rds`]) | compiled in, parsed on the first TLS login |
//! | `DATABASE_CA_BUNDLE` (PEM) | at start-up (a bad file fails the start) |
//!
//! A master secret (multi-user rotation) is stricter: `ssl` absent, and the form RDS manages
//! (`username` and `password` only), are verified TLS with no plaintext at all
//! ([`TlsMode::for_master`]), because the one who answers "no TLS" may be an attacker on the
//! path and the master password is the prize; only the master secret's own `ssl: false` or
//! `sslmode` (`disable`, `prefer`) allows plaintext.
//!
//! The fallback to plaintext with `ssl` absent takes only a server that says it has no TLS
//! (PostgreSQL answers `N` to the SSLRequest; a MySQL server without the SSL capability): a
//! certificate that does not verify is an attack or a missing CA, and both must stop the login.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use rotation_core::config::{ConfigError, Environment};
use rotation_core::{SecretError, ValueSource};
use rustls::client::WebPkiServerVerifier;

use crate::secret::{RdsSecret, SslFlag};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// How to protect one connection, decided from the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plaintext.
    Disable,
    /// TLS (verified or not); plaintext with a WARN log when the server offers no TLS, and,
    /// without verification (libpq's `prefer`), when the handshake fails.
    Prefer {
        /// Whether the TLS attempt verifies the chain and host name.
        verify: bool,
    },
    /// TLS without verification.
    Require,
    /// TLS, chain verified, host name not checked.
    VerifyCa,
    /// TLS, chain and host name verified.
    VerifyFull,
}

impl TlsMode {
    /// The mode for a secret: `sslmode` when present, else AWS's meaning of `ssl`.
    pub fn for_secret(secret: &RdsSecret, source: &ValueSource) -> Result<TlsMode, SecretError> {
        if let Some(mode) = &secret.sslmode {
            return match mode.as_str() {
                "disable" => Ok(TlsMode::Disable),
                "prefer" => Ok(TlsMode::Prefer { verify: false }),
                "require" => Ok(TlsMode::Require),
                "verify-ca" => Ok(TlsMode::VerifyCa),
                "verify-full" => Ok(TlsMode::VerifyFull),
                other => Err(SecretError::InvalidField {
                    arn: source.arn.clone(),
                    version: source.version.clone(),
                    field: "sslmode",
                    problem: format!(
                        "is {other:?}; expected disable, prefer, require, verify-ca or verify-full"
                    ),
                }),
            };
        }
        Ok(match secret.ssl {
            SslFlag::True => TlsMode::VerifyFull,
            SslFlag::False => TlsMode::Disable,
            SslFlag::Absent => TlsMode::Prefer { verify: true },
            SslFlag::Unrecognised => {
                tracing::warn!(
                    version = %source.version,
                    "the secret's \"ssl\" value is neither true nor false; treating it as absent, \
                     as AWS's templates do (verified TLS; plaintext only from a server without TLS)"
                );
                TlsMode::Prefer { verify: true }
            }
        })
    }

    /// The mode for a master secret: as [`TlsMode::for_secret`], except that `ssl` absent
    /// (or neither true nor false) is verified TLS with no plaintext fallback. The master
    /// password must not go in the clear to whoever answers "no TLS" on the path (an attacker
    /// can answer `N` to PostgreSQL's SSLRequest, or clear MySQL's `CLIENT_SSL`); RDS always
    /// offers TLS, so only the master secret itself can opt out (`ssl: false`, or an
    /// `sslmode` of `disable` or `prefer`).
    pub fn for_master(secret: &RdsSecret, source: &ValueSource) -> Result<TlsMode, SecretError> {
        let mode = TlsMode::for_secret(secret, source)?;
        Ok(match (mode, &secret.sslmode) {
            (TlsMode::Prefer { verify: true }, None) => TlsMode::VerifyFull,
            (mode, _) => mode,
        })
    }

    /// The mode for a master secret of the form RDS manages (`username` and `password` only):
    /// verified TLS, no fallback, since RDS always offers TLS and such a secret has no key to
    /// opt out with.
    pub fn for_rds_managed_master() -> TlsMode {
        TlsMode::VerifyFull
    }

    /// The TLS attempt to make first, if any.
    pub fn first_attempt(self) -> Option<Verification> {
        match self {
            TlsMode::Disable => None,
            TlsMode::Prefer { verify: true } | TlsMode::VerifyFull => Some(Verification::Full),
            TlsMode::Prefer { verify: false } | TlsMode::Require => Some(Verification::None),
            TlsMode::VerifyCa => Some(Verification::CaOnly),
        }
    }

    /// Whether a server that offers no TLS may be logged in to in plaintext.
    pub fn accepts_a_server_without_tls(self) -> bool {
        matches!(self, TlsMode::Prefer { .. })
    }

    /// Whether a failed TLS handshake (certificate, host name, protocol) may be retried in
    /// plaintext: only for libpq's `prefer`, which never verifies, so no certificate failure
    /// can lead there.
    pub fn retries_a_failed_handshake(self) -> bool {
        matches!(self, TlsMode::Prefer { verify: false })
    }
}

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verification {
    /// Chain to a trusted root, and the host name.
    Full,
    /// Chain to a trusted root only.
    CaOnly,
    /// Nothing (encryption without authentication).
    None,
}

impl Verification {
    /// The name the login log gives it: `verified`, `verified-chain` or `unverified`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::Full => "verified",
            Verification::CaOnly => "verified-chain",
            Verification::None => "unverified",
        }
    }
}

type Configs = [Arc<ClientConfig>; 3];

/// Where the process trusts a root from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootSource {
    /// The PEM file `DATABASE_CA_BUNDLE` names.
    CaBundle,
    /// The RDS and Aurora CAs built into the rotators.
    Rds,
    /// The Mozilla roots built into the rotators.
    Mozilla,
    /// The system's trust store.
    System,
}

impl std::fmt::Display for RootSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RootSource::CaBundle => "DATABASE_CA_BUNDLE",
            RootSource::Rds => "the RDS CA bundle",
            RootSource::Mozilla => "the Mozilla roots",
            RootSource::System => "the system trust store",
        })
    }
}

/// TLS settings of the process: trusted roots, read once.
#[derive(Debug)]
pub struct TlsSettings {
    extra_roots: Vec<CertificateDer<'static>>,
    anchors: OnceLock<&'static [CertificateDer<'static>]>,
    configs: OnceLock<Configs>,
    connectors: Connectors,
}

/// What engines built from the trust store, one per type and verification level.
#[derive(Default)]
struct Connectors(Mutex<HashMap<(TypeId, Verification), Box<dyn Any + Send + Sync>>>);

impl std::fmt::Debug for Connectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connectors").finish_non_exhaustive()
    }
}

/// What an engine needs to open one TLS connection: how much to verify, and what to trust.
/// Engines that take a rustls configuration use [`TlsRequest::client_config`]; engines that
/// build their own (mysql_async) take [`TlsRequest::verification`] and
/// [`TlsRequest::trusted_roots`].
#[derive(Debug, Clone, Copy)]
pub struct TlsRequest<'a> {
    /// How much of the server's certificate to check.
    pub verification: Verification,
    settings: &'a TlsSettings,
}

impl<'a> TlsRequest<'a> {
    /// A request for a verification level under the process's settings.
    pub fn new(verification: Verification, settings: &'a TlsSettings) -> Self {
        TlsRequest {
            verification,
            settings,
        }
    }

    /// A rustls configuration that trusts the Mozilla roots and [`TlsRequest::trusted_roots`]:
    /// the same store mysql_async builds from them.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.settings.client_config(self.verification)
    }

    /// The roots to trust besides the Mozilla ones: those of the system bundle, the RDS CAs and
    /// `DATABASE_CA_BUNDLE` that are usable trust anchors and not Mozilla roots already.
    pub fn trusted_roots(&self) -> &'static [CertificateDer<'static>] {
        self.settings.anchors()
    }

    /// What the engine built for this trust store and verification level, built by `build`
    /// on the first call and cloned after: an engine that builds its own TLS configuration
    /// (mysql_async parses every root into a new rustls store) pays for it once per process
    /// instead of once per login, and its TLS sessions can resume.
    pub fn reuse<T: Clone + Send + Sync + 'static>(&self, build: impl FnOnce() -> T) -> T {
        let key = (TypeId::of::<T>(), self.verification);
        let mut built = self
            .settings
            .connectors
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        built
            .entry(key)
            .or_insert_with(|| Box::new(build()))
            .downcast_ref::<T>()
            .expect("the entry of a type holds that type")
            .clone()
    }
}

impl TlsSettings {
    /// Reads `DATABASE_CA_BUNDLE` (a PEM file of CA certificates): a missing or unreadable file,
    /// or one without a certificate, is a start-up error.
    pub fn from_env(env: &dyn Environment) -> Result<Self, ConfigError> {
        let extra_roots = match env.var("DATABASE_CA_BUNDLE") {
            None => Vec::new(),
            Some(path) if path.trim().is_empty() => Vec::new(),
            Some(path) => read_bundle(&PathBuf::from(path.trim()))?,
        };
        Ok(TlsSettings {
            extra_roots,
            anchors: OnceLock::new(),
            configs: OnceLock::new(),
            connectors: Connectors::default(),
        })
    }

    /// Settings that trust only the public and system roots.
    pub fn system() -> Self {
        TlsSettings {
            extra_roots: Vec::new(),
            anchors: OnceLock::new(),
            configs: OnceLock::new(),
            connectors: Connectors::default(),
        }
    }

    /// The system bundle, the RDS CAs and `DATABASE_CA_BUNDLE`, keeping only certificates that
    /// are usable trust anchors and not already among the Mozilla roots (on most systems the
    /// bundle is those same roots); read on first use.
    ///
    /// They stay in memory until the process ends (a rotator has one `TlsSettings`, and its
    /// first TLS login needs them): `'static`, an engine that must hold its roots by value
    /// (mysql_async, whose options are cloned at every login) borrows them instead of copying
    /// them again at every login.
    fn anchors(&self) -> &'static [CertificateDer<'static>] {
        self.anchors.get_or_init(|| {
            let mut anchors = Anchors::default();
            system_roots(&mut |cert| anchors.offer(cert));
            crate::rds::certificate_authorities().for_each(|cert| anchors.offer(cert));
            for cert in &self.extra_roots {
                anchors.offer(cert.clone());
            }
            anchors.kept.leak()
        })
    }

    /// Where the process trusts the root whose subject is `subject` (a name's DER contents,
    /// as a trust anchor holds it) from: the first of `DATABASE_CA_BUNDLE`, the RDS CAs, the
    /// Mozilla roots and the system store that has it; `None` when none does.
    pub fn trust_source(&self, subject: &[u8]) -> Option<RootSource> {
        let has = |cert: &CertificateDer<'_>| {
            webpki::anchor_from_trusted_cert(cert)
                .is_ok_and(|anchor| anchor.subject.as_ref() == subject)
        };
        if self.extra_roots.iter().any(has) {
            Some(RootSource::CaBundle)
        } else if crate::rds::certificate_authorities().any(|cert| has(&cert)) {
            Some(RootSource::Rds)
        } else if webpki_roots::TLS_SERVER_ROOTS
            .iter()
            .any(|anchor| anchor.subject.as_ref() == subject)
        {
            Some(RootSource::Mozilla)
        } else if self.anchors().iter().any(has) {
            Some(RootSource::System)
        } else {
            None
        }
    }

    /// The rustls configuration for a verification level. Built on first use (loading the
    /// system store costs a few milliseconds, which a process that never uses TLS should not pay).
    pub fn client_config(&self, verification: Verification) -> Arc<ClientConfig> {
        let configs = self.configs.get_or_init(|| build_configs(self.anchors()));
        let index = match verification {
            Verification::Full => 0,
            Verification::CaOnly => 1,
            Verification::None => 2,
        };
        Arc::clone(&configs[index])
    }
}

fn build_configs(anchors: &[CertificateDer<'static>]) -> Configs {
    let started = std::time::Instant::now();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    roots.add_parsable_certificates(anchors.iter().cloned());
    let roots_count = roots.len();
    let roots = Arc::new(roots);
    let builder = || {
        ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("the aws-lc-rs provider supports the default protocol versions")
    };
    let full = builder()
        .with_root_certificates(Arc::clone(&roots))
        .with_no_client_auth();
    let webpki = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
        .build()
        .expect("a root store with the Mozilla roots is never empty");
    let ca_only = builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(CaOnly(webpki)))
        .with_no_client_auth();
    let none = builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Unverified(Arc::clone(&provider))))
        .with_no_client_auth();
    tracing::debug!(
        roots = roots_count,
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "TLS trust store loaded"
    );
    [Arc::new(full), Arc::new(ca_only), Arc::new(none)]
}

/// The trust anchors a process adds to the Mozilla roots, gathered one certificate at a
/// time: only usable anchors that are neither Mozilla roots (on most systems the whole system
/// bundle is) nor kept already are kept, so a system bundle read two or three times over
/// (`SSL_CERT_FILE` inside `SSL_CERT_DIR`) costs one certificate's memory at a time.
struct Anchors {
    mozilla: std::collections::HashSet<&'static [u8]>,
    kept: Vec<CertificateDer<'static>>,
}

impl Default for Anchors {
    fn default() -> Self {
        Anchors {
            mozilla: webpki_roots::TLS_SERVER_ROOTS
                .iter()
                .map(|anchor| anchor.subject.as_ref())
                .collect(),
            kept: Vec::new(),
        }
    }
}

impl Anchors {
    fn offer(&mut self, cert: CertificateDer<'static>) {
        let usable = webpki::anchor_from_trusted_cert(&cert)
            .is_ok_and(|anchor| !self.mozilla.contains(anchor.subject.as_ref()));
        if usable && !self.kept.contains(&cert) {
            self.kept.push(cert);
        }
    }
}

/// The system's trusted roots, from the process's `SSL_CERT_FILE` and `SSL_CERT_DIR`, each
/// given to `keep`.
fn system_roots(keep: &mut dyn FnMut(CertificateDer<'static>)) {
    system_roots_from(
        std::env::var_os("SSL_CERT_FILE"),
        std::env::var_os("SSL_CERT_DIR"),
        keep,
    );
}

/// When `SSL_CERT_FILE` or `SSL_CERT_DIR` (a `:`-separated list) is set, the certificates
/// rustls-native-certs (and OpenSSL) read from them, and nothing else: the file, and every
/// file of each directory (symbolic links followed, each file once); otherwise the first
/// bundle file of the usual locations (one file instead of a directory of hashed links), else
/// whatever rustls-native-certs finds. Read one certificate at a time, each given to `keep`.
fn system_roots_from(
    file: Option<std::ffi::OsString>,
    dirs: Option<std::ffi::OsString>,
    keep: &mut dyn FnMut(CertificateDer<'static>),
) {
    let file = file.filter(|value| !value.is_empty()).map(PathBuf::from);
    let dirs: Vec<PathBuf> = dirs
        .map(|value| std::env::split_paths(&value).collect())
        .unwrap_or_default();
    let dirs: Vec<PathBuf> = dirs
        .into_iter()
        .filter(|dir| !dir.as_os_str().is_empty())
        .collect();
    if file.is_some() || !dirs.is_empty() {
        let mut seen = std::collections::HashSet::new();
        for path in file.into_iter().chain(dirs.iter().flat_map(files_of)) {
            if let Ok(metadata) = std::fs::metadata(&path)
                && metadata.is_file()
                && seen.insert(file_identity(&metadata))
            {
                pem_certificates(&path, keep);
            }
        }
        return;
    }
    for path in SYSTEM_BUNDLES.iter().map(PathBuf::from) {
        if pem_certificates(&path, keep) > 0 {
            return;
        }
    }
    rustls_native_certs::load_native_certs()
        .certs
        .into_iter()
        .for_each(keep);
}

/// The entries of a directory (none when it cannot be read).
fn files_of(dir: &PathBuf) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|entry| Some(entry.ok()?.path()))
                .collect()
        })
        .unwrap_or_default()
}

/// What tells two paths to the same file apart from two files (a hashed link and its target
/// are one file).
#[cfg(unix)]
fn file_identity(metadata: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (metadata.dev(), metadata.ino())
}

#[cfg(not(unix))]
fn file_identity(metadata: &std::fs::Metadata) -> (u64, u64) {
    let modified = metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_nanos() as u64);
    (metadata.len(), modified)
}

/// Gives each PEM certificate of a file to `keep`; how many there were (0 when the file cannot
/// be read).
fn pem_certificates(path: &PathBuf, keep: &mut dyn FnMut(CertificateDer<'static>)) -> usize {
    let Ok(certs) = CertificateDer::pem_file_iter(path) else {
        return 0;
    };
    let mut count = 0;
    for cert in certs.filter_map(Result::ok) {
        keep(cert);
        count += 1;
    }
    count
}

/// Where distributions keep the system CA bundle (Amazon Linux 2023 first: Lambda's OS).
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/tls/cert.pem",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/cert.pem",
];

fn read_bundle(path: &PathBuf) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let problem = |text: String| ConfigError::new("DATABASE_CA_BUNDLE", text);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| problem(format!("cannot read {}: {e}", path.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            problem(format!(
                "{} is not a PEM certificate bundle: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(problem(format!(
            "{} contains no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)",
            path.display()
        )));
    }
    Ok(certs)
}

/// verify-ca: the chain must lead to a trusted root; the name is not checked.
#[derive(Debug)]
struct CaOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for CaOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain before the name, so a name error means the chain is good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// require / prefer: encryption without authentication of the server (libpq's meaning).
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rotation_core::SecretString;

    use crate::EngineDescriptor;

    /// An engine as an engine crate declares one.
    const ENGINE: EngineDescriptor = EngineDescriptor::new(&["postgres"], 5432, "");

    /// The mode `decide` gives a PostgreSQL secret with `extra` JSON members.
    fn mode_with(
        extra: &str,
        decide: fn(&RdsSecret, &ValueSource) -> Result<TlsMode, SecretError>,
    ) -> Result<TlsMode, SecretError> {
        let source = ValueSource::new("arn:s", "AWSCURRENT");
        let secret = RdsSecret::parse(
            &SecretString::new(format!(
                r#"{{"engine":"postgres","host":"h","username":"u","password":"p"{extra}}}"#
            )),
            &ENGINE,
            &source,
        )?;
        decide(&secret, &source)
    }

    fn mode(extra: &str) -> Result<TlsMode, SecretError> {
        mode_with(extra, TlsMode::for_secret)
    }

    #[test]
    fn ssl_key_follows_aws_and_sslmode_wins() {
        let cases = [
            ("", TlsMode::Prefer { verify: true }),
            (r#","ssl":true"#, TlsMode::VerifyFull),
            (r#","ssl":"true""#, TlsMode::VerifyFull),
            (r#","ssl":false"#, TlsMode::Disable),
            (r#","ssl":"False""#, TlsMode::Disable),
            (r#","ssl":"maybe""#, TlsMode::Prefer { verify: true }),
            (r#","sslmode":"disable","ssl":true"#, TlsMode::Disable),
            (r#","sslmode":"prefer""#, TlsMode::Prefer { verify: false }),
            (r#","sslmode":"require""#, TlsMode::Require),
            (r#","sslmode":"verify-ca""#, TlsMode::VerifyCa),
            (
                r#","sslmode":"verify-full","ssl":false"#,
                TlsMode::VerifyFull,
            ),
        ];
        for (extra, expected) in cases {
            assert_eq!(mode(extra).unwrap(), expected, "{extra}");
        }
        let error = mode(r#","sslmode":"allow""#).unwrap_err();
        assert!(error.to_string().starts_with("sslmode key"), "{error}");
    }

    fn master_mode(extra: &str) -> Result<TlsMode, SecretError> {
        mode_with(extra, TlsMode::for_master)
    }

    #[test]
    fn a_master_falls_back_to_plaintext_only_when_its_own_secret_says_so() {
        let cases = [
            ("", TlsMode::VerifyFull),
            (r#","ssl":"maybe""#, TlsMode::VerifyFull),
            (r#","ssl":true"#, TlsMode::VerifyFull),
            (r#","ssl":false"#, TlsMode::Disable),
            (r#","ssl":"false""#, TlsMode::Disable),
            (r#","sslmode":"prefer""#, TlsMode::Prefer { verify: false }),
            (r#","sslmode":"disable""#, TlsMode::Disable),
            (r#","sslmode":"require""#, TlsMode::Require),
            (r#","sslmode":"verify-ca""#, TlsMode::VerifyCa),
            (r#","sslmode":"verify-full""#, TlsMode::VerifyFull),
        ];
        for (extra, expected) in cases {
            let mode = master_mode(extra).unwrap();
            assert_eq!(mode, expected, "{extra}");
            // Plaintext only where the master secret asked for it.
            let opted_out =
                extra.contains("false") || extra.contains("prefer") || extra.contains("disable");
            assert_eq!(
                mode == TlsMode::Disable || mode.accepts_a_server_without_tls(),
                opted_out,
                "{extra}"
            );
        }
        assert!(master_mode(r#","sslmode":"allow""#).is_err());
        assert!(!TlsMode::for_rds_managed_master().accepts_a_server_without_tls());
    }

    #[test]
    fn only_prefer_goes_plaintext_and_only_unverified_prefer_after_a_failed_handshake() {
        // (mode, server without TLS -> plaintext, failed handshake -> plaintext)
        let cases = [
            (TlsMode::Prefer { verify: true }, true, false),
            (TlsMode::Prefer { verify: false }, true, true),
            (TlsMode::Require, false, false),
            (TlsMode::VerifyCa, false, false),
            (TlsMode::VerifyFull, false, false),
            (TlsMode::Disable, false, false),
        ];
        for (mode, without_tls, failed_handshake) in cases {
            assert_eq!(mode.accepts_a_server_without_tls(), without_tls, "{mode:?}");
            assert_eq!(
                mode.retries_a_failed_handshake(),
                failed_handshake,
                "{mode:?}"
            );
        }
        assert_eq!(TlsMode::Disable.first_attempt(), None);
    }

    fn throwaway_ca(name: &str) -> rcgen::Certificate {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.self_signed(&key).unwrap()
    }

    #[test]
    fn ssl_cert_file_and_ssl_cert_dir_replace_the_system_bundle() {
        let dir = std::env::temp_dir().join(format!("ssl-cert-env-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("certs")).unwrap();
        let (in_file, in_dir) = (throwaway_ca("in file"), throwaway_ca("in dir"));
        let file = dir.join("bundle.pem");
        std::fs::write(&file, in_file.pem()).unwrap();
        std::fs::write(dir.join("certs/one.pem"), in_dir.pem()).unwrap();
        let certs_dir = dir.join("certs");
        let read = |file: Option<&std::path::Path>, dir: Option<&std::path::Path>| {
            let mut certs = Vec::new();
            system_roots_from(
                file.map(|path| path.as_os_str().to_owned()),
                dir.map(|path| path.as_os_str().to_owned()),
                &mut |cert| certs.push(cert),
            );
            certs
        };
        let both = read(Some(&file), Some(&certs_dir));
        assert_eq!(both, [in_file.der().clone(), in_dir.der().clone()]);
        assert_eq!(read(Some(&file), None), [in_file.der().clone()]);
        assert_eq!(
            read(Some(std::path::Path::new("")), Some(&certs_dir)),
            [in_dir.der().clone()]
        );
        // A file reached twice (as SSL_CERT_FILE and inside SSL_CERT_DIR, or through a link)
        // is read once.
        std::fs::copy(&file, certs_dir.join("bundle.pem")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(certs_dir.join("one.pem"), certs_dir.join("abcd1234.0"))
            .unwrap();
        let mut twice = read(Some(&certs_dir.join("bundle.pem")), Some(&certs_dir));
        twice.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
        let mut expected = vec![in_file.der().clone(), in_dir.der().clone()];
        expected.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
        assert_eq!(twice, expected);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_anchor_offered_twice_is_kept_once_and_a_leaf_never() {
        let ca = throwaway_ca("offered twice");
        let mut anchors = Anchors::default();
        anchors.offer(ca.der().clone());
        anchors.offer(ca.der().clone());
        anchors.offer(CertificateDer::from(vec![0x30, 0x03, 1, 2, 3]));
        assert_eq!(anchors.kept, [ca.der().clone()]);
    }

    #[test]
    fn the_store_holds_the_rds_cas_and_database_ca_bundle() {
        let extra = throwaway_ca("private CA");
        let file = std::env::temp_dir().join(format!("private-ca-{}.pem", std::process::id()));
        std::fs::write(&file, extra.pem()).unwrap();
        let settings =
            TlsSettings::from_env(&[("DATABASE_CA_BUNDLE", file.to_str().unwrap())]).unwrap();
        std::fs::remove_file(&file).unwrap();
        let anchors = settings.anchors();
        assert!(anchors.contains(extra.der()));
        let mut rds = crate::rds::certificate_authorities();
        assert!(rds.all(|cert| anchors.contains(&cert)));
    }

    #[test]
    fn a_bad_bundle_is_a_start_up_error() {
        let error =
            TlsSettings::from_env(&[("DATABASE_CA_BUNDLE", "/nonexistent/ca.pem")]).unwrap_err();
        assert_eq!(error.variable, "DATABASE_CA_BUNDLE");
        let empty = std::env::temp_dir().join(format!("empty-bundle-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error =
            TlsSettings::from_env(&[("DATABASE_CA_BUNDLE", empty.to_str().unwrap())]).unwrap_err();
        assert!(error.problem.contains("no PEM certificate"), "{error}");
        std::fs::remove_file(empty).unwrap();
    }

    #[test]
    fn the_trust_store_waits_for_the_first_tls_login() {
        let settings = TlsSettings::from_env(&[("DATABASE_CA_BUNDLE", "")]).unwrap();
        assert!(settings.anchors.get().is_none() && settings.configs.get().is_none());
        let _ = TlsRequest::new(Verification::Full, &settings).trusted_roots();
        assert!(settings.anchors.get().is_some() && settings.configs.get().is_none());
        let _ = settings.client_config(Verification::None);
        assert!(settings.configs.get().is_some());
    }

    #[test]
    fn an_engine_connector_is_built_once_per_verification_level() {
        let settings = TlsSettings::system();
        let builds = std::sync::atomic::AtomicUsize::new(0);
        let build = |label: &'static str| {
            builds.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Arc::new(label)
        };
        let full = TlsRequest::new(Verification::Full, &settings);
        let none = TlsRequest::new(Verification::None, &settings);
        let first = full.reuse(|| build("full"));
        let again = full.reuse(|| build("full again"));
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(*none.reuse(|| build("none")), "none");
        assert_eq!(builds.load(std::sync::atomic::Ordering::SeqCst), 2);
        // Other settings (another trust store) build their own.
        let other = TlsSettings::system();
        let elsewhere = TlsRequest::new(Verification::Full, &other).reuse(|| build("other"));
        assert_eq!(*elsewhere, "other");
    }

    #[test]
    fn configs_build() {
        let settings = TlsSettings::system();
        let started = std::time::Instant::now();
        let _ = settings.client_config(Verification::Full);
        // The first TLS login's cost (system bundle, RDS CAs, root store), for the record.
        println!(
            "trust store built in {:.2} ms ({} roots besides Mozilla's)",
            started.elapsed().as_secs_f64() * 1000.0,
            settings.anchors().len()
        );
        for verification in [Verification::Full, Verification::CaOnly, Verification::None] {
            let _ = settings.client_config(verification);
        }
    }
}
