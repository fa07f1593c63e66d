//! A Modbus TCP device simulator (tokio-modbus's server side) over an in-memory bank of coils,
//! discrete inputs, holding and input registers: what the tests, benches and examples talk to,
//! and what Debian's `mbpoll` checks as an independent client. Serves FC 1, 2, 3, 4, 5, 6, 15,
//! 16, 22, 23 and 43/14; addresses past the bank answer ILLEGAL DATA ADDRESS, other functions
//! ILLEGAL FUNCTION.

use std::future::{ready, Ready};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio_modbus::prelude::{DeviceIdObject, ReadDeviceIdentificationResponse};
use tokio_modbus::server::tcp::{accept_tcp_connection, Server};
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

/// The data of one simulated device.
#[derive(Debug, Clone)]
pub struct Bank {
    /// FC 1/5/15.
    pub coils: Vec<bool>,
    /// FC 2.
    pub discrete_inputs: Vec<bool>,
    /// FC 3/6/16/22/23.
    pub holding: Vec<u16>,
    /// FC 4.
    pub input: Vec<u16>,
    /// FC 43/14 objects: (id, text).
    pub identification: Vec<(u8, String)>,
}

impl Bank {
    /// `n` of each, zeroed, with a vendor name and product code.
    pub fn new(n: usize) -> Bank {
        Bank {
            coils: vec![false; n],
            discrete_inputs: vec![false; n],
            holding: vec![0; n],
            input: vec![0; n],
            identification: vec![(0, "zero".into()), (1, "SIM".into()), (2, "1.0".into())],
        }
    }
}

/// A running simulator.
#[derive(Debug, Clone)]
pub struct Simulator {
    bank: Arc<Mutex<Bank>>,
    unit: u8,
}

fn slice<T: Clone>(v: &[T], addr: u16, n: u16) -> Result<Vec<T>, ExceptionCode> {
    let (a, n) = (usize::from(addr), usize::from(n));
    v.get(a..a + n).map(<[T]>::to_vec).ok_or(ExceptionCode::IllegalDataAddress)
}

fn put<T: Clone>(v: &mut [T], addr: u16, data: &[T]) -> Result<(), ExceptionCode> {
    let a = usize::from(addr);
    v.get_mut(a..a + data.len()).ok_or(ExceptionCode::IllegalDataAddress)?.clone_from_slice(data);
    Ok(())
}

impl Simulator {
    /// A simulator of unit `unit` over `bank`.
    pub fn new(bank: Bank, unit: u8) -> Simulator {
        Simulator { bank: Arc::new(Mutex::new(bank)), unit }
    }

    /// Changes the bank (values seen by the next request).
    pub fn update(&self, f: impl FnOnce(&mut Bank)) {
        f(&mut self.bank.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    /// A copy of the bank.
    pub fn bank(&self) -> Bank {
        self.bank.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Answers one request.
    ///
    /// # Errors
    /// The exception a device would answer.
    pub fn answer(&self, req: Request<'_>) -> Result<Response, ExceptionCode> {
        let mut b = self.bank.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(match req {
            Request::ReadCoils(a, n) => Response::ReadCoils(slice(&b.coils, a, n)?),
            Request::ReadDiscreteInputs(a, n) => Response::ReadDiscreteInputs(slice(&b.discrete_inputs, a, n)?),
            Request::ReadHoldingRegisters(a, n) => Response::ReadHoldingRegisters(slice(&b.holding, a, n)?),
            Request::ReadInputRegisters(a, n) => Response::ReadInputRegisters(slice(&b.input, a, n)?),
            Request::WriteSingleCoil(a, v) => {
                put(&mut b.coils, a, &[v])?;
                Response::WriteSingleCoil(a, v)
            }
            Request::WriteMultipleCoils(a, v) => {
                put(&mut b.coils, a, &v)?;
                Response::WriteMultipleCoils(a, v.len() as u16)
            }
            Request::WriteSingleRegister(a, v) => {
                put(&mut b.holding, a, &[v])?;
                Response::WriteSingleRegister(a, v)
            }
            Request::WriteMultipleRegisters(a, v) => {
                put(&mut b.holding, a, &v)?;
                Response::WriteMultipleRegisters(a, v.len() as u16)
            }
            Request::MaskWriteRegister(a, and, or) => {
                let cur = slice(&b.holding, a, 1)?[0];
                put(&mut b.holding, a, &[(cur & and) | (or & !and)])?;
                Response::MaskWriteRegister(a, and, or)
            }
            Request::ReadWriteMultipleRegisters(ra, rn, wa, v) => {
                put(&mut b.holding, wa, &v)?;
                Response::ReadWriteMultipleRegisters(slice(&b.holding, ra, rn)?)
            }
            Request::ReadDeviceIdentification(code, id) => {
                let objects = b
                    .identification
                    .iter()
                    .filter(|(oid, _)| {
                        if matches!(code, tokio_modbus::prelude::ReadCode::Specific) {
                            *oid == id
                        } else {
                            *oid >= id
                        }
                    })
                    .map(|(oid, text)| DeviceIdObject { id: *oid, value: text.clone().into_bytes().into() })
                    .collect::<Vec<_>>();
                if objects.is_empty() {
                    return Err(ExceptionCode::IllegalDataAddress);
                }
                Response::ReadDeviceIdentification(ReadDeviceIdentificationResponse {
                    read_code: code,
                    conformity_level: tokio_modbus::prelude::ConformityLevel::BasicIdentification,
                    more_follows: false,
                    next_object_id: 0,
                    device_id_objects: objects,
                })
            }
            // FC 24: the FIFO at `a` is its count register followed by up to 31 registers
            Request::Custom(0x18, data) if data.len() == 2 => {
                let a = u16::from_be_bytes([data[0], data[1]]);
                let count = slice(&b.holding, a, 1)?[0];
                if count > 31 {
                    return Err(ExceptionCode::IllegalDataValue);
                }
                let regs = slice(&b.holding, a.checked_add(1).ok_or(ExceptionCode::IllegalDataAddress)?, count)?;
                let mut out = Vec::with_capacity(4 + 2 * regs.len());
                out.extend((2 + 2 * count).to_be_bytes());
                out.extend(count.to_be_bytes());
                out.extend(regs.iter().flat_map(|r| r.to_be_bytes()));
                Response::Custom(0x18, out.into())
            }
            _ => return Err(ExceptionCode::IllegalFunction),
        })
    }

    /// Serves Modbus TCP on `listener` until the task is dropped; requests for other units than
    /// its own and 255 get no answer (as on a shared line).
    ///
    /// # Errors
    /// The listener failing.
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        let server = Server::new(listener);
        let on_connected = |stream, addr: SocketAddr| {
            let me = self.clone();
            async move { accept_tcp_connection(stream, addr, move |_| Ok(Some(Service(me.clone())))) }
        };
        server.serve(&on_connected, |e| tracing::debug!(error = %e, "simulator connection")).await
    }
}

struct Service(Simulator);

impl tokio_modbus::server::Service for Service {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Ready<Result<Option<Response>, ExceptionCode>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        // 255 addresses "the device at this TCP endpoint" (Modbus TCP's convention)
        if req.slave != self.0.unit && req.slave != 255 {
            return ready(Ok(None));
        }
        ready(self.0.answer(req.request).map(Some))
    }
}
