//! The rules themselves: numbers, strings and bytes, enums, repeated fields.

use super::{Validator, Violation};
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, ReflectMessage, Value};
use std::borrow::Cow;

pub(super) fn skipped(rules: Option<&DynamicMessage>) -> bool {
    rules.and_then(|r| r.get_field_by_name("message")).is_some_and(|m| match m.as_ref() {
        Value::Message(m) => get_bool(m, "skip"),
        _ => false,
    })
}

/// `plan_id` → `PlanId`, as Go names the field in protoc-gen-validate messages.
pub(super) fn go_name(s: &str) -> String {
    s.split('_').map(|w| w[..w.len().min(1)].to_uppercase() + &w[w.len().min(1)..]).collect()
}

pub(super) fn get(r: &DynamicMessage, name: &str) -> Option<Value> {
    let f = r.descriptor().get_field_by_name(name)?;
    r.has_field(&f).then(|| r.get_field(&f).into_owned())
}

pub(super) fn get_bool(r: &DynamicMessage, name: &str) -> bool {
    matches!(get(r, name), Some(Value::Bool(true)))
}

pub(super) fn get_u64(r: &DynamicMessage, name: &str) -> Option<u64> {
    match get(r, name)? {
        Value::U64(n) => Some(n),
        _ => None,
    }
}

pub(super) fn repeated(vd: &Validator, f: &FieldDescriptor, r: &DynamicMessage, v: &Value) -> Result<(), Violation> {
    let items: &[Value] = match v {
        Value::List(l) => l,
        _ => &[],
    };
    if items.is_empty() && get_bool(r, "ignore_empty") {
        return Ok(());
    }
    let n = items.len() as u64;
    if let Some(min) = get_u64(r, "min_items").filter(|min| n < *min) {
        return Err(Violation(format!("value must contain at least {min} item(s)")));
    }
    if let Some(max) = get_u64(r, "max_items").filter(|max| n > *max) {
        return Err(Violation(format!("value must contain no more than {max} item(s)")));
    }
    if get_bool(r, "unique") {
        for (i, a) in items.iter().enumerate() {
            if items[..i].contains(a) {
                return Err(Violation("repeated value must contain unique items".into()));
            }
        }
    }
    if let Some(Value::Message(item_rules)) = get(r, "items") {
        for (i, item) in items.iter().enumerate() {
            vd.field(f, &item_rules, item, true).map_err(|e| format!("[{i}] {e}"))?;
        }
    }
    Ok(())
}

/// A number of any protobuf kind, compared exactly for integers.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub(super) enum Num {
    I(i128),
    F(f64),
}

impl Num {
    fn of(v: &Value) -> Option<Num> {
        Some(match v {
            Value::I32(n) => Num::I(i128::from(*n)),
            Value::I64(n) => Num::I(i128::from(*n)),
            Value::U32(n) => Num::I(i128::from(*n)),
            Value::U64(n) => Num::I(i128::from(*n)),
            Value::EnumNumber(n) => Num::I(i128::from(*n)),
            Value::F32(n) => Num::F(f64::from(*n)),
            Value::F64(n) => Num::F(*n),
            _ => return None,
        })
    }

    fn cmp(self, o: Num) -> Option<std::cmp::Ordering> {
        match (self, o) {
            (Num::I(a), Num::I(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Num::I(n) => n as f64,
            Num::F(f) => f,
        }
    }
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Num::I(n) => write!(f, "{n}"),
            Num::F(x) => write!(f, "{x}"),
        }
    }
}

pub(super) fn list(r: &DynamicMessage, name: &str) -> Vec<Value> {
    match get(r, name) {
        Some(Value::List(l)) => l,
        _ => vec![],
    }
}

pub(super) fn scalar(f: &FieldDescriptor, kind: &str, r: &DynamicMessage, v: &Value) -> Result<(), Violation> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match kind {
        "bool" => match get(r, "const") {
            Some(c) if &c != v => Err(Violation(format!("value must equal {c:?}"))),
            _ => Ok(()),
        },
        "string" | "bytes" => text(kind, r, v),
        "enum" => {
            let Some(n) = Num::of(v) else { return Ok(()) };
            if let Some(c) = get(r, "const").as_ref().and_then(Num::of).filter(|c| *c != n) {
                return Err(Violation(format!("value must equal {c}")));
            }
            if get_bool(r, "defined_only") {
                let Value::EnumNumber(e) = v else { return Ok(()) };
                if let Kind::Enum(ed) = f.kind() {
                    if ed.get_value(*e).is_none() {
                        return Err(Violation("value must be one of the defined enum values".into()));
                    }
                }
            }
            in_not_in(r, n)
        }
        _ => {
            let Some(n) = Num::of(v) else { return Ok(()) };
            if n.as_f64() == 0.0 && get_bool(r, "ignore_empty") {
                return Ok(());
            }
            let bound = |name: &str| get(r, name).as_ref().and_then(Num::of);
            if let Some(c) = bound("const").filter(|c| *c != n) {
                return Err(Violation(format!("value must equal {c}")));
            }
            let (lt, lte, gt, gte) = (bound("lt"), bound("lte"), bound("gt"), bound("gte"));
            let ok_low = match (gt, gte) {
                (Some(g), _) => n.cmp(g) == Some(Greater),
                (None, Some(g)) => matches!(n.cmp(g), Some(Greater | Equal)),
                _ => true,
            };
            let ok_high = match (lt, lte) {
                (Some(l), _) => n.cmp(l) == Some(Less),
                (None, Some(l)) => matches!(n.cmp(l), Some(Less | Equal)),
                _ => true,
            };
            if !(ok_low && ok_high) {
                let low =
                    gt.map(|g| format!("greater than {g}")).or(gte.map(|g| format!("greater than or equal to {g}")));
                let high = lt.map(|l| format!("less than {l}")).or(lte.map(|l| format!("less than or equal to {l}")));
                return Err(Violation(format!(
                    "value must be {}",
                    [low, high].into_iter().flatten().collect::<Vec<_>>().join(" and ")
                )));
            }
            in_not_in(r, n)
        }
    }
}

pub(super) fn in_not_in(r: &DynamicMessage, n: Num) -> Result<(), Violation> {
    let set = |name| list(r, name).iter().filter_map(Num::of).collect::<Vec<_>>();
    let allowed = set("in");
    if !allowed.is_empty() && !allowed.contains(&n) {
        return Err(Violation(format!("value must be in list {}", join(&allowed))));
    }
    let refused = set("not_in");
    if refused.contains(&n) {
        return Err(Violation(format!("value must not be in list {}", join(&refused))));
    }
    Ok(())
}

pub(super) fn join<T: std::fmt::Display>(v: &[T]) -> String {
    format!("[{}]", v.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "))
}

pub(super) fn text(kind: &str, r: &DynamicMessage, v: &Value) -> Result<(), Violation> {
    let (s, bytes): (Cow<'_, str>, &[u8]) = match v {
        Value::String(s) => (Cow::Borrowed(s.as_str()), s.as_bytes()),
        Value::Bytes(b) => (String::from_utf8_lossy(b), b.as_ref()),
        _ => return Ok(()),
    };
    if bytes.is_empty() && get_bool(r, "ignore_empty") {
        return Ok(());
    }
    // strings count runes, bytes count bytes
    let n = if kind == "string" { s.chars().count() as u64 } else { bytes.len() as u64 };
    let unit = if kind == "string" { "runes" } else { "bytes" };
    let text_of = |name: &str| match get(r, name) {
        Some(Value::String(t)) => Some(t),
        Some(Value::Bytes(b)) => Some(String::from_utf8_lossy(&b).into_owned()),
        _ => None,
    };
    if let Some(c) = text_of("const").filter(|c| c.as_str() != s) {
        return Err(Violation(format!("value must equal {c:?}")));
    }
    if let Some(l) = get_u64(r, "len").filter(|l| n != *l) {
        return Err(Violation(format!("value length must be {l} {unit}")));
    }
    if let Some(l) = get_u64(r, "min_len").filter(|l| n < *l) {
        return Err(Violation(format!("value length must be at least {l} {unit}")));
    }
    if let Some(l) = get_u64(r, "max_len").filter(|l| n > *l) {
        return Err(Violation(format!("value length must be at most {l} {unit}")));
    }
    let nb = bytes.len() as u64;
    if let Some(l) = get_u64(r, "len_bytes").filter(|l| nb != *l) {
        return Err(Violation(format!("value length must be {l} bytes")));
    }
    if let Some(l) = get_u64(r, "min_bytes").filter(|l| nb < *l) {
        return Err(Violation(format!("value length must be at least {l} bytes")));
    }
    if let Some(l) = get_u64(r, "max_bytes").filter(|l| nb > *l) {
        return Err(Violation(format!("value length must be at most {l} bytes")));
    }
    if let Some(p) = text_of("prefix").filter(|p| !s.starts_with(p.as_str())) {
        return Err(Violation(format!("value does not have prefix {p:?}")));
    }
    if let Some(p) = text_of("suffix").filter(|p| !s.ends_with(p.as_str())) {
        return Err(Violation(format!("value does not have suffix {p:?}")));
    }
    if let Some(p) = text_of("contains").filter(|p| !s.contains(p.as_str())) {
        return Err(Violation(format!("value does not contain substring {p:?}")));
    }
    if let Some(p) = text_of("not_contains").filter(|p| s.contains(p.as_str())) {
        return Err(Violation(format!("value contains substring {p:?}")));
    }
    let texts = |name| {
        list(r, name)
            .into_iter()
            .filter_map(|x| match x {
                Value::String(t) => Some(t),
                Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let allowed = texts("in");
    if !allowed.is_empty() && !allowed.iter().any(|a| a.as_str() == s) {
        return Err(Violation(format!("value must be in list {}", join(&allowed))));
    }
    let refused = texts("not_in");
    if refused.iter().any(|a| a.as_str() == s) {
        return Err(Violation(format!("value must not be in list {}", join(&refused))));
    }
    if get_bool(r, "uuid") && uuid_text(&s).is_none() {
        return Err(Violation("value must be a valid UUID".into()));
    }
    Ok(())
}

/// `8-4-4-4-12` hex digits, as protoc-gen-validate's `uuid` rule requires.
pub(super) fn uuid_text(s: &str) -> Option<()> {
    let parts: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    (parts.len() == 5 && parts.iter().zip(lens).all(|(p, l)| p.len() == l && p.bytes().all(|b| b.is_ascii_hexdigit())))
        .then_some(())
}
