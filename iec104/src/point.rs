//! Typed process points: the value, quality and time of one monitored information object,
//! independent of which of the 1-40 type identifications carried it.
//!
//! The master turns received monitor ASDUs into [`Point`]s ([`for_each_point`]); the slave keeps
//! its database as [`Point`]s and encodes them back ([`encode_points`]), with or without their
//! time tag (GI answers are untimed).
//!
//! ```
//! use iec104::asdu::{Asdu, AsduParams};
//! use iec104::point::{for_each_point, PointValue, TimeTag};
//! let bytes = [13, 1, 3, 0, 1, 0, 0xA4, 0x0F, 0, 0x00, 0x80, 0x5C, 0x43, 0x80];
//! let asdu = Asdu::decode(&bytes, &AsduParams::default()).unwrap();
//! let mut seen = vec![];
//! assert!(for_each_point(&asdu.body, |p| seen.push(p)));
//! assert_eq!(seen[0].value, PointValue::Float(220.5));
//! assert!(seen[0].quality.invalid());
//! assert_eq!(seen[0].time, TimeTag::None);
//! ```

use crate::asdu::*;
use crate::error::EncodeError;
use crate::types::{Cp24Time2a, Cp56Time2a, Diq, DoublePoint, Ioa, Qds, Siq, TypeId};

/// The value of a monitored point.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum PointValue {
    /// Single point (1, 2, 30).
    Single(bool),
    /// Double point (3, 4, 31).
    Double(DoublePoint),
    /// Step position (5, 6, 32): -64..=63 and the transient flag.
    Step {
        /// Position.
        value: i8,
        /// Equipment in transient state.
        transient: bool,
    },
    /// Bitstring of 32 bits (7, 8, 33).
    Bitstring(u32),
    /// Normalised value (9, 10, 34; 21 without quality).
    Normalized(Nva),
    /// Scaled value (11, 12, 35).
    Scaled(i16),
    /// Short floating point value (13, 14, 36).
    Float(f32),
    /// Integrated total (15, 16, 37), with its own sequence and status bits.
    Counter(Bcr),
    /// Event of protection equipment (17, 38).
    ProtectionEvent(ProtectionEvent),
    /// Packed start events of protection equipment (18, 39).
    PackedStartEvents(PackedStartEvents),
    /// Packed output circuit information (19, 40).
    PackedOutputCircuit(PackedOutputCircuit),
    /// Packed single points with change detection (20; never time-tagged).
    PackedSinglePoint(Scd),
}

impl PointValue {
    /// The family of types that carry this value.
    pub fn family(&self) -> crate::types::Family {
        use crate::types::Family as F;
        match self {
            PointValue::Single(_) => F::Single,
            PointValue::Double(_) => F::Double,
            PointValue::Step { .. } => F::Step,
            PointValue::Bitstring(_) => F::Bitstring,
            PointValue::Normalized(_) => F::Normalized,
            PointValue::Scaled(_) => F::Scaled,
            PointValue::Float(_) => F::Float,
            PointValue::Counter(_) => F::IntegratedTotals,
            PointValue::ProtectionEvent(_) => F::ProtectionEvent,
            PointValue::PackedStartEvents(_) => F::PackedStartEvents,
            PointValue::PackedOutputCircuit(_) => F::PackedOutputCircuit,
            PointValue::PackedSinglePoint(_) => F::PackedSinglePoint,
        }
    }
}

/// The time tag a point carries (or is to be sent with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TimeTag {
    /// No time tag.
    #[default]
    None,
    /// CP24Time2a (IEC 101 style; outside the strict 104 profile).
    Cp24(Cp24Time2a),
    /// CP56Time2a.
    Cp56(Cp56Time2a),
}

/// One monitored information object.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Point {
    /// Information object address.
    pub ioa: Ioa,
    /// The value.
    pub value: PointValue,
    /// Quality flags, QDS layout. For SIQ/DIQ types the BL/SB/NT/IV bits; for protection types
    /// the QDP (EI in bit 3); for counters IV only (the BCR keeps its own bits). Ignored when
    /// encoding values whose element carries its own flags (counters, protection events).
    pub quality: Qds,
    /// The time tag.
    pub time: TimeTag,
}

impl Point {
    /// A point with good quality and no time tag.
    pub fn new(ioa: Ioa, value: PointValue) -> Point {
        Point { ioa, value, quality: Qds::GOOD, time: TimeTag::None }
    }

    /// The type identification this point is sent as.
    pub fn type_id(&self) -> TypeId {
        type_id_of(&self.value, &self.time)
    }
}

fn type_id_of(value: &PointValue, time: &TimeTag) -> TypeId {
    use crate::types::TimeTagKind as K;
    let kind = match time {
        TimeTag::None => K::None,
        TimeTag::Cp24(_) => K::Cp24,
        TimeTag::Cp56(_) => K::Cp56,
    };
    let family = value.family();
    // a family without the asked tag is sent with the one it has: protection events always carry
    // a tag (untimed means CP56 with IV set), packed single points never do
    [kind, K::Cp56, K::None].into_iter().find_map(|k| TypeId::of(family, k)).unwrap_or_default()
    // every value family has a type (the table's test)
}

/// Calls `f` for every point of a monitor-direction body (types 1-21, 30-40). Returns false,
/// calling nothing, for other types.
pub fn for_each_point(body: &Body<'_>, mut f: impl FnMut(Point)) -> bool {
    use PointValue as V;
    macro_rules! each {
        ($o:expr, |$v:ident| ($val:expr, $q:expr, $t:expr)) => {{
            for o in $o.iter() {
                let $v = o.value;
                f(Point { ioa: o.ioa, value: $val, quality: $q, time: $t });
            }
        }};
    }
    let sp = |s: Siq| (V::Single(s.value()), s.quality());
    let dp = |d: Diq| (V::Double(d.value()), d.quality());
    let st = |s: StepPosition| V::Step { value: s.vti.value(), transient: s.vti.transient() };
    let bcr_q = |b: Bcr| Qds::GOOD.with_invalid(b.invalid());
    let c24 = TimeTag::Cp24;
    let c56 = TimeTag::Cp56;
    match body {
        Body::SinglePoint(o) => each!(o, |v| (sp(v).0, sp(v).1, TimeTag::None)),
        Body::SinglePointTime24(o) => each!(o, |v| (sp(v.value).0, sp(v.value).1, c24(v.time))),
        Body::SinglePointTime56(o) => each!(o, |v| (sp(v.value).0, sp(v.value).1, c56(v.time))),
        Body::DoublePoint(o) => each!(o, |v| (dp(v).0, dp(v).1, TimeTag::None)),
        Body::DoublePointTime24(o) => each!(o, |v| (dp(v.value).0, dp(v.value).1, c24(v.time))),
        Body::DoublePointTime56(o) => each!(o, |v| (dp(v.value).0, dp(v.value).1, c56(v.time))),
        Body::StepPosition(o) => each!(o, |v| (st(v), v.qds, TimeTag::None)),
        Body::StepPositionTime24(o) => each!(o, |v| (st(v.value), v.value.qds, c24(v.time))),
        Body::StepPositionTime56(o) => each!(o, |v| (st(v.value), v.value.qds, c56(v.time))),
        Body::Bitstring(o) => each!(o, |v| (V::Bitstring(v.bsi), v.qds, TimeTag::None)),
        Body::BitstringTime24(o) => each!(o, |v| (V::Bitstring(v.value.bsi), v.value.qds, c24(v.time))),
        Body::BitstringTime56(o) => each!(o, |v| (V::Bitstring(v.value.bsi), v.value.qds, c56(v.time))),
        Body::Normalized(o) => each!(o, |v| (V::Normalized(v.nva), v.qds, TimeTag::None)),
        Body::NormalizedTime24(o) => each!(o, |v| (V::Normalized(v.value.nva), v.value.qds, c24(v.time))),
        Body::NormalizedTime56(o) => each!(o, |v| (V::Normalized(v.value.nva), v.value.qds, c56(v.time))),
        Body::NormalizedNoQuality(o) => each!(o, |v| (V::Normalized(v), Qds::GOOD, TimeTag::None)),
        Body::Scaled(o) => each!(o, |v| (V::Scaled(v.sva), v.qds, TimeTag::None)),
        Body::ScaledTime24(o) => each!(o, |v| (V::Scaled(v.value.sva), v.value.qds, c24(v.time))),
        Body::ScaledTime56(o) => each!(o, |v| (V::Scaled(v.value.sva), v.value.qds, c56(v.time))),
        Body::ShortFloat(o) => each!(o, |v| (V::Float(v.value), v.qds, TimeTag::None)),
        Body::ShortFloatTime24(o) => each!(o, |v| (V::Float(v.value.value), v.value.qds, c24(v.time))),
        Body::ShortFloatTime56(o) => each!(o, |v| (V::Float(v.value.value), v.value.qds, c56(v.time))),
        Body::IntegratedTotals(o) => each!(o, |v| (V::Counter(v), bcr_q(v), TimeTag::None)),
        Body::IntegratedTotalsTime24(o) => each!(o, |v| (V::Counter(v.value), bcr_q(v.value), c24(v.time))),
        Body::IntegratedTotalsTime56(o) => each!(o, |v| (V::Counter(v.value), bcr_q(v.value), c56(v.time))),
        Body::ProtectionEventTime24(o) => {
            each!(o, |v| (V::ProtectionEvent(v.value), Qds(v.value.sep.0 & 0xF8), c24(v.time)))
        }
        Body::ProtectionEventTime56(o) => {
            each!(o, |v| (V::ProtectionEvent(v.value), Qds(v.value.sep.0 & 0xF8), c56(v.time)))
        }
        Body::PackedStartEventsTime24(o) => {
            each!(o, |v| (V::PackedStartEvents(v.value), Qds(v.value.qdp.0), c24(v.time)))
        }
        Body::PackedStartEventsTime56(o) => {
            each!(o, |v| (V::PackedStartEvents(v.value), Qds(v.value.qdp.0), c56(v.time)))
        }
        Body::PackedOutputCircuitTime24(o) => {
            each!(o, |v| (V::PackedOutputCircuit(v.value), Qds(v.value.qdp.0), c24(v.time)))
        }
        Body::PackedOutputCircuitTime56(o) => {
            each!(o, |v| (V::PackedOutputCircuit(v.value), Qds(v.value.qdp.0), c56(v.time)))
        }
        Body::PackedSinglePoint(o) => each!(o, |v| (V::PackedSinglePoint(v.scd), v.qds, TimeTag::None)),
        _ => return false,
    }
    true
}

/// The points of a monitor-direction body, or an empty vector for other types.
pub fn points(body: &Body<'_>) -> Vec<Point> {
    let mut v = Vec::with_capacity(body.len());
    for_each_point(body, |p| v.push(p));
    v
}

/// Most objects of type `type_id` that fit one ASDU (SQ=0) with `params`.
pub fn max_objects(type_id: TypeId, params: &AsduParams) -> usize {
    let per = element_len(type_id).unwrap_or(1) + usize::from(params.ioa_len());
    ((crate::apci::MAX_ASDU_LEN - params.header_len()) / per).clamp(1, 127)
}

/// Builds a body (SQ=0) of type `type_id` from the points whose value is of that type's kind,
/// whatever their time tag: a tag the type has not is dropped (CP56 is cut to CP24 for the
/// CP24 types), a tag the type needs and the point has not is sent with its invalid bit set.
/// Points of another kind are skipped; normalised values may also be sent as M_ME_ND_1 (21,
/// without quality).
///
/// # Errors
/// [`EncodeError::TooManyObjects`] above 127 points.
pub fn encode_points<'a>(type_id: TypeId, pts: impl IntoIterator<Item = &'a Point>) -> Result<OwnedBody, EncodeError> {
    use PointValue as V;
    // the points whose value this type carries (iec104's one table of type families)
    let family = type_id.family();
    let pts: Vec<&Point> = pts.into_iter().filter(|p| family == Some(p.value.family())).collect();
    if pts.len() > 127 {
        return Err(EncodeError::TooManyObjects { count: pts.len() });
    }
    let t56 = |p: &Point| match p.time {
        TimeTag::Cp56(t) => t,
        _ => Cp56Time2a::default().with_invalid(true),
    };
    let t24 = |p: &Point| match p.time {
        TimeTag::Cp24(t) => t,
        TimeTag::Cp56(t) => Cp24Time2a([t.0[0], t.0[1], t.0[2]]),
        TimeTag::None => Cp24Time2a::default().with_invalid(true),
    };
    macro_rules! build {
        ($elem:ty, |$p:ident| $e:expr) => {{
            let objs: Vec<InfoObject<$elem>> = pts.iter().filter_map(|$p| Some(InfoObject::new($p.ioa, $e?))).collect();
            <$elem as AsduType>::into_body(InfoObjects::Single(objs))
        }};
    }
    macro_rules! timed {
        ($inner:expr, $t:expr) => {
            $inner.map(|value| Timed { value, time: $t })
        };
    }
    let siq = |p: &Point| match p.value {
        V::Single(b) => Some(Siq::new(b, p.quality)),
        _ => None,
    };
    let diq = |p: &Point| match p.value {
        V::Double(d) => Some(Diq::new(d, p.quality)),
        _ => None,
    };
    let step = |p: &Point| match p.value {
        V::Step { value, transient } => {
            Some(StepPosition { vti: Vti::new(value.clamp(-64, 63), transient)?, qds: p.quality })
        }
        _ => None,
    };
    let bits = |p: &Point| match p.value {
        V::Bitstring(b) => Some(Bitstring { bsi: b, qds: p.quality }),
        _ => None,
    };
    let norm = |p: &Point| match p.value {
        V::Normalized(n) => Some(Normalized { nva: n, qds: p.quality }),
        _ => None,
    };
    let scaled = |p: &Point| match p.value {
        V::Scaled(s) => Some(Scaled { sva: s, qds: p.quality }),
        _ => None,
    };
    let float = |p: &Point| match p.value {
        V::Float(v) => Some(ShortFloat { value: v, qds: p.quality }),
        _ => None,
    };
    let counter = |p: &Point| match p.value {
        V::Counter(c) => Some(c),
        _ => None,
    };
    let pe = |p: &Point| match p.value {
        V::ProtectionEvent(e) => Some(e),
        _ => None,
    };
    let pse = |p: &Point| match p.value {
        V::PackedStartEvents(e) => Some(e),
        _ => None,
    };
    let poc = |p: &Point| match p.value {
        V::PackedOutputCircuit(e) => Some(e),
        _ => None,
    };
    let psp = |p: &Point| match p.value {
        V::PackedSinglePoint(s) => Some(PackedSinglePoint { scd: s, qds: p.quality }),
        _ => None,
    };
    Ok(match type_id.0 {
        1 => build!(Siq, |p| siq(p)),
        2 => build!(Timed<Siq, Cp24Time2a>, |p| timed!(siq(p), t24(p))),
        30 => build!(Timed<Siq, Cp56Time2a>, |p| timed!(siq(p), t56(p))),
        3 => build!(Diq, |p| diq(p)),
        4 => build!(Timed<Diq, Cp24Time2a>, |p| timed!(diq(p), t24(p))),
        31 => build!(Timed<Diq, Cp56Time2a>, |p| timed!(diq(p), t56(p))),
        5 => build!(StepPosition, |p| step(p)),
        6 => build!(Timed<StepPosition, Cp24Time2a>, |p| timed!(step(p), t24(p))),
        32 => build!(Timed<StepPosition, Cp56Time2a>, |p| timed!(step(p), t56(p))),
        7 => build!(Bitstring, |p| bits(p)),
        8 => build!(Timed<Bitstring, Cp24Time2a>, |p| timed!(bits(p), t24(p))),
        33 => build!(Timed<Bitstring, Cp56Time2a>, |p| timed!(bits(p), t56(p))),
        9 => build!(Normalized, |p| norm(p)),
        10 => build!(Timed<Normalized, Cp24Time2a>, |p| timed!(norm(p), t24(p))),
        34 => build!(Timed<Normalized, Cp56Time2a>, |p| timed!(norm(p), t56(p))),
        21 => build!(Nva, |p| norm(p).map(|n| n.nva)),
        11 => build!(Scaled, |p| scaled(p)),
        12 => build!(Timed<Scaled, Cp24Time2a>, |p| timed!(scaled(p), t24(p))),
        35 => build!(Timed<Scaled, Cp56Time2a>, |p| timed!(scaled(p), t56(p))),
        13 => build!(ShortFloat, |p| float(p)),
        14 => build!(Timed<ShortFloat, Cp24Time2a>, |p| timed!(float(p), t24(p))),
        36 => build!(Timed<ShortFloat, Cp56Time2a>, |p| timed!(float(p), t56(p))),
        15 => build!(Bcr, |p| counter(p)),
        16 => build!(Timed<Bcr, Cp24Time2a>, |p| timed!(counter(p), t24(p))),
        37 => build!(Timed<Bcr, Cp56Time2a>, |p| timed!(counter(p), t56(p))),
        17 => build!(Timed<ProtectionEvent, Cp24Time2a>, |p| timed!(pe(p), t24(p))),
        38 => build!(Timed<ProtectionEvent, Cp56Time2a>, |p| timed!(pe(p), t56(p))),
        18 => build!(Timed<PackedStartEvents, Cp24Time2a>, |p| timed!(pse(p), t24(p))),
        39 => build!(Timed<PackedStartEvents, Cp56Time2a>, |p| timed!(pse(p), t56(p))),
        19 => build!(Timed<PackedOutputCircuit, Cp24Time2a>, |p| timed!(poc(p), t24(p))),
        40 => build!(Timed<PackedOutputCircuit, Cp56Time2a>, |p| timed!(poc(p), t56(p))),
        20 => build!(PackedSinglePoint, |p| psp(p)),
        _ => build!(Siq, |_p| None::<Siq>),
    })
}

/// The type a point is sent as without its time tag (GI answers).
pub fn untimed(p: &Point) -> TypeId {
    type_id_of(&p.value, &TimeTag::None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Cot;
    use bytes::BytesMut;

    fn all_values() -> Vec<PointValue> {
        vec![
            PointValue::Single(true),
            PointValue::Double(DoublePoint::On),
            PointValue::Step { value: -3, transient: true },
            PointValue::Bitstring(0xA5A5_0001),
            PointValue::Normalized(Nva(0x2000)),
            PointValue::Scaled(-321),
            PointValue::Float(42.25),
            PointValue::Counter(Bcr::new(77, 3, false, true, false)),
            PointValue::ProtectionEvent(ProtectionEvent { sep: Sep(0x02), elapsed: crate::types::Cp16Time2a(5) }),
            PointValue::PackedStartEvents(PackedStartEvents {
                spe: Spe(0x03),
                qdp: crate::types::Qdp(0),
                duration: crate::types::Cp16Time2a(9),
            }),
            PointValue::PackedOutputCircuit(PackedOutputCircuit {
                oci: Oci(0x01),
                qdp: crate::types::Qdp(0),
                operating_time: crate::types::Cp16Time2a(1),
            }),
            PointValue::PackedSinglePoint(Scd::new(0x00FF, 0x0001)),
        ]
    }

    /// Every value with every time tag: encode -> decode -> the same point.
    #[test]
    fn points_round_trip_through_asdus() {
        let t56 = Cp56Time2a::new(26, 6, 5, 14, 30, 1234).unwrap();
        let t24 = Cp24Time2a::new(30, 1234).unwrap();
        let params = AsduParams::default();
        for value in all_values() {
            for time in [TimeTag::None, TimeTag::Cp24(t24), TimeTag::Cp56(t56)] {
                let protection = matches!(
                    value,
                    PointValue::ProtectionEvent(_)
                        | PointValue::PackedStartEvents(_)
                        | PointValue::PackedOutputCircuit(_)
                );
                if matches!(value, PointValue::PackedSinglePoint(_)) && time != TimeTag::None {
                    continue; // type 20 has no time-tagged form
                }
                let quality = match value {
                    PointValue::Counter(_) => Qds::GOOD,
                    _ if protection => Qds::GOOD,
                    _ => Qds::GOOD.with_blocked(true),
                };
                let p = Point { ioa: Ioa::new(77).unwrap(), value, quality, time };
                let body = encode_points(p.type_id(), [&p]).unwrap();
                let asdu = OwnedAsdu {
                    cause: Cause::new(Cot::SPONTANEOUS),
                    common_address: crate::types::CommonAddress(1),
                    body,
                };
                let mut out = BytesMut::new();
                asdu.encode(&params, &mut out).unwrap();
                let back = points(&Asdu::decode(&out, &params).unwrap().body);
                let mut expected = p;
                if protection && time == TimeTag::None {
                    // sent as CP56 with the IV flag: untimed protection events do not exist
                    expected.time = TimeTag::Cp56(Cp56Time2a::default().with_invalid(true));
                }
                assert_eq!(back, [expected], "{value:?} {time:?}");
            }
        }
    }

    #[test]
    fn gi_strips_time_and_others_are_skipped() {
        let t56 = Cp56Time2a::new(26, 6, 5, 14, 30, 1234).unwrap();
        let a = Point {
            ioa: Ioa::new(1).unwrap(),
            value: PointValue::Float(1.0),
            quality: Qds::GOOD,
            time: TimeTag::Cp56(t56),
        };
        let b = Point::new(Ioa::new(2).unwrap(), PointValue::Single(true));
        assert_eq!(untimed(&a), TypeId::M_ME_NC_1);
        let body = encode_points(TypeId::M_ME_NC_1, [&a, &b]).unwrap();
        assert_eq!(body.type_id(), TypeId::M_ME_NC_1);
        assert_eq!(body.len(), 1, "the single point is not a float");
        assert_eq!(max_objects(TypeId::M_ME_NC_1, &AsduParams::default()), 30);
        assert_eq!(max_objects(TypeId::M_SP_NA_1, &AsduParams::default()), 60);
    }

    #[test]
    fn time_tags_follow_the_asked_type() {
        let t56 = Cp56Time2a::new(26, 6, 5, 14, 30, 1234).unwrap();
        let untimed = Point::new(Ioa::new(1).unwrap(), PointValue::Single(true));
        let timed = Point { time: TimeTag::Cp56(t56), ..Point::new(Ioa::new(2).unwrap(), PointValue::Single(false)) };
        let float = Point::new(Ioa::new(3).unwrap(), PointValue::Float(1.0));
        let decode = |t: TypeId| {
            let body = encode_points(t, [&untimed, &timed, &float]).unwrap();
            let asdu =
                OwnedAsdu { cause: Cause::new(Cot::SPONTANEOUS), common_address: crate::types::CommonAddress(1), body };
            let mut out = BytesMut::new();
            asdu.encode(&AsduParams::default(), &mut out).unwrap();
            points(&Asdu::decode(&out, &AsduParams::default()).unwrap().body)
        };
        // asked with CP56: the untimed point goes with an invalid time, the float is skipped
        let back = decode(TypeId::M_SP_TB_1);
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].time, TimeTag::Cp56(Cp56Time2a::default().with_invalid(true)));
        assert_eq!(back[1].time, TimeTag::Cp56(t56));
        // CP24: cut from CP56; none: stripped
        let back = decode(TypeId::M_SP_TA_1);
        assert_eq!(back[1].time, TimeTag::Cp24(Cp24Time2a([t56.0[0], t56.0[1], t56.0[2]])));
        assert!(matches!(back[0].time, TimeTag::Cp24(t) if t.invalid()));
        let back = decode(TypeId::M_SP_NA_1);
        assert!(back.iter().all(|p| p.time == TimeTag::None) && back.len() == 2);
    }

    #[test]
    fn normalised_values_go_as_type_21_without_quality() {
        let a = Point {
            ioa: Ioa::new(5).unwrap(),
            value: PointValue::Normalized(Nva(0x4000)),
            quality: Qds::GOOD.with_invalid(true),
            time: TimeTag::None,
        };
        let b = Point::new(Ioa::new(6).unwrap(), PointValue::Float(1.0));
        let body = encode_points(TypeId::M_ME_ND_1, [&a, &b]).unwrap();
        assert_eq!((body.type_id(), body.len()), (TypeId::M_ME_ND_1, 1), "the float is skipped");
        let asdu =
            OwnedAsdu { cause: Cause::new(Cot::SPONTANEOUS), common_address: crate::types::CommonAddress(1), body };
        let mut out = BytesMut::new();
        asdu.encode(&AsduParams::default(), &mut out).unwrap();
        let back = points(&Asdu::decode(&out, &AsduParams::default()).unwrap().body);
        assert_eq!(back, [Point { quality: Qds::GOOD, ..a }], "type 21 carries no quality");
    }
}
