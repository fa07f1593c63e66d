//! Transports for the master and slave: plain TCP, and TLS (feature `tls`) per IEC 62351-3 —
//! TLS 1.2 and 1.3 on rustls, with mutual authentication.
//!
//! The drivers take anything that is `AsyncRead + AsyncWrite`; a [`Connector`] opens one for the
//! master, an [`Acceptor`] wraps an accepted TCP stream for the slave.

use std::future::Future;
use std::io;
use std::pin::Pin;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A boxed future, as the transport traits return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Opens a byte stream to an address (`"host:port"`).
pub trait Connector: Send + Sync + 'static {
    /// The stream type.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Connects.
    fn connect<'a>(&'a self, addr: &'a str) -> BoxFuture<'a, io::Result<Self::Io>>;
}

/// Wraps an accepted TCP stream (for example in TLS).
pub trait Acceptor: Send + Sync + 'static {
    /// The stream type.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Completes the transport handshake.
    fn accept(&self, tcp: TcpStream) -> BoxFuture<'_, io::Result<Self::Io>>;
}

/// Plain TCP, with `TCP_NODELAY` set.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tcp;

impl Connector for Tcp {
    type Io = TcpStream;
    fn connect<'a>(&'a self, addr: &'a str) -> BoxFuture<'a, io::Result<TcpStream>> {
        Box::pin(async move {
            let s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            Ok(s)
        })
    }
}

impl Acceptor for Tcp {
    type Io = TcpStream;
    fn accept(&self, tcp: TcpStream) -> BoxFuture<'_, io::Result<TcpStream>> {
        Box::pin(async move {
            tcp.set_nodelay(true)?;
            Ok(tcp)
        })
    }
}

#[cfg(feature = "tls")]
pub use tls::{TlsAcceptor, TlsConnector};

#[cfg(feature = "tls")]
mod tls {
    use super::*;
    use std::sync::Arc;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::{self, pki_types};

    fn certs(pem: &[u8]) -> io::Result<Vec<pki_types::CertificateDer<'static>>> {
        let v = pki_types::CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("certificate PEM: {e}")))?;
        if v.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no certificate in PEM"));
        }
        Ok(v)
    }

    fn key(pem: &[u8]) -> io::Result<pki_types::PrivateKeyDer<'static>> {
        pki_types::PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("private key PEM: {e}")))
    }

    fn roots(pem: &[u8]) -> io::Result<rustls::RootCertStore> {
        let mut r = rustls::RootCertStore::empty();
        for c in certs(pem)? {
            r.add(c).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("CA certificate: {e}")))?;
        }
        Ok(r)
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn invalid(e: impl std::fmt::Display) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
    }

    /// TLS client for the master: trusts `ca_pem`, presents `cert_pem`/`key_pem` (mutual
    /// authentication), checks the server certificate against `server_name`.
    #[derive(Clone)]
    pub struct TlsConnector {
        inner: tokio_rustls::TlsConnector,
        server_name: pki_types::ServerName<'static>,
    }

    impl std::fmt::Debug for TlsConnector {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("TlsConnector").field("server_name", &self.server_name).finish()
        }
    }

    impl TlsConnector {
        /// From PEM-encoded CA certificate(s), client certificate chain and private key.
        ///
        /// # Errors
        /// `InvalidInput` for unreadable PEM or a bad name.
        pub fn from_pem(ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8], server_name: &str) -> io::Result<Self> {
            let cfg = rustls::ClientConfig::builder_with_provider(provider())
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .map_err(invalid)?
                .with_root_certificates(roots(ca_pem)?)
                .with_client_auth_cert(certs(cert_pem)?, key(key_pem)?)
                .map_err(invalid)?;
            Self::new(Arc::new(cfg), server_name)
        }

        /// From a rustls client configuration.
        ///
        /// # Errors
        /// `InvalidInput` for a bad server name.
        pub fn new(config: Arc<rustls::ClientConfig>, server_name: &str) -> io::Result<Self> {
            let server_name = pki_types::ServerName::try_from(server_name.to_owned()).map_err(invalid)?;
            Ok(TlsConnector { inner: tokio_rustls::TlsConnector::from(config), server_name })
        }
    }

    impl Connector for TlsConnector {
        type Io = tokio_rustls::client::TlsStream<TcpStream>;
        fn connect<'a>(&'a self, addr: &'a str) -> BoxFuture<'a, io::Result<Self::Io>> {
            Box::pin(async move {
                let tcp = Tcp.connect(addr).await?;
                self.inner.connect(self.server_name.clone(), tcp).await
            })
        }
    }

    /// TLS server for the slave: presents `cert_pem`/`key_pem` and requires a client certificate
    /// signed by `client_ca_pem`.
    #[derive(Clone)]
    pub struct TlsAcceptor {
        inner: tokio_rustls::TlsAcceptor,
    }

    impl std::fmt::Debug for TlsAcceptor {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("TlsAcceptor")
        }
    }

    impl TlsAcceptor {
        /// From PEM-encoded client CA certificate(s), server certificate chain and private key.
        ///
        /// # Errors
        /// `InvalidInput` for unreadable PEM.
        pub fn from_pem(client_ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8]) -> io::Result<Self> {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(client_ca_pem)?),
                provider(),
            )
            .build()
            .map_err(invalid)?;
            let cfg = rustls::ServerConfig::builder_with_provider(provider())
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .map_err(invalid)?
                .with_client_cert_verifier(verifier)
                .with_single_cert(certs(cert_pem)?, key(key_pem)?)
                .map_err(invalid)?;
            Ok(Self::new(Arc::new(cfg)))
        }

        /// From a rustls server configuration.
        pub fn new(config: Arc<rustls::ServerConfig>) -> Self {
            TlsAcceptor { inner: tokio_rustls::TlsAcceptor::from(config) }
        }
    }

    impl Acceptor for TlsAcceptor {
        type Io = tokio_rustls::server::TlsStream<TcpStream>;
        fn accept(&self, tcp: TcpStream) -> BoxFuture<'_, io::Result<Self::Io>> {
            Box::pin(async move {
                tcp.set_nodelay(true)?;
                self.inner.accept(tcp).await
            })
        }
    }
}
