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
use serde_yaml_ng::Value;
use std::path::Path;

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
/// and deserialises. Unknown keys in the user's file are an error, so typos do not pass silently.
///
/// # Errors
/// [`Error::Config`] naming the problem.
pub fn merge_str<T: DeserializeOwned + Serialize>(
    defaults: &str,
    user: Option<&str>,
    env: &[(String, String)],
) -> Result<T, Error> {
    let mut base: Value =
        serde_yaml_ng::from_str(defaults).map_err(|e| Error::Config(format!("embedded defaults: {e}")))?;
    if let Some(u) = user {
        let over: Value = serde_yaml_ng::from_str(u).map_err(|e| Error::Config(format!("config file: {e}")))?;
        if !matches!(over, Value::Null) {
            if let (Value::Mapping(b), Value::Mapping(o)) = (&base, &over) {
                if let Some(k) = o.keys().find(|k| !b.contains_key(*k)) {
                    return Err(Error::Config(format!(
                        "unknown key {}",
                        serde_yaml_ng::to_string(k).unwrap_or_default().trim()
                    )));
                }
            }
            merge(&mut base, over);
        }
    }
    for (k, v) in env {
        let v: Value = serde_yaml_ng::from_str(v).map_err(|e| Error::Config(format!("environment {k}: {e}")))?;
        merge(&mut base, Value::Mapping([(Value::String(k.clone()), v)].into_iter().collect()));
    }
    serde_yaml_ng::from_value(base).map_err(|e| Error::Config(e.to_string()))
}

/// Loads the configuration: `defaults`, then the file at `path`, then environment variables
/// `ZERO_<TOPLEVELKEY>` (for example `ZERO_LISTENON=127.0.0.1:0`).
///
/// # Errors
/// [`Error::Config`] or [`Error::Io`].
pub fn load<T: DeserializeOwned + Serialize>(defaults: &str, path: Option<&Path>) -> Result<T, Error> {
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
    merge_str(defaults, user.as_deref(), &env)
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
