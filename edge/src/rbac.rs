//! Role-based access on the `casbin` crate: a model (the built-in RESTful one, or the caller's)
//! and policies from the database's `casbin_rule` table, decisions cached (casbin's
//! `CachedEnforcer`), policies reloaded when the table changes ([`Rbac::follow`]).
//!
//! The built-in model ([`RESTFUL_MODEL`]): a subject (a token claim, `user-id` by default) holds
//! roles through `g` rules; `p, <role or subject>, <path pattern>, <method regex>` allows a
//! request whose path matches the pattern (`keyMatch2`: `/api/:id`, `/api/*`) and whose method
//! matches the regex (`GET|POST`, `.*`). Under the built-in model, decisions come from a
//! compiled index of the rules (casbin's role manager and casbin's pattern rules, the regular
//! expressions built once; microseconds for a first decision over 1,100 rules, where casbin's
//! expression engine takes milliseconds), held equal to casbin's own decisions by a property
//! test; a model of the caller's is decided by casbin, its decisions cached.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use zero_edge::rbac::{Rbac, Rule};
//! let rbac = Rbac::new("", vec![
//!     Rule::p(["operator", "/api/station/:id", "GET"]),
//!     Rule::g(["alice", "operator"]),
//! ]).await.unwrap();
//! assert!(rbac.enforce("alice", "/api/station/7", "GET").unwrap());
//! assert!(!rbac.enforce("alice", "/api/station/7", "DELETE").unwrap());
//! assert!(!rbac.enforce("bob", "/api/station/7", "GET").unwrap());
//! # }
//! ```

use casbin::{CachedApi as _, CachedEnforcer, CoreApi as _, DefaultModel, MemoryAdapter, MgmtApi as _};
use serde::{Deserialize, Serialize};
use sqlx::Row as _;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use zero_sql::Db;

mod compiled;

/// The built-in model: RESTful paths and methods, roles through `g`.
pub const RESTFUL_MODEL: &str = r#"
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && keyMatch2(r.obj, p.obj) && regexMatch(r.act, p.act)
"#;

/// An `Rbac` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct RbacConf {
    /// Check requests at all.
    pub enabled: bool,
    /// A casbin model (its text); empty: [`RESTFUL_MODEL`].
    pub model: String,
    /// The token claim that names the subject.
    pub subject_claim: String,
    /// How often the `casbin_rule` table is read for changes (seconds).
    pub reload_secs: u64,
}

impl Default for RbacConf {
    fn default() -> RbacConf {
        RbacConf { enabled: false, model: String::new(), subject_claim: "user-id".into(), reload_secs: 2 }
    }
}

/// A policy or grouping rule: `ptype` and its values.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rule {
    /// `p`, `p2`, `g`, `g2`, …
    pub ptype: String,
    /// The values (trailing empty ones dropped).
    pub values: Vec<String>,
}

impl Rule {
    /// A `p` rule.
    pub fn p<const N: usize>(v: [&str; N]) -> Rule {
        Rule { ptype: "p".into(), values: v.iter().map(|s| (*s).to_owned()).collect() }
    }

    /// A `g` rule.
    pub fn g<const N: usize>(v: [&str; N]) -> Rule {
        Rule { ptype: "g".into(), values: v.iter().map(|s| (*s).to_owned()).collect() }
    }
}

/// Why a decision could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RbacError {
    /// The model or a rule is wrong.
    #[error("casbin: {0}")]
    Casbin(#[from] casbin::Error),
    /// The policy table cannot be read.
    #[error("casbin_rule: {0}")]
    Db(#[from] sqlx::Error),
    /// A rule's path or method pattern is no regular expression.
    #[error("{0}")]
    Pattern(String),
}

/// The rules in force and what decides them.
struct Current {
    enforcer: Arc<CachedEnforcer>,
    index: Option<compiled::Index>,
    rules: Vec<Rule>,
}

/// An enforcer whose policies can be replaced while it serves.
pub struct Rbac {
    model: String,
    current: RwLock<Arc<Current>>,
}

impl std::fmt::Debug for Rbac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.current();
        let (rules, compiled) = (c.rules.len(), c.index.is_some());
        f.debug_struct("Rbac").field("rules", &rules).field("compiled", &compiled).finish()
    }
}

async fn build(model: &str, rules: Vec<Rule>) -> Result<Current, RbacError> {
    let builtin = model.trim().is_empty() || model.trim() == RESTFUL_MODEL.trim();
    let m = DefaultModel::from_str(if builtin { RESTFUL_MODEL } else { model }).await?;
    let mut e = CachedEnforcer::new(m, MemoryAdapter::default()).await?;
    e.set_cache(Box::new(casbin::DefaultCache::new(100_000)));
    let mut by_type: std::collections::BTreeMap<&str, Vec<Vec<String>>> = Default::default();
    for r in &rules {
        by_type.entry(r.ptype.as_str()).or_default().push(r.values.clone());
    }
    for (ptype, rs) in by_type {
        if ptype.starts_with('g') {
            e.add_named_grouping_policies(ptype, rs).await?;
        } else {
            e.add_named_policies(ptype, rs).await?;
        }
    }
    let index = if builtin {
        compiled::Index::build(&e, &rules).map_err(|err| RbacError::Pattern(err.to_string()))?
    } else {
        None
    };
    Ok(Current { enforcer: Arc::new(e), index, rules })
}

impl Rbac {
    /// An enforcer of `model` (empty: [`RESTFUL_MODEL`]) holding `rules`.
    ///
    /// # Errors
    /// A model or rule casbin refuses.
    pub async fn new(model: &str, mut rules: Vec<Rule>) -> Result<Rbac, RbacError> {
        rules.sort();
        rules.dedup();
        let c = build(model, rules).await?;
        Ok(Rbac { model: model.to_owned(), current: RwLock::new(Arc::new(c)) })
    }

    /// The enforcer of the rules in `db`'s `casbin_rule` table (created when missing).
    ///
    /// # Errors
    /// The table cannot be made or read; a rule casbin refuses.
    pub async fn from_db(model: &str, db: &Db) -> Result<Rbac, RbacError> {
        migrate(db).await?;
        Rbac::new(model, load(db).await?).await
    }

    /// Whether `sub` may `act` on `obj`: from the compiled rules under the built-in model,
    /// else casbin's decision (cached per triple until the policies change).
    ///
    /// # Errors
    /// The model cannot evaluate the request.
    pub fn enforce(&self, sub: &str, obj: &str, act: &str) -> Result<bool, RbacError> {
        let c = self.current();
        match &c.index {
            Some(index) => Ok(index.enforce(sub, obj, act)),
            None => Ok(c.enforcer.enforce((sub, obj, act))?),
        }
    }

    /// casbin's own decision, never from the compiled rules (what those are held equal to).
    ///
    /// # Errors
    /// The model cannot evaluate the request.
    pub fn enforce_casbin(&self, sub: &str, obj: &str, act: &str) -> Result<bool, RbacError> {
        Ok(self.current().enforcer.enforce((sub, obj, act))?)
    }

    /// Whether decisions come from the compiled rules (the built-in model, rules that fit it).
    pub fn compiled(&self) -> bool {
        self.current().index.is_some()
    }

    /// The rules in force.
    pub fn rules(&self) -> Vec<Rule> {
        self.current().rules.clone()
    }

    /// The rules in force and what decides them (a writer that panicked left them whole: the
    /// swap is one assignment).
    fn current(&self) -> Arc<Current> {
        self.current.read().map(|c| c.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Puts `rules` in force (a new enforcer, so the cache starts empty); `false` when they are
    /// the rules in force already.
    ///
    /// # Errors
    /// A rule casbin refuses: the rules in force stay.
    pub async fn replace(&self, mut rules: Vec<Rule>) -> Result<bool, RbacError> {
        rules.sort();
        rules.dedup();
        if self.current().rules == rules {
            return Ok(false);
        }
        let next = build(&self.model, rules).await?;
        if let Ok(mut c) = self.current.write() {
            *c = Arc::new(next);
        }
        Ok(true)
    }

    /// Reads `db`'s `casbin_rule` every `every` and puts its rules in force when they changed,
    /// until the task is aborted.
    pub fn follow(self: Arc<Self>, db: Db, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match load(&db).await {
                    Ok(rules) => match self.replace(rules).await {
                        Ok(true) => tracing::info!(rules = self.rules().len(), "casbin policies reloaded"),
                        Ok(false) => {}
                        Err(e) => tracing::warn!(error = %e, "casbin policies refused; the previous ones stay"),
                    },
                    Err(e) => tracing::warn!(error = %e, "casbin_rule unreadable; the previous policies stay"),
                }
            }
        })
    }
}

/// Creates `casbin_rule` when it is missing.
///
/// # Errors
/// The migration failed.
pub async fn migrate(db: &Db) -> Result<(), sqlx::Error> {
    db.migrate(zero_sql::shared(sqlx::migrate!("./migrations"))).await.map_err(|e| sqlx::Error::Migrate(Box::new(e)))
}

/// The rules in `db`'s `casbin_rule`.
///
/// # Errors
/// The table cannot be read.
pub async fn load(db: &Db) -> Result<Vec<Rule>, sqlx::Error> {
    let rows = sqlx::query("SELECT ptype, v0, v1, v2, v3, v4, v5 FROM casbin_rule").fetch_all(db.pool()).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let ptype: String = zero_sql::text(&r, "ptype")?;
        let mut values = vec![];
        for c in ["v0", "v1", "v2", "v3", "v4", "v5"] {
            let v: Option<String> = r.try_get(c).ok().flatten();
            values.push(v.unwrap_or_default());
        }
        while values.last().is_some_and(String::is_empty) {
            values.pop();
        }
        out.push(Rule { ptype, values });
    }
    Ok(out)
}

/// Adds `rule` to `db`'s `casbin_rule` (an admin tool's insert; [`Rbac::follow`] picks it up).
///
/// # Errors
/// The insert failed (a duplicate included).
pub async fn insert(db: &Db, rule: &Rule) -> Result<(), sqlx::Error> {
    let mut v: Vec<&str> = rule.values.iter().map(String::as_str).collect();
    v.resize(6, "");
    let sql = db.sql("INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES (?, ?, ?, ?, ?, ?, ?)");
    let mut q = sqlx::query(&sql).bind(rule.ptype.clone());
    for x in v {
        q = q.bind(x.to_owned());
    }
    q.execute(db.pool()).await?;
    Ok(())
}

/// Removes `rule` from `db`'s `casbin_rule`.
///
/// # Errors
/// The delete failed.
pub async fn remove(db: &Db, rule: &Rule) -> Result<(), sqlx::Error> {
    let mut v: Vec<&str> = rule.values.iter().map(String::as_str).collect();
    v.resize(6, "");
    let sql = db.sql(
        "DELETE FROM casbin_rule WHERE ptype = ? AND v0 = ? AND v1 = ? AND v2 = ? AND v3 = ? AND v4 = ? AND v5 = ?",
    );
    let mut q = sqlx::query(&sql).bind(rule.ptype.clone());
    for x in v {
        q = q.bind(x.to_owned());
    }
    q.execute(db.pool()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn roles_paths_methods_and_replacement() {
        let rbac = Rbac::new(
            "",
            vec![
                Rule::p(["admin", "/*", ".*"]),
                Rule::p(["viewer", "/api/:res", "GET"]),
                Rule::g(["root", "admin"]),
                Rule::g(["v1", "viewer"]),
            ],
        )
        .await
        .unwrap();
        assert!(rbac.enforce("root", "/anything/deep", "DELETE").unwrap());
        assert!(rbac.enforce("v1", "/api/points", "GET").unwrap());
        assert!(!rbac.enforce("v1", "/api/points", "POST").unwrap());
        assert!(!rbac.enforce("v1", "/api/points/1", "GET").unwrap(), ":res is one segment");
        assert!(!rbac.enforce("nobody", "/api/points", "GET").unwrap());
        // the cached decision goes with the rules it was made under
        assert!(rbac
            .replace(vec![Rule::p(["viewer", "/api/:res", "GET|POST"]), Rule::g(["v1", "viewer"])])
            .await
            .unwrap());
        assert!(rbac.enforce("v1", "/api/points", "POST").unwrap());
        assert!(!rbac.enforce("root", "/anything/deep", "DELETE").unwrap());
        assert!(!rbac.replace(rbac.rules()).await.unwrap(), "the same rules: nothing to do");
    }

    #[tokio::test]
    async fn a_bad_pattern_is_refused_and_the_rules_in_force_stay() {
        let rbac =
            Rbac::new("", vec![Rule::p(["viewer", "/api/:res", "GET"]), Rule::g(["v1", "viewer"])]).await.unwrap();
        assert!(rbac.compiled());
        let err = Rbac::new("", vec![Rule::p(["viewer", "/api/:res", "GET("])]).await.unwrap_err();
        assert!(err.to_string().contains("GET("), "{err}");
        assert!(rbac.replace(vec![Rule::p(["viewer", "/api/(", "GET"])]).await.is_err());
        assert!(rbac.enforce("v1", "/api/points", "GET").unwrap(), "the previous rules stay");
    }

    #[tokio::test]
    async fn a_model_of_the_callers_is_decided_by_casbin() {
        let model = RESTFUL_MODEL.replace("keyMatch2(r.obj, p.obj)", "r.obj == p.obj");
        let rbac =
            Rbac::new(&model, vec![Rule::p(["viewer", "/api/:res", "GET"]), Rule::g(["v1", "viewer"])]).await.unwrap();
        assert!(!rbac.compiled());
        assert!(rbac.enforce("v1", "/api/:res", "GET").unwrap());
        assert!(!rbac.enforce("v1", "/api/points", "GET").unwrap(), "no keyMatch2 in this model");
        // rules beyond the built-in model's shape go to casbin too
        let rbac = Rbac::new("", vec![Rule::p(["viewer", "/api/:res", "GET", "extra"])]).await.unwrap();
        assert!(!rbac.compiled());
    }

    const NAMES: [&str; 8] = ["u0", "u1", "u2", "u3", "r0", "r1", "r2", "admin"];
    const PATTERNS: [&str; 9] =
        ["/api/:id", "/api/*", "/api/x", "/*", "/api/:id/sub", "/a.b", "/api/:id/*", "/", "/api/:"];
    const ACTS: [&str; 6] = ["GET", "POST", "GET|POST", ".*", "PUT", "(GET)|(DELETE)"];
    const PATHS: [&str; 10] =
        ["/api/1", "/api/x", "/api/1/sub", "/a.b", "/aXb", "/other", "/api", "/", "/api/1/sub/deep", "/api/"];
    const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "FORGET"];

    fn rule() -> impl proptest::strategy::Strategy<Value = Rule> {
        use proptest::prelude::*;
        prop_oneof![
            (0..NAMES.len(), 0..PATTERNS.len(), 0..ACTS.len()).prop_map(|(s, o, a)| Rule::p([
                NAMES[s],
                PATTERNS[o],
                ACTS[a]
            ])),
            (0..NAMES.len(), 0..NAMES.len()).prop_map(|(a, b)| Rule::g([NAMES[a], NAMES[b]])),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]
        /// The compiled rules decide as casbin does: every request over random rule sets
        /// (role chains and cycles, wildcards, parameters, regex metacharacters in paths).
        #[test]
        fn compiled_decisions_are_casbins(rules in proptest::collection::vec(rule(), 0..24)) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let rbac = rt.block_on(Rbac::new("", rules.clone())).unwrap();
            proptest::prop_assert!(rbac.compiled());
            for sub in NAMES.iter().chain(&["nobody", ""]) {
                for obj in PATHS {
                    for act in METHODS {
                        let ours = rbac.enforce(sub, obj, act).unwrap();
                        let casbin = rbac.enforce_casbin(sub, obj, act).unwrap();
                        proptest::prop_assert_eq!(ours, casbin, "{} {} {} under {:?}", sub, obj, act, rules);
                    }
                }
            }
        }
    }
}
