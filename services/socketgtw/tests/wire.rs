//! The compiled descriptor of `proto/socketgtw.proto` is the upstream wire facts exactly
//! (numbers, types, labels, JSON names, options, the service).

#[test]
fn socketgtw_proto_is_the_upstream_wire() {
    testkit::wire::assert_conforms(
        socketgtw_svc::pb::FILE_DESCRIPTOR_SET,
        "socketgtw.proto",
        include_str!("data/wire/socketgtw.json"),
    );
}
