//! streamevent: compactor throughput in last-value mode, and the SQL sink's insert rate into the
//! PostgreSQL on loopback (a fresh database, dropped afterwards; `TEST_PG_URL` overrides the
//! admin URL) and into a SQLite file.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sqlx::Connection;
use std::time::Instant;
use streamevent::compact::{Compactor, CompactorConfig, Message, Mode};
use streamevent::id::ChunkId;
use streamevent::sink::{RawRow, Rows, SqlSink};
use streamevent::store::Db;

const MSGS: usize = 100_000;

fn messages() -> Vec<Message> {
    (0..MSGS)
        .map(|i| {
            let key = format!("10.0.0.5_1_0x{:06x}", i % 2000);
            let payload = format!(
                r#"{{"msgId":"{i:032x}","host":"10.0.0.5","port":2404,"asdu":"M_ME_NC_1","typeId":13,"dataType":6,"coa":1,"body":{{"ioa":{},"value":{i}.5,"qds":0}},"time":"2026-06-05 14:30:00.1234"}}"#,
                i % 2000
            );
            Message::new(key, "asdu/0", i as u64, payload, Some(i as f64), false)
        })
        .collect()
}

fn compactor(c: &mut Criterion) {
    let msgs = messages();
    let mut g = c.benchmark_group("streamevent_compactor");
    g.throughput(Throughput::Elements(MSGS as u64));
    for mode in [Mode::LastValue, Mode::Batch] {
        g.bench_function(format!("{mode:?}"), |b| {
            b.iter_batched(
                || msgs.clone(),
                |input| {
                    let now = Instant::now();
                    let mut c = Compactor::new(CompactorConfig { mode, ..Default::default() });
                    let mut out = 0usize;
                    for m in input {
                        if let Some(ch) = c.push(m, now) {
                            out += ch.messages.len();
                        }
                    }
                    out + c.flush().map_or(0, |ch| ch.messages.len())
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// `n` rows; the msgIds are new UUIDv7s (as ieccaller makes them), so each call's rows are new
/// messages for a sink that claims each message once.
fn rows(n: usize) -> Vec<RawRow> {
    (0..n)
        .map(|i| RawRow {
            ts: "2026-06-05 14:30:00.1234".into(),
            msg_id: uuid::Uuid::now_v7().simple().to_string(),
            host_v: "10.0.0.5".into(),
            port_v: 2404,
            asdu: "M_ME_NC_1".into(),
            type_id: 13,
            data_type: 6,
            coa: 1,
            ioa: (i % 2000) as i32,
            ioa_value: format!("{i}.5"),
            raw_msg: format!(r#"{{"ioa":{},"value":{i}.5,"qds":0,"time":""}}"#, i % 2000),
            tag_station: "330KV".into(),
        })
        .collect()
}

fn sink_postgres(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let admin = std::env::var("TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let name = format!("se_bench_{}", uuid::Uuid::now_v7().simple());
    let (base, _) = admin.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
    let sink = rt.block_on(async {
        let mut a = sqlx::PgConnection::connect(&admin).await.expect("PostgreSQL on 127.0.0.1:5432");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut a).await.unwrap();
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        SqlSink::new(db)
    });
    const BATCH: usize = 10_000;
    let mut g = c.benchmark_group("streamevent_sink");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BATCH as u64));
    // one chunk of 10 000 raw rows of new messages per iteration (the chunk's row, the messages'
    // claims and the rows in one transaction, as the Kafka path stores them)
    let mut n = 0u64;
    g.bench_function("postgres_rows", |b| {
        b.iter_batched(
            || Rows { raw: rows(BATCH), ..Default::default() },
            |batch| {
                n += 1;
                let stored = rt.block_on(sink.write_chunk(&ChunkId::from_wire(&format!("bench@{n}")), &batch)).unwrap();
                assert!(matches!(stored, streamevent::sink::Stored::Written { raw, .. } if raw == BATCH as u64));
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
    drop(sink);
    rt.block_on(async {
        let mut a = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut a).await.unwrap();
    });
}

/// The SQLite sink alone (`zero up`'s default store): chunks of 3 000 raw rows, about one
/// compactor chunk, into a file database with WAL, as `zero up` opens it (once per chunk, as the
/// in-process bus stores).
fn sink_sqlite(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = std::env::temp_dir().join(format!("se_bench_{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let sink = rt.block_on(async {
        let db = Db::connect(&format!("sqlite://{}/b.db", dir.display())).await.unwrap();
        db.migrate().await.unwrap();
        SqlSink::once_per_chunk(db)
    });
    const BATCH: usize = 3_000;
    let batch = Rows { raw: rows(BATCH), ..Default::default() };
    let mut g = c.benchmark_group("streamevent_sink");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut n = 0u64;
    g.bench_function("sqlite_rows", |b| {
        b.iter(|| {
            n += 1;
            rt.block_on(sink.write_chunk(&ChunkId::from_wire(&format!("bench@{n}")), &batch)).unwrap()
        })
    });
    g.finish();
    drop(sink);
    std::fs::remove_dir_all(dir).ok();
}

criterion_group!(benches, compactor, sink_postgres, sink_sqlite);
criterion_main!(benches);
