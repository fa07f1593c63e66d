//! Configuration: embedded defaults, a user file on top, environment overrides last.
//!
//! ```
//! #[derive(serde::Deserialize, serde::Serialize)]
//! #[serde(rename_all = "PascalCase")]
//! struct Cfg { listen_on: String, db: Db }
//! #[derive(serde::Deserialize, serde::Serialize)]
//! #[serde(rename_all = "PascalCase")]
//! struct Db { data_source: String, migrate: bool }
//! let defaults = "ListenOn: 0.0.0.0:21009\nDb:\n  DataSource: sqlite://a.db\n  Migrate: true\n";
//! let user = "Db:\n  DataSource: postgres://x/y\n";
//! let cfg: Cfg = zero_svc::config::merge_str(defaults, Some(user), &[]).unwrap();
//! assert_eq!(cfg.listen_on, "0.0.0.0:21009");
//! assert_eq!(cfg.db.data_source, "postgres://x/y");
//! assert!(cfg.db.migrate, "kept from the defaults");
//! ```

use crate::Error;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_yaml_ng::{Mapping, Value};
use std::path::Path;

/// Keys of go-zero's service configuration that an upstream `etc/*.yaml` may hold and these
/// services do not use: accepted with one warning each, so the upstream file works unchanged.
pub const GO_ZERO_IGNORED: &[&str] = &[
    "Name",
    "Mode",
    "Timeout",
    "Middlewares",
    "NacosConfig",
    "DevServer",
    "MetricsUrl",
    "CpuThreshold",
    "Health",
    "Auth",
    "StrictControl",
    "Log.ServiceName",
    "Log.Mode",
    "Log.Encoding",
    "Log.TimeFormat",
    "Log.Path",
    "Log.KeepDays",
    "Log.StackCooldownMillis",
    "Log.MaxBackups",
    "Log.MaxSize",
    "Log.Rotation",
    "Log.Compress",
    "Log.Stat",
    // the Go platform's gorm pool and logging knobs of a `DB` section: sqlx sizes its pools and
    // logs through tracing
    "DB.MaxIdleConns",
    "DB.MaxOpenConns",
    "DB.SlowThreshold",
    "DB.LogLevel",
    "DB.ParameterizedQueries",
    "DB.IgnoreRecordNotFoundError",
    "DB.QueryFields",
];

/// Keys every service configuration takes though its embedded defaults need not show them (off
/// by default): the gRPC protection of [`crate::security`], the span export of
/// [`crate::telemetry::Telemetry`], the token of the dashboard on the metrics port.
const BASE_OPTIONAL: &[(&str, &str)] = &[
    ("Dashboard", "{AccessSecret: ''}"),
    ("GrpcTls", "{CertFile: '', KeyFile: '', ClientCaFile: ''}"),
    ("GrpcAuth", "{AccessSecret: '', PrevAccessSecret: '', RoleClaim: role, Roles: {}}"),
    (
        "Telemetry",
        "{Name: '', Endpoint: '', Sampler: 1.0, Batcher: otlphttp, OtlpHeaders: {}, OtlpHttpPath: /v1/traces, \
         OtlpHttpSecure: false, Disabled: false}",
    ),
];

/// A configuration and what was accepted without being used.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    /// The configuration.
    pub config: T,
    /// One line per key the file holds that this service ignores on purpose.
    pub warnings: Vec<String>,
}

/// Fits the user's `value` to the layout of `defaults`: keys match case-insensitively (as
/// go-zero's loader does) and take the defaults' spelling; a key the defaults do not have is
/// dropped with a warning when `ignored` names it (by its dotted path), else an error naming
/// it and its line in `text`. An empty mapping in the defaults is open (any keys); a mapping
/// with a `Kind` key is a tagged choice whose other keys depend on the kind (the service's types
/// check them).
fn fit(
    value: Value,
    defaults: &Value,
    path: &str,
    ignored: &[&str],
    text: &str,
    warnings: &mut Vec<String>,
) -> Result<Value, Error> {
    // a list fits element by element to the defaults' first element (go-zero matches keys of
    // list entries case-insensitively too: `- grpc:` in an upstream file)
    if let (Value::Sequence(items), Value::Sequence(known)) = (&value, defaults) {
        let Some(template) = known.first() else { return Ok(value) };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.push(fit(item.clone(), template, &format!("{path}[{i}]"), ignored, text, warnings)?);
        }
        return Ok(Value::Sequence(out));
    }
    let (Value::Mapping(user), Value::Mapping(known)) = (value.clone(), defaults) else { return Ok(value) };
    if known.is_empty() {
        return Ok(value);
    }
    let mut out = Mapping::new();
    for (k, v) in user {
        let Some(key) = k.as_str() else {
            return Err(Error::Config(format!(
                "{}: a key that is not text",
                if path.is_empty() { "top level" } else { path }
            )));
        };
        let full = if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
        match known.iter().find(|(dk, _)| dk.as_str().is_some_and(|d| d.eq_ignore_ascii_case(key))) {
            Some((dk, dv)) => {
                let fitted = fit(v, dv, &full, ignored, text, warnings)?;
                out.insert(dk.clone(), fitted);
            }
            None if ignored.iter().any(|i| i.eq_ignore_ascii_case(&full)) => {
                warnings.push(format!("{full}: accepted and not used by this service"));
            }
            // a tagged choice ({Kind: fixed, Ms: 1000}): each kind has keys of its own, which
            // the service's types check
            None if known.keys().any(|k| k.as_str() == Some("Kind")) => {
                out.insert(k, v);
            }
            None => return Err(Error::Config(format!("unknown key {full}{}", line_of(text, key)))),
        }
    }
    Ok(Value::Mapping(out))
}

/// ` (line N)` of the first line that starts with `key:`, or nothing.
fn line_of(text: &str, key: &str) -> String {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches("- ");
            l.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map(|n| format!(" (line {})", n + 1))
        .unwrap_or_default()
}

fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Merges `user` YAML over `defaults`, applies `env` overrides (`(TopLevelKey, yaml value)`),
/// and deserialises. Keys match case-insensitively; unknown keys in the user's file are an
/// error naming the key and its line, so typos do not pass silently, except go-zero's own keys
/// ([`GO_ZERO_IGNORED`]), which are accepted and ignored.
///
/// # Errors
/// [`Error::Config`] naming the problem.
pub fn merge_str<T: DeserializeOwned + Serialize>(
    defaults: &str,
    user: Option<&str>,
    env: &[(String, String)],
) -> Result<T, Error> {
    Ok(merge_checked(defaults, user, env, &[])?.config)
}

/// [`merge_str`] that also accepts the keys `ignored` names (dotted paths, besides
/// [`GO_ZERO_IGNORED`]) and reports each key it accepted without using.
///
/// # Errors
/// [`Error::Config`] naming the problem.
pub fn merge_checked<T: DeserializeOwned + Serialize>(
    defaults: &str,
    user: Option<&str>,
    env: &[(String, String)],
    ignored: &[&str],
) -> Result<Loaded<T>, Error> {
    let mut base: Value =
        serde_yaml_ng::from_str(defaults).map_err(|e| Error::Config(format!("embedded defaults: {e}")))?;
    // a service configuration ([`Base`]) takes the optional gRPC protection keys
    if let Value::Mapping(m) = &mut base {
        let is_service = ["ListenOn", "Log", "Prometheus"].iter().all(|k| m.contains_key(*k));
        for (k, v) in BASE_OPTIONAL.iter().filter(|_| is_service) {
            if !m.contains_key(*k) {
                let v: Value = serde_yaml_ng::from_str(v).map_err(|e| Error::Config(format!("{k}: {e}")))?;
                m.insert(Value::String((*k).to_owned()), v);
            }
        }
    }
    let mut warnings = vec![];
    if let Some(u) = user {
        let over: Value = serde_yaml_ng::from_str(u).map_err(|e| Error::Config(format!("config file: {e}")))?;
        if !matches!(over, Value::Null) {
            let all: Vec<&str> = GO_ZERO_IGNORED.iter().chain(ignored).copied().collect();
            let over = fit(over, &base, "", &all, u, &mut warnings)?;
            merge(&mut base, over);
        }
    }
    for (k, v) in env {
        let v: Value = serde_yaml_ng::from_str(v).map_err(|e| Error::Config(format!("environment {k}: {e}")))?;
        merge(&mut base, Value::Mapping([(Value::String(k.clone()), v)].into_iter().collect()));
    }
    // the key's path in the message: "DockerConfig: invalid type: sequence, expected a map"
    let config = serde_path_to_error::deserialize(base).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        Error::Config(if path == "." { inner.to_string() } else { format!("{path}: {inner}") })
    })?;
    Ok(Loaded { config, warnings })
}

/// Loads the configuration: `defaults`, then the file at `path`, then environment variables
/// `ZERO_<TOPLEVELKEY>` (for example `ZERO_LISTENON=127.0.0.1:0`).
///
/// # Errors
/// [`Error::Config`] or [`Error::Io`].
pub fn load<T: DeserializeOwned + Serialize>(defaults: &str, path: Option<&Path>) -> Result<T, Error> {
    Ok(load_checked(defaults, path, &[])?.config)
}

/// [`load`] that also accepts the keys `ignored` names and reports each key it accepted
/// without using.
///
/// # Errors
/// [`Error::Config`] (naming the file) or [`Error::Io`].
pub fn load_checked<T: DeserializeOwned + Serialize>(
    defaults: &str,
    path: Option<&Path>,
    ignored: &[&str],
) -> Result<Loaded<T>, Error> {
    let user = path.map(std::fs::read_to_string).transpose()?;
    let base: Value =
        serde_yaml_ng::from_str(defaults).map_err(|e| Error::Config(format!("embedded defaults: {e}")))?;
    let mut env = vec![];
    if let Value::Mapping(m) = &base {
        for k in m.keys().filter_map(Value::as_str) {
            if let Ok(v) = std::env::var(format!("ZERO_{}", k.to_uppercase())) {
                env.push((k.to_owned(), v));
            }
        }
    }
    merge_checked(defaults, user.as_deref(), &env, ignored).map_err(|e| match (e, path) {
        (Error::Config(m), Some(p)) => Error::Config(format!("{}: {m}", p.display())),
        (e, _) => e,
    })
}

/// The configuration as YAML.
pub fn to_yaml<T: Serialize>(cfg: &T) -> String {
    serde_yaml_ng::to_string(cfg).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, serde::Serialize, PartialEq)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    struct C {
        listen_on: String,
        n: u32,
    }

    #[derive(Debug, serde::Deserialize, serde::Serialize)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    struct Nested {
        log: Log,
        meta: std::collections::BTreeMap<String, u32>,
    }

    #[test]
    fn nested_keys_fit_the_defaults_and_open_maps_stay_open() {
        let d = "Log:\n  Level: info\nMeta: {}\n";
        let user = "log:\n  level: debug\n  Encoding: plain\n  KeepDays: 7\nMeta: {anything: 1}\n";
        let l: Loaded<Nested> = merge_checked(d, Some(user), &[], &[]).unwrap();
        assert_eq!(l.config.log.level, "debug");
        assert_eq!(l.config.meta.get("anything"), Some(&1));
        assert_eq!(l.warnings.len(), 2, "Log.Encoding and Log.KeepDays: {:?}", l.warnings);
        let e = merge_str::<Nested>(d, Some("Log:\n  Levle: x\n"), &[]).unwrap_err().to_string();
        assert!(e.contains("unknown key Log.Levle (line 2)"), "{e}");
        // a tagged choice keeps the keys of the kind chosen
        // entries of a list fit the defaults' first entry
        let d = "Ups:\n- Grpc: {Endpoints: []}\n  Mappings: []\n";
        let v: serde_yaml_ng::Value = merge_str(d, Some("Ups:\n- grpc: {endpoints: [a]}\n- Grpc: {}\n"), &[]).unwrap();
        assert_eq!(v["Ups"][0]["Grpc"]["Endpoints"][0].as_str(), Some("a"));
        let e = merge_str::<serde_yaml_ng::Value>(d, Some("Ups:\n- Grpcc: {}\n"), &[]).unwrap_err().to_string();
        assert!(e.contains("unknown key Ups[0].Grpcc"), "{e}");
        let tagged = "Backoff: {Kind: upstream}\n";
        let v: serde_yaml_ng::Value = merge_str(tagged, Some("backoff: {Kind: fixed, Ms: 5}\n"), &[]).unwrap();
        assert_eq!(v["Backoff"]["Ms"].as_u64(), Some(5));
    }

    #[test]
    fn a_service_takes_the_grpc_protection_keys() {
        #[derive(Debug, serde::Deserialize, serde::Serialize)]
        #[serde(rename_all = "PascalCase", deny_unknown_fields)]
        struct Svc {
            #[serde(flatten)]
            base: Base,
        }
        let d = "ListenOn: a\nLog: {Level: info}\nPrometheus: {ListenOn: ''}\nGracePeriod: 1s\n";
        let user = "grpcauth: {AccessSecret: k, Roles: {\"/x.Y/Z\": [op]}}\nGrpcTls: {CertFile: c, KeyFile: k}\n";
        let c: Svc = merge_str(d, Some(user), &[]).unwrap();
        assert_eq!(c.base.grpc_auth.access_secret, "k");
        assert_eq!(c.base.grpc_auth.roles["/x.Y/Z"], ["op"]);
        assert_eq!(c.base.grpc_auth.role_claim, "role");
        assert!(c.base.grpc_tls.enabled());
        let off: Svc = merge_str(d, None, &[]).unwrap();
        assert!(off.base.grpc_auth.access_secret.is_empty() && !off.base.grpc_tls.enabled(), "off by default");
        assert!(merge_str::<Svc>(d, Some("GrpcAuth: {Secret: k}\n"), &[]).is_err(), "a typo is an error");
    }

    #[test]
    fn overlay_env_and_errors() {
        let d = "ListenOn: a\nN: 1\n";
        let c: C = merge_str(d, Some("N: 2\n"), &[("ListenOn".into(), "b".into())]).unwrap();
        assert_eq!(c, C { listen_on: "b".into(), n: 2 });
        assert!(
            matches!(merge_str::<C>(d, Some("Nn: 2\n"), &[]), Err(Error::Config(m)) if m.contains("unknown key Nn"))
        );
        assert!(matches!(merge_str::<C>(d, Some("N: [\n"), &[]), Err(Error::Config(m)) if m.contains("config file")));
        assert!(matches!(merge_str::<C>(d, Some("N: -3\n"), &[]), Err(Error::Config(_))));
        // keys match case-insensitively; go-zero's own keys are accepted with a warning each
        let c: C = merge_str(d, Some("listenon: c\nNAME: x.rpc\nMode: dev\n"), &[]).unwrap();
        assert_eq!(c.listen_on, "c");
        let l: Loaded<C> = merge_checked(d, Some("Name: x\nExtra: {A: 1}\n"), &[], &["extra"]).unwrap();
        assert_eq!(l.warnings.len(), 2, "{:?}", l.warnings);
        assert!(l.warnings[1].starts_with("Extra:"));
        // an unknown key names itself and its line
        let e = merge_str::<C>(d, Some("N: 2\n\nListenOnn: a\n"), &[]).unwrap_err().to_string();
        assert!(e.contains("unknown key ListenOnn (line 3)"), "{e}");
        let empty: C = merge_str(d, Some(""), &[]).unwrap();
        assert_eq!(empty.n, 1);
        assert!(to_yaml(&empty).contains("ListenOn: a"));
    }
}

/// The `Log` section every service has.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Log {
    /// Level filter (`trace` .. `error`); `RUST_LOG`, when set, wins.
    pub level: String,
}

/// The `Prometheus` section every service has.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Prometheus {
    /// Scrape endpoint address; empty disables it.
    pub listen_on: String,
}

/// The keys every service has, flattened into each service's configuration:
/// `ListenOn`, `Log`, `Prometheus`, `GracePeriod`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Base {
    /// gRPC listen address.
    pub listen_on: String,
    /// Logging.
    pub log: Log,
    /// Metrics endpoint.
    pub prometheus: Prometheus,
    /// How long shutdown waits for work in flight (Go duration text, as go-zero's
    /// `GracePeriod: 30s`).
    pub grace_period: GoDuration,
    /// go-zero's `Etcd` of a gRPC server: register the service as `<Key>/<leaseID>` ->
    /// `host:port` (10 s lease) so Go clients and ours find it; no registration when `Hosts` is
    /// empty.
    #[serde(default)]
    pub etcd: EtcdConf,
    /// TLS of the gRPC server (off while `CertFile` is empty).
    #[serde(default)]
    pub grpc_tls: crate::security::GrpcTls,
    /// Tokens and roles of the gRPC server's callers (off while `AccessSecret` is empty).
    #[serde(default)]
    pub grpc_auth: crate::security::GrpcAuth,
    /// go-zero's `Telemetry`: spans to an OTLP/HTTP collector (off while `Endpoint` is empty).
    #[serde(default)]
    pub telemetry: crate::telemetry::Telemetry,
    /// The service's part of the platform dashboard, served on the `Prometheus` port.
    #[serde(default)]
    pub dashboard: DashboardAuth,
}

/// `Dashboard` of a service: its page on the metrics port.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct DashboardAuth {
    /// HS256 secret of the platform's tokens; empty: the page is open and its actions are
    /// taken from loopback clients only.
    pub access_secret: String,
}

impl DashboardAuth {
    /// The token check of this configuration.
    pub fn auth(&self) -> zero_edge::auth::JwtAuth {
        zero_edge::auth::JwtAuth::new(&self.access_secret, "", 0)
    }
}

pub use zero_edge::registry::EtcdConf;

pub use crate::duration::GoDuration;

/// A `DB` section: where a service keeps its tables.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DbConf {
    /// `sqlite://path` (created if missing), `postgres://…`, `mysql://…`, or the Go platform's
    /// DSN of either.
    pub data_source: String,
}

/// A `StreamEventConf` section of a service that calls streamevent.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StreamEventConf {
    /// gRPC endpoints, `host:port` or a URI (the first is used).
    pub endpoints: Vec<String>,
    /// Call timeout (ms).
    pub timeout: u64,
}
