//! Protection of every gRPC server, off by default (the upstream YAML files keep working) and on
//! with one key each: `GrpcTls` (TLS; mutual TLS when `ClientCaFile` is set, rustls) and
//! `GrpcAuth` (a JWT in the `authorization` metadata, HS256 pinned, `AccessSecret` then
//! `PrevAccessSecret`; `Roles` limits services or methods to callers whose token holds one of
//! the roles, such as a command API). gRPC health and reflection stay open.
//!
//! ```yaml
//! GrpcTls: {CertFile: /etc/zero/tls.crt, KeyFile: /etc/zero/tls.key, ClientCaFile: /etc/zero/ca.crt}
//! GrpcAuth:
//!   AccessSecret: s3cret
//!   Roles: {"/ieccaller.IecCaller/SendCommand": [operator], "podengine.PodEngine": [admin]}
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// `GrpcTls`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct GrpcTls {
    /// PEM certificate chain; empty: no TLS.
    pub cert_file: String,
    /// PEM private key.
    pub key_file: String,
    /// PEM CA certificates that client certificates must chain to; empty: no client
    /// certificates asked for.
    pub client_ca_file: String,
}

impl GrpcTls {
    /// Whether TLS is on.
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty()
    }
}

/// `GrpcAuth`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct GrpcAuth {
    /// HS256 secret; empty: no token checks.
    pub access_secret: String,
    /// The previous secret, still accepted.
    pub prev_access_secret: String,
    /// The claim holding the caller's role (a string or a list of strings).
    pub role_claim: String,
    /// `/pkg.Service/Method` or `pkg.Service` -> the roles allowed; a method's entry wins over
    /// its service's; what is not listed needs a valid token only.
    pub roles: BTreeMap<String, Vec<String>>,
}

impl Default for GrpcAuth {
    fn default() -> GrpcAuth {
        GrpcAuth {
            access_secret: String::new(),
            prev_access_secret: String::new(),
            role_claim: "role".into(),
            roles: BTreeMap::new(),
        }
    }
}

/// What [`crate::grpc::Grpc::serve`] applies.
#[derive(Debug, Clone, Default)]
pub struct Security {
    /// TLS.
    pub tls: GrpcTls,
    /// Tokens and roles.
    pub auth: GrpcAuth,
}

static SECURITY: OnceLock<Security> = OnceLock::new();

/// Sets the protection of the gRPC servers this process starts (once; [`crate::main`] does it
/// from the configuration).
pub fn install(s: Security) {
    install_crypto();
    let _ = SECURITY.set(s);
}

/// Makes ring rustls's process-wide provider when none is set (a build whose dependencies enable
/// both of rustls's providers has no automatic default, and TLS setup would panic).
pub fn install_crypto() {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
}

/// The protection in force (none unless installed).
pub fn current() -> Security {
    SECURITY.get().cloned().unwrap_or_default()
}

/// Why a call is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No token, or a bad or expired one.
    Unauthenticated(String),
    /// A valid token without a role the method needs.
    Forbidden(String),
}

/// The token and role check of a call to `path` (`/pkg.Service/Method`) with the
/// `authorization` value `token`.
///
/// # Errors
/// The [`Refusal`].
pub fn check(
    auth: &GrpcAuth,
    jwt: &zero_edge::auth::JwtAuth,
    path: &str,
    token: Option<&str>,
    now: i64,
) -> Result<(), Refusal> {
    if path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.") {
        return Ok(());
    }
    let claims = jwt.verify(token.unwrap_or_default(), now).map_err(|e| Refusal::Unauthenticated(e.to_string()))?;
    let service = path.trim_start_matches('/').split('/').next().unwrap_or_default();
    let Some(allowed) = auth.roles.get(path).or_else(|| auth.roles.get(service)) else { return Ok(()) };
    let held: Vec<&str> = match claims.get(&auth.role_claim) {
        Some(serde_json::Value::String(r)) => vec![r.as_str()],
        Some(serde_json::Value::Array(rs)) => rs.iter().filter_map(serde_json::Value::as_str).collect(),
        _ => vec![],
    };
    if held.iter().any(|h| allowed.iter().any(|a| a == h)) {
        Ok(())
    } else {
        Err(Refusal::Forbidden(format!("{path} needs one of the roles {allowed:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zero_edge::auth::JwtAuth;

    #[test]
    fn tokens_and_roles() {
        let jwt = JwtAuth::new("k", "", 3600);
        let auth = GrpcAuth {
            access_secret: "k".into(),
            roles: [
                ("/ieccaller.IecCaller/SendCommand".to_owned(), vec!["operator".to_owned()]),
                ("podengine.PodEngine".to_owned(), vec!["admin".to_owned()]),
            ]
            .into(),
            ..GrpcAuth::default()
        };
        let now = 1_700_000_000;
        let op = jwt.issue("u", [("role", "operator")], now).unwrap().access_token;
        let cmd = "/ieccaller.IecCaller/SendCommand";
        assert_eq!(check(&auth, &jwt, cmd, Some(&op), now), Ok(()));
        assert!(matches!(
            check(&auth, &jwt, "/podengine.PodEngine/ListPods", Some(&op), now),
            Err(Refusal::Forbidden(_))
        ));
        assert_eq!(
            check(&auth, &jwt, "/ieccaller.IecCaller/Ping", Some(&op), now),
            Ok(()),
            "unlisted: a token is enough"
        );
        assert!(matches!(check(&auth, &jwt, cmd, None, now), Err(Refusal::Unauthenticated(_))));
        let forged = JwtAuth::new("x", "", 60).issue("u", [("role", "operator")], now).unwrap().access_token;
        assert!(matches!(check(&auth, &jwt, cmd, Some(&forged), now), Err(Refusal::Unauthenticated(_))));
        assert_eq!(check(&auth, &jwt, "/grpc.health.v1.Health/Check", None, now), Ok(()));
    }
}

/// The tower layer [`crate::grpc::Grpc::serve`] puts in front of every service when `GrpcAuth`
/// has a secret: refused calls are answered 104101 (Unauthenticated) or 104102
/// (PermissionDenied) without reaching the service.
#[derive(Clone)]
pub struct AuthLayer(std::sync::Arc<(GrpcAuth, zero_edge::auth::JwtAuth)>);

impl AuthLayer {
    /// The layer of `auth`; `None` when it has no secret.
    pub fn new(auth: &GrpcAuth) -> Option<AuthLayer> {
        (!auth.access_secret.is_empty()).then(|| {
            let jwt = zero_edge::auth::JwtAuth::new(&auth.access_secret, &auth.prev_access_secret, 0);
            AuthLayer(std::sync::Arc::new((auth.clone(), jwt)))
        })
    }
}

impl std::fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLayer").field("roles", &self.0 .0.roles.len()).finish()
    }
}

impl<S> tower_layer::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService { inner, auth: self.0.clone() }
    }
}

/// [`AuthLayer`]'s service.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: std::sync::Arc<(GrpcAuth, zero_edge::auth::JwtAuth)>,
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B> tower_service::Service<http::Request<B>> for AuthService<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<http::Response<tonic::body::Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let token = req.headers().get("authorization").and_then(|v| v.to_str().ok());
        match check(&self.auth.0, &self.auth.1, req.uri().path(), token, now) {
            Ok(()) => Box::pin(self.inner.call(req)),
            Err(r) => {
                let status = match r {
                    Refusal::Unauthenticated(m) => crate::errcode::ErrCode::Unauthenticated.status(m),
                    Refusal::Forbidden(m) => crate::errcode::ErrCode::Forbidden.status(m),
                };
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}

/// The rustls server configuration of `tls` (mutual TLS when `ClientCaFile` is set).
///
/// # Errors
/// A file that cannot be read.
pub fn server_tls(tls: &GrpcTls) -> Result<tonic::transport::ServerTlsConfig, crate::Error> {
    install_crypto();
    let read =
        |p: &str, what: &str| std::fs::read(p).map_err(|e| crate::Error::Config(format!("GrpcTls.{what} {p}: {e}")));
    let identity =
        tonic::transport::Identity::from_pem(read(&tls.cert_file, "CertFile")?, read(&tls.key_file, "KeyFile")?);
    let mut c = tonic::transport::ServerTlsConfig::new().identity(identity);
    if !tls.client_ca_file.is_empty() {
        c = c.client_ca_root(tonic::transport::Certificate::from_pem(read(&tls.client_ca_file, "ClientCaFile")?));
    }
    Ok(c)
}
