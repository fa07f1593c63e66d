//! A request rendered to the byte: the golden file (written out by hand as Go's encoder writes
//! it) against `gojson::message` of the same request decoded with the upstream proto, and the
//! reader back.

use bridgedump::envelope::Envelope;
use prost_reflect::{DescriptorPool, DynamicMessage};

fn pool() -> DescriptorPool {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/proto");
    let fds = protox::compile(["bridgedump.proto"], [dir]).expect("bridgedump.proto compiles");
    DescriptorPool::from_file_descriptor_set(fds).unwrap()
}

#[test]
fn a_cable_fault_request_is_written_byte_for_byte_as_upstream() {
    let desc = pool().get_message_by_name("bridgedump.CableFaultReq").unwrap();
    // the request as a gRPC client sends it (protojson here only to build it)
    let req = r#"{"data":[
        {"acciId":"A1","downTime":"20261206100000123","mlName":"10kV 线路<1>","fixedType":0,
         "diaElepo1":"P1","diaElepo":"","errDistance":125.5,"fsltype":3,
         "notice":"</Bridge:=Free> & done\n","warnProcessed":1,"warnCategory":"SC"},
        {"acciId":"A2","errDistance":1e-7}]}"#;
    let mut de = serde_json::Deserializer::from_str(req);
    let msg = DynamicMessage::deserialize(desc, &mut de).unwrap();
    let body = bridgedump::gojson::message(&msg).unwrap();
    let e = Envelope {
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        body,
        time: "2026-12-06 10:00:00.123".into(),
        file_path: "/opt/bridgedump/cable_fault/20261206_100000_4bf92f3577b34da6a3ce929d0e0e4736_json.txt".into(),
    };
    let golden = include_bytes!("golden/cable_fault.txt");
    assert_eq!(String::from_utf8(e.render()).unwrap(), String::from_utf8(golden.to_vec()).unwrap());
    assert_eq!(Envelope::parse(golden).unwrap(), e);
}

#[test]
fn a_nan_is_refused_not_written() {
    let desc = pool().get_message_by_name("bridgedump.DeviceRunData").unwrap();
    let mut m = DynamicMessage::new(desc.clone());
    m.set_field_by_name("load_cur", prost_reflect::Value::F64(f64::NAN));
    assert!(matches!(
        bridgedump::gojson::message(&m),
        Err(bridgedump::gojson::Error::UnsupportedFloat { field, .. }) if field == "load_cur"
    ));
}
