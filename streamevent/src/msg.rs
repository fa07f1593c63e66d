//! The IEC 104 point message (`MsgBody`) as the Go platform publishes it on Kafka, MQTT and
//! inside gRPC (spec §1.4), byte-compatible: key names and order, datetime-micro times with the
//! fraction's trailing zeros trimmed, Go's float formatting, and the QDS/QDP renderings.
//!
//! ```
//! use streamevent::msg::{qds_desc, datetime_micro};
//! assert_eq!(qds_desc(0), "QDS(00000000)[QDSGood]");
//! assert_eq!(qds_desc(0x90), "QDS(10010000)[Blocked|Invalid]");
//! let t = chrono::NaiveDate::from_ymd_opt(2026, 6, 5).unwrap().and_hms_micro_opt(14, 30, 0, 123_400).unwrap();
//! assert_eq!(datetime_micro(&t), "2026-06-05 14:30:00.1234");
//! ```

use chrono::{NaiveDate, NaiveDateTime};
use iec104::point::{Point, PointValue, TimeTag};
use iec104::types::Cp56Time2a;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The `dataType` category of a type identification (spec §1.2): 0-11 for monitor categories,
/// 12-18 command echoes, 19 end of initialisation, 20 anything else.
pub fn data_type(type_id: u8) -> i32 {
    use iec104::types::{Family as F, TypeId};
    // upstream's numbering of the families (iec104's table says which family a type carries)
    match TypeId(type_id).family() {
        Some(F::Single) => 0,
        Some(F::Double) => 1,
        Some(F::Scaled) => 2,
        Some(F::Normalized) => 3,
        Some(F::Step) => 4,
        Some(F::Bitstring) => 5,
        Some(F::Float) => 6,
        Some(F::IntegratedTotals) => 7,
        Some(F::ProtectionEvent) => 8,
        Some(F::PackedStartEvents) => 9,
        Some(F::PackedOutputCircuit) => 10,
        Some(F::PackedSinglePoint) => 11,
        Some(F::SingleCommand) => 12,
        Some(F::DoubleCommand) => 13,
        Some(F::StepCommand) => 14,
        Some(F::SetpointNormalized) => 15,
        Some(F::SetpointScaled) => 16,
        Some(F::SetpointFloat) => 17,
        Some(F::BitstringCommand) => 18,
        Some(F::EndOfInitialization) => 19,
        _ => 20,
    }
}

/// The point key (Kafka message key): `{host}_{coa}_{0x%06x of ioa}`.
///
/// ```
/// assert_eq!(streamevent::msg::point_key("127.0.0.1", 1, 2001), "127.0.0.1_1_0x0007d1");
/// ```
pub fn point_key(host: &str, coa: u32, ioa: u32) -> String {
    crate::id::PointKey::new(host, coa, ioa).to_string()
}

/// The station id every service uses: `stationId` from the metadata when it is a non-empty
/// string, else the host with dots replaced by underscores, `_`, and the port.
///
/// ```
/// use serde_json::{json, Map};
/// let none = Map::new();
/// assert_eq!(streamevent::msg::station_id(&none, "127.0.0.1", 2404), "127_0_0_1_2404");
/// let meta = json!({"stationId": "330KV"}).as_object().unwrap().clone();
/// assert_eq!(streamevent::msg::station_id(&meta, "127.0.0.1", 2404), "330KV");
/// ```
pub fn station_id(meta: &Map<String, Value>, host: &str, port: u16) -> String {
    crate::id::StationId::new(meta, host, port).as_str().to_owned()
}

/// `yyyy-MM-dd HH:mm:ss.ffffff` with the fraction's trailing zeros trimmed (and no fraction at
/// all on a whole second), as Go's `.999999` layout prints it.
pub fn datetime_micro(t: &NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    // written digit by digit: this runs for every stored point (chrono's strftime parses its
    // pattern and allocates on each call)
    fn push(s: &mut String, v: u32, width: u32) {
        for k in (0..width).rev() {
            s.push(char::from(b'0' + (v / 10u32.pow(k) % 10) as u8));
        }
    }
    let mut s = String::with_capacity(26);
    let year = t.year();
    if (0..=9999).contains(&year) {
        push(&mut s, year as u32, 4);
    } else {
        s.push_str(&year.to_string());
    }
    for (sep, v) in [('-', t.month()), ('-', t.day()), (' ', t.hour()), (':', t.minute()), (':', t.second())] {
        s.push(sep);
        push(&mut s, v, 2);
    }
    // a leap second's extra nanoseconds count as the last microsecond of the second
    let mut micros = (t.nanosecond() / 1000).min(999_999);
    if micros != 0 {
        let mut width = 6;
        while micros % 10 == 0 {
            micros /= 10;
            width -= 1;
        }
        s.push('.');
        push(&mut s, micros, width);
    }
    s
}

/// The current time at `utc_offset_minutes` (Asia/Shanghai: 480), as [`datetime_micro`].
pub fn now_string(utc_offset_minutes: i32) -> String {
    let now = chrono::Utc::now().naive_utc() + chrono::Duration::minutes(i64::from(utc_offset_minutes));
    datetime_micro(&now)
}

/// A CP56Time2a as datetime-micro (century 2000), or `""` when its fields are not a date.
pub fn cp56_string(t: &Cp56Time2a) -> String {
    NaiveDate::from_ymd_opt(2000 + i32::from(t.year()), u32::from(t.month()), u32::from(t.day()))
        .and_then(|d| {
            d.and_hms_milli_opt(
                u32::from(t.hour()),
                u32::from(t.minute()),
                u32::from(t.second()),
                u32::from(t.millisecond() % 1000),
            )
        })
        .map_or_else(String::new, |dt| datetime_micro(&dt))
}

fn desc(prefix: &str, q: u8, names: &[(u8, &str)], good: &str) -> String {
    let flags: Vec<&str> = names.iter().filter(|(bit, _)| q & (1 << bit) != 0).map(|(_, n)| *n).collect();
    let list = if !flags.is_empty() {
        flags.join("|")
    } else if q == 0 {
        good.to_owned()
    } else {
        "ReservedBits".to_owned()
    };
    format!("{prefix}({q:08b})[{list}]")
}

/// The `qdsDesc` rendering: `QDS(<8-bit binary>)[<flags>]`.
pub fn qds_desc(q: u8) -> String {
    desc("QDS", q, &[(0, "Overflow"), (4, "Blocked"), (5, "Substituted"), (6, "NotTopical"), (7, "Invalid")], "QDSGood")
}

/// The `qdpDesc` rendering: `QDP(<8-bit binary>)[<flags>]`.
pub fn qdp_desc(q: u8) -> String {
    desc(
        "QDP",
        q,
        &[(3, "ElapsedTimeInvalid"), (4, "Blocked"), (5, "Substituted"), (6, "NotTopical"), (7, "Invalid")],
        "QDPGood",
    )
}

/// Serialises an `f32` the way Go's encoding/json does (shortest round-trip digits; exponent
/// form below 1e-6 and from 1e21, with a two-digit exponent). NaN and infinities, which Go
/// refuses to encode, become `null`.
pub fn go_f32<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
    if !v.is_finite() {
        return s.serialize_none();
    }
    let a = v.abs();
    let text = if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let e = format!("{v:e}");
        let (m, exp) = e.split_once('e').unwrap_or((&e, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    } else {
        format!("{v}")
    };
    // verbatim: serde_json's Number would print its own exponent form
    RawValue::from_string(text).map_err(serde::ser::Error::custom)?.serialize(s)
}

/// The QDS block: `qds`, `qdsDesc`, `ov`, `bl`, `sb`, `nt`, `iv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QdsBlock {
    /// The quality octet.
    pub qds: u8,
    /// Its rendering ([`qds_desc`]).
    #[serde(rename = "qdsDesc")]
    pub qds_desc: String,
    /// Overflow.
    pub ov: bool,
    /// Blocked.
    pub bl: bool,
    /// Substituted.
    pub sb: bool,
    /// Not topical.
    pub nt: bool,
    /// Invalid.
    pub iv: bool,
}

impl QdsBlock {
    /// From a QDS octet.
    pub fn new(q: u8) -> Self {
        QdsBlock {
            qds: q,
            qds_desc: qds_desc(q),
            ov: q & 1 != 0,
            bl: q & 0x10 != 0,
            sb: q & 0x20 != 0,
            nt: q & 0x40 != 0,
            iv: q & 0x80 != 0,
        }
    }
}

/// The QDP block: `qdp`, `qdpDesc`, `ei`, `bl`, `sb`, `nt`, `iv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QdpBlock {
    /// The quality octet.
    pub qdp: u8,
    /// Its rendering ([`qdp_desc`]).
    #[serde(rename = "qdpDesc")]
    pub qdp_desc: String,
    /// Elapsed time invalid.
    pub ei: bool,
    /// Blocked.
    pub bl: bool,
    /// Substituted.
    pub sb: bool,
    /// Not topical.
    pub nt: bool,
    /// Invalid.
    pub iv: bool,
}

impl QdpBlock {
    /// From a QDP octet.
    pub fn new(q: u8) -> Self {
        QdpBlock {
            qdp: q,
            qdp_desc: qdp_desc(q),
            ei: q & 0x08 != 0,
            bl: q & 0x10 != 0,
            sb: q & 0x20 != 0,
            nt: q & 0x40 != 0,
            iv: q & 0x80 != 0,
        }
    }
}

/// `value` of a step position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepValue {
    /// Position, -64..=63.
    pub val: i8,
    /// Transient.
    #[serde(rename = "hasTransient")]
    pub has_transient: bool,
}

/// `value` of a binary counter reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CounterValue {
    /// Counter reading.
    pub counter_reading: i32,
    /// Sequence number 0..=31.
    pub seq_number: u8,
    /// CY.
    pub has_carry: bool,
    /// CA.
    pub is_adjusted: bool,
    /// IV.
    pub is_invalid: bool,
}

macro_rules! info {
    ($(#[$d:meta])* $name:ident { $($(#[$fd:meta])* $(@$attr:meta)? $f:ident : $t:ty),* $(,)? }) => {
        $(#[$d])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            $($(#[$fd])* $(#[$attr])? pub $f: $t,)*
        }
    };
}

info! { /// Single point (types 1, 2, 30).
SinglePointInfo { /** IOA. */ ioa: u32, /** SPI. */ value: bool, /** QDS block. */ @serde(flatten) qds: QdsBlock, /** Device time. */ time: String } }
info! { /// Double point (3, 4, 31): value 0..=3.
DoublePointInfo { /** IOA. */ ioa: u32, /** DPI. */ value: u8, /** QDS block. */ @serde(flatten) qds: QdsBlock, /** Device time. */ time: String } }
info! { /// Scaled measured value (11, 12, 35).
MeasuredValueScaledInfo { /** IOA. */ ioa: u32, /** SVA. */ value: i16, /** QDS block. */ @serde(flatten) qds: QdsBlock, /** Device time. */ time: String } }
info! { /// Normalised measured value (9, 10, 21, 34): raw value and `nva` = value / 32768.
    MeasuredValueNormalInfo {
        /** IOA. */ ioa: u32,
        /** Raw NVA. */ value: i16,
        /** The fraction. */ @serde(serialize_with = "go_f32") nva: f32,
        /** QDS block. */ @serde(flatten) qds: QdsBlock,
        /** Device time. */ time: String
    }
}
info! { /// Step position (5, 6, 32).
StepPositionInfo { /** IOA. */ ioa: u32, /** VTI. */ value: StepValue, /** QDS block. */ @serde(flatten) qds: QdsBlock, /** Device time. */ time: String } }
info! { /// Bitstring of 32 bits (7, 8, 33).
BitString32Info { /** IOA. */ ioa: u32, /** BSI. */ value: u32, /** QDS block. */ @serde(flatten) qds: QdsBlock, /** Device time. */ time: String } }
info! { /// Short floating point measured value (13, 14, 36).
    MeasuredValueFloatInfo {
        /** IOA. */ ioa: u32,
        /** Value. */ @serde(serialize_with = "go_f32") value: f32,
        /** QDS block. */ @serde(flatten) qds: QdsBlock,
        /** Device time. */ time: String
    }
}
info! { /// Integrated totals (15, 16, 37).
BinaryCounterReadingInfo { /** IOA. */ ioa: u32, /** BCR. */ value: CounterValue, /** Device time. */ time: String } }
info! { /// Event of protection equipment (17, 38).
    EventOfProtectionEquipmentInfo {
        /** IOA. */ ioa: u32, /** Event state. */ event: u8, /** QDP block. */ @serde(flatten) qdp: QdpBlock,
        /** Elapsed ms. */ msec: u16, /** Device time. */ time: String
    }
}
info! { /// Packed start events of protection equipment (18, 39).
    PackedStartEventsOfProtectionEquipmentInfo {
        /** IOA. */ ioa: u32, /** SPE. */ event: u8, /** QDP block. */ @serde(flatten) qdp: QdpBlock,
        /** Relay duration ms. */ msec: u16, /** Device time. */ time: String
    }
}
info! { /// Packed output circuit information (19, 40).
    PackedOutputCircuitInfoInfo {
        /** IOA. */ ioa: u32, /** OCI. */ oci: u8, /** GC. */ gc: bool, /** CL1. */ cl1: bool, /** CL2. */ cl2: bool,
        /** CL3. */ cl3: bool, /** QDP block. */ @serde(flatten) qdp: QdpBlock, /** Relay operating ms. */ msec: u16,
        /** Device time. */ time: String
    }
}
info! { /// Packed single points with status change detection (20): no time key.
    PackedSinglePointWithSCDInfo {
        /** IOA. */ ioa: u32, /** SCD. */ scd: u32, /** Status bits, 16-char binary. */ stn: String,
        /** Change bits, 16-char binary. */ cdn: String, /** QDS block. */ @serde(flatten) qds: QdsBlock
    }
}

/// The `body` of a message: one shape per category.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Body {
    /// Single point.
    SinglePoint(SinglePointInfo),
    /// Double point.
    DoublePoint(DoublePointInfo),
    /// Scaled value.
    Scaled(MeasuredValueScaledInfo),
    /// Normalised value.
    Normalized(MeasuredValueNormalInfo),
    /// Step position.
    Step(StepPositionInfo),
    /// Bitstring.
    Bitstring(BitString32Info),
    /// Float.
    Float(MeasuredValueFloatInfo),
    /// Counter.
    Counter(BinaryCounterReadingInfo),
    /// Protection event.
    ProtectionEvent(EventOfProtectionEquipmentInfo),
    /// Packed start events.
    PackedStartEvents(PackedStartEventsOfProtectionEquipmentInfo),
    /// Packed output circuit.
    PackedOutputCircuit(PackedOutputCircuitInfoInfo),
    /// Packed single points.
    PackedSinglePoint(PackedSinglePointWithSCDInfo),
}

impl Body {
    /// The body of a point: the device time rendered with [`cp56_string`] (CP24 time tags, which
    /// carry no date, and untimed points give `""`).
    pub fn from_point(p: &Point) -> Body {
        let ioa = p.ioa.get();
        let time = match p.time {
            TimeTag::Cp56(t) => cp56_string(&t),
            _ => String::new(),
        };
        let q = p.quality.0;
        match p.value {
            PointValue::Single(v) => {
                Body::SinglePoint(SinglePointInfo { ioa, value: v, qds: QdsBlock::new(q & 0xF0), time })
            }
            PointValue::Double(d) => {
                Body::DoublePoint(DoublePointInfo { ioa, value: d.bits(), qds: QdsBlock::new(q & 0xF0), time })
            }
            PointValue::Step { value, transient } => Body::Step(StepPositionInfo {
                ioa,
                value: StepValue { val: value, has_transient: transient },
                qds: QdsBlock::new(q),
                time,
            }),
            PointValue::Bitstring(b) => Body::Bitstring(BitString32Info { ioa, value: b, qds: QdsBlock::new(q), time }),
            PointValue::Normalized(n) => Body::Normalized(MeasuredValueNormalInfo {
                ioa,
                value: n.0,
                nva: n.to_f32(),
                qds: QdsBlock::new(q),
                time,
            }),
            PointValue::Scaled(v) => {
                Body::Scaled(MeasuredValueScaledInfo { ioa, value: v, qds: QdsBlock::new(q), time })
            }
            PointValue::Float(v) => Body::Float(MeasuredValueFloatInfo { ioa, value: v, qds: QdsBlock::new(q), time }),
            PointValue::Counter(b) => Body::Counter(BinaryCounterReadingInfo {
                ioa,
                value: CounterValue {
                    counter_reading: b.value,
                    seq_number: b.sequence(),
                    has_carry: b.carry(),
                    is_adjusted: b.adjusted(),
                    is_invalid: b.invalid(),
                },
                time,
            }),
            PointValue::ProtectionEvent(e) => Body::ProtectionEvent(EventOfProtectionEquipmentInfo {
                ioa,
                event: e.sep.0 & 3,
                qdp: QdpBlock::new(e.sep.0 & 0xF8),
                msec: e.elapsed.0,
                time,
            }),
            PointValue::PackedStartEvents(e) => Body::PackedStartEvents(PackedStartEventsOfProtectionEquipmentInfo {
                ioa,
                event: e.spe.0,
                qdp: QdpBlock::new(e.qdp.0),
                msec: e.duration.0,
                time,
            }),
            PointValue::PackedOutputCircuit(e) => Body::PackedOutputCircuit(PackedOutputCircuitInfoInfo {
                ioa,
                oci: e.oci.0,
                gc: e.oci.general(),
                cl1: e.oci.phase_l1(),
                cl2: e.oci.phase_l2(),
                cl3: e.oci.phase_l3(),
                qdp: QdpBlock::new(e.qdp.0),
                msec: e.operating_time.0,
                time,
            }),
            PointValue::PackedSinglePoint(s) => Body::PackedSinglePoint(PackedSinglePointWithSCDInfo {
                ioa,
                scd: s.0,
                stn: format!("{:016b}", s.status()),
                cdn: format!("{:016b}", s.changed()),
                qds: QdsBlock::new(q),
            }),
            _ => Body::SinglePoint(SinglePointInfo { ioa, value: false, qds: QdsBlock::new(q), time }),
        }
    }
}

impl From<PointMappingJson> for crate::pb::PointMapping {
    fn from(p: PointMappingJson) -> Self {
        crate::pb::PointMapping {
            device_id: p.device_id,
            device_name: p.device_name,
            td_table_type: p.td_table_type,
            ext1: p.ext1,
            ext2: p.ext2,
            ext3: p.ext3,
            ext4: p.ext4,
            ext5: p.ext5,
        }
    }
}

/// The point mapping carried as `pm`: every key always present.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PointMappingJson {
    /// Device id.
    pub device_id: String,
    /// Device name.
    pub device_name: String,
    /// Comma list of table types (`yx,yc`).
    pub td_table_type: String,
    /// Extension 1.
    pub ext1: String,
    /// Extension 2.
    pub ext2: String,
    /// Extension 3.
    pub ext3: String,
    /// Extension 4.
    pub ext4: String,
    /// Extension 5.
    pub ext5: String,
}

/// The message published per information object (spec §1.4), keys in the Go order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MsgBody {
    /// UUIDv7, 32 lowercase hex digits.
    pub msg_id: String,
    /// Station host from the configuration.
    pub host: String,
    /// Station port.
    pub port: u16,
    /// Type mnemonic (`M_ME_NC_1`).
    pub asdu: String,
    /// Type identification.
    pub type_id: u8,
    /// Category ([`data_type`]).
    pub data_type: i32,
    /// Common address.
    pub coa: u32,
    /// The information object.
    pub body: Body,
    /// Push time, datetime-micro.
    pub time: String,
    /// The station's configured metadata (omitted when empty; keys sorted as Go maps are).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub meta_data: Map<String, Value>,
    /// Point mapping (omitted when there is none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pm: Option<PointMappingJson>,
    /// W3C trace propagation headers (omitted when empty).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Trace id of the receiving frame (omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub trace_id: String,
}

/// A new message id: UUIDv7 as 32 lowercase hex digits.
pub fn new_msg_id() -> String {
    uuid::Uuid::from_u128(crate::point::new_msg_id()).simple().to_string()
}

impl MsgBody {
    /// The point key ([`point_key`]).
    pub fn key(&self) -> String {
        point_key(&self.host, self.coa, self.ioa())
    }

    /// The information object address of the body.
    pub fn ioa(&self) -> u32 {
        match &self.body {
            Body::SinglePoint(b) => b.ioa,
            Body::DoublePoint(b) => b.ioa,
            Body::Scaled(b) => b.ioa,
            Body::Normalized(b) => b.ioa,
            Body::Step(b) => b.ioa,
            Body::Bitstring(b) => b.ioa,
            Body::Float(b) => b.ioa,
            Body::Counter(b) => b.ioa,
            Body::ProtectionEvent(b) => b.ioa,
            Body::PackedStartEvents(b) => b.ioa,
            Body::PackedOutputCircuit(b) => b.ioa,
            Body::PackedSinglePoint(b) => b.ioa,
        }
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A message as received (Kafka, MQTT): `body` and `metaData` kept as their raw JSON text.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawMsg<'a> {
    /// Message id.
    #[serde(default)]
    pub msg_id: String,
    /// Host.
    #[serde(default)]
    pub host: String,
    /// Port.
    #[serde(default)]
    pub port: i32,
    /// Type mnemonic.
    #[serde(default)]
    pub asdu: String,
    /// Type identification.
    #[serde(default)]
    pub type_id: i32,
    /// Category.
    #[serde(default)]
    pub data_type: i32,
    /// Common address.
    #[serde(default)]
    pub coa: u32,
    /// The body's JSON text.
    #[serde(borrow)]
    pub body: Option<&'a RawValue>,
    /// Push time.
    #[serde(default)]
    pub time: String,
    /// The metadata's JSON text.
    #[serde(borrow, default)]
    pub meta_data: Option<&'a RawValue>,
    /// Point mapping.
    #[serde(default)]
    pub pm: Option<PointMappingJson>,
    /// Headers (values stringified).
    #[serde(default)]
    pub headers: BTreeMap<String, Value>,
    /// Trace id.
    #[serde(default)]
    pub trace_id: String,
}

/// The `ioa` and the `ioa_value` text of a body (spec §4.3): scalars as their JSON text (strings
/// unquoted); objects by `counterReading`, else `val`, else `value`, else their JSON; arrays as
/// JSON; no `value` key gives `""`. `None` when the body is not an object or has no integer `ioa`.
pub fn ioa_value(body_raw: &str) -> Option<(i64, String)> {
    ioa_value_of(&serde_json::from_str(body_raw).ok()?)
}

/// [`ioa_value`] of a body already parsed.
pub fn ioa_value_of(v: &Value) -> Option<(i64, String)> {
    let obj = v.as_object()?;
    let ioa = match obj.get("ioa")? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let value = match obj.get("value") {
        None => String::new(),
        Some(Value::Object(o)) => {
            match ["counterReading", "val", "value"]
                .iter()
                .find_map(|k| o.get(*k).filter(|x| !x.is_object() && !x.is_array()))
            {
                Some(x) => text(x),
                None => Value::Object(o.clone()).to_string(),
            }
        }
        Some(x) => text(x),
    };
    Some((ioa, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iec104::asdu::{Bcr, Nva, Oci, PackedOutputCircuit, ProtectionEvent, Scd, Sep};
    use iec104::types::{Cp16Time2a, DoublePoint, Ioa, Qdp, Qds, TypeId};
    use serde_json::json;

    fn point(ioa: u32, value: PointValue, q: u8, time: TimeTag) -> Point {
        Point { ioa: Ioa::new(ioa).unwrap(), value, quality: Qds(q), time }
    }

    /// The message of one point as the master makes it, pushed at `time`.
    fn message(host: &str, meta: Map<String, Value>, tid: TypeId, coa: u16, p: Point, time: &str) -> MsgBody {
        let st = crate::point::Station::new(host, 2404, meta, 480);
        let mut m = crate::point::PointMsg::new(st, tid, iec104::types::CommonAddress(coa), p, 0).to_msg_body();
        m.time = time.into();
        m
    }

    /// The spec's §1.4 example, byte for byte.
    #[test]
    fn golden_spec_example() {
        let mut m = message(
            "10.0.0.5",
            json!({"stationId": "330KV"}).as_object().unwrap().clone(),
            TypeId::M_ME_NC_1,
            1,
            point(4004, PointValue::Float(220.5), 0, TimeTag::None),
            "2026-06-05 14:30:00.1234",
        );
        m.msg_id = "0190abcd".into();
        m.pm = Some(PointMappingJson {
            device_id: "d1".into(),
            device_name: "T1".into(),
            td_table_type: "yc".into(),
            ext1: "alarm".into(),
            ..Default::default()
        });
        m.headers.insert("traceparent".into(), "00-abc-01".into());
        m.trace_id = "4bf9".into();
        let expected = concat!(
            r#"{"msgId":"0190abcd","host":"10.0.0.5","port":2404,"asdu":"M_ME_NC_1","typeId":13,"dataType":6,"#,
            r#""coa":1,"body":{"ioa":4004,"value":220.5,"qds":0,"qdsDesc":"QDS(00000000)[QDSGood]","ov":false,"#,
            r#""bl":false,"sb":false,"nt":false,"iv":false,"time":""},"time":"2026-06-05 14:30:00.1234","#,
            r#""metaData":{"stationId":"330KV"},"pm":{"deviceId":"d1","deviceName":"T1","tdTableType":"yc","#,
            r#""ext1":"alarm","ext2":"","ext3":"","ext4":"","ext5":""},"headers":{"traceparent":"00-abc-01"},"#,
            r#""traceId":"4bf9"}"#
        );
        assert_eq!(m.to_json(), expected);
        assert_eq!(m.key(), "10.0.0.5_1_0x000fa4");
    }

    #[test]
    fn optional_keys_are_omitted() {
        let m = message(
            "h",
            Map::new(),
            TypeId::M_SP_NA_1,
            2,
            point(1, PointValue::Single(true), 0x81, TimeTag::None),
            "t",
        );
        let j = m.to_json();
        assert!(j.ends_with(r#""time":"t"}"#), "{j}");
        assert!(!j.contains("metaData") && !j.contains("pm") && !j.contains("headers") && !j.contains("traceId"));
        // SIQ: bit 0 is the value, not a quality flag
        assert!(j.contains(r#""value":true,"qds":128,"qdsDesc":"QDS(10000000)[Invalid]""#), "{j}");
    }

    /// Every monitor body shape, keys in order.
    #[test]
    fn golden_body_shapes() {
        let t56 = Cp56Time2a::new(26, 6, 5, 14, 30, 1_500).unwrap();
        let cases: Vec<(Point, &str)> = vec![
            (
                point(1, PointValue::Double(DoublePoint::On), 0x10, TimeTag::Cp56(t56)),
                r#"{"ioa":1,"value":2,"qds":16,"qdsDesc":"QDS(00010000)[Blocked]","ov":false,"bl":true,"sb":false,"nt":false,"iv":false,"time":"2026-06-05 14:30:01.5"}"#,
            ),
            (
                point(2, PointValue::Scaled(-1000), 0x01, TimeTag::None),
                r#"{"ioa":2,"value":-1000,"qds":1,"qdsDesc":"QDS(00000001)[Overflow]","ov":true,"bl":false,"sb":false,"nt":false,"iv":false,"time":""}"#,
            ),
            (
                point(3, PointValue::Normalized(Nva(16384)), 0, TimeTag::None),
                r#"{"ioa":3,"value":16384,"nva":0.5,"qds":0,"qdsDesc":"QDS(00000000)[QDSGood]","ov":false,"bl":false,"sb":false,"nt":false,"iv":false,"time":""}"#,
            ),
            (
                point(4, PointValue::Step { value: -5, transient: true }, 0x0E, TimeTag::None),
                r#"{"ioa":4,"value":{"val":-5,"hasTransient":true},"qds":14,"qdsDesc":"QDS(00001110)[ReservedBits]","ov":false,"bl":false,"sb":false,"nt":false,"iv":false,"time":""}"#,
            ),
            (
                point(5, PointValue::Bitstring(0x1234_5678), 0x60, TimeTag::None),
                r#"{"ioa":5,"value":305419896,"qds":96,"qdsDesc":"QDS(01100000)[Substituted|NotTopical]","ov":false,"bl":false,"sb":true,"nt":true,"iv":false,"time":""}"#,
            ),
            (
                point(6, PointValue::Counter(Bcr::new(-7, 17, true, false, true)), 0, TimeTag::None),
                r#"{"ioa":6,"value":{"counterReading":-7,"seqNumber":17,"hasCarry":true,"isAdjusted":false,"isInvalid":true},"time":""}"#,
            ),
            (
                point(
                    7,
                    PointValue::ProtectionEvent(ProtectionEvent { sep: Sep(0x0A), elapsed: Cp16Time2a(500) }),
                    0,
                    TimeTag::Cp56(t56),
                ),
                r#"{"ioa":7,"event":2,"qdp":8,"qdpDesc":"QDP(00001000)[ElapsedTimeInvalid]","ei":true,"bl":false,"sb":false,"nt":false,"iv":false,"msec":500,"time":"2026-06-05 14:30:01.5"}"#,
            ),
            (
                point(
                    8,
                    PointValue::PackedOutputCircuit(PackedOutputCircuit {
                        oci: Oci(0x09),
                        qdp: Qdp(0),
                        operating_time: Cp16Time2a(20),
                    }),
                    0,
                    TimeTag::None,
                ),
                r#"{"ioa":8,"oci":9,"gc":true,"cl1":false,"cl2":false,"cl3":true,"qdp":0,"qdpDesc":"QDP(00000000)[QDPGood]","ei":false,"bl":false,"sb":false,"nt":false,"iv":false,"msec":20,"time":""}"#,
            ),
            (
                point(9, PointValue::PackedSinglePoint(Scd::new(0x8001, 0x0002)), 0, TimeTag::None),
                r#"{"ioa":9,"scd":163841,"stn":"1000000000000001","cdn":"0000000000000010","qds":0,"qdsDesc":"QDS(00000000)[QDSGood]","ov":false,"bl":false,"sb":false,"nt":false,"iv":false}"#,
            ),
        ];
        for (p, expected) in cases {
            assert_eq!(serde_json::to_string(&Body::from_point(&p)).unwrap(), expected);
        }
    }

    #[test]
    fn go_float_formatting() {
        let f = |v: f32| {
            serde_json::to_string(&MeasuredValueFloatInfo {
                ioa: 0,
                value: v,
                qds: QdsBlock::new(0),
                time: String::new(),
            })
            .unwrap()
        };
        for (v, s) in [
            (220.5f32, "220.5"),
            (0.1, "0.1"),
            (1e-7, "1e-07"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (-0.0, "-0"),
            (16384.0, "16384"),
        ] {
            assert!(f(v).contains(&format!(r#""value":{s},"#)), "{v}: {}", f(v));
        }
        assert!(f(f32::NAN).contains(r#""value":null"#));
    }

    #[test]
    fn datetime_trimming() {
        let d = NaiveDate::from_ymd_opt(2026, 6, 5).unwrap();
        assert_eq!(datetime_micro(&d.and_hms_micro_opt(1, 2, 3, 0).unwrap()), "2026-06-05 01:02:03");
        assert_eq!(datetime_micro(&d.and_hms_micro_opt(1, 2, 3, 500_000).unwrap()), "2026-06-05 01:02:03.5");
        assert_eq!(datetime_micro(&d.and_hms_micro_opt(1, 2, 3, 1).unwrap()), "2026-06-05 01:02:03.000001");
        assert!(now_string(480).len() >= 19);
    }

    proptest::proptest! {
        /// The digit-by-digit writer prints what chrono's `%Y-%m-%d %H:%M:%S` and Go's `.999999`
        /// fraction print, for any microsecond from year 1 to 9999.
        #[test]
        fn datetime_micro_matches_chrono(us in -62_135_596_800_000_000i64..253_402_300_799_999_999i64) {
            let t = chrono::DateTime::from_timestamp_micros(us).unwrap().naive_utc();
            let mut want = t.format("%Y-%m-%d %H:%M:%S").to_string();
            let micros = t.and_utc().timestamp_subsec_micros();
            if micros != 0 {
                want.push('.');
                want.push_str(format!("{micros:06}").trim_end_matches('0'));
            }
            proptest::prop_assert_eq!(datetime_micro(&t), want);
        }
    }

    #[test]
    fn ioa_value_rules() {
        assert_eq!(ioa_value(r#"{"ioa":4004,"value":220.5}"#), Some((4004, "220.5".into())));
        assert_eq!(ioa_value(r#"{"ioa":1,"value":true}"#), Some((1, "true".into())));
        assert_eq!(ioa_value(r#"{"ioa":1,"value":16384}"#), Some((1, "16384".into())));
        assert_eq!(ioa_value(r#"{"ioa":6,"value":{"counterReading":-7,"seqNumber":1}}"#), Some((6, "-7".into())));
        assert_eq!(ioa_value(r#"{"ioa":4,"value":{"val":-5,"hasTransient":true}}"#), Some((4, "-5".into())));
        assert_eq!(ioa_value(r#"{"ioa":4,"value":{"x":1}}"#), Some((4, r#"{"x":1}"#.into())));
        assert_eq!(ioa_value(r#"{"ioa":4,"value":[1,2]}"#), Some((4, "[1,2]".into())));
        assert_eq!(ioa_value(r#"{"ioa":"12","value":"a"}"#), Some((12, "a".into())));
        assert_eq!(ioa_value(r#"{"ioa":9,"scd":1}"#), Some((9, String::new())));
        assert_eq!(ioa_value(r#"{"value":1}"#), None);
        assert_eq!(ioa_value(r#"{"ioa":1.5}"#), None);
        assert_eq!(ioa_value("not json"), None);
    }

    #[test]
    fn raw_msg_keeps_body_text() {
        let text = r#"{"msgId":"m","host":"h","port":2404,"asdu":"M_SP_NA_1","typeId":1,"dataType":0,"coa":1,"body":{"value":true,"ioa":5},"time":"t","metaData":{"b":1,"a":2}}"#;
        let r: RawMsg<'_> = serde_json::from_str(text).unwrap();
        assert_eq!(r.body.unwrap().get(), r#"{"value":true,"ioa":5}"#, "original key order kept");
        assert_eq!(r.meta_data.unwrap().get(), r#"{"b":1,"a":2}"#);
    }
}
