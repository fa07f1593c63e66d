//! Modbus TCP inside TLS: the simulator behind a rustls server that asks for a client
//! certificate; a device with the right CA and certificate reads and writes through it, one
//! without a client certificate, one trusting another CA and one checking the wrong name are
//! refused.

use modbus_bridge::client::{Device, DeviceConfig, Transport};
use modbus_bridge::sim::{Bank, Simulator};
use modbus_bridge::tls::Tls;
use modbus_bridge::Error;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.distinguished_name.push(DnType::CommonName, name);
    Ca { cert: p.self_signed(&key).unwrap(), key }
}

fn leaf(ca: &Ca, name: &str) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec![name.to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    (p.signed_by(&key, &ca.cert, &ca.key).unwrap().pem(), key.serialize_pem())
}

/// A TLS front (client certificates required) forwarding to a simulator; its address.
async fn tls_device(ca: &Ca, sim: Simulator) -> std::net::SocketAddr {
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_addr = plain.local_addr().unwrap();
    tokio::spawn(sim.serve(plain));
    let (cert, key) = leaf(ca, "plc.plant.local");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots)).build().unwrap();
    let cfg = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<Vec<_>, _>>().unwrap(),
            PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut inner) = tokio::net::TcpStream::connect(plain_addr).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut inner).await;
            });
        }
    });
    addr
}

fn device(addr: std::net::SocketAddr, tls: Tls) -> Device {
    let mut cfg = DeviceConfig::new(Transport::Tls(addr, tls));
    cfg.timeout = Duration::from_secs(3);
    cfg.connect_delay = Duration::ZERO;
    cfg.backoff = Duration::from_millis(10);
    Device::new(cfg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modbus_inside_mutual_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca1 = ca("plant CA");
    let mut bank = Bank::new(50);
    bank.holding[3] = 0xBEEF;
    let addr = tls_device(&ca1, Simulator::new(bank, 1)).await;
    let ca_pem = ca1.cert.pem();
    let (ccert, ckey) = leaf(&ca1, "bridge");

    // CA, client certificate and the right name: reads and writes go through
    let dir = std::env::temp_dir().join(format!("mb-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = |n: &str, s: &str| {
        let p = dir.join(n);
        std::fs::write(&p, s).unwrap();
        p.display().to_string()
    };
    let tls =
        Tls::from_files(&f("ca.pem", &ca_pem), &f("c.pem", &ccert), &f("k.pem", &ckey), "plc.plant.local").unwrap();
    let good = device(addr, tls);
    assert_eq!(good.read_holding_registers(None, 2, 3).await.unwrap().unwrap(), vec![0, 0xBEEF, 0]);
    good.write_single_register(None, 10, 4242).await.unwrap().unwrap();
    assert_eq!(good.read_holding_registers(None, 10, 1).await.unwrap().unwrap(), vec![4242]);

    // no client certificate: the server refuses it
    let anon = device(addr, Tls::from_pem(ca_pem.as_bytes(), None, "plc.plant.local").unwrap());
    let e = anon.read_holding_registers(None, 0, 1).await.unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. } | Error::Transport(_) | Error::Protocol(_)), "{e}");

    // the device's certificate is not from the CA we trust
    let ca2 = ca("other CA");
    let (c2, k2) = leaf(&ca2, "bridge");
    let stranger = device(
        addr,
        Tls::from_pem(ca2.cert.pem().as_bytes(), Some((c2.as_bytes(), k2.as_bytes())), "plc.plant.local").unwrap(),
    );
    let e = stranger.read_holding_registers(None, 0, 1).await.unwrap_err();
    assert!(matches!(&e, Error::Unreachable { reason, .. } if reason.contains("TLS")), "{e}");

    // the right CA but another name
    let misnamed = device(
        addr,
        Tls::from_pem(ca_pem.as_bytes(), Some((ccert.as_bytes(), ckey.as_bytes())), "other.plant.local").unwrap(),
    );
    let e = misnamed.read_holding_registers(None, 0, 1).await.unwrap_err();
    assert!(matches!(&e, Error::Unreachable { reason, .. } if reason.contains("TLS")), "{e}");

    // bad PEM and missing files are clear errors
    assert!(Tls::from_pem(b"not pem", None, "x").is_err());
    assert!(Tls::from_files("/nonexistent/ca.pem", "", "", "x")
        .unwrap_err()
        .to_string()
        .contains("/nonexistent/ca.pem"));
    let _ = std::fs::remove_dir_all(dir);
}
