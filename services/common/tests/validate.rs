//! protoc-gen-validate rules enforced from the descriptors (zero_svc::validate).

use prost_reflect::{DynamicMessage, Value};
use tonic::Code;
use zero_svc::validate::{Error, Validator};

fn descriptors(file: &str) -> Vec<u8> {
    let mut c = protox::Compiler::new(["tests/data", "proto"]).unwrap();
    c.include_imports(true);
    c.open_file(file).unwrap();
    c.encode_file_descriptor_set()
}

/// A valid request, as protobuf JSON.
fn valid() -> serde_json::Value {
    serde_json::json!({"queue": "q", "pageSize": 10, "n": 1, "kind": "holiday", "date": "2026-01-01",
        "inner": {"name": "x"}, "day": [1, -31], "items": [{"name": "a"}], "color": "RED"})
}

fn check(v: &Validator, bytes: &[u8], json: serde_json::Value) -> Result<(), tonic::Status> {
    let pool = prost_reflect::DescriptorPool::decode(bytes).unwrap();
    let desc = pool.get_message_by_name("rules.Req").unwrap();
    let m = DynamicMessage::deserialize(desc, json).unwrap();
    v.check_dynamic(&m)
}

#[test]
fn a_rule_that_is_not_enforced_is_refused_at_start() {
    let bytes = descriptors("bad.proto");
    let err = Validator::new(&bytes).unwrap_err();
    assert!(matches!(&err, Error::Unsupported(v) if v == &["rules.Bad.mail (string.email)"]), "{err}");
}

#[test]
fn valid_requests_pass_and_each_broken_rule_is_invalid_argument_101103() {
    let bytes = descriptors("rules.proto");
    let v = Validator::new(&bytes).unwrap();
    check(&v, &bytes, valid()).unwrap();

    let cases: [(&str, Value, &str); 11] = [
        ("queue", Value::String(String::new()), "invalid Req.Queue: value length must be at least 1 runes"),
        ("queue", Value::String("队列队列队".into()), "invalid Req.Queue: value length must be at most 4 runes"),
        (
            "page_size",
            Value::I64(501),
            "invalid Req.PageSize: value must be greater than or equal to 0 and less than or equal to 500",
        ),
        ("page_size", Value::I64(-1), "invalid Req.PageSize"),
        ("n", Value::U32(0), "invalid Req.N: value must be greater than or equal to 1"),
        ("kind", Value::String("weekend".into()), "invalid Req.Kind: value must be in list [holiday workday]"),
        ("date", Value::String("2026-1-1".into()), "invalid Req.Date: value length must be 10 runes"),
        ("day", Value::List(vec![]), "invalid Req.Day: value must contain at least 1 item(s)"),
        ("day", Value::List(vec![Value::I32(0)]), "invalid Req.Day: [0] value must not be in list [0]"),
        (
            "day",
            Value::List(vec![Value::I32(1), Value::I32(40)]),
            "invalid Req.Day: [1] value must be greater than or equal to -31",
        ),
        ("color", Value::EnumNumber(7), "invalid Req.Color: value must be one of the defined enum values"),
    ];
    let pool = prost_reflect::DescriptorPool::decode(bytes.as_slice()).unwrap();
    let desc = pool.get_message_by_name("rules.Req").unwrap();
    for (field, value, want) in cases {
        let mut m = DynamicMessage::deserialize(desc.clone(), valid()).unwrap();
        m.set_field_by_name(field, value);
        let e = v.check_dynamic(&m).expect_err(field);
        assert_eq!(e.code(), Code::InvalidArgument, "{field}");
        assert!(e.message().starts_with(want), "{field}: {}", e.message());
        assert_eq!(zero_svc::errcode::reason(&e).as_deref(), Some("101103"));
    }
    // a required message missing, and a rule inside an embedded message
    let mut m = DynamicMessage::deserialize(desc.clone(), valid()).unwrap();
    m.clear_field_by_name("inner");
    assert!(v.check_dynamic(&m).unwrap_err().message().starts_with("invalid Req.Inner: value is required"));
    let mut j = valid();
    j["items"] = serde_json::json!([{"name": "a"}, {"name": ""}]);
    let m = DynamicMessage::deserialize(desc, j).unwrap();
    let msg = v.check_dynamic(&m).unwrap_err().message().to_owned();
    assert_eq!(msg, "invalid Req.Items[1]: invalid Inner.Name: value length must be at least 1 runes");
}
