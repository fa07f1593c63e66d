//! Modbus TCP inside TLS (the Modbus/TCP Security profile: TLS 1.2 or 1.3, the device's
//! certificate checked against a CA, and optionally a client certificate for mutual
//! authentication), on rustls.
//!
//! ```
//! # fn demo(ca: &[u8]) -> std::io::Result<()> {
//! use modbus_bridge::client::{DeviceConfig, Transport};
//! use modbus_bridge::tls::Tls;
//! let tls = Tls::from_pem(ca, None, "plc-7.plant.local")?;
//! let cfg = DeviceConfig::new(Transport::Tls("127.0.0.1:802".parse().unwrap(), tls));
//! # let _ = cfg; Ok(()) }
//! ```

use std::io;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::{self, pki_types};

/// The TLS settings of a device: whom to trust, what to present, which name to check.
#[derive(Clone)]
pub struct Tls {
    connector: tokio_rustls::TlsConnector,
    server_name: pki_types::ServerName<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("server_name", &self.server_name).finish()
    }
}

impl PartialEq for Tls {
    fn eq(&self, other: &Tls) -> bool {
        self.server_name == other.server_name && Arc::ptr_eq(self.connector.config(), other.connector.config())
    }
}

impl Eq for Tls {}

fn invalid(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
}

fn certs(pem: &[u8]) -> io::Result<Vec<pki_types::CertificateDer<'static>>> {
    let v = pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("certificate PEM", e))?;
    if v.is_empty() {
        return Err(invalid("certificate PEM", "no certificate"));
    }
    Ok(v)
}

impl Tls {
    /// From PEM: the CA certificate(s) to trust, an optional client certificate chain and key
    /// (mutual authentication), and the name the device's certificate must carry.
    ///
    /// # Errors
    /// `InvalidInput` for unreadable PEM or a bad name.
    pub fn from_pem(ca_pem: &[u8], client: Option<(&[u8], &[u8])>, server_name: &str) -> io::Result<Tls> {
        let mut roots = rustls::RootCertStore::empty();
        for c in certs(ca_pem)? {
            roots.add(c).map_err(|e| invalid("CA certificate", e))?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| invalid("TLS versions", e))?
            .with_root_certificates(roots);
        let cfg = match client {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    certs(cert)?,
                    pki_types::PrivateKeyDer::from_pem_slice(key).map_err(|e| invalid("private key PEM", e))?,
                )
                .map_err(|e| invalid("client certificate", e))?,
            None => builder.with_no_client_auth(),
        };
        Tls::new(Arc::new(cfg), server_name)
    }

    /// From PEM files (the upstream `tlsCaFile`, `tlsCertFile`, `tlsKeyFile`; the last two may
    /// be empty for no client certificate).
    ///
    /// # Errors
    /// A file cannot be read, or as [`Tls::from_pem`].
    pub fn from_files(ca_file: &str, cert_file: &str, key_file: &str, server_name: &str) -> io::Result<Tls> {
        let read = |f: &str| std::fs::read(f).map_err(|e| io::Error::new(e.kind(), format!("{f}: {e}")));
        let ca = read(ca_file)?;
        let client =
            if cert_file.is_empty() && key_file.is_empty() { None } else { Some((read(cert_file)?, read(key_file)?)) };
        Tls::from_pem(&ca, client.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())), server_name)
    }

    /// From a rustls client configuration.
    ///
    /// # Errors
    /// `InvalidInput` for a bad server name.
    pub fn new(config: Arc<rustls::ClientConfig>, server_name: &str) -> io::Result<Tls> {
        let server_name =
            pki_types::ServerName::try_from(server_name.to_owned()).map_err(|e| invalid("server name", e))?;
        Ok(Tls { connector: tokio_rustls::TlsConnector::from(config), server_name })
    }

    pub(crate) async fn handshake(&self, tcp: TcpStream) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        self.connector.connect(self.server_name.clone(), tcp).await
    }
}
