//! The compiled descriptor of `proto/socketpush.proto` is the upstream wire facts exactly
//! (numbers, types, labels, JSON names, map entries, options, the service).

#[test]
fn socketpush_proto_is_the_upstream_wire() {
    testkit::wire::assert_conforms(
        socketpush_svc::pb::FILE_DESCRIPTOR_SET,
        "socketpush.proto",
        include_str!("data/wire/socketpush.json"),
    );
}
