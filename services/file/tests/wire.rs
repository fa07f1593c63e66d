//! The compiled descriptor of `proto/file.proto` is the upstream wire facts exactly.

#[test]
fn file_proto_is_the_upstream_wire() {
    testkit::wire::assert_conforms(
        file_svc::pb::FILE_DESCRIPTOR_SET,
        "file.proto",
        include_str!("data/wire/file.json"),
    );
}
