//! The `ieccaller.IecCaller` gRPC service (spec §2.2).
//!
//! Differences from the Go service, on purpose: out-of-range values are refused with 101103
//! instead of being truncated; an unknown point mapping is 102102 (not 102101); the typed
//! commands 58-64 work (the Go stack cannot receive their confirmations).

use super::cluster::{ClusterLink, ExecFuture, Executor};
use super::pb;
use super::pb::iec_caller_server::IecCaller;
use super::station::{StationHandle, Stations};
use crate::errcode::status;
use crate::errcode::ErrCode;
use crate::store::{MappingStore, PointMapping};
use iec104::asdu::{Cause, InfoObjects, OwnedAsdu, Qcc, Qrp, Read};
use iec104::master::{CommandMode, CommandOutcome, CommandValue};
use iec104::types::{CommonAddress, Cot, Cp56Time2a, Ioa};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The service.
pub struct Service {
    stations: Stations,
    store: Option<Arc<MappingStore>>,
    utc_offset: i32,
    cluster: Option<Arc<ClusterLink>>,
}

impl Service {
    /// Over running stations and an optional mapping store.
    pub fn new(
        stations: Stations,
        store: Option<Arc<MappingStore>>,
        utc_offset_minutes: i32,
        cluster: Option<Arc<ClusterLink>>,
    ) -> Service {
        Service { stations, store, utc_offset: utc_offset_minutes, cluster }
    }

    /// In cluster mode, a call for a station this instance does not poll goes to its owner.
    async fn remote<Req: prost::Message, Res: prost::Message + Default>(
        &self,
        rpc: &str,
        host: &str,
        port: u32,
        req: &Req,
    ) -> Option<Result<Res, Status>> {
        if self.stations.get(host, port).is_some() {
            return None;
        }
        Some(self.cluster.as_ref()?.forward(rpc, req).await)
    }

    fn station(&self, host: &str, port: u32) -> Result<Arc<StationHandle>, Status> {
        self.stations
            .get(host, port)
            .ok_or_else(|| ErrCode::RemoteCallFailed.status(format!("client does not exist: {host}:{port}")))
    }

    fn now(&self) -> Cp56Time2a {
        Cp56Time2a::from_unix_millis(chrono::Utc::now().timestamp_millis() + i64::from(self.utc_offset) * 60_000)
    }

    fn store(&self) -> Result<&Arc<MappingStore>, Status> {
        self.store.as_ref().ok_or_else(|| ErrCode::BusinessFailure.status("no point-mapping database configured"))
    }

    async fn typed(
        &self,
        host: &str,
        port: u32,
        coa: u32,
        ioa: u32,
        value: CommandValue,
        with_time: bool,
    ) -> Result<CommandOutcome, Status> {
        let (ca, ioa) = (ca(coa)?, io(ioa)?);
        let st = self.station(host, port)?;
        let time = with_time.then(|| self.now());
        let out = st.master.command(ca, ioa, value, CommandMode::Direct, time, false).await.map_err(command_error)?;
        if out.is_positive() {
            Ok(out)
        } else {
            Err(rejected(&out, ca, ioa))
        }
    }

    async fn send(&self, host: &str, port: u32, asdu: OwnedAsdu) -> Result<(), Status> {
        self.station(host, port)?.master.send(asdu).await.map_err(command_error)
    }
}

/// The DCS on the wire for a `DoubleCommandValue` (IEC 60870-5-101 7.2.6.16: 1 = OFF, 2 = ON).
///
/// The gRPC enum numbers stay as upstream (`DCO_NOT_ALLOWED = 0`, `DCO_ON = 1`, `DCO_OFF = 2`),
/// but the upstream sends the enum number itself as the DCS, so its `DCO_ON` switches a breaker
/// OFF. Here the value means what the caller asked: `DCO_ON` -> DCS 2, `DCO_OFF` -> DCS 1, and
/// `DCO_NOT_ALLOWED` -> DCS 0 (the "not permitted" code a station refuses).
///
/// # Errors
/// 101103 for a number that is not a `DoubleCommandValue`.
pub fn dcs_of(value: i32) -> Result<u8, Status> {
    match pb::DoubleCommandValue::try_from(value) {
        Ok(pb::DoubleCommandValue::DcoOn) => Ok(2),
        Ok(pb::DoubleCommandValue::DcoOff) => Ok(1),
        Ok(pb::DoubleCommandValue::DcoNotAllowed) => Ok(0),
        Err(_) => Err(ErrCode::InvalidParam.status(format!("value {value} is not a DoubleCommandValue"))),
    }
}

fn ca(coa: u32) -> Result<CommonAddress, Status> {
    u16::try_from(coa).map(CommonAddress).map_err(|_| ErrCode::InvalidParam.status(format!("coa {coa} exceeds 65535")))
}

fn io(ioa: u32) -> Result<Ioa, Status> {
    Ioa::new(ioa).ok_or_else(|| ErrCode::InvalidParam.status(format!("ioa {ioa} exceeds 16777215")))
}

/// Spec §1.5 error mapping.
fn command_error(e: iec104::Error) -> Status {
    match e {
        iec104::Error::Timeout(w) => ErrCode::Timeout.status(format!("timed out waiting for {w}")),
        iec104::Error::Duplicate { .. } => ErrCode::DuplicateOperation.status(e.to_string()),
        iec104::Error::NotConnected | iec104::Error::Stopped => ErrCode::ThirdPartyFailure.status("not connected"),
        iec104::Error::Encode(e) => ErrCode::InvalidParam.status(e.to_string()),
        other => ErrCode::ThirdPartyFailure.status(other.to_string()),
    }
}

fn cot_name(c: Cot) -> &'static str {
    match c {
        Cot::ACTIVATION_CON => "ActivationCon",
        Cot::DEACTIVATION_CON => "DeactivationCon",
        Cot::ACTIVATION_TERMINATION => "ActivationTerm",
        Cot::ACTIVATION => "Activation(echo)",
        Cot::REQUEST => "Request",
        Cot::UNKNOWN_TYPE_ID => "UnknownTypeID",
        Cot::UNKNOWN_COT => "UnknownCOT",
        Cot::UNKNOWN_CA => "UnknownCA",
        Cot::UNKNOWN_IOA => "UnknownIOA",
        _ => "Unknown",
    }
}

fn rejected(out: &CommandOutcome, ca: CommonAddress, ioa: Ioa) -> Status {
    let c = out.termination.filter(|t| t.negative).unwrap_or(out.confirmation);
    ErrCode::StateNotAllowed.status(format!(
        "command rejected: cot={} isNegative={} typeId={} coa={} ioa={}",
        cot_name(c.cot),
        c.negative,
        out.echo.type_id().0,
        ca.0,
        ioa.get()
    ))
}

/// A mapping row as the gRPC surface shows it: its numeric id, and its times as datetime-micro at
/// `utc_offset` minutes (upstream reports id 0 for every row).
fn to_pb(m: &PointMapping, utc_offset: i32) -> pb::PbDevicePointMapping {
    pb::PbDevicePointMapping {
        id: m.num_id,
        create_time: crate::point::local_text(m.create_us, utc_offset),
        update_time: crate::point::local_text(m.update_us, utc_offset),
        tag_station: m.tag_station.clone(),
        coa: i64::from(m.coa),
        ioa: i64::from(m.ioa),
        device_id: m.device_id.clone(),
        device_name: m.device_name.clone(),
        td_table_type: m.td_table_type.clone(),
        enable_push: m.enable_push,
        description: m.description.clone(),
        ext1: m.ext_1.clone(),
        ext2: m.ext_2.clone(),
        ext3: m.ext_3.clone(),
        ext4: m.ext_4.clone(),
        ext5: m.ext_5.clone(),
    }
}

/// Parses a float set-point the way the spec asks: a number with at most 7 significant digits.
pub fn parse_setpoint(s: &str) -> Result<f32, Status> {
    let t = s.trim();
    let v: f32 = t.parse().map_err(|_| ErrCode::InvalidParam.status(format!("value {s:?} is not a number")))?;
    if !v.is_finite() {
        return Err(ErrCode::InvalidParam.status(format!("value {s:?} is not finite")));
    }
    let mantissa = t.split(['e', 'E']).next().unwrap_or(t);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    if significant > 7 {
        return Err(ErrCode::InvalidParam.status(format!("value {s:?} has more than 7 significant digits")));
    }
    Ok(v)
}

/// The generic SendCommand: the ASDU for `type_id` with `value` coerced per type.
fn generic_asdu(type_id: u32, ca: CommonAddress, ioa: Ioa, value: &str, now: Cp56Time2a) -> Result<OwnedAsdu, Status> {
    let bad = |what: &str| ErrCode::InvalidParam.status(format!("value {value:?} is not {what} for type {type_id}"));
    let time = |tid: u32| (tid >= 58).then_some(now);
    let act = |body| OwnedAsdu { cause: Cause::new(Cot::ACTIVATION), common_address: ca, body };
    let cmd = |v: CommandValue, tid: u32| act(v.body(ioa, false, time(tid)));
    Ok(match type_id {
        45 | 58 => {
            let on = match value.trim() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(bad("a boolean")),
            };
            cmd(CommandValue::Single { on, qu: 0 }, type_id)
        }
        46 | 59 => {
            cmd(CommandValue::Double { state: value.trim().parse().map_err(|_| bad("a DCS 0..=3"))?, qu: 0 }, type_id)
        }
        47 | 60 => {
            cmd(CommandValue::Step { state: value.trim().parse().map_err(|_| bad("an RCS 0..=3"))?, qu: 0 }, type_id)
        }
        48 | 61 => cmd(
            CommandValue::Normalized(iec104::asdu::Nva(value.trim().parse().map_err(|_| bad("an int16"))?)),
            type_id,
        ),
        49 | 62 => cmd(CommandValue::Scaled(value.trim().parse().map_err(|_| bad("an int16"))?), type_id),
        50 | 63 => cmd(CommandValue::Float(parse_setpoint(value)?), type_id),
        51 | 64 => cmd(CommandValue::Bitstring(value.trim().parse().map_err(|_| bad("a uint32"))?), type_id),
        100 => OwnedAsdu::new(
            Cause::new(Cot::ACTIVATION),
            ca,
            InfoObjects::one(Ioa::default(), iec104::asdu::Qoi::STATION),
        ),
        101 => OwnedAsdu::new(Cause::new(Cot::ACTIVATION), ca, InfoObjects::one(Ioa::default(), Qcc::new(5, 0))),
        102 => OwnedAsdu::new(Cause::new(Cot::REQUEST), ca, InfoObjects::one(ioa, Read)),
        103 => OwnedAsdu::new(Cause::new(Cot::ACTIVATION), ca, InfoObjects::one(Ioa::default(), now)),
        105 => OwnedAsdu::new(Cause::new(Cot::ACTIVATION), ca, InfoObjects::one(Ioa::default(), Qrp::GENERAL)),
        107 => OwnedAsdu::new(
            Cause::new(Cot::ACTIVATION),
            ca,
            InfoObjects::one(Ioa::default(), iec104::asdu::TestWithTime { tsc: 0, time: now }),
        ),
        other => return Err(ErrCode::InvalidParam.status(format!("unknown type id {other}"))),
    })
}

#[tonic::async_trait]
impl IecCaller for Service {
    async fn ping(&self, req: Request<pb::Req>) -> Result<Response<pb::Res>, Status> {
        Ok(Response::new(pb::Res { pong: req.into_inner().ping }))
    }

    async fn send_test_cmd(&self, req: Request<pb::SendTestCmdReq>) -> Result<Response<pb::SendTestCmdRes>, Status> {
        let r = req.into_inner();
        if let Some(out) = self.remote::<_, pb::SendTestCmdRes>("SendTestCmd", &r.host, r.port, &r).await {
            return out.map(Response::new);
        }
        let v = iec104::asdu::TestWithTime { tsc: 0, time: self.now() };
        self.send(
            &r.host,
            r.port,
            OwnedAsdu::new(Cause::new(Cot::ACTIVATION), ca(r.coa)?, InfoObjects::one(Ioa::default(), v)),
        )
        .await?;
        Ok(Response::new(pb::SendTestCmdRes {}))
    }

    async fn send_read_cmd(&self, req: Request<pb::SendReadCmdReq>) -> Result<Response<pb::SendReadCmdRes>, Status> {
        let r = req.into_inner();
        if let Some(out) = self.remote::<_, pb::SendReadCmdRes>("SendReadCmd", &r.host, r.port, &r).await {
            return out.map(Response::new);
        }
        self.send(
            &r.host,
            r.port,
            OwnedAsdu::new(Cause::new(Cot::REQUEST), ca(r.coa)?, InfoObjects::one(io(r.ioa)?, Read)),
        )
        .await?;
        Ok(Response::new(pb::SendReadCmdRes {}))
    }

    async fn send_interrogation_cmd(
        &self,
        req: Request<pb::SendInterrogationCmdReq>,
    ) -> Result<Response<pb::SendInterrogationCmdRes>, Status> {
        let r = req.into_inner();
        if let Some(out) =
            self.remote::<_, pb::SendInterrogationCmdRes>("SendInterrogationCmd", &r.host, r.port, &r).await
        {
            return out.map(Response::new);
        }
        let a = OwnedAsdu::new(
            Cause::new(Cot::ACTIVATION),
            ca(r.coa)?,
            InfoObjects::one(Ioa::default(), iec104::asdu::Qoi::STATION),
        );
        self.send(&r.host, r.port, a).await?;
        Ok(Response::new(pb::SendInterrogationCmdRes {}))
    }

    async fn send_counter_interrogation_cmd(
        &self,
        req: Request<pb::SendCounterInterrogationCmdReq>,
    ) -> Result<Response<pb::SendCounterInterrogationCmdRes>, Status> {
        let r = req.into_inner();
        if let Some(out) = self
            .remote::<_, pb::SendCounterInterrogationCmdRes>("SendCounterInterrogationCmd", &r.host, r.port, &r)
            .await
        {
            return out.map(Response::new);
        }
        let a =
            OwnedAsdu::new(Cause::new(Cot::ACTIVATION), ca(r.coa)?, InfoObjects::one(Ioa::default(), Qcc::new(5, 0)));
        self.send(&r.host, r.port, a).await?;
        Ok(Response::new(pb::SendCounterInterrogationCmdRes {}))
    }

    async fn send_command(&self, req: Request<pb::SendCommandReq>) -> Result<Response<pb::SendCommandRes>, Status> {
        let r = req.into_inner();
        if let Some(out) = self.remote::<_, pb::SendCommandRes>("SendCommand", &r.host, r.port, &r).await {
            return out.map(Response::new);
        }
        let a = generic_asdu(r.type_id, ca(r.coa)?, io(r.ioa)?, &r.value, self.now())?;
        self.send(&r.host, r.port, a).await?;
        Ok(Response::new(pb::SendCommandRes {}))
    }

    async fn send_single_command(
        &self,
        req: Request<pb::SendSingleCommandReq>,
    ) -> Result<Response<pb::SendSingleCommandRes>, Status> {
        let r = req.into_inner();
        if let Some(out) = self.remote::<_, pb::SendSingleCommandRes>("SendSingleCommand", &r.host, r.port, &r).await {
            return out.map(Response::new);
        }
        self.typed(&r.host, r.port, r.coa, r.ioa, CommandValue::Single { on: r.value, qu: 0 }, r.with_time).await?;
        Ok(Response::new(pb::SendSingleCommandRes { value: r.value }))
    }

    async fn send_double_command(
        &self,
        req: Request<pb::SendDoubleCommandReq>,
    ) -> Result<Response<pb::SendDoubleCommandRes>, Status> {
        let r = req.into_inner();
        if let Some(out) = self.remote::<_, pb::SendDoubleCommandRes>("SendDoubleCommand", &r.host, r.port, &r).await {
            return out.map(Response::new);
        }
        let state = dcs_of(r.value)?;
        self.typed(&r.host, r.port, r.coa, r.ioa, CommandValue::Double { state, qu: 0 }, r.with_time).await?;
        Ok(Response::new(pb::SendDoubleCommandRes { value: r.value }))
    }

    async fn send_step_command(
        &self,
        req: Request<pb::SendStepCommandReq>,
    ) -> Result<Response<pb::SendStepCommandRes>, Status> {
        let r = req.into_inner();
        if let Some(out) = self.remote::<_, pb::SendStepCommandRes>("SendStepCommand", &r.host, r.port, &r).await {
            return out.map(Response::new);
        }
        let state = u8::try_from(r.value)
            .ok()
            .filter(|v| *v <= 2)
            .ok_or_else(|| ErrCode::InvalidParam.status(format!("value {} is not a StepCommandValue", r.value)))?;
        self.typed(&r.host, r.port, r.coa, r.ioa, CommandValue::Step { state, qu: 0 }, r.with_time).await?;
        Ok(Response::new(pb::SendStepCommandRes { value: r.value }))
    }

    async fn send_setpoint_normalized(
        &self,
        req: Request<pb::SendSetpointNormalizedReq>,
    ) -> Result<Response<pb::SendSetpointNormalizedRes>, Status> {
        let r = req.into_inner();
        if let Some(out) =
            self.remote::<_, pb::SendSetpointNormalizedRes>("SendSetpointNormalized", &r.host, r.port, &r).await
        {
            return out.map(Response::new);
        }
        let v = i16::try_from(r.value)
            .map_err(|_| ErrCode::InvalidParam.status(format!("value {} does not fit int16", r.value)))?;
        self.typed(&r.host, r.port, r.coa, r.ioa, CommandValue::Normalized(iec104::asdu::Nva(v)), r.with_time).await?;
        Ok(Response::new(pb::SendSetpointNormalizedRes { value: r.value }))
    }

    async fn send_setpoint_scaled(
        &self,
        req: Request<pb::SendSetpointScaledReq>,
    ) -> Result<Response<pb::SendSetpointScaledRes>, Status> {
        let r = req.into_inner();
        if let Some(out) = self.remote::<_, pb::SendSetpointScaledRes>("SendSetpointScaled", &r.host, r.port, &r).await
        {
            return out.map(Response::new);
        }
        let v = i16::try_from(r.value)
            .map_err(|_| ErrCode::InvalidParam.status(format!("value {} does not fit int16", r.value)))?;
        self.typed(&r.host, r.port, r.coa, r.ioa, CommandValue::Scaled(v), r.with_time).await?;
        Ok(Response::new(pb::SendSetpointScaledRes { value: r.value }))
    }

    async fn send_setpoint_float(
        &self,
        req: Request<pb::SendSetpointFloatReq>,
    ) -> Result<Response<pb::SendSetpointFloatRes>, Status> {
        let r = req.into_inner();
        if let Some(out) = self.remote::<_, pb::SendSetpointFloatRes>("SendSetpointFloat", &r.host, r.port, &r).await {
            return out.map(Response::new);
        }
        let v = parse_setpoint(&r.value)?;
        self.typed(&r.host, r.port, r.coa, r.ioa, CommandValue::Float(v), r.with_time).await?;
        Ok(Response::new(pb::SendSetpointFloatRes { value: format!("{v}") }))
    }

    async fn send_bitstring_command(
        &self,
        req: Request<pb::SendBitstringCommandReq>,
    ) -> Result<Response<pb::SendBitstringCommandRes>, Status> {
        let r = req.into_inner();
        if let Some(out) =
            self.remote::<_, pb::SendBitstringCommandRes>("SendBitstringCommand", &r.host, r.port, &r).await
        {
            return out.map(Response::new);
        }
        let v = u32::try_from(r.value)
            .map_err(|_| ErrCode::InvalidParam.status(format!("value {} does not fit uint32", r.value)))?;
        self.typed(&r.host, r.port, r.coa, r.ioa, CommandValue::Bitstring(v), r.with_time).await?;
        Ok(Response::new(pb::SendBitstringCommandRes { value: r.value }))
    }

    async fn query_point_mapping_by_id(
        &self,
        req: Request<pb::QueryPointMappingByIdReq>,
    ) -> Result<Response<pb::QueryPointMappingByIdRes>, Status> {
        let id = req.into_inner().id;
        let store = self.store()?;
        if id <= 0 {
            return Err(ErrCode::InvalidParam.status(format!("id must be positive, got {id}")));
        }
        // the numeric id each row reports (the UUID primary key cannot be an int64)
        let m = store.get_by_num_id(id).await.map_err(|e| status(e.code(), e.to_string()))?;
        let m = m.ok_or_else(|| ErrCode::NotFound.status(format!("no point mapping has the id {id}")))?;
        Ok(Response::new(pb::QueryPointMappingByIdRes { mapping: Some(to_pb(&m, self.utc_offset)) }))
    }

    async fn query_point_mapping_by_key(
        &self,
        req: Request<pb::QueryPointMappingByKeyReq>,
    ) -> Result<Response<pb::QueryPointMappingByKeyRes>, Status> {
        let r = req.into_inner();
        if r.tag_station.is_empty() {
            return Err(ErrCode::MissingParam.status("tag_station is required"));
        }
        let (coa, ioa) = (key_part(r.coa, "coa")?, key_part(r.ioa, "ioa")?);
        let m = self.store()?.get(&r.tag_station, coa, ioa).await.map_err(|e| status(e.code(), e.to_string()))?;
        let m =
            m.ok_or_else(|| ErrCode::NotFound.status(format!("no mapping for {}:{}:{}", r.tag_station, r.coa, r.ioa)))?;
        Ok(Response::new(pb::QueryPointMappingByKeyRes { mapping: Some(to_pb(&m, self.utc_offset)) }))
    }

    async fn page_list_point_mapping(
        &self,
        req: Request<pb::PageListPointMappingReq>,
    ) -> Result<Response<pb::PageListPointMappingRes>, Status> {
        let r = req.into_inner();
        if r.page < 0 || r.page_size < 0 {
            return Err(ErrCode::InvalidParam.status("page and page_size must not be negative"));
        }
        let size = if r.page_size == 0 { 20 } else { r.page_size };
        let (total, rows) = self
            .store()?
            .page(r.page.max(1), size, &r.tag_station, key_part(r.coa, "coa")?, &r.device_id)
            .await
            .map_err(|e| status(e.code(), e.to_string()))?;
        Ok(Response::new(pb::PageListPointMappingRes {
            total,
            mappings: rows.iter().map(|m| to_pb(m, self.utc_offset)).collect(),
        }))
    }

    async fn clear_point_mapping_cache(
        &self,
        req: Request<pb::ClearPointMappingCacheReq>,
    ) -> Result<Response<pb::ClearPointMappingCacheRes>, Status> {
        let r = req.into_inner();
        if let Some(link) = &self.cluster {
            link.notify("ClearPointMappingCache", &r).await; // every instance clears its own cache
        }
        let store = self.store()?;
        let mut n = store.invalidate_keys(r.keys.iter().map(String::as_str));
        for k in &r.key_infos {
            n += usize::from(invalidate(store, k));
        }
        Ok(Response::new(pb::ClearPointMappingCacheRes { cleared_count: n as i64 }))
    }
}

/// A mapping key's `coa` or `ioa` (int64 on the wire, a 32-bit column in the table).
fn key_part(v: i64, what: &str) -> Result<i32, Status> {
    i32::try_from(v).map_err(|_| ErrCode::InvalidParam.status(format!("{what} {v} is out of range")))
}

/// Drops one cached mapping; a key out of the column's range was never cached.
fn invalidate(store: &MappingStore, k: &pb::CacheKeyInfo) -> bool {
    match (i32::try_from(k.coa), i32::try_from(k.ioa)) {
        (Ok(coa), Ok(ioa)) => store.invalidate(&k.tag_station, coa, ioa),
        _ => false,
    }
}

/// The upstream `errorKind` of a status.
fn error_kind(s: &Status) -> String {
    match crate::errcode::reason(s).as_deref() {
        Some("100997") => "timeout",
        Some("105103") => "duplicate",
        Some("105102") => "iec_rejected",
        _ => "unknown",
    }
    .into()
}

/// Routed calls from other instances run here when this instance owns the station.
impl Executor for Service {
    fn execute<'a>(&'a self, method: &'a str, body: &'a str) -> ExecFuture<'a> {
        Box::pin(async move {
            let link = self.cluster.as_ref()?;
            macro_rules! routed {
                ($($rpc:literal => $f:ident($req:ty, $res:literal)),* $(,)?) => {
                    match method.rsplit('/').next() {
                        $(Some($rpc) => {
                            let req: $req = match link.from_json(concat!("ieccaller.", $rpc, "Req"), body) {
                                Ok(r) => r,
                                Err(e) => return Some(Err(("unknown".into(), e))),
                            };
                            self.stations.get(&req.host, req.port)?;
                            Some(match self.$f(Request::new(req)).await {
                                Ok(res) => Ok(link.to_json(concat!("ieccaller.", $res), res.get_ref())),
                                Err(s) => Err((error_kind(&s), s.message().to_owned())),
                            })
                        })*
                        Some("ClearPointMappingCache") => {
                            let req: pb::ClearPointMappingCacheReq = link.from_json("ieccaller.ClearPointMappingCacheReq", body).ok()?;
                            if let Some(store) = &self.store {
                                store.invalidate_keys(req.keys.iter().map(String::as_str));
                                for k in &req.key_infos {
                                    invalidate(store, k);
                                }
                            }
                            None
                        }
                        _ => None,
                    }
                };
            }
            routed!(
                "SendTestCmd" => send_test_cmd(pb::SendTestCmdReq, "SendTestCmdRes"),
                "SendReadCmd" => send_read_cmd(pb::SendReadCmdReq, "SendReadCmdRes"),
                "SendInterrogationCmd" => send_interrogation_cmd(pb::SendInterrogationCmdReq, "SendInterrogationCmdRes"),
                "SendCounterInterrogationCmd" => send_counter_interrogation_cmd(pb::SendCounterInterrogationCmdReq, "SendCounterInterrogationCmdRes"),
                "SendCommand" => send_command(pb::SendCommandReq, "SendCommandRes"),
                "SendSingleCommand" => send_single_command(pb::SendSingleCommandReq, "SendSingleCommandRes"),
                "SendDoubleCommand" => send_double_command(pb::SendDoubleCommandReq, "SendDoubleCommandRes"),
                "SendStepCommand" => send_step_command(pb::SendStepCommandReq, "SendStepCommandRes"),
                "SendSetpointNormalized" => send_setpoint_normalized(pb::SendSetpointNormalizedReq, "SendSetpointNormalizedRes"),
                "SendSetpointScaled" => send_setpoint_scaled(pb::SendSetpointScaledReq, "SendSetpointScaledRes"),
                "SendSetpointFloat" => send_setpoint_float(pb::SendSetpointFloatReq, "SendSetpointFloatRes"),
                "SendBitstringCommand" => send_bitstring_command(pb::SendBitstringCommandReq, "SendBitstringCommandRes"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setpoint_parsing() {
        assert_eq!(parse_setpoint("12.5").unwrap(), 12.5);
        assert_eq!(parse_setpoint("1234567").unwrap(), 1_234_567.0);
        assert!(parse_setpoint("12345678").is_err());
        assert!(parse_setpoint("0.00012345678").is_err());
        assert_eq!(parse_setpoint("1.5e3").unwrap(), 1500.0);
        assert!(parse_setpoint("abc").is_err());
        assert!(parse_setpoint("inf").is_err());
    }

    #[test]
    fn generic_commands() {
        let now = Cp56Time2a::default();
        let a = generic_asdu(58, CommonAddress(1), Ioa::new(5).unwrap(), "1", now).unwrap();
        assert_eq!(a.type_id().0, 58);
        assert_eq!(generic_asdu(45, CommonAddress(1), Ioa::new(5).unwrap(), "false", now).unwrap().type_id().0, 45);
        assert!(generic_asdu(45, CommonAddress(1), Ioa::new(5).unwrap(), "yes", now).is_err());
        assert!(generic_asdu(49, CommonAddress(1), Ioa::new(5).unwrap(), "40000", now).is_err(), "int16 range");
        assert_eq!(generic_asdu(100, CommonAddress(1), Ioa::default(), "", now).unwrap().type_id().0, 100);
        let e = generic_asdu(13, CommonAddress(1), Ioa::default(), "", now).unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().contains("unknown type id"));
    }
}
