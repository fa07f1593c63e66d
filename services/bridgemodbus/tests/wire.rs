//! The compiled descriptor of `proto/bridgemodbus.proto` is the upstream wire facts exactly (numbers,
//! types, labels, JSON names, enum values, services).

#[test]
fn bridgemodbus_proto_is_the_upstream_wire() {
    testkit::wire::assert_conforms(
        bridgemodbus_svc::pb::FILE_DESCRIPTOR_SET,
        "bridgemodbus.proto",
        include_str!("data/wire/bridgemodbus.json"),
    );
}
