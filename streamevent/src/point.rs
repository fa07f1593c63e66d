//! The typed point: what a master received, carried from the master to the sink without being
//! serialised. JSON ([`crate::msg::MsgBody`], byte-compatible with spec §1.4) and protobuf are
//! made from it only where a point leaves the process (Kafka, MQTT, gRPC), and at most once
//! ([`PointMsg::json`] caches its text).
//!
//! ```
//! use iec104::point::{Point, PointValue};
//! use iec104::types::{CommonAddress, Ioa, TypeId};
//! use streamevent::point::{PointMsg, Station};
//! let st = Station::new("10.0.0.5", 2404, Default::default(), 480);
//! let p = PointMsg::new(st, TypeId::M_ME_NC_1, CommonAddress(1), Point::new(Ioa::new(4004).unwrap(), PointValue::Float(220.5)), 0);
//! assert_eq!(p.key().to_string(), "10.0.0.5_1_0x000fa4");
//! assert_eq!(p.station().as_str(), "10_0_0_5_2404");
//! assert!(p.json().contains(r#""body":{"ioa":4004,"value":220.5,"#));
//! assert_eq!(p.value_f64(), Some(220.5));
//! ```

use crate::id::{PointKey, StationId};
use crate::msg::{datetime_micro, Body, MsgBody};
use crate::store::PointMapping;
use iec104::point::{Point, PointValue, TimeTag};
use iec104::types::{CommonAddress, DoublePoint, TypeId};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// A station as its points carry it: address, metadata, id, and the time zone its push times are
/// written in. Shared by every point of the station.
#[derive(Debug, Clone, PartialEq)]
pub struct Station {
    /// Host as configured.
    pub host: Arc<str>,
    /// Port.
    pub port: u16,
    /// The configured `MetaData` (copied into every message).
    pub meta_data: Map<String, Value>,
    /// [`StationId`] by the platform's rule.
    pub id: StationId,
    /// Minutes east of UTC of the push-time text (Asia/Shanghai: 480).
    pub utc_offset_minutes: i32,
}

impl Station {
    /// A station.
    pub fn new(host: &str, port: u16, meta_data: Map<String, Value>, utc_offset_minutes: i32) -> Arc<Station> {
        let id = StationId::new(&meta_data, host, port);
        Arc::new(Station { host: host.into(), port, meta_data, id, utc_offset_minutes })
    }
}

/// One information object as the master received it, with its station, push time, message id
/// and point mapping.
#[derive(Clone)]
pub struct PointMsg {
    /// The station.
    pub station: Arc<Station>,
    /// Type identification it arrived as.
    pub type_id: TypeId,
    /// Common address.
    pub coa: CommonAddress,
    /// IOA, value, quality and time tag.
    pub point: Point,
    /// Push time (when the master received it), Unix microseconds.
    pub received_us: i64,
    /// The message id (UUIDv7; `msgId` as 32 hex digits).
    pub msg_id: u128,
    /// The point's mapping, when the push decision found one.
    pub pm: Option<Arc<PointMapping>>,
    /// Kept until the point is stored (or delivered by every channel), then dropped: with a
    /// station acknowledged only after storing, the master's receipt for the frame the point
    /// came in (`iec104::master::Receipt`), whose drop acknowledges the frame.
    pub hold: Option<Arc<dyn std::any::Any + Send + Sync>>,
    /// The station may send this point again (it is acknowledged only once stored, and sends
    /// what was not acknowledged again after a crash): a sink claims its msgId even where it
    /// claims only chunks otherwise. See [`PointMsg::resendable`].
    pub resent_maybe: bool,
    json: OnceLock<Arc<str>>,
}

impl std::fmt::Debug for PointMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PointMsg")
            .field("station", &self.station.id)
            .field("type_id", &self.type_id)
            .field("coa", &self.coa)
            .field("point", &self.point)
            .field("received_us", &self.received_us)
            .field("msg_id", &self.msg_id_text())
            .field("pm", &self.pm.is_some())
            .field("held", &self.hold.is_some())
            .finish()
    }
}

/// Unix microseconds now.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A fresh message id (UUIDv7).
pub fn new_msg_id() -> u128 {
    uuid::Uuid::now_v7().as_u128()
}

impl PointMsg {
    /// A point received at `received_us` (Unix microseconds), with a fresh message id.
    pub fn new(station: Arc<Station>, type_id: TypeId, coa: CommonAddress, point: Point, received_us: i64) -> PointMsg {
        PointMsg {
            station,
            type_id,
            coa,
            point,
            received_us,
            msg_id: new_msg_id(),
            pm: None,
            hold: None,
            resent_maybe: false,
            json: OnceLock::new(),
        }
    }

    /// Marks the point as one the station may send again (it is acknowledged only once stored)
    /// and holds `hold` (the frame's receipt) until the point is dropped. A time-tagged point
    /// gets a msgId derived from what it says (a UUIDv5 of station, common address, type, IOA,
    /// value, quality and device time), so the copy the station sends again after a crash has
    /// the same msgId and a sink that claims msgIds stores it once. A point without a time tag
    /// keeps its fresh msgId: it has no identity of its own, and a copy sent again is stored
    /// again (at least once).
    pub fn resendable(mut self, hold: Option<Arc<dyn std::any::Any + Send + Sync>>) -> PointMsg {
        if self.is_event() {
            let what = format!(
                "{}/{}/{}/{}/{:?}/{:?}/{:?}",
                self.station.id.as_str(),
                self.coa.0,
                self.type_id.0,
                self.ioa(),
                self.point.value,
                self.point.quality,
                self.point.time
            );
            self.msg_id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, what.as_bytes()).as_u128();
        }
        self.hold = hold;
        self.resent_maybe = true;
        self
    }

    /// The station id.
    pub fn station(&self) -> &StationId {
        &self.station.id
    }

    /// IOA as a number.
    pub fn ioa(&self) -> u32 {
        self.point.ioa.get()
    }

    /// The upstream point key.
    pub fn key(&self) -> PointKey {
        PointKey::new(self.station.host.clone(), u32::from(self.coa.0), self.ioa())
    }

    /// `msgId` text (32 lower-case hex digits, as the upstream's SimpleUUID).
    pub fn msg_id_text(&self) -> String {
        uuid::Uuid::from_u128(self.msg_id).simple().to_string()
    }

    /// The push time as upstream writes it: datetime-micro at the station's UTC offset.
    pub fn time_text(&self) -> String {
        local_text(self.received_us, self.station.utc_offset_minutes)
    }

    /// A time-tagged event (types 2, 4, ... 30-40): never merged away by compaction.
    pub fn is_event(&self) -> bool {
        !matches!(self.point.time, TimeTag::None)
    }

    /// The numeric value (for dead bands and the telemetry table): measured values, counters,
    /// steps, bitstrings, and single/double states as 0/1 and their DPI.
    pub fn value_f64(&self) -> Option<f64> {
        value_f64(&self.point.value)
    }

    /// The state of a tele-signal: single point on, double point ON, else any non-zero value.
    pub fn signal(&self) -> Option<bool> {
        match self.point.value {
            PointValue::Single(v) => Some(v),
            PointValue::Double(d) => Some(d == DoublePoint::On),
            _ => self.value_f64().map(|v| v != 0.0),
        }
    }

    /// The device time tag in Unix milliseconds, reading a CP56Time2a as wall time at the
    /// station's UTC offset; `None` without a full time tag.
    pub fn device_ms(&self) -> Option<i64> {
        match self.point.time {
            TimeTag::Cp56(t) if !t.invalid() => {
                Some(t.to_unix_millis() - i64::from(self.station.utc_offset_minutes) * 60_000)
            }
            _ => None,
        }
    }

    /// The `body` of the message.
    pub fn body(&self) -> Body {
        Body::from_point(&self.point)
    }

    /// The upstream message (spec §1.4).
    pub fn to_msg_body(&self) -> MsgBody {
        MsgBody {
            msg_id: self.msg_id_text(),
            host: self.station.host.to_string(),
            port: self.station.port,
            asdu: self.type_id.name().unwrap_or("").to_owned(),
            type_id: self.type_id.0,
            data_type: crate::msg::data_type(self.type_id.0),
            coa: u32::from(self.coa.0),
            body: self.body(),
            time: self.time_text(),
            meta_data: self.station.meta_data.clone(),
            pm: self.pm.as_ref().map(|p| p.to_json()),
            headers: BTreeMap::new(),
            trace_id: String::new(),
        }
    }

    /// The JSON text, made on first use and kept.
    pub fn json(&self) -> Arc<str> {
        self.json.get_or_init(|| self.to_msg_body().to_json().into()).clone()
    }

    /// The protobuf form (`streamevent.MsgBody`: body and metadata as JSON text).
    pub fn to_pb(&self) -> crate::pb::MsgBody {
        let m = self.to_msg_body();
        crate::pb::MsgBody {
            body_raw: serde_json::to_string(&m.body).unwrap_or_default(),
            meta_data_raw: if m.meta_data.is_empty() {
                String::new()
            } else {
                serde_json::to_string(&m.meta_data).unwrap_or_default()
            },
            pm: m.pm.map(crate::pb::PointMapping::from),
            msg_id: m.msg_id,
            host: m.host,
            port: i32::from(m.port),
            asdu: m.asdu,
            type_id: i32::from(m.type_id),
            data_type: m.data_type,
            coa: m.coa,
            time: m.time,
            trace_id: m.trace_id,
            headers: m.headers.into_iter().collect(),
        }
    }
}

/// The double a reader of the JSON text gets for an `f32`: its shortest decimal form (0.1, not
/// 0.10000000149).
pub(crate) fn shortest(v: f32) -> f64 {
    if v.is_finite() {
        v.to_string().parse().unwrap_or(f64::from(v))
    } else {
        f64::from(v)
    }
}

/// A datetime-micro text written at `utc_offset_minutes` as Unix microseconds (the inverse of
/// [`local_text`]); `None` when it is not one.
pub fn parse_local_us(text: &str, utc_offset_minutes: i32) -> Option<i64> {
    let t = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok()?;
    Some(t.and_utc().timestamp_micros() - i64::from(utc_offset_minutes) * 60_000_000)
}

/// Unix microseconds as datetime-micro text at `utc_offset_minutes`.
pub fn local_text(us: i64, utc_offset_minutes: i32) -> String {
    let t = chrono::DateTime::from_timestamp_micros(us + i64::from(utc_offset_minutes) * 60_000_000)
        .unwrap_or_default()
        .naive_utc();
    datetime_micro(&t)
}

/// The numeric value of a point value (see [`PointMsg::value_f64`]).
pub fn value_f64(v: &PointValue) -> Option<f64> {
    Some(match *v {
        PointValue::Single(v) => f64::from(u8::from(v)),
        PointValue::Double(d) => f64::from(d.bits()),
        PointValue::Step { value, .. } => f64::from(value),
        PointValue::Bitstring(b) => f64::from(b),
        PointValue::Normalized(n) => shortest(n.to_f32()),
        PointValue::Scaled(v) => f64::from(v),
        PointValue::Float(v) => shortest(v),
        PointValue::Counter(c) => f64::from(c.value),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use iec104::types::{Cp56Time2a, Ioa, Qds};
    use serde_json::json;

    #[test]
    fn a_resendable_event_is_named_by_what_it_says() {
        let st = Station::new("10.0.0.5", 2404, Default::default(), 480);
        let at = |ms: i64, v: f32| Point {
            ioa: Ioa::new(7).unwrap(),
            value: PointValue::Float(v),
            quality: Qds::GOOD,
            time: TimeTag::Cp56(Cp56Time2a::from_unix_millis(ms)),
        };
        let msg = |p: Point| PointMsg::new(st.clone(), TypeId(36), CommonAddress(1), p, now_us());
        let hold: Arc<dyn std::any::Any + Send + Sync> = Arc::new(());
        let a = msg(at(1_000, 1.5)).resendable(Some(hold.clone()));
        let again = msg(at(1_000, 1.5)).resendable(None);
        assert_eq!(a.msg_id, again.msg_id, "the copy sent again has the same msgId");
        assert!(a.resent_maybe && a.hold.is_some());
        assert_ne!(a.msg_id, msg(at(1_001, 1.5)).resendable(None).msg_id, "another device time");
        assert_ne!(a.msg_id, msg(at(1_000, 2.5)).resendable(None).msg_id, "another value");
        // without a time tag a point has no identity: a fresh msgId each time
        let plain = |v| msg(Point::new(Ioa::new(7).unwrap(), PointValue::Float(v)));
        assert_ne!(plain(1.5).resendable(None).msg_id, plain(1.5).resendable(None).msg_id);
        // the receipt is released when the last point holding it goes
        drop((a, again));
        assert_eq!(Arc::strong_count(&hold), 1);
    }

    #[test]
    fn the_typed_point_serialises_as_the_upstream_message() {
        let meta = json!({"stationId": "330KV"}).as_object().unwrap().clone();
        let st = Station::new("10.0.0.5", 2404, meta, 480);
        // 2026-06-05 06:30:00.1234 UTC is 14:30:00.1234 in Shanghai
        let us = chrono::NaiveDate::from_ymd_opt(2026, 6, 5)
            .unwrap()
            .and_hms_micro_opt(6, 30, 0, 123_400)
            .unwrap()
            .and_utc()
            .timestamp_micros();
        let mut p = PointMsg::new(
            st,
            TypeId::M_ME_NC_1,
            CommonAddress(1),
            Point::new(Ioa::new(4004).unwrap(), PointValue::Float(220.5)),
            us,
        );
        p.msg_id = 0x0190abcd;
        let mut pm = PointMapping::new("330KV", 1, 4004);
        pm.device_id = "d1".into();
        pm.device_name = "T1".into();
        pm.td_table_type = "yc".into();
        pm.ext_1 = "alarm".into();
        p.pm = Some(Arc::new(pm));
        let expected = concat!(
            r#"{"msgId":"MSGID","#,
            r#""host":"10.0.0.5","port":2404,"asdu":"M_ME_NC_1","typeId":13,"dataType":6,"#,
            r#""coa":1,"body":{"ioa":4004,"value":220.5,"qds":0,"qdsDesc":"QDS(00000000)[QDSGood]","ov":false,"#,
            r#""bl":false,"sb":false,"nt":false,"iv":false,"time":""},"time":"2026-06-05 14:30:00.1234","#,
            r#""metaData":{"stationId":"330KV"},"pm":{"deviceId":"d1","deviceName":"T1","tdTableType":"yc","#,
            r#""ext1":"alarm","ext2":"","ext3":"","ext4":"","ext5":""}}"#
        );
        assert_eq!(p.msg_id_text(), format!("{:032x}", 0x0190abcd_u128));
        assert_eq!(&*p.json(), expected.replacen("MSGID", &p.msg_id_text(), 1));
        assert_eq!(p.station().as_str(), "330KV");
        let pb = p.to_pb();
        assert_eq!(
            pb.body_raw,
            r#"{"ioa":4004,"value":220.5,"qds":0,"qdsDesc":"QDS(00000000)[QDSGood]","ov":false,"bl":false,"sb":false,"nt":false,"iv":false,"time":""}"#
        );
        assert_eq!(
            (pb.meta_data_raw.as_str(), pb.time.as_str()),
            (r#"{"stationId":"330KV"}"#, "2026-06-05 14:30:00.1234")
        );
        assert_eq!(pb.pm.unwrap().td_table_type, "yc");
    }

    #[test]
    fn values_signals_and_device_time() {
        let st = Station::new("h", 1, Map::new(), 480);
        let t = Cp56Time2a::new(26, 6, 5, 14, 30, 1_500).unwrap();
        let mut pt = Point::new(Ioa::new(1).unwrap(), PointValue::Double(DoublePoint::On));
        pt.time = TimeTag::Cp56(t);
        pt.quality = Qds(0);
        let p = PointMsg::new(st.clone(), TypeId::M_DP_TB_1, CommonAddress(1), pt, 0);
        assert_eq!((p.value_f64(), p.signal(), p.is_event()), (Some(2.0), Some(true), true));
        let utc = chrono::NaiveDate::from_ymd_opt(2026, 6, 5).unwrap().and_hms_milli_opt(6, 30, 1, 500).unwrap();
        assert_eq!(p.device_ms(), Some(utc.and_utc().timestamp_millis()));
        let off = PointMsg::new(
            st,
            TypeId::M_DP_NA_1,
            CommonAddress(1),
            Point::new(Ioa::new(1).unwrap(), PointValue::Double(DoublePoint::Off)),
            0,
        );
        assert_eq!((off.signal(), off.device_ms(), off.is_event()), (Some(false), None, false));
    }
}
