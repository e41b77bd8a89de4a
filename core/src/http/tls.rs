//! TLS for the outbound HTTP client: which servers to trust and how to prove who we are.
//!
//! Trust starts from the operating system's roots (`rustls-native-certs`, which honours
//! `SSL_CERT_FILE` and `SSL_CERT_DIR`), read once per process, plus a PEM `ca_file` per
//! client. A client certificate and key (`cert_file`, `key_file`) answer a server that asks
//! for one (mTLS). `insecure_skip_verify` accepts any certificate — for a test bench only —
//! and is logged loudly every time a client is built with it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::{Error, ErrorKind};

/// Which servers a client trusts and which certificate it shows them.
///
/// The default trusts the operating system's roots and shows no certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TlsOptions {
    /// PEM file of extra CA certificates to trust (a private CA), beside the system roots.
    pub ca_file: Option<PathBuf>,
    /// PEM file of the client certificate chain shown to servers that ask (mTLS).
    pub cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// The name the server's certificate must carry, when it differs from the URL's host
    /// (an IP address URL, say). Also sent as SNI.
    pub server_name: Option<String>,
    /// Accept any server certificate. Never in production: anyone on the path can read and
    /// change the traffic. Logged as a warning.
    pub insecure_skip_verify: bool,
    /// Leave the operating system's roots out (trust `ca_file` only).
    pub no_system_roots: bool,
}

impl TlsOptions {
    /// Trusts the CA certificates in `path` (PEM) beside the system roots.
    #[must_use]
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Shows the certificate chain in `cert` with the key in `key` (both PEM) to servers that
    /// ask for one.
    #[must_use]
    pub fn client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.cert_file = Some(cert.into());
        self.key_file = Some(key.into());
        self
    }

    /// Checks the server's certificate against `name` instead of the URL's host.
    #[must_use]
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Accepts any server certificate (see the field's warning).
    #[must_use]
    pub fn insecure_skip_verify(mut self, yes: bool) -> Self {
        self.insecure_skip_verify = yes;
        self
    }

    /// Trusts only `ca_file`, not the operating system's roots.
    #[must_use]
    pub fn no_system_roots(mut self, yes: bool) -> Self {
        self.no_system_roots = yes;
        self
    }

    /// Checks the settings without building a client: the files exist and hold what they
    /// should, the server name is a valid name.
    pub fn check(&self) -> Result<(), Error> {
        self.check_files()
    }

    /// What [`check`](Self::check) does, without the system's roots (read once, when the
    /// first TLS connection needs them).
    pub(crate) fn check_files(&self) -> Result<(), Error> {
        if let Some(path) = &self.ca_file {
            let mut roots = RootCertStore::empty();
            let (added, ignored) =
                roots.add_parsable_certificates(read_certs(path, "tls.ca_file")?);
            if added == 0 {
                return Err(setup(format!(
                    "tls.ca_file {}: none of its {ignored} certificate(s) can be a trust anchor",
                    path.display()
                )));
            }
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                read_certs(cert, "tls.cert_file")?;
                PrivateKeyDer::from_pem_file(key).map_err(|e| {
                    setup(format!(
                        "tls.key_file {}: no usable private key: {e}",
                        key.display()
                    ))
                })?;
            }
            (Some(_), None) => return Err(setup("tls.cert_file needs tls.key_file")),
            (None, Some(_)) => return Err(setup("tls.key_file needs tls.cert_file")),
            (None, None) => {}
        }
        if let Some(name) = &self.server_name {
            server_name(name)?;
        }
        Ok(())
    }

    /// The rustls configuration these options describe (ALPN is set by the connector).
    pub(crate) fn client_config(&self) -> Result<ClientConfig, Error> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| setup(format!("TLS set-up failed: {e}")))?;
        let builder = if self.insecure_skip_verify {
            tracing::warn!(
                "TLS certificate verification is OFF for a client (tls.insecure_skip_verify): \
                 anyone on the network path can read and change this traffic"
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        } else {
            builder.with_root_certificates(self.roots()?)
        };
        let config = match (&self.cert_file, &self.key_file) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let chain = read_certs(cert, "tls.cert_file")?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                    setup(format!(
                        "tls.key_file {}: no usable private key: {e}",
                        key.display()
                    ))
                })?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    setup(format!(
                        "tls.cert_file {} and tls.key_file do not make a client certificate: {e}",
                        cert.display()
                    ))
                })?
            }
            (Some(_), None) => return Err(setup("tls.cert_file needs tls.key_file")),
            (None, Some(_)) => return Err(setup("tls.key_file needs tls.cert_file")),
        };
        if let Some(name) = &self.server_name {
            server_name(name)?;
        }
        Ok(config)
    }

    fn roots(&self) -> Result<RootCertStore, Error> {
        let mut roots = if self.no_system_roots {
            RootCertStore::empty()
        } else {
            system_roots().clone()
        };
        if let Some(path) = &self.ca_file {
            let certs = read_certs(path, "tls.ca_file")?;
            let (added, ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(setup(format!(
                    "tls.ca_file {}: none of its {ignored} certificate(s) can be a trust anchor",
                    path.display()
                )));
            }
        }
        if roots.is_empty() {
            return Err(setup(
                "no CA certificates to trust: the system has none (install ca-certificates, or \
                 set SSL_CERT_FILE) and no tls.ca_file is set",
            ));
        }
        Ok(roots)
    }
}

/// The name a server certificate is checked against (and sent as SNI).
pub(crate) fn server_name(name: &str) -> Result<ServerName<'static>, Error> {
    let trimmed = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    ServerName::try_from(trimmed.to_owned())
        .map_err(|e| setup(format!("tls.server_name '{name}' is not a host name: {e}")))
}

/// The process's one crypto provider: ring (no cmake, no C toolchain beyond cc).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The operating system's roots, read once (`SSL_CERT_FILE`/`SSL_CERT_DIR` honoured).
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!(error = %e, "could not read some of the system's CA certificates");
        }
        let mut roots = RootCertStore::empty();
        let (_, ignored) = roots.add_parsable_certificates(found.certs);
        if ignored > 0 {
            tracing::debug!(ignored, "system CA certificates rustls cannot use");
        }
        roots
    })
}

fn read_certs(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| setup(format!("{key} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(setup(format!(
            "{key} {}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

fn setup(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Setup, message)
}

/// What a TLS failure means for the operator, if `err` is one: the certificate problem named,
/// and the setting that addresses it.
pub(crate) fn explain(err: &rustls::Error) -> String {
    match err {
        rustls::Error::InvalidCertificate(cert) => {
            let hint = match cert {
                CertificateError::UnknownIssuer => {
                    " (the server's certificate is not signed by a trusted CA: set tls.ca_file \
                     to its CA, or SSL_CERT_FILE)"
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    " (the certificate does not name the host in the URL: fix the URL, or set \
                     tls.server_name to a name it carries)"
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    " (the server's certificate has expired)"
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    " (the server's certificate is not valid yet: check the clocks)"
                }
                _ => "",
            };
            format!("TLS: invalid server certificate: {cert}{hint}")
        }
        rustls::Error::AlertReceived(alert) => {
            use rustls::AlertDescription as A;
            let hint = match alert {
                A::CertificateRequired | A::BadCertificate | A::HandshakeFailure => {
                    " (the server may require a client certificate: tls.cert_file and \
                     tls.key_file)"
                }
                A::UnknownCA => " (the server does not trust our client certificate's CA)",
                A::CertificateExpired => " (the server says our client certificate expired)",
                _ => "",
            };
            format!("TLS: the server refused the handshake: {alert:?}{hint}")
        }
        rustls::Error::NoApplicationProtocol => {
            "TLS: the server speaks neither HTTP/2 nor HTTP/1.1 (ALPN)".to_string()
        }
        other => format!("TLS: {other}"),
    }
}

/// `insecure_skip_verify`: every certificate is accepted, signatures are still checked (the
/// handshake stays well-formed).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
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
        rustls::crypto::verify_tls12_signature(
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
        rustls::crypto::verify_tls13_signature(
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
