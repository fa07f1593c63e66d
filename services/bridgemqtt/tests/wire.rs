//! The compiled descriptor of `proto/bridgemqtt.proto` is the upstream wire facts exactly.

#[test]
fn bridgemqtt_proto_is_the_upstream_wire() {
    testkit::wire::assert_conforms(
        bridgemqtt_svc::pb::FILE_DESCRIPTOR_SET,
        "bridgemqtt.proto",
        include_str!("data/wire/bridgemqtt.json"),
    );
}
