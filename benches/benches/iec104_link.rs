//! IEC 104 end to end on loopback, one process: our slave (the station simulator's engine)
//! feeding our masters over 1, 100 and 1,000 concurrent connections.
//!
//! Measured: information objects per second delivered across all connections (each update of
//! 300 float points reaches every connection: `ConnectionIsGroup` redundancy), decoded into typed
//! points and handed to each master's event consumer. After the runs, the resident memory per
//! idle connection (both ends in this process) is printed.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use iec104::master::{connect, Event, Master, MasterConfig};
use iec104::point::{Point, PointValue};
use iec104::slave::{serve, PointConfig, Redundancy, RejectCommands, Slave, SlaveConfig};
use iec104::types::{CommonAddress, Ioa};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tokio::sync::Notify;

const CA: CommonAddress = CommonAddress(1);
const POINTS: u32 = 300;

struct Setup {
    slave: Slave,
    masters: Vec<Master>,
    received: Arc<AtomicU64>,
    notify: Arc<Notify>,
}

fn rss_kib() -> u64 {
    testkit::proc::rss_kib("self")
}

async fn setup(n: usize) -> Setup {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cfg = SlaveConfig { redundancy: Redundancy::ConnectionIsGroup, ..Default::default() };
    let (slave, d) = serve(l, cfg, RejectCommands);
    tokio::spawn(d);
    for i in 0..POINTS {
        slave.add_point(CA, PointConfig::new(Point::new(Ioa::new(i).unwrap(), PointValue::Float(0.0))));
    }
    let addr = slave.local_addr().unwrap().to_string();
    let received = Arc::new(AtomicU64::new(0));
    let notify = Arc::new(Notify::new());
    let mut masters = Vec::with_capacity(n);
    for _ in 0..n {
        let cfg = MasterConfig { addresses: vec![addr.clone()], event_capacity: 1 << 16, ..Default::default() };
        let (m, mut ev, d) = connect(cfg).unwrap();
        tokio::spawn(d);
        let (rc, nt) = (received.clone(), notify.clone());
        tokio::spawn(async move {
            while let Some(e) = ev.recv().await {
                if let Event::Data(d) = e {
                    let mut sum = 0f32;
                    for p in &d.points {
                        if let PointValue::Float(v) = p.value {
                            sum += v;
                        }
                    }
                    std::hint::black_box(sum);
                    rc.fetch_add(d.points.len() as u64, Ordering::Relaxed);
                    nt.notify_one();
                }
            }
        });
        masters.push(m);
    }
    for m in &masters {
        tokio::time::timeout(Duration::from_secs(30), m.wait_started()).await.unwrap().unwrap();
    }
    Setup { slave, masters, received, notify }
}

async fn round(s: &Setup, step: u32) {
    let target = s.received.load(Ordering::Relaxed) + u64::from(POINTS) * s.masters.len() as u64;
    s.slave
        .update_many(CA, (0..POINTS).map(|i| Point::new(Ioa::new(i).unwrap(), PointValue::Float((step + i) as f32))));
    while s.received.load(Ordering::Relaxed) < target {
        let _ = tokio::time::timeout(Duration::from_millis(50), s.notify.notified()).await;
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // first, on a fresh heap: later runs leave freed pages the allocator reuses
    idle_memory(&rt);
    let mut g = c.benchmark_group("iec104_loopback");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    for n in [1usize, 100, 1000] {
        let s = rt.block_on(setup(n));
        g.throughput(Throughput::Elements(u64::from(POINTS) * n as u64));
        g.bench_function(format!("objects_{n}_connections"), |b| {
            let mut step = 0;
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        step += 1;
                        round(&s, step).await;
                    }
                    start.elapsed()
                })
            })
        });
        teardown(&rt, s);
    }
    g.finish();
}

fn teardown(rt: &Runtime, s: Setup) {
    rt.block_on(async {
        for m in &s.masters {
            m.close().await;
        }
        s.slave.close();
    });
}

/// Resident memory per idle connection, both ends in this process.
fn idle_memory(rt: &Runtime) {
    const N: usize = 1000;
    let before = rss_kib();
    let s = rt.block_on(async {
        let s = setup(N).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        s
    });
    let after = rss_kib();
    let per_pair = (after.saturating_sub(before)) as f64 / N as f64;
    println!(
        "iec104_loopback/idle_memory: {N} idle connections, {per_pair:.1} KiB per connection with both ends \
         (master + slave) in this process, about {:.1} KiB per end",
        per_pair / 2.0
    );
    teardown(rt, s);
}

criterion_group!(benches, bench);
criterion_main!(benches);
