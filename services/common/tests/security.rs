//! gRPC protection of a real server on loopback (`GrpcTls` with client certificates, `GrpcAuth`
//! with roles): a plain-text client and a TLS client without a certificate are refused; with a
//! certificate, a call without a token or with a forged one is 104101 (Unauthenticated), a
//! valid token without the method's role is 104102 (PermissionDenied), the right role reaches
//! the service; health stays open. The client side from configuration (`RpcClientConf` with
//! `Tls` and `Token`): certificate and token reach the command, a token without the role is
//! refused, a caller's own token wins, no certificate or plain text gets nowhere.

use bytes::Bytes;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use zero_edge::auth::JwtAuth;
use zero_svc::grpc::RawCodec as Raw;
use zero_svc::security::{GrpcAuth, GrpcTls, Security};

/// `test.Cmd`: every call that reaches it is answered with an empty message.
#[derive(Clone)]
struct Cmd;
impl tonic::server::NamedService for Cmd {
    const NAME: &'static str = "test.Cmd";
}
impl tower_service::Service<http::Request<tonic::body::Body>> for Cmd {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;
    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        #[derive(Clone)]
        struct Ok_;
        impl tonic::server::UnaryService<Bytes> for Ok_ {
            type Response = Bytes;
            type Future = std::future::Ready<Result<tonic::Response<Bytes>, tonic::Status>>;
            fn call(&mut self, _: tonic::Request<Bytes>) -> Self::Future {
                std::future::ready(Ok(tonic::Response::new(Bytes::new())))
            }
        }
        Box::pin(async move { Ok(tonic::server::Grpc::new(Raw).unary(Ok_, req).await) })
    }
}

struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issue = |names: Vec<String>| {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(names).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    Pki { ca: ca.pem(), server: issue(vec!["localhost".into()]), client: issue(vec!["client".into()]) }
}

async fn call(channel: tonic::transport::Channel, path: &str, token: Option<&str>) -> Result<(), tonic::Status> {
    let mut g = tonic::client::Grpc::new(channel);
    g.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut req = tonic::Request::new(Bytes::new());
    if let Some(t) = token {
        req.metadata_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    g.unary::<Bytes, Bytes, _>(req, path.parse().unwrap(), Raw).await.map(|_| ())
}

#[tokio::test]
async fn tls_client_certificates_tokens_and_roles() {
    let dir = std::env::temp_dir().join(format!("zero-svc-sec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = pki();
    let w = |name: &str, text: &str| {
        let f = dir.join(name);
        std::fs::write(&f, text).unwrap();
        f.to_string_lossy().into_owned()
    };
    let tls = GrpcTls {
        cert_file: w("s.crt", &p.server.0),
        key_file: w("s.key", &p.server.1),
        client_ca_file: w("ca.crt", &p.ca),
    };
    let auth = GrpcAuth {
        access_secret: "grpc-secret".into(),
        roles: [("/test.Cmd/Write".to_owned(), vec!["operator".to_owned()])].into(),
        ..GrpcAuth::default()
    };
    zero_svc::security::install(Security { tls, auth });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { zero_svc::grpc::serve(l, Cmd, &[], std::future::pending()).await });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let tls_channel = |with_cert: bool| {
        let mut c = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(&p.ca))
            .domain_name("localhost");
        if with_cert {
            c = c.identity(tonic::transport::Identity::from_pem(&p.client.0, &p.client.1));
        }
        tonic::transport::Endpoint::from_shared(format!("https://127.0.0.1:{port}")).unwrap().tls_config(c).unwrap()
    };
    // plain text, and TLS without a client certificate: no call gets through
    let plain = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap().connect_lazy();
    assert!(call(plain, "/test.Cmd/Read", None).await.is_err());
    let anonymous = tls_channel(false).connect_lazy();
    assert!(call(anonymous, "/test.Cmd/Read", None).await.is_err(), "mutual TLS requires a client certificate");

    let ch = tls_channel(true).connect().await.unwrap();
    let jwt = JwtAuth::new("grpc-secret", "", 3600);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let viewer = jwt.issue("v", [("role", "viewer")], now).unwrap().access_token;
    let operator = jwt.issue("o", [("role", "operator")], now).unwrap().access_token;
    let forged = JwtAuth::new("guess", "", 3600).issue("o", [("role", "operator")], now).unwrap().access_token;
    let code = |r: Result<(), tonic::Status>| r.err().map(|s| (s.code(), zero_svc::errcode::reason(&s)));
    assert_eq!(
        code(call(ch.clone(), "/test.Cmd/Read", None).await),
        Some((tonic::Code::Unauthenticated, Some("104101".into())))
    );
    assert_eq!(
        code(call(ch.clone(), "/test.Cmd/Read", Some(&forged)).await).map(|c| c.0),
        Some(tonic::Code::Unauthenticated)
    );
    assert_eq!(code(call(ch.clone(), "/test.Cmd/Read", Some(&viewer)).await), None, "unlisted: a token is enough");
    assert_eq!(
        code(call(ch.clone(), "/test.Cmd/Write", Some(&viewer)).await),
        Some((tonic::Code::PermissionDenied, Some("104102".into())))
    );
    assert_eq!(code(call(ch.clone(), "/test.Cmd/Write", Some(&operator)).await), None, "the role reaches the command");
    // health needs no token
    let mut health = tonic_health::pb::health_client::HealthClient::new(ch);
    let h = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
    assert_eq!(h.into_inner().status, 1);

    // the client side, from configuration: zero-svc's RpcClient with Tls (and a client
    // certificate) and a Token sent with every call
    use zero_svc::client::{ClientTls, RpcClient, RpcClientConf};
    let client = |tls: ClientTls, token: &str| {
        let conf = RpcClientConf {
            endpoints: vec![format!("127.0.0.1:{port}")],
            token: token.into(),
            tls,
            timeout: 5000,
            ..RpcClientConf::default()
        };
        RpcClient::new(&conf, &[], std::time::Duration::from_secs(5)).unwrap()
    };
    let mtls = ClientTls {
        ca_file: w("ca2.crt", &p.ca),
        cert_file: w("c.crt", &p.client.0),
        key_file: w("c.key", &p.client.1),
        server_name: "localhost".into(),
    };
    let md = tonic::metadata::MetadataMap::new;
    let t = std::time::Duration::from_secs(5);
    let as_operator = client(mtls.clone(), &operator);
    assert!(as_operator.call("test.Cmd/Write", Bytes::new(), md(), t).await.is_ok(), "TLS, certificate and token");
    let as_viewer = client(mtls.clone(), &viewer);
    let refused = as_viewer.call("test.Cmd/Write", Bytes::new(), md(), t).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    // a caller's own token wins over the configured one
    let mut own = md();
    own.insert("authorization", format!("Bearer {operator}").parse().unwrap());
    assert!(as_viewer.call("test.Cmd/Write", Bytes::new(), own, t).await.is_ok());
    let no_token = client(mtls.clone(), "");
    assert_eq!(
        no_token.call("test.Cmd/Read", Bytes::new(), md(), t).await.unwrap_err().code(),
        tonic::Code::Unauthenticated
    );
    let no_cert = client(ClientTls { cert_file: String::new(), key_file: String::new(), ..mtls.clone() }, &operator);
    assert!(no_cert.call("test.Cmd/Read", Bytes::new(), md(), t).await.is_err(), "no client certificate");
    let plain = client(ClientTls::default(), &operator);
    assert!(plain.call("test.Cmd/Read", Bytes::new(), md(), t).await.is_err(), "plain text to a TLS server");
    let bad = RpcClientConf {
        tls: ClientTls { ca_file: "/nonexistent/ca.crt".into(), ..ClientTls::default() },
        endpoints: vec!["127.0.0.1:1".into()],
        ..RpcClientConf::default()
    };
    assert!(RpcClient::new(&bad, &[], t).unwrap_err().contains("/nonexistent/ca.crt"), "a missing file is named");
    let _ = std::fs::remove_dir_all(&dir);
}
