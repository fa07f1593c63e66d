//! modbus-bridge: requests per second on loopback against the crate's simulator, one
//! connection, beside a plain tokio-modbus client in the same run (the peer; target >= 0.95x),
//! and the aggregate rate of 50 devices at once (target >= 150 k requests/s), beside 50 plain
//! tokio-modbus clients.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use modbus_bridge::client::{Device, DeviceConfig, Transport};
use modbus_bridge::sim::{Bank, Simulator};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio_modbus::client::Reader as _;

async fn simulator() -> SocketAddr {
    let mut bank = Bank::new(1000);
    for (i, r) in bank.holding.iter_mut().enumerate() {
        *r = i as u16;
    }
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(Simulator::new(bank, 1).serve(l));
    addr
}

fn device(addr: SocketAddr) -> Device {
    let mut cfg = DeviceConfig::new(Transport::Tcp(addr));
    cfg.connections = 1;
    cfg.connect_delay = Duration::ZERO;
    Device::new(cfg)
}

fn single_connection(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let addr = rt.block_on(simulator());
    let mut g = c.benchmark_group("modbus_read_holding_10");
    g.throughput(Throughput::Elements(1));
    let mut plain = rt.block_on(tokio_modbus::client::tcp::connect_slave(addr, tokio_modbus::Slave(1))).unwrap();
    g.bench_function("tokio_modbus_plain", |b| {
        b.iter_custom(|n| {
            rt.block_on(async {
                let t0 = Instant::now();
                for _ in 0..n {
                    let r = plain.read_holding_registers(0, 10).await.unwrap().unwrap();
                    assert_eq!(r.len(), 10);
                }
                t0.elapsed()
            })
        })
    });
    let dev = device(addr);
    g.bench_function("modbus_bridge_device", |b| {
        b.iter_custom(|n| {
            rt.block_on(async {
                let t0 = Instant::now();
                for _ in 0..n {
                    let r = dev.read_holding_registers(None, 0, 10).await.unwrap().unwrap();
                    assert_eq!(r.len(), 10);
                }
                t0.elapsed()
            })
        })
    });
    g.finish();
}

fn fifty_devices(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let addrs: Vec<SocketAddr> = rt.block_on(async {
        let mut v = vec![];
        for _ in 0..50 {
            v.push(simulator().await);
        }
        v
    });
    let devices: Vec<Device> = addrs.iter().map(|a| device(*a)).collect();
    let mut g = c.benchmark_group("modbus_50_devices");
    g.throughput(Throughput::Elements(1));
    // the peer: 50 plain tokio-modbus contexts on the same simulators
    let plains: Vec<_> = rt.block_on(async {
        let mut v = vec![];
        for a in &addrs {
            v.push(std::sync::Arc::new(tokio::sync::Mutex::new(
                tokio_modbus::client::tcp::connect_slave(*a, tokio_modbus::Slave(1)).await.unwrap(),
            )));
        }
        v
    });
    g.bench_function("tokio_modbus_plain", |b| {
        b.iter_custom(|n| {
            let per = n.div_ceil(50);
            rt.block_on(async {
                let t0 = Instant::now();
                let tasks: Vec<_> = plains
                    .iter()
                    .cloned()
                    .map(|ctx| {
                        tokio::spawn(async move {
                            let mut ctx = ctx.lock().await;
                            for _ in 0..per {
                                ctx.read_holding_registers(0, 10).await.unwrap().unwrap();
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                t0.elapsed().mul_f64(n as f64 / (per * 50) as f64)
            })
        })
    });
    g.bench_function("modbus_bridge_device", |b| {
        b.iter_custom(|n| {
            let per = n.div_ceil(50);
            rt.block_on(async {
                let t0 = Instant::now();
                let tasks: Vec<_> = devices
                    .iter()
                    .cloned()
                    .map(|d| {
                        tokio::spawn(async move {
                            for _ in 0..per {
                                d.read_holding_registers(None, 0, 10).await.unwrap().unwrap();
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                // n requests' worth of time (50 x per were sent)
                t0.elapsed().mul_f64(n as f64 / (per * 50) as f64)
            })
        })
    });
    g.finish();
}

criterion_group!(benches, single_connection, fifty_devices);
criterion_main!(benches);
