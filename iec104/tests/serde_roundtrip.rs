//! The owned value types survive serde (JSON) unchanged.

use iec104::asdu::{
    Bcr, Cause, InfoObject, InfoObjects, OwnedAsdu, OwnedBody, Segment, ShortFloat, Timed, UnknownBody,
};
use iec104::types::{CommonAddress, Cot, Cp24Time2a, Cp56Time2a, Ioa, Qds, TypeId};

fn round(a: &OwnedAsdu) -> OwnedAsdu {
    let json = serde_json::to_string(a).unwrap();
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

#[test]
fn owned_asdus_round_trip_through_json() {
    let t56 = Cp56Time2a::new(26, 6, 5, 14, 30, 1234).unwrap().with_day_of_week(5).with_summer_time(true);
    let cases = [
        OwnedAsdu::new(
            Cause { cot: Cot::SPONTANEOUS, negative: false, test: true, originator: 3 },
            CommonAddress(1),
            InfoObjects::Single(vec![InfoObject::new(
                Ioa::new(4004).unwrap(),
                Timed { value: ShortFloat { value: 220.5, qds: Qds::GOOD.with_invalid(true) }, time: t56 },
            )]),
        ),
        OwnedAsdu::new(
            Cause::new(Cot::REQUESTED_BY_GENERAL_COUNTER),
            CommonAddress(65535),
            InfoObjects::Sequence {
                start: Ioa::new(10).unwrap(),
                items: vec![Timed {
                    value: Bcr::new(-5, 3, true, false, false),
                    time: Cp24Time2a::new(5, 999).unwrap(),
                }],
            },
        ),
        OwnedAsdu {
            cause: Cause::new(Cot::FILE_TRANSFER),
            common_address: CommonAddress(2),
            body: OwnedBody::Segment(Segment { ioa: Ioa::default(), nof: 1, nos: 2, data: b"abc".to_vec() }),
        },
        OwnedAsdu {
            cause: Cause::new(Cot(63)),
            common_address: CommonAddress(2),
            body: OwnedBody::Unknown(UnknownBody { type_id: TypeId(200), vsq: 0x81, data: vec![1, 2, 3] }),
        },
    ];
    for a in &cases {
        assert_eq!(&round(a), a);
    }
    let json = serde_json::to_value(&cases[0]).unwrap();
    assert_eq!(json["body"]["ShortFloatTime56"]["single"][0]["ioa"], 4004);
    assert_eq!(json["body"]["ShortFloatTime56"]["single"][0]["value"]["time"]["minute"], 30);
}

#[test]
fn invalid_values_are_rejected() {
    assert!(serde_json::from_str::<Ioa>("16777216").is_err());
    assert!(serde_json::from_str::<Cp56Time2a>(r#"{"year":1,"month":13,"day":1,"hour":0,"minute":0,"millisecond":0}"#)
        .is_err());
}
