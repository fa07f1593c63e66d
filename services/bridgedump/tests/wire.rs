//! The compiled descriptor of `bridgedump.proto` is the upstream wire facts exactly (numbers,
//! types, labels, JSON names, options, the service).

#[test]
fn bridgedump_proto_is_the_upstream_wire() {
    testkit::wire::assert_conforms(
        bridgedump_svc::pb::FILE_DESCRIPTOR_SET,
        "bridgedump.proto",
        include_str!("data/wire/bridgedump.json"),
    );
}
