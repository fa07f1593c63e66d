//! `bridgemodbus.BridgeModbus` handlers: check, call the device or the table, shape the answer.

use crate::convert::*;
use crate::devices::*;
use crate::{pb, store};
use modbus_bridge::client::Device;
use modbus_bridge::value::{pack_bits, register_bytes};
use std::sync::Arc;
use tonic::{Request, Response, Status};
use zero_svc::errcode::ErrCode;

/// The BridgeModbus service.
#[derive(Debug, Clone)]
pub struct Service {
    devices: Arc<Devices>,
    store: store::Store,
}

type Res<T> = Result<Response<T>, Status>;

impl Service {
    /// The service over `devices` and `store`.
    pub fn new(devices: Arc<Devices>, store: store::Store) -> Service {
        Service { devices, store }
    }

    /// As a tonic service.
    pub fn into_server(self) -> pb::bridge_modbus_server::BridgeModbusServer<Service> {
        pb::bridge_modbus_server::BridgeModbusServer::new(self)
    }

    async fn dev(&self, code: &str) -> Result<Device, Status> {
        self.devices.get(code).await
    }
}

#[tonic::async_trait]
impl pb::bridge_modbus_server::BridgeModbus for Service {
    async fn save_config(&self, r: Request<pb::SaveConfigReq>) -> Res<pb::SaveConfigRes> {
        let row = checked_row(r.get_ref(), self.devices.connections).await?;
        let id = self.store.save(&row).await.map_err(db_err)?;
        self.devices.forget(&row.modbus_code);
        Ok(Response::new(pb::SaveConfigRes { id }))
    }

    async fn delete_config(&self, r: Request<pb::DeleteConfigReq>) -> Res<pb::DeleteConfigRes> {
        let ids = r.into_inner().ids;
        if ids.is_empty() {
            return Err(ErrCode::MissingParam.status("ids is required"));
        }
        if ids.len() > 1000 {
            return Err(ErrCode::InvalidParam.status("ids: at most 1000"));
        }
        for code in self.store.delete(&ids).await.map_err(db_err)? {
            self.devices.forget(&code);
        }
        Ok(Response::new(pb::DeleteConfigRes {}))
    }

    async fn page_list_config(&self, r: Request<pb::PageListConfigReq>) -> Res<pb::PageListConfigRes> {
        let q = r.into_inner();
        if q.status > 2 {
            return Err(ErrCode::InvalidParam.status(format!("status {}: 0 any, 1 enabled, 2 disabled", q.status)));
        }
        let page = q.page.max(1);
        let size = if q.page_size <= 0 { 10 } else { q.page_size.min(1000) };
        let (total, rows) = self.store.page(page, size, q.keyword.trim(), i64::from(q.status)).await.map_err(db_err)?;
        Ok(Response::new(pb::PageListConfigRes {
            total: u32::try_from(total).unwrap_or(u32::MAX),
            cfg: rows.iter().map(to_pb).collect(),
        }))
    }

    async fn get_config_by_code(&self, r: Request<pb::GetConfigByCodeReq>) -> Res<pb::GetConfigByCodeRes> {
        let code = r.into_inner().modbus_code;
        if code.is_empty() {
            return Err(ErrCode::MissingParam.status("modbus_code is required"));
        }
        match self.store.by_code(&code).await.map_err(db_err)? {
            Some(row) => Ok(Response::new(pb::GetConfigByCodeRes { cfg: Some(to_pb(&row)) })),
            None => Err(ErrCode::NotFound.status(format!("modbus_code {code:?} not found"))),
        }
    }

    async fn batch_get_config_by_code(
        &self,
        r: Request<pb::BatchGetConfigByCodeReq>,
    ) -> Res<pb::BatchGetConfigByCodeRes> {
        let codes = r.into_inner().modbus_code;
        if codes.len() > 1000 {
            return Err(ErrCode::InvalidParam.status("modbus_code: at most 1000 codes"));
        }
        let rows = self.store.by_codes(&codes).await.map_err(db_err)?;
        Ok(Response::new(pb::BatchGetConfigByCodeRes { cfg: rows.iter().map(to_pb).collect() }))
    }

    async fn read_coils(&self, r: Request<pb::ReadCoilsReq>) -> Res<pb::ReadCoilsRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        let bits = answer(self.dev(&q.modbus_code).await?.read_coils(None, a, q.quantity as usize).await)?;
        Ok(Response::new(pb::ReadCoilsRes { results: pack_bits(&bits), values: bits }))
    }

    async fn read_discrete_inputs(&self, r: Request<pb::ReadDiscreteInputsReq>) -> Res<pb::ReadDiscreteInputsRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        let bits = answer(self.dev(&q.modbus_code).await?.read_discrete_inputs(None, a, q.quantity as usize).await)?;
        Ok(Response::new(pb::ReadDiscreteInputsRes { results: pack_bits(&bits), values: bits }))
    }

    async fn write_single_coil(&self, r: Request<pb::WriteSingleCoilReq>) -> Res<pb::WriteSingleCoilRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        answer(self.dev(&q.modbus_code).await?.write_single_coil(None, a, q.value).await)?;
        Ok(Response::new(pb::WriteSingleCoilRes { results: if q.value { vec![0xFF, 0x00] } else { vec![0, 0] } }))
    }

    async fn write_multiple_coils(&self, r: Request<pb::WriteMultipleCoilsReq>) -> Res<pb::WriteMultipleCoilsRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        quantity("values", q.quantity, q.values.len())?;
        let n = q.values.len() as u16;
        answer(self.dev(&q.modbus_code).await?.write_multiple_coils(None, a, q.values).await)?;
        Ok(Response::new(pb::WriteMultipleCoilsRes { results: n.to_be_bytes().to_vec() }))
    }

    async fn read_input_registers(&self, r: Request<pb::ReadInputRegistersReq>) -> Res<pb::ReadInputRegistersRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        let regs = answer(self.dev(&q.modbus_code).await?.read_input_registers(None, a, q.quantity as usize).await)?;
        let Rendered { bytes: results, uint: uint_values, int: int_values, hex: hex_values, binary: binary_values } =
            renderings(&regs);
        Ok(Response::new(pb::ReadInputRegistersRes { results, uint_values, int_values, hex_values, binary_values }))
    }

    async fn read_holding_registers(
        &self,
        r: Request<pb::ReadHoldingRegistersReq>,
    ) -> Res<pb::ReadHoldingRegistersRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        let regs = answer(self.dev(&q.modbus_code).await?.read_holding_registers(None, a, q.quantity as usize).await)?;
        let Rendered { bytes: results, uint: uint_values, int: int_values, hex: hex_values, binary: binary_values } =
            renderings(&regs);
        Ok(Response::new(pb::ReadHoldingRegistersRes { results, uint_values, int_values, hex_values, binary_values }))
    }

    async fn write_single_register(&self, r: Request<pb::WriteSingleRegisterReq>) -> Res<pb::WriteSingleRegisterRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        let v = addr16("value", q.value)?;
        answer(self.dev(&q.modbus_code).await?.write_single_register(None, a, v).await)?;
        Ok(Response::new(pb::WriteSingleRegisterRes { results: v.to_be_bytes().to_vec() }))
    }

    async fn write_single_register_with_decimal(
        &self,
        r: Request<pb::WriteSingleRegisterWithDecimalReq>,
    ) -> Res<pb::WriteSingleRegisterWithDecimalRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        let v = decimals(&[q.value], q.unsigned)?[0];
        answer(self.dev(&q.modbus_code).await?.write_single_register(None, a, v).await)?;
        Ok(Response::new(pb::WriteSingleRegisterWithDecimalRes { results: v.to_be_bytes().to_vec() }))
    }

    async fn write_multiple_registers(
        &self,
        r: Request<pb::WriteMultipleRegistersReq>,
    ) -> Res<pb::WriteMultipleRegistersRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        quantity("values", q.quantity, q.values.len())?;
        let regs = regs_of(&q.values)?;
        let n = regs.len() as u16;
        answer(self.dev(&q.modbus_code).await?.write_multiple_registers(None, a, regs).await)?;
        Ok(Response::new(pb::WriteMultipleRegistersRes { results: n.to_be_bytes().to_vec() }))
    }

    async fn write_multiple_registers_with_decimal(
        &self,
        r: Request<pb::WriteMultipleRegistersWithDecimalReq>,
    ) -> Res<pb::WriteMultipleRegistersWithDecimalRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        quantity("values", q.quantity, q.values.len())?;
        let regs = decimals(&q.values, q.unsigned)?;
        let n = regs.len() as u16;
        answer(self.dev(&q.modbus_code).await?.write_multiple_registers(None, a, regs).await)?;
        Ok(Response::new(pb::WriteMultipleRegistersWithDecimalRes { results: n.to_be_bytes().to_vec() }))
    }

    async fn read_write_multiple_registers(
        &self,
        r: Request<pb::ReadWriteMultipleRegistersReq>,
    ) -> Res<pb::ReadWriteMultipleRegistersRes> {
        let q = r.into_inner();
        let ra = addr16("read_address", q.read_address)?;
        let wa = addr16("write_address", q.write_address)?;
        quantity("values", q.write_quantity, q.values.len())?;
        let regs = regs_of(&q.values)?;
        let dev = self.dev(&q.modbus_code).await?;
        let read = answer(dev.read_write_multiple_registers(None, ra, q.read_quantity as usize, wa, regs).await)?;
        let Rendered { bytes: results, uint: uint_values, int: int_values, hex: hex_values, binary: binary_values } =
            renderings(&read);
        Ok(Response::new(pb::ReadWriteMultipleRegistersRes {
            results,
            uint_values,
            int_values,
            hex_values,
            binary_values,
        }))
    }

    async fn mask_write_register(&self, r: Request<pb::MaskWriteRegisterReq>) -> Res<pb::MaskWriteRegisterRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        let and = addr16("and_mask", q.and_mask)?;
        let or = addr16("or_mask", q.or_mask)?;
        answer(self.dev(&q.modbus_code).await?.mask_write_register(None, a, and, or).await)?;
        let mut results = and.to_be_bytes().to_vec();
        results.extend(or.to_be_bytes());
        Ok(Response::new(pb::MaskWriteRegisterRes { results }))
    }

    async fn read_fifo_queue(&self, r: Request<pb::ReadFifoQueueReq>) -> Res<pb::ReadFifoQueueRes> {
        let q = r.into_inner();
        let a = addr16("address", q.address)?;
        let regs = answer(self.dev(&q.modbus_code).await?.read_fifo_queue(None, a).await)?;
        Ok(Response::new(pb::ReadFifoQueueRes { results: register_bytes(&regs) }))
    }

    async fn read_device_identification(
        &self,
        r: Request<pb::ReadDeviceIdentificationReq>,
    ) -> Res<pb::ReadDeviceIdentificationRes> {
        let q = r.into_inner();
        if !(1..=3).contains(&q.read_device_id_code) {
            return Err(ErrCode::InvalidParam
                .status(format!("read_device_id_code {}: 1 basic, 2 regular, 3 extended", q.read_device_id_code)));
        }
        let dev = self.dev(&q.modbus_code).await?;
        let objs = answer(dev.read_device_identification(None, q.read_device_id_code as u8, 0).await)?;
        let (results, hex_results, semantic_results) = ident_maps(objs);
        Ok(Response::new(pb::ReadDeviceIdentificationRes { results, hex_results, semantic_results }))
    }

    async fn read_device_identification_specific_object(
        &self,
        r: Request<pb::ReadDeviceIdentificationSpecificObjectReq>,
    ) -> Res<pb::ReadDeviceIdentificationSpecificObjectRes> {
        let q = r.into_inner();
        let id = u8::try_from(q.object_id)
            .map_err(|_| ErrCode::InvalidParam.status(format!("object_id {}: 0..=255", q.object_id)))?;
        let objs = answer(self.dev(&q.modbus_code).await?.read_device_identification(None, 4, id).await)?;
        let (results, hex_results, semantic_results) = ident_maps(objs);
        Ok(Response::new(pb::ReadDeviceIdentificationSpecificObjectRes { results, hex_results, semantic_results }))
    }

    async fn batch_convert_decimal_to_register(
        &self,
        r: Request<pb::BatchConvertDecimalToRegisterReq>,
    ) -> Res<pb::BatchConvertDecimalToRegisterRes> {
        let q = r.into_inner();
        if q.values.len() > 65_536 {
            return Err(ErrCode::InvalidParam.status("values: at most 65536"));
        }
        let regs = decimals(&q.values, q.unsigned)?;
        let Rendered { bytes, uint: uint16_values, int: int16_values, hex: hex_values, binary: binary_values } =
            renderings(&regs);
        Ok(Response::new(pb::BatchConvertDecimalToRegisterRes {
            uint16_values,
            int16_values,
            hex_values,
            binary_values,
            bytes,
        }))
    }
}
