//! The wire conformance check: our compiled descriptor of a `.proto` file against the upstream
//! wire facts.
//!
//! The facts are the upstream `FileDescriptorProto` in protobuf JSON form (field numbers, types,
//! labels, JSON names, enum values, services, `validate.rules` options), kept in the repository as
//! test data. The check turns our descriptor into the same JSON form, through `prost-reflect` and
//! with extension options decoded, and lists every difference with its path
//! (`message TaskInfoPb / field id (#1) / type: ours TYPE_INT64, upstream TYPE_STRING`).
//! Messages, enums, fields, values and methods are matched by name, so the listing stays readable
//! when one is missing; everything else must be equal.

use prost_reflect::{DescriptorPool, DynamicMessage};
use serde_json::Value;

/// Every difference between the file `file_name` inside the encoded `FileDescriptorSet`
/// `descriptor_set` (as `protox::Compiler::encode_file_descriptor_set` writes it, imports
/// included) and the upstream facts `upstream_json`. Empty when they match exactly.
///
/// # Panics
/// When the descriptor set does not decode, does not hold `file_name`, or the JSON does not parse:
/// the test data or the build is broken, not the wire.
pub fn differences(descriptor_set: &[u8], file_name: &str, upstream_json: &str) -> Vec<String> {
    let ours = descriptor_json(descriptor_set, file_name);
    let upstream: Value = serde_json::from_str(upstream_json).expect("upstream wire facts parse as JSON");
    let mut out = Vec::new();
    diff(&mut out, "", &ours, &upstream);
    out
}

/// Panics listing every difference found by [`differences`].
pub fn assert_conforms(descriptor_set: &[u8], file_name: &str, upstream_json: &str) {
    let found = differences(descriptor_set, file_name, upstream_json);
    assert!(
        found.is_empty(),
        "{file_name} differs from the upstream wire facts in {} places:\n  {}",
        found.len(),
        found.join("\n  ")
    );
}

/// Our descriptor of `file_name` as protobuf JSON, extension options decoded.
pub fn descriptor_json(descriptor_set: &[u8], file_name: &str) -> Value {
    let pool = DescriptorPool::decode(descriptor_set).expect("the descriptor set decodes");
    let file = pool.get_file_by_name(file_name).unwrap_or_else(|| panic!("{file_name} is in the descriptor set"));
    // Decoding the file's bytes against the pool's own `FileDescriptorProto` (present when an
    // import such as validate.proto pulls descriptor.proto in) makes its extensions known; without
    // it there are no extensions to decode and the built-in descriptor serves.
    let file_desc = pool
        .get_message_by_name("google.protobuf.FileDescriptorProto")
        .or_else(|| DescriptorPool::global().get_message_by_name("google.protobuf.FileDescriptorProto"))
        .expect("prost-reflect knows descriptor.proto");
    let mut msg = DynamicMessage::decode(file_desc, file.encode_to_vec().as_slice()).expect("the file re-decodes");
    msg.clear_field_by_name("source_code_info");
    serde_json::to_value(&msg).expect("a descriptor serialises to JSON")
}

/// The key that names an element of a list, for lists whose elements have one.
fn element_key(v: &Value) -> Option<String> {
    let o = v.as_object()?;
    let name = o.get("name")?.as_str()?;
    Some(match o.get("number") {
        Some(n) if o.contains_key("label") => format!("field {name} (#{n})"),
        _ => name.to_string(),
    })
}

fn diff(out: &mut Vec<String>, path: &str, ours: &Value, upstream: &Value) {
    match (ours, upstream) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() { k.clone() } else { format!("{path} / {k}") };
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff(out, &p, x, y),
                    (Some(x), None) => out.push(format!("{p}: ours {}, upstream has none", short(x))),
                    (None, Some(y)) => out.push(format!("{p}: missing, upstream {}", short(y))),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.iter().chain(b).all(|v| element_key(v).is_some()) => {
            let name = |v: &Value| v.get("name").and_then(Value::as_str).map(str::to_string);
            // a field names itself "field x (#n)": the list's own key would say it twice
            let base = if a.iter().chain(b).any(|v| v.get("label").is_some()) {
                path.strip_suffix(" / field").unwrap_or(path)
            } else {
                path
            };
            for y in b {
                let key = element_key(y).unwrap_or_default();
                let p = format!("{base} / {key}");
                match a.iter().find(|x| name(x) == name(y)) {
                    Some(x) => diff(out, &p, x, y),
                    None => out.push(format!("{p}: missing")),
                }
            }
            for x in a {
                if !b.iter().any(|y| name(x) == name(y)) {
                    out.push(format!("{base} / {}: not upstream", element_key(x).unwrap_or_default()));
                }
            }
        }
        _ if ours != upstream => out.push(format!("{path}: ours {}, upstream {}", short(ours), short(upstream))),
        _ => {}
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 120 {
        format!("{}...", &s[..117])
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_changed_type_a_renumbered_field_and_a_missing_message_are_all_named() {
        let ours = json!({"messageType": [
            {"name": "A", "field": [{"name": "id", "number": 1, "label": "LABEL_OPTIONAL", "type": "TYPE_INT64"},
                                    {"name": "n", "number": 3, "label": "LABEL_OPTIONAL", "type": "TYPE_INT32"}]}]});
        let upstream = json!({"messageType": [
            {"name": "A", "field": [{"name": "id", "number": 1, "label": "LABEL_OPTIONAL", "type": "TYPE_STRING"},
                                    {"name": "n", "number": 2, "label": "LABEL_OPTIONAL", "type": "TYPE_INT32"}]},
            {"name": "B"}]});
        let mut out = vec![];
        diff(&mut out, "", &ours, &upstream);
        assert_eq!(
            out,
            vec![
                "messageType / A / field id (#1) / type: ours \"TYPE_INT64\", upstream \"TYPE_STRING\"",
                "messageType / A / field n (#2) / number: ours 3, upstream 2",
                "messageType / B: missing",
            ]
        );
        let mut same = vec![];
        diff(&mut same, "", &upstream, &upstream);
        assert!(same.is_empty());
    }
}
