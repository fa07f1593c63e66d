//! The compiled descriptors of `proto/streamevent.proto` and `proto/ieccaller.proto` are the
//! upstream wire facts exactly (numbers, types, labels, JSON names, enum values, services).

#[test]
fn streamevent_proto_is_the_upstream_wire() {
    testkit::wire::assert_conforms(
        streamevent::pb::FILE_DESCRIPTOR_SET,
        "streamevent.proto",
        include_str!("data/wire/streamevent.json"),
    );
}

#[cfg(feature = "caller")]
#[test]
fn ieccaller_proto_is_the_upstream_wire() {
    testkit::wire::assert_conforms(
        streamevent::caller::pb::FILE_DESCRIPTOR_SET,
        "ieccaller.proto",
        include_str!("data/wire/ieccaller.json"),
    );
}
