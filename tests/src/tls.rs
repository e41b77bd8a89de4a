//! TLS made inside the test: a private CA ([`Pki`], certificates from `rcgen`) and a TLS front
//! on 127.0.0.1 ([`TlsFront`], tokio-rustls) that terminates TLS and passes the bytes to a
//! plain-HTTP server behind it — so a real server (server-everything) is reached over
//! `https://` exactly as a remote server would be.
//!
//! Certificates can be made valid, for the wrong host, expired, or for clients (mTLS); a front
//! can require a client certificate signed by a given CA.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::scratch::ScratchDir;

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The certificate chain (leaf first).
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// A private certificate authority whose files live in a scratch directory.
pub struct Pki {
    dir: ScratchDir,
    ca: CertifiedIssuer<'static, KeyPair>,
    ca_file: PathBuf,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// What a leaf certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// Valid now (a day ago until a year from now).
    Current,
    /// Expired (valid in 2020 only).
    Expired,
}

impl Pki {
    /// A new CA named `name`; its certificate is [`ca_file`](Self::ca_file).
    pub fn new(name: &str) -> anyhow::Result<Self> {
        let dir = ScratchDir::new(&format!("pki-{name}"))?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("toolgate test CA {name}"));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        let ca_file = dir.write("ca.pem", &ca.pem())?;
        Ok(Pki { dir, ca, ca_file })
    }

    /// The CA certificate (PEM).
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// A server certificate for `names` (DNS names or IP addresses), written as `label`.
    pub fn server_cert(
        &self,
        label: &str,
        names: &[&str],
        validity: Validity,
    ) -> anyhow::Result<CertFiles> {
        self.leaf(label, names, validity, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate with common name `name`, for mTLS.
    pub fn client_cert(&self, name: &str) -> anyhow::Result<CertFiles> {
        self.leaf(
            name,
            &[],
            Validity::Current,
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    fn leaf(
        &self,
        label: &str,
        names: &[&str],
        validity: Validity,
        usage: ExtendedKeyUsagePurpose,
    ) -> anyhow::Result<CertFiles> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names)?;
        params.distinguished_name.push(DnType::CommonName, label);
        params.extended_key_usages = vec![usage];
        match validity {
            Validity::Current => {
                let now = time_now();
                params.not_before = now - rcgen_days(1);
                params.not_after = now + rcgen_days(365);
            }
            Validity::Expired => {
                params.not_before = rcgen::date_time_ymd(2020, 1, 1);
                params.not_after = rcgen::date_time_ymd(2020, 12, 31);
            }
        }
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.ca)?;
        Ok(CertFiles {
            cert: self
                .dir
                .write(&format!("{label}.pem"), &(cert.pem() + &self.ca.pem()))?,
            key: self
                .dir
                .write(&format!("{label}-key.pem"), &key.serialize_pem())?,
        })
    }
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn rcgen_days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

/// A TLS-terminating TCP forwarder on 127.0.0.1 in front of a plain server. Stops when dropped.
#[derive(Debug)]
pub struct TlsFront {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TlsFront {
    /// Serves `server`'s certificate and forwards each connection to `backend`. With
    /// `client_ca`, a client certificate signed by that CA is required.
    pub async fn start(
        backend: SocketAddr,
        server: &CertFiles,
        client_ca: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&server.cert)
            .context("server certificate")?
            .collect::<Result<_, _>>()
            .context("server certificate")?;
        let key = PrivateKeyDer::from_pem_file(&server.key).context("server key")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(ca).context("client CA")? {
                    roots.add(cert.context("client CA")?)?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let mut tls = match acceptor.accept(socket).await {
                        Ok(tls) => tls,
                        Err(e) => {
                            eprintln!("tls front: handshake refused: {e}");
                            return;
                        }
                    };
                    let Ok(mut plain) = TcpStream::connect(backend).await else {
                        eprintln!("tls front: backend {backend} unreachable");
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        Ok(TlsFront { addr, task })
    }

    /// Its address on 127.0.0.1.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}
