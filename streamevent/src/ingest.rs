//! What `PushChunkAsdu` does with each message (spec §4.3, on SQL instead of TDengine): parse the
//! body, find its station and mapping, and produce a raw row only when a mapping exists with
//! `enable_raw_insert == 1`.

use crate::msg::{ioa_value, station_id};
use crate::pb::MsgBody;
use crate::sink::RawRow;
use crate::store::MappingStore;

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

/// The raw row of one message, or why there is none.
pub async fn row_for(
    store: &MappingStore,
    m: &MsgBody,
    chunk_id: &str,
    stations: &mut StationCache,
) -> Result<RawRow, Skip> {
    let (ioa, value) = ioa_value(&m.body_raw).ok_or(Skip::BadBody)?;
    let ioa = i32::try_from(ioa).map_err(|_| Skip::BadBody)?;
    let coa = i32::try_from(m.coa).map_err(|_| Skip::BadBody)?;
    let station = stations.get(m);
    match store.lookup(&station, coa, ioa).await {
        Err(_) => Err(Skip::LookupFailed),
        Ok(None) => Err(Skip::Unmapped),
        Ok(Some(pm)) if pm.enable_raw_insert != 1 => Err(Skip::RawInsertDisabled),
        Ok(Some(_)) => Ok(RawRow {
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
            chunk_id: chunk_id.to_owned(),
        }),
    }
}
