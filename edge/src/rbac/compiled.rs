//! The built-in model's matcher, compiled: `g(r.sub, p.sub) && keyMatch2(r.obj, p.obj) &&
//! regexMatch(r.act, p.act)` decided without casbin's expression engine, from an index built
//! once per rule set.
//!
//! casbin evaluates the matcher (a rhai script) against every `p` rule, and compiles the
//! `keyMatch2` and `regexMatch` regular expressions anew each time: a first decision over 1,100
//! rules takes milliseconds. Here each rule's regular expressions are built once, exactly as
//! casbin's `key_match2` and `regex_match` build them, and each subject maps to the rules whose
//! `p.sub` it is or holds (decided by casbin's own role manager, `has_link`, so role hierarchies
//! and their depth limit are casbin's): a decision tries that subject's few rules only. A rule
//! whose regular expression does not compile is refused when the rules are loaded (casbin
//! would panic on it at the first request).
//!
//! The property test in `tests` holds the decisions equal to casbin's on random rule sets.

use casbin::{CoreApi as _, MgmtApi as _};
use regex::Regex;
use std::collections::HashMap;
use std::sync::Arc;

/// One `p` rule, compiled.
#[derive(Debug)]
struct Compiled {
    obj: Regex,
    act: Regex,
}

/// Rules by subject.
#[derive(Debug, Default)]
pub(crate) struct Index {
    rules: Vec<Compiled>,
    by_subject: HashMap<String, Arc<[usize]>>,
}

/// Why a rule set cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CompileError {
    /// A pattern that is no regular expression.
    #[error("rule p, {sub}, {obj}, {act}: {err}")]
    Regex { sub: String, obj: String, act: String, err: regex::Error },
}

/// `keyMatch2`'s regular expression for the pattern `key2`, built as casbin builds it.
fn key_match2_regex(key2: &str) -> Result<Regex, regex::Error> {
    static PARAM: std::sync::LazyLock<Regex> =
        std::sync::LazyLock::new(|| Regex::new(r":[^/]*").expect("a fixed expression"));
    let key2 = if key2.contains("/*") { key2.replace("/*", "/.*") } else { key2.to_owned() };
    let key2 = PARAM.replace_all(&key2, "[^/]+");
    Regex::new(&format!("^{key2}$"))
}

impl Index {
    /// The index of `e`'s `p` and `g` rules when the model is the built-in one and the rules fit
    /// it (three values per `p`, two per `g`, no other types); `None` otherwise (casbin decides).
    ///
    /// # Errors
    /// A rule whose path or method pattern is no regular expression.
    pub(crate) fn build(e: &casbin::CachedEnforcer, rules: &[super::Rule]) -> Result<Option<Index>, CompileError> {
        let fits = rules.iter().all(|r| match r.ptype.as_str() {
            "p" => r.values.len() == 3,
            "g" => r.values.len() == 2,
            _ => false,
        });
        if !fits {
            return Ok(None);
        }
        // casbin's own view of the rules (as it deduplicated them)
        let policies = e.get_policy();
        let mut index = Index::default();
        let mut subjects: HashMap<&str, Vec<usize>> = HashMap::new();
        for p in &policies {
            let [sub, obj, act] = p.as_slice() else { return Ok(None) };
            let err = |err| CompileError::Regex { sub: sub.clone(), obj: obj.clone(), act: act.clone(), err };
            index.rules.push(Compiled { obj: key_match2_regex(obj).map_err(err)?, act: Regex::new(act).map_err(err)? });
            subjects.entry(sub.as_str()).or_default().push(index.rules.len() - 1);
        }
        // every name a request may carry that reaches some p subject: the p subjects
        // themselves, and the members of g rules (users and roles)
        let rm = e.get_role_manager();
        let rm = rm.read();
        let mut names: Vec<&str> = subjects.keys().copied().collect();
        for r in rules.iter().filter(|r| r.ptype == "g") {
            names.extend(r.values.iter().map(String::as_str));
        }
        names.sort_unstable();
        names.dedup();
        for name in names {
            let mut mine: Vec<usize> = vec![];
            for (sub, idx) in &subjects {
                if *sub == name || rm.has_link(name, sub, None) {
                    mine.extend(idx);
                }
            }
            if !mine.is_empty() {
                mine.sort_unstable();
                index.by_subject.insert(name.to_owned(), mine.into());
            }
        }
        Ok(Some(index))
    }

    /// The built-in model's decision.
    pub(crate) fn enforce(&self, sub: &str, obj: &str, act: &str) -> bool {
        self.by_subject.get(sub).is_some_and(|rules| {
            rules.iter().any(|&i| self.rules[i].act.is_match(act) && self.rules[i].obj.is_match(obj))
        })
    }
}
