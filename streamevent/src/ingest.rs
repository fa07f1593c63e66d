//! What a chunk becomes in the tables (spec §4.3, on SQL instead of TDengine): a raw row for
//! each point whose mapping exists with `enable_raw_insert == 1`, and typed rows routed by the
//! mapping's `td_table_type` (`yc`: `telemetry_data`, `yx`: `tele_signal_data`).
//!
//! Two entries, one result: [`rows_of_points`] for typed points that carry their mapping (the
//! in-process path: nothing is parsed), and [`rows_of_pb`] for `PushChunkAsdu` messages (JSON
//! bodies parsed once, mappings looked up through the cache).

use crate::msg::{ioa_value_of, station_id};
use crate::pb::MsgBody;
use crate::point::{parse_local_us, PointMsg};
use crate::sink::{RawRow, Rows, TypedRow};
use crate::store::{MappingStore, PointMapping};
use iec104::point::PointValue;
use serde_json::Value;

/// Why a message produced no row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Skip {
    /// `body_raw` is not an object with an integer `ioa`.
    BadBody,
    /// No mapping for the point.
    Unmapped,
    /// Mapped with `enable_raw_insert != 1`.
    RawInsertDisabled,
    /// The mapping lookup failed.
    LookupFailed,
}

/// The station of a message: `metaData.stationId` (from `meta_data_raw`), else `host_port`.
pub fn station_of(m: &MsgBody) -> String {
    let meta = serde_json::from_str::<serde_json::Value>(&m.meta_data_raw)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    station_id(&meta, &m.host, u16::try_from(m.port).unwrap_or(0))
}

/// The last station id worked out (messages of a chunk come in runs from one station), so the
/// metadata JSON is parsed once per run instead of once per message.
#[derive(Debug, Default)]
pub struct StationCache {
    last: Option<(String, i32, String, String)>,
}

impl StationCache {
    fn get(&mut self, m: &MsgBody) -> String {
        match &self.last {
            Some((h, p, meta, sid)) if *h == m.host && *p == m.port && *meta == m.meta_data_raw => sid.clone(),
            _ => {
                let sid = station_of(m);
                self.last = Some((m.host.clone(), m.port, m.meta_data_raw.clone(), sid.clone()));
                sid
            }
        }
    }
}

/// The table types a mapping routes to: (`yc`, `yx`).
fn routes(pm: &PointMapping) -> (bool, bool) {
    let mut out = (false, false);
    for t in pm.td_table_type.split(',') {
        match t.trim() {
            "yc" => out.0 = true,
            "yx" => out.1 = true,
            _ => {}
        }
    }
    out
}

/// `ioa_value` of a typed value: the same text [`crate::msg::ioa_value`] gives for its JSON body.
pub fn value_text(v: &PointValue) -> String {
    match *v {
        PointValue::Single(b) => b.to_string(),
        PointValue::Double(d) => d.bits().to_string(),
        PointValue::Step { value, .. } => value.to_string(),
        PointValue::Bitstring(b) => b.to_string(),
        PointValue::Normalized(n) => n.0.to_string(),
        PointValue::Scaled(s) => s.to_string(),
        // the JSON body carries Go's shortest f32 text; a reader parses it as a double
        PointValue::Float(f) if f.is_finite() => Value::from(crate::point::shortest(f)).to_string(),
        PointValue::Float(_) => "null".to_owned(),
        PointValue::Counter(c) => c.value.to_string(),
        _ => String::new(),
    }
}

fn typed_row(p: &PointMsg, pm: &PointMapping, value: f64) -> TypedRow {
    TypedRow {
        ts: p.received_us,
        msg_id: p.msg_id_text(),
        data_type: crate::msg::data_type(p.type_id.0),
        value,
        quality: i32::from(p.point.quality.0),
        device_ms: p.device_ms(),
        tag_station: p.station().as_str().to_owned(),
        device_id: pm.device_id.clone(),
        tag_coa: i32::from(p.coa.0),
        tag_ioa: p.ioa() as i32,
    }
}

/// Appends the rows of typed points that carry their mapping: a raw row when the mapping
/// allows it, typed rows by `td_table_type`. Unmapped points give no row (as upstream).
///
/// Points a station may send again ([`PointMsg::resent_maybe`]) mark the rows
/// [`Rows::claim`].
pub fn rows_of_points<'a>(points: impl IntoIterator<Item = &'a PointMsg>, rows: &mut Rows) {
    for p in points {
        rows.claim |= p.resent_maybe;
        let Some(pm) = &p.pm else { continue };
        if pm.enable_raw_insert == 1 {
            let body = p.body();
            rows.raw.push(RawRow {
                ts: p.time_text(),
                msg_id: p.msg_id_text(),
                host_v: p.station.host.to_string(),
                port_v: i32::from(p.station.port),
                asdu: p.type_id.name().unwrap_or("").to_owned(),
                type_id: i32::from(p.type_id.0),
                data_type: crate::msg::data_type(p.type_id.0),
                coa: i32::from(p.coa.0),
                ioa: p.ioa() as i32,
                ioa_value: value_text(&p.point.value),
                raw_msg: serde_json::to_string(&body).unwrap_or_default(),
                tag_station: p.station().as_str().to_owned(),
            });
        }
        let (yc, yx) = routes(pm);
        if yc {
            if let Some(v) = p.value_f64() {
                rows.telemetry.push(typed_row(p, pm, v));
            }
        }
        if yx {
            if let Some(s) = p.signal() {
                rows.signals.push(typed_row(p, pm, f64::from(u8::from(s))));
            }
        }
    }
}

/// The raw and typed rows of `PushChunkAsdu` messages, with the count of messages skipped per
/// reason. Push and device times are read at `utc_offset_minutes`.
///
/// # Errors
/// [`Skip::LookupFailed`] when a mapping lookup failed: the caller fails the call so that the
/// sender retries the chunk (the Go service drops the point).
pub async fn rows_of_pb(
    store: &MappingStore,
    msgs: &[MsgBody],
    utc_offset_minutes: i32,
    mut skipped: impl FnMut(Skip),
) -> Result<Rows, Skip> {
    let mut rows = Rows::default();
    let mut stations = StationCache::default();
    for m in msgs {
        // the body is parsed once, for the raw row's value and the typed rows
        let body: Value = serde_json::from_str(&m.body_raw).unwrap_or_default();
        let Some((ioa, value)) = ioa_value_of(&body) else {
            skipped(Skip::BadBody);
            continue;
        };
        let (Ok(ioa), Ok(coa)) = (i32::try_from(ioa), i32::try_from(m.coa)) else {
            skipped(Skip::BadBody);
            continue;
        };
        let station = stations.get(m);
        let pm = match store.lookup(&station, coa, ioa).await {
            Err(_) => return Err(Skip::LookupFailed),
            Ok(None) => {
                skipped(Skip::Unmapped);
                continue;
            }
            Ok(Some(pm)) => pm,
        };
        let (yc, yx) = routes(&pm);
        if yc || yx {
            let quality = body.get("qds").or_else(|| body.get("qdp")).and_then(Value::as_i64).unwrap_or(0);
            let device_ms = body
                .get("time")
                .and_then(Value::as_str)
                .and_then(|t| parse_local_us(t, utc_offset_minutes))
                .map(|us| us.div_euclid(1000));
            // a normalised value's number is its fraction (`nva`), as on the typed path
            let number = match (body.get("nva").and_then(Value::as_f64), value.as_str()) {
                (Some(nva), _) => Some(nva),
                (None, "true") => Some(1.0),
                (None, "false") => Some(0.0),
                (None, t) => t.parse::<f64>().ok(),
            };
            if let Some(v) = number {
                let row = TypedRow {
                    ts: parse_local_us(&m.time, utc_offset_minutes).unwrap_or(0),
                    msg_id: m.msg_id.clone(),
                    data_type: m.data_type,
                    value: v,
                    quality: quality as i32,
                    device_ms,
                    tag_station: station.clone(),
                    device_id: pm.device_id.clone(),
                    tag_coa: coa,
                    tag_ioa: ioa,
                };
                if yx {
                    // a double point's ON is 2; every other type is on when not 0
                    let on = if matches!(m.type_id, 3 | 4 | 31) { v == 2.0 } else { v != 0.0 };
                    rows.signals.push(TypedRow { value: f64::from(u8::from(on)), ..row.clone() });
                }
                if yc {
                    rows.telemetry.push(row);
                }
            }
        }
        if pm.enable_raw_insert != 1 {
            skipped(Skip::RawInsertDisabled);
            continue;
        }
        rows.raw.push(RawRow {
            ts: m.time.clone(),
            msg_id: m.msg_id.clone(),
            host_v: m.host.clone(),
            port_v: m.port,
            asdu: m.asdu.clone(),
            type_id: m.type_id,
            data_type: m.data_type,
            coa,
            ioa,
            ioa_value: value,
            raw_msg: m.body_raw.clone(),
            tag_station: station,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::point::Station;
    use iec104::asdu::Bcr;
    use iec104::asdu::Nva;
    use iec104::point::{Point, TimeTag};
    use iec104::types::{CommonAddress, Cp56Time2a, DoublePoint, Ioa, Qds, TypeId};
    use std::sync::Arc;
    use std::time::Duration;

    fn points() -> Vec<PointMsg> {
        let st = Station::new("10.0.0.5", 2404, Default::default(), 480);
        let t = Cp56Time2a::new(26, 6, 5, 14, 30, 1_500).unwrap();
        let cases: Vec<(TypeId, PointValue, TimeTag)> = vec![
            (TypeId::M_SP_NA_1, PointValue::Single(true), TimeTag::None),
            (TypeId::M_DP_TB_1, PointValue::Double(DoublePoint::On), TimeTag::Cp56(t)),
            (TypeId::M_DP_NA_1, PointValue::Double(DoublePoint::Off), TimeTag::None),
            (TypeId::M_ST_NA_1, PointValue::Step { value: -5, transient: true }, TimeTag::None),
            (TypeId::M_BO_NA_1, PointValue::Bitstring(0x1234_5678), TimeTag::None),
            (TypeId::M_ME_NA_1, PointValue::Normalized(Nva(16384)), TimeTag::None),
            (TypeId::M_ME_NB_1, PointValue::Scaled(-1000), TimeTag::None),
            (TypeId::M_ME_TF_1, PointValue::Float(220.5), TimeTag::Cp56(t)),
            (TypeId::M_ME_NC_1, PointValue::Float(0.1), TimeTag::None),
            (TypeId::M_ME_NC_1, PointValue::Float(1e-7), TimeTag::None),
            (TypeId::M_ME_NC_1, PointValue::Float(3e21), TimeTag::None),
            (TypeId::M_IT_NA_1, PointValue::Counter(Bcr::new(-123_456, 17, false, false, false)), TimeTag::None),
        ];
        cases
            .into_iter()
            .enumerate()
            .map(|(i, (tid, v, time))| {
                let mut pt = Point::new(Ioa::new(100 + i as u32).unwrap(), v);
                pt.time = time;
                pt.quality = Qds(if i % 3 == 0 { 0x80 } else { 0 });
                let mut p = PointMsg::new(st.clone(), tid, CommonAddress(1), pt, 1_780_640_000_123_456 + i as i64);
                let mut pm = PointMapping::new("10_0_0_5_2404", 1, 100 + i as i32);
                pm.device_id = format!("d{i}");
                pm.td_table_type = "yc,yx".into();
                p.pm = Some(Arc::new(pm));
                p
            })
            .collect()
    }

    #[test]
    fn value_text_matches_the_json_path() {
        for p in points() {
            let body = serde_json::to_string(&p.body()).unwrap();
            let (_, want) = crate::msg::ioa_value(&body).unwrap();
            assert_eq!(value_text(&p.point.value), want, "{:?}", p.point.value);
        }
    }

    /// The typed path and the PushChunkAsdu path make the same rows of the same points.
    #[tokio::test]
    async fn typed_and_pb_paths_agree() {
        let db = crate::store::Db::connect("sqlite::memory:").await.unwrap();
        db.migrate().await.unwrap();
        let store = MappingStore::new(db, Duration::from_secs(60));
        let pts = points();
        for p in &pts {
            store.upsert(p.pm.as_ref().unwrap()).await.unwrap();
        }
        let mut typed = Rows::default();
        rows_of_points(&pts, &mut typed);
        let pb: Vec<MsgBody> = pts.iter().map(PointMsg::to_pb).collect();
        let from_pb = rows_of_pb(&store, &pb, 480, |s| panic!("skipped {s:?}")).await.unwrap();
        assert_eq!(typed.raw, from_pb.raw);
        assert_eq!(typed.telemetry.len(), pts.len());
        assert_eq!(typed.signals, from_pb.signals);
        assert_eq!(typed.telemetry, from_pb.telemetry);
        let sig: Vec<f64> = typed.signals.iter().map(|r| r.value).collect();
        assert_eq!(sig[..3], [1.0, 1.0, 0.0], "single on, double ON, double OFF");
        assert_eq!(typed.telemetry[5].value, 0.5, "a normalised value's fraction");
        let utc = chrono::NaiveDate::from_ymd_opt(2026, 6, 5).unwrap().and_hms_milli_opt(6, 30, 1, 500).unwrap();
        assert_eq!(typed.telemetry[1].device_ms, Some(utc.and_utc().timestamp_millis()), "CP56 read at UTC+8");
    }
}
