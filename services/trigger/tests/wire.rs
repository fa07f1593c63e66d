//! The compiled descriptor of `proto/trigger.proto` is the upstream wire facts exactly (numbers,
//! types, labels, JSON names, enum values, services, validate rules).

#[test]
fn trigger_proto_is_the_upstream_wire() {
    testkit::wire::assert_conforms(
        trigger_svc::pb::FILE_DESCRIPTOR_SET,
        "trigger.proto",
        include_str!("data/wire/trigger.json"),
    );
}
