//! The compiled descriptor of `proto/podengine.proto` is the upstream wire facts exactly
//! (validate rules included).

#[test]
fn podengine_proto_is_the_upstream_wire() {
    testkit::wire::assert_conforms(
        podengine_svc::pb::FILE_DESCRIPTOR_SET,
        "podengine.proto",
        include_str!("data/wire/podengine.json"),
    );
}
