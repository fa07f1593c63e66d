//! The scheduler's sans-IO core (trigger-core `Core`) on one thread, nothing else: tasks
//! enqueued, leased and acknowledged per second, and delayed tasks made due by the timer wheel.
//! The end-to-end rate with Redis and the BullMQ peer is `benches/trigger.rs`.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use trigger_core::core::{Ack, Core};
use trigger_core::task::{NewTask, Outcome};
use trigger_core::Config;

const N: usize = 10_000;

fn cycle(core: &mut Core, now: i64) -> usize {
    for i in 0..N {
        let mut t = NewTask::new("default", "noop", vec![]);
        t.id = format!("t{i}");
        t.retention_ms = 0;
        core.enqueue(t, now).unwrap();
    }
    let mut done = 0;
    loop {
        let leases = core.dequeue(256, now);
        if leases.is_empty() {
            return done;
        }
        for l in leases {
            let ack = Ack { queue: l.task.queue, id: l.task.id, outcome: Outcome::Success { result: vec![] } };
            core.ack(ack, now);
            done += 1;
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("trigger_core");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("enqueue_lease_ack", |b| {
        b.iter_batched(
            || Core::new(Config::default()),
            |mut core| black_box(cycle(&mut core, 1_000_000)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("delayed_due_lease_ack", |b| {
        b.iter_batched(
            || {
                let mut core = Core::new(Config::default());
                for i in 0..N {
                    let mut t = NewTask::new("default", "noop", vec![]);
                    t.id = format!("d{i}");
                    t.retention_ms = 0;
                    t.process_at = Some(1_000_000 + (i as i64 % 1000));
                    core.enqueue(t, 1_000_000).unwrap();
                }
                core
            },
            |mut core| {
                core.handle_timeout(1_001_000);
                let mut done = 0;
                loop {
                    let leases = core.dequeue(256, 1_001_000);
                    if leases.is_empty() {
                        break;
                    }
                    for l in leases {
                        core.ack(
                            Ack { queue: l.task.queue, id: l.task.id, outcome: Outcome::Success { result: vec![] } },
                            1_001_000,
                        );
                        done += 1;
                    }
                }
                assert_eq!(done, N);
                done
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
