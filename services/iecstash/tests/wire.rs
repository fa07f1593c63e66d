//! The compiled descriptor of `proto/iecstash.proto` is the upstream wire facts exactly (numbers,
//! types, labels, JSON names, enum values, services).

#[test]
fn iecstash_proto_is_the_upstream_wire() {
    testkit::wire::assert_conforms(
        iecstash_svc::pb::FILE_DESCRIPTOR_SET,
        "iecstash.proto",
        include_str!("data/wire/iecstash.json"),
    );
}
