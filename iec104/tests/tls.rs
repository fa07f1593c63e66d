//! TLS (IEC 62351-3 profile on rustls): mutual authentication with certificates generated here,
//! TLS 1.2 and 1.3; a client without a valid certificate is refused.

use iec104::master::{connect_with, MasterConfig};
use iec104::point::{Point, PointValue};
use iec104::slave::{serve_with, AcceptAll, PointConfig, SlaveConfig};
use iec104::transport::{TlsAcceptor, TlsConnector};
use iec104::types::{CommonAddress, Ioa};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;

struct Pki {
    ca_pem: String,
    server: (String, String),
    client: (String, String),
    rogue: (String, String),
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name.push(DnType::CommonName, "test substation CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let leaf = |name: &str, issuer: Option<(&rcgen::Certificate, &KeyPair)>| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec![name.to_string()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        let cert = match issuer {
            Some((c, k)) => p.signed_by(&key, c, k).unwrap(),
            None => p.self_signed(&key).unwrap(),
        };
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        ca_pem: ca_cert.pem(),
        server: leaf("station.local", Some((&ca_cert, &ca_key))),
        client: leaf("scada-master", Some((&ca_cert, &ca_key))),
        rogue: leaf("intruder", None),
    }
}

async fn tls_slave(p: &Pki) -> (iec104::slave::Slave, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let acceptor = TlsAcceptor::from_pem(p.ca_pem.as_bytes(), p.server.0.as_bytes(), p.server.1.as_bytes()).unwrap();
    let (s, d) = serve_with(l, acceptor, SlaveConfig::default(), AcceptAll);
    tokio::spawn(d);
    s.add_point(CommonAddress(1), PointConfig::new(Point::new(Ioa::new(1).unwrap(), PointValue::Float(1.25))));
    let addr = s.local_addr().unwrap().to_string();
    (s, addr)
}

#[tokio::test]
async fn mutual_tls_gi_and_rejection() {
    let p = pki();
    let (_s, addr) = tls_slave(&p).await;
    let conn =
        TlsConnector::from_pem(p.ca_pem.as_bytes(), p.client.0.as_bytes(), p.client.1.as_bytes(), "station.local")
            .unwrap();
    let cfg = MasterConfig { addresses: vec![addr.clone()], ..Default::default() };
    let (m, _ev, d) = connect_with(cfg, conn).unwrap();
    tokio::spawn(d);
    tokio::time::timeout(Duration::from_secs(5), m.wait_started()).await.expect("TLS session started").unwrap();
    assert!(m.general_interrogation(CommonAddress(1)).await.unwrap().is_positive());
    m.close().await;

    // a client certificate from another CA is refused
    let rogue =
        TlsConnector::from_pem(p.ca_pem.as_bytes(), p.rogue.0.as_bytes(), p.rogue.1.as_bytes(), "station.local")
            .unwrap();
    let cfg = MasterConfig { addresses: vec![addr.clone()], reconnect: false, ..Default::default() };
    let (m, _ev, d) = connect_with(cfg, rogue).unwrap();
    let drv = tokio::spawn(d);
    assert!(tokio::time::timeout(Duration::from_secs(5), m.wait_started()).await.unwrap().is_err());
    drv.await.unwrap();

    // a server name that does not match the certificate is refused by the master
    let wrong =
        TlsConnector::from_pem(p.ca_pem.as_bytes(), p.client.0.as_bytes(), p.client.1.as_bytes(), "other.local")
            .unwrap();
    let cfg = MasterConfig { addresses: vec![addr], reconnect: false, ..Default::default() };
    let (m, _ev, d) = connect_with(cfg, wrong).unwrap();
    let drv = tokio::spawn(d);
    assert!(tokio::time::timeout(Duration::from_secs(5), m.wait_started()).await.unwrap().is_err());
    drv.await.unwrap();
}

#[tokio::test]
async fn tls12_and_tls13_both_work() {
    let p = pki();
    let (_s, addr) = tls_slave(&p).await;
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject;
        roots.add(rustls::pki_types::CertificateDer::from_pem_slice(p.ca_pem.as_bytes()).unwrap()).unwrap();
        let certs = vec![rustls::pki_types::CertificateDer::from_pem_slice(p.client.0.as_bytes()).unwrap()];
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(p.client.1.as_bytes()).unwrap();
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .unwrap();
        let conn = TlsConnector::new(Arc::new(cfg), "station.local").unwrap();
        let (m, _ev, d) =
            connect_with(MasterConfig { addresses: vec![addr.clone()], ..Default::default() }, conn).unwrap();
        tokio::spawn(d);
        tokio::time::timeout(Duration::from_secs(5), m.wait_started()).await.expect("started").unwrap();
        assert!(m.general_interrogation(CommonAddress(1)).await.unwrap().is_positive(), "{version:?}");
        m.close().await;
    }
}
