//! The compiled descriptor of `proto/bridgekafka.proto` is the upstream wire facts exactly.

#[test]
fn bridgekafka_proto_is_the_upstream_wire() {
    testkit::wire::assert_conforms(
        bridgekafka_svc::pb::FILE_DESCRIPTOR_SET,
        "bridgekafka.proto",
        include_str!("data/wire/bridgekafka.json"),
    );
}
