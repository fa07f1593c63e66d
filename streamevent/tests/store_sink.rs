//! Migrations, mapping lookups with their cache, inbound events and the raw-row sink against
//! SQLite, and the PostgreSQL and MariaDB running on loopback.

use testkit::streamevent as common;

use common::TestDb;
use std::time::Duration;
use streamevent::id::ChunkId;
use streamevent::sink::{RawRow, Rows, SqlSink, Stored, TypedRow};
use streamevent::store::{cache_key, MappingStore, PointMapping};

#[tokio::test]
async fn migrations_are_idempotent_and_lookups_cache() {
    for t in TestDb::all().await {
        t.db.migrate().await.unwrap_or_else(|e| panic!("{}: second migrate: {e}", t.name));
        let store = MappingStore::new(t.db.clone(), Duration::from_secs(3600));
        assert_eq!(store.lookup("330KV", 1, 4004).await.unwrap(), None, "{}", t.name);
        // negative result cached: a row added behind the cache's back is not seen...
        let mut m = PointMapping::new("330KV", 1, 4004);
        m.device_id = "d1".into();
        m.device_name = "T1".into();
        m.td_table_type = "yc".into();
        m.ext_1 = "alarm".into();
        let other = MappingStore::new(t.db.clone(), Duration::from_secs(3600));
        other.upsert(&m).await.unwrap();
        assert_eq!(store.lookup("330KV", 1, 4004).await.unwrap(), None, "{}: cached miss", t.name);
        // ...until invalidated
        assert!(store.invalidate("330KV", 1, 4004));
        let got = store.lookup("330KV", 1, 4004).await.unwrap().unwrap();
        assert!(got.num_id > 0 && got.create_us > 0, "{}: stored rows report an id and times", t.name);
        assert_eq!(PointMapping { num_id: 0, create_us: 0, update_us: 0, ..(*got).clone() }, m, "{}", t.name);
        assert_eq!(got.to_json().ext1, "alarm");
        // update through the same store drops its cache entry
        m.enable_raw_insert = 0;
        store.upsert(&m).await.unwrap();
        assert_eq!(store.lookup("330KV", 1, 4004).await.unwrap().unwrap().enable_raw_insert, 0, "{}", t.name);
        assert_eq!(store.invalidate_keys([cache_key("330KV", 1, 4004).as_str(), "pm:x:1:1"]), 1);
        store.lookup("330KV", 1, 4004).await.unwrap();
        assert_eq!(store.clear(), 1);
        // several points at once: hits, misses fetched, unmapped points, in order
        let many = store.lookup_many("330KV", 1, [4005, 4004, 4004]).await.unwrap();
        assert_eq!(many.iter().map(|m| m.as_ref().map(|m| m.ioa)).collect::<Vec<_>>(), [None, Some(4004), Some(4004)]);
        other.upsert(&PointMapping::new("330KV", 1, 4005)).await.unwrap();
        assert_eq!(store.lookup_many("330KV", 1, [4005]).await.unwrap(), [None], "{}: cached miss", t.name);
        let fresh = MappingStore::new(t.db.clone(), Duration::from_secs(3600));
        assert!(fresh.lookup_many("330KV", 1, [4005, 4004]).await.unwrap().iter().all(Option::is_some));
        // a zero TTL means no caching
        let nocache = MappingStore::new(t.db.clone(), Duration::ZERO);
        assert!(nocache.lookup("330KV", 1, 4004).await.unwrap().is_some());
        assert!(nocache.lookup_many("330KV", 1, [4004]).await.unwrap()[0].is_some());
        t.cleanup().await;
    }
}

/// The legacy table (the UUID-keyed one upstream's ORM creates) with a row in it, as upstream left it.
async fn legacy_mapping_row(t: &TestDb) {
    let ddl = match t.name {
        "sqlite" => include_str!("../migrations/sqlite/0001_init.sql"),
        "postgres" => include_str!("../migrations/postgres/0001_init.sql"),
        _ => include_str!("../migrations/mysql/0001_init.sql"),
    };
    use streamevent::store::Db;
    match &t.db {
        Db::Sqlite(p) => drop(sqlx::raw_sql(ddl).execute(p).await.unwrap()),
        Db::Postgres(p) => drop(sqlx::raw_sql(ddl).execute(p).await.unwrap()),
        Db::MySql(p) => drop(sqlx::raw_sql(ddl).execute(p).await.unwrap()),
    }
    let insert = "INSERT INTO device_point_mapping (id, tag_station, coa, ioa, device_id) \
                  VALUES ('0190a1b2c3d4e5f60718293a4b5c6d7e', 'legacy', 1, 7, 'old')";
    match &t.db {
        Db::Sqlite(p) => drop(sqlx::query(insert).execute(p).await.unwrap()),
        Db::Postgres(p) => drop(sqlx::query(insert).execute(p).await.unwrap()),
        Db::MySql(p) => drop(sqlx::query(insert).execute(p).await.unwrap()),
    }
}

#[tokio::test]
async fn mapping_rows_have_numeric_ids_and_times() {
    for t in TestDb::all_unmigrated().await {
        let n = t.name;
        // a row that upstream wrote before this crate's migrations ran gets a numeric id too
        legacy_mapping_row(&t).await;
        t.db.migrate().await.unwrap_or_else(|e| panic!("{n}: migrate over the legacy table: {e}"));
        let store = MappingStore::new(t.db.clone(), Duration::ZERO);
        let legacy = store.get("legacy", 1, 7).await.unwrap().unwrap();
        assert!(legacy.num_id > 0, "{n}: legacy row numbered: {legacy:?}");
        let now_us = chrono::Utc::now().timestamp_micros();
        for i in 1..=3 {
            store.upsert(&PointMapping::new("S", 1, i)).await.unwrap();
        }
        let mut ids = vec![legacy.num_id];
        for i in 1..=3 {
            let m = store.get("S", 1, i).await.unwrap().unwrap();
            assert!(!ids.contains(&m.num_id) && m.num_id > 0, "{n}: ids unique: {ids:?} {}", m.num_id);
            ids.push(m.num_id);
            // the database's clock and ours agree within a minute (times are UTC microseconds)
            assert!((m.create_us - now_us).abs() < 60_000_000, "{n}: create time {} vs now {now_us}", m.create_us);
            assert_eq!(store.get_by_num_id(m.num_id).await.unwrap().as_ref(), Some(&m), "{n}: by id");
        }
        assert_eq!(store.get_by_num_id(ids.iter().max().unwrap() + 1000).await.unwrap(), None, "{n}");
        // an update keeps the id and moves update_time on
        let before = store.get("S", 1, 2).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let mut changed = before.clone();
        changed.device_name = "renamed".into();
        store.upsert(&changed).await.unwrap();
        let after = store.get("S", 1, 2).await.unwrap().unwrap();
        assert_eq!(
            (after.num_id, after.create_us, after.device_name.as_str()),
            (before.num_id, before.create_us, "renamed"),
            "{n}"
        );
        assert!(after.update_us >= before.update_us + 1_000_000, "{n}: {} -> {}", before.update_us, after.update_us);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn inbound_events_are_stored() {
    for t in TestDb::all().await {
        t.db.record_event("mqtt", "a/b", r#"{"x":1}"#).await.unwrap();
        t.db.record_event("mqtt", "a/c", "héllo 'quoted'").await.unwrap();
        t.db.record_event("kafka", "k", "v").await.unwrap();
        let batch: Vec<(String, String)> = (0..3).map(|i| (format!("b/{i}"), format!("p{i}"))).collect();
        t.db.record_events("ws", &batch).await.unwrap();
        assert_eq!(t.db.events("ws").await.unwrap(), batch, "{}", t.name);
        let ev = t.db.events("mqtt").await.unwrap();
        assert_eq!(
            ev,
            [("a/b".to_string(), r#"{"x":1}"#.to_string()), ("a/c".into(), "héllo 'quoted'".into())],
            "{}",
            t.name
        );
        t.cleanup().await;
    }
}

fn row(i: i32) -> RawRow {
    RawRow {
        ts: format!("2026-06-05 14:30:00.{i}"),
        msg_id: format!("m{i}"),
        host_v: "10.0.0.5".into(),
        port_v: 2404,
        asdu: "M_ME_NC_1".into(),
        type_id: 13,
        data_type: 6,
        coa: 1,
        ioa: i % 7,
        ioa_value: format!("{i}.5"),
        raw_msg: format!("{{\"ioa\":{},\"value\":{i}.5,\"note\":\"it's\ttab\nline\\\\back\r\"}}", i % 7),
        tag_station: "330KV".into(),
    }
}

fn typed(i: i32) -> TypedRow {
    TypedRow {
        ts: 1_780_640_000_000_000 + i64::from(i),
        msg_id: format!("m{i}"),
        data_type: 6,
        value: f64::from(i) + 0.25,
        quality: i % 2 * 128,
        device_ms: (i % 3 != 0).then_some(1_780_640_000_000 + i64::from(i)),
        tag_station: "330KV".into(),
        device_id: "d\t1".into(),
        tag_coa: 1,
        tag_ioa: i % 7,
    }
}

/// The same rows as other messages: every msgId prefixed with `tag`.
fn renamed(rows: &Rows, tag: &str) -> Rows {
    let mut r = rows.clone();
    for m in r
        .raw
        .iter_mut()
        .map(|x| &mut x.msg_id)
        .chain(r.telemetry.iter_mut().chain(&mut r.signals).map(|x| &mut x.msg_id))
    {
        *m = format!("{tag}-{m}");
    }
    r
}

fn chunk(first: u64, last: u64, ident: u128) -> ChunkId {
    let mut b = ChunkId::builder();
    b.add("memory", first, ident);
    b.add("memory", last, ident + 1);
    b.build()
}

#[tokio::test]
async fn chunks_are_stored_once_with_raw_and_typed_rows() {
    for t in TestDb::all().await {
        let sink = SqlSink::new(t.db.clone());
        let rows = Rows {
            raw: (0..5000).map(row).collect(),
            telemetry: (0..300).map(typed).collect(),
            signals: (0..200).map(|i| TypedRow { value: f64::from(i % 2), ..typed(i) }).collect(),
            ..Default::default()
        };
        let a = chunk(0, 4999, 1);
        let stored = sink.write_chunk(&a, &rows).await.unwrap();
        assert_eq!(stored, Stored::Written { raw: 5000, telemetry: 300, signals: 200 }, "{}", t.name);
        assert_eq!(sink.write_chunk(&a, &rows).await.unwrap(), Stored::Duplicate, "{}: redelivery", t.name);
        assert!(sink.has_chunk(&a).await.unwrap());
        assert_eq!(sink.count().await.unwrap(), 5000);
        // a second run whose chunk covers the same positions with other messages is stored too
        let b = chunk(0, 4999, 7);
        assert_eq!(a.ranges().collect::<Vec<_>>(), b.ranges().collect::<Vec<_>>());
        assert!(matches!(
            sink.write_chunk(&b, &renamed(&rows, "run2")).await.unwrap(),
            Stored::Written { raw: 5000, .. }
        ));
        assert_eq!(sink.count().await.unwrap(), 10_000, "{}: rows of both runs", t.name);
        let got = sink.rows("330KV", 1, 3).await.unwrap();
        let want: Vec<RawRow> = rows.raw.iter().filter(|r| r.ioa == 3).cloned().collect();
        assert_eq!(got[..want.len()], want[..], "{}: values and order survive", t.name);
        let got = sink.typed_rows(false, "330KV", 1, 3).await.unwrap();
        let want: Vec<TypedRow> = rows.telemetry.iter().filter(|r| r.tag_ioa == 3).cloned().collect();
        assert_eq!(got.len(), want.len() * 2);
        assert_eq!(got.iter().step_by(2).cloned().collect::<Vec<_>>(), want, "{}: telemetry rows", t.name);
        let got = sink.typed_rows(true, "330KV", 1, 4).await.unwrap();
        let want: Vec<TypedRow> = rows.signals.iter().filter(|r| r.tag_ioa == 4).cloned().collect();
        assert_eq!(got.iter().step_by(2).cloned().collect::<Vec<_>>(), want, "{}: signal rows", t.name);
        assert_eq!(sink.count_of("stream_chunk").await.unwrap(), 2);
        // a group commit: a chunk stored before and two new ones, each once
        let (c, d) = (chunk(5000, 5009, 11), chunk(5010, 5019, 12));
        let small =
            Rows { raw: (0..10).map(row).collect(), telemetry: (0..3).map(typed).collect(), ..Default::default() };
        let (small_c, small_d) = (renamed(&small, "c"), renamed(&small, "d"));
        let got = sink.write_chunks(&[(&a, &rows), (&c, &small_c), (&d, &small_d)]).await.unwrap();
        let written = Stored::Written { raw: 10, telemetry: 3, signals: 0 };
        assert_eq!(got, [Stored::Duplicate, written, written], "{}", t.name);
        assert_eq!(sink.count().await.unwrap(), 10_020, "{}", t.name);
        assert_eq!(sink.count_of("telemetry_data").await.unwrap(), 606, "{}", t.name);
        assert_eq!(sink.write_chunks(&[(&c, &small_c)]).await.unwrap(), [Stored::Duplicate]);
        assert!(sink.count_of("device_point_mapping").await.is_err(), "only the sink's tables");
        t.cleanup().await;
    }
}

/// Writes a chunk, trying again after an error as a sender does (SQLite's single writer may be
/// busy beyond its timeout; MySQL reports a racing writer's messages as a conflict).
async fn write_retrying(sink: &SqlSink, id: &ChunkId, rows: &Rows) -> Stored {
    loop {
        match sink.write_chunk(id, rows).await {
            Ok(s) => return s,
            Err(e) => {
                eprintln!("retrying: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
}

/// Eight writers deliver one chunk at the same moment (two consumers racing on a redelivery):
/// exactly one stores it, the others see a duplicate and write nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writers_store_a_chunk_once() {
    for t in TestDb::all().await {
        let sink = SqlSink::new(t.db.clone());
        let rows = std::sync::Arc::new(Rows { raw: (0..2000).map(row).collect(), ..Default::default() });
        for round in 0..5u128 {
            let id = chunk(0, 1999, 100 + round);
            let rows = std::sync::Arc::new(renamed(&rows, &format!("round{round}")));
            let start = std::sync::Arc::new(tokio::sync::Barrier::new(8));
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let (sink, rows, id, start) = (sink.clone(), rows.clone(), id.clone(), start.clone());
                    tokio::spawn(async move {
                        start.wait().await;
                        write_retrying(&sink, &id, &rows).await
                    })
                })
                .collect();
            let mut written = 0;
            for task in tasks {
                if matches!(task.await.unwrap(), Stored::Written { .. }) {
                    written += 1;
                }
            }
            assert_eq!(written, 1, "{}: round {round}", t.name);
            assert_eq!(sink.count().await.unwrap(), 2000 * (round as i64 + 1), "{}", t.name);
        }
        t.cleanup().await;
    }
}

/// A message is stored once whatever chunk carries it: a Kafka partition re-read after a crash
/// is cut into chunks at other offsets, so a redelivered message can arrive in a new chunk, next
/// to new messages; a record the producer wrote twice carries one msgId twice. Four writers
/// racing with overlapping chunks store the union, each message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_is_stored_once_whatever_chunk_carries_it() {
    for t in TestDb::all().await {
        let n = t.name;
        let sink = SqlSink::new(t.db.clone());
        let part = |from: i32, to: i32| Rows {
            raw: (from..to).map(row).collect(),
            telemetry: (from..to).filter(|i| i % 10 == 0).map(typed).collect(),
            ..Default::default()
        };
        assert_eq!(
            sink.write_chunk(&chunk(0, 99, 1), &part(0, 100)).await.unwrap(),
            Stored::Written { raw: 100, telemetry: 10, signals: 0 },
            "{n}"
        );
        // a new chunk (other boundaries) holding 50 old messages and 50 new ones
        assert_eq!(
            sink.write_chunk(&chunk(50, 149, 2), &part(50, 150)).await.unwrap(),
            Stored::Written { raw: 50, telemetry: 5, signals: 0 },
            "{n}: only the new messages"
        );
        assert_eq!((sink.count().await.unwrap(), sink.count_of("telemetry_data").await.unwrap()), (150, 15), "{n}");
        // one message twice in a chunk (a record produced twice), and rows without a msgId
        let mut twice = part(150, 152);
        twice.raw.push(row(150));
        twice.raw.push(RawRow { msg_id: String::new(), ..row(9999) });
        twice.raw.push(RawRow { msg_id: String::new(), ..row(9998) });
        assert_eq!(
            sink.write_chunk(&chunk(150, 154, 3), &twice).await.unwrap(),
            Stored::Written { raw: 4, telemetry: 1, signals: 0 },
            "{n}: 150 and 151 once, both rows without an id"
        );
        // one message in two new chunks of one transaction (a group commit): stored once
        let g = part(160, 162);
        assert_eq!(
            sink.write_chunks(&[(&chunk(160, 161, 4), &g), (&chunk(160, 161, 5), &g)]).await.unwrap(),
            [
                Stored::Written { raw: 2, telemetry: 1, signals: 0 },
                Stored::Written { raw: 0, telemetry: 0, signals: 0 }
            ],
            "{n}: the second chunk's copies are not written"
        );
        // four writers racing, overlapping by half: the union, each message once
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(4));
        let tasks: Vec<_> = (0..4)
            .map(|k: i32| {
                let (sink, start, rows) = (sink.clone(), start.clone(), part(1000 + k * 50, 1100 + k * 50));
                tokio::spawn(async move {
                    start.wait().await;
                    let id = chunk(1000 + k as u64 * 50, 1099 + k as u64 * 50, 10 + k as u128);
                    write_retrying(&sink, &id, &rows).await
                })
            })
            .collect();
        for task in tasks {
            assert!(matches!(task.await.unwrap(), Stored::Written { .. }), "{n}");
        }
        assert_eq!(sink.count().await.unwrap(), 156 + 250, "{n}: 1000..1250 once each");
        let distinct: i64 = {
            use streamevent::store::Db;
            let sql = "SELECT COUNT(DISTINCT msg_id) FROM raw_point_data WHERE msg_id <> ''";
            match &t.db {
                Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
                Db::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
                Db::MySql(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
            }
        };
        assert_eq!(distinct, 154 + 250, "{n}: no message twice");
        // a sink that recognises chunks only stores an overlapping chunk again (the in-process bus's)
        let per_chunk = SqlSink::once_per_chunk(t.db.clone());
        assert!(matches!(
            per_chunk.write_chunk(&chunk(0, 9, 99), &part(0, 10)).await.unwrap(),
            Stored::Written { raw: 10, .. }
        ));
        // ... unless its rows are marked for claims (points a station may send again): then only
        // the messages not stored before are written, and they are claimed for later
        let marked = |a, b| Rows { claim: true, ..part(a, b) };
        assert_eq!(
            per_chunk.write_chunk(&chunk(5000, 5011, 98), &marked(2000, 2012)).await.unwrap(),
            Stored::Written { raw: 12, telemetry: 2, signals: 0 },
            "{n}: new messages"
        );
        assert_eq!(
            per_chunk.write_chunk(&chunk(6000, 6019, 97), &marked(2006, 2026)).await.unwrap(),
            Stored::Written { raw: 14, telemetry: 1, signals: 0 },
            "{n}: 2006..2012 sent again are not stored twice"
        );
        t.cleanup().await;
    }
}

/// Claims older than the retention are forgotten (one range delete on the UUIDv7 msgIds); newer
/// ones keep a redelivery out.
#[tokio::test]
async fn old_message_claims_are_pruned() {
    for t in TestDb::all().await {
        let n = t.name;
        let sink = SqlSink::new(t.db.clone());
        let now_ms = chrono::Utc::now().timestamp_millis() as u64;
        let id_at = |ms: u64, k: u8| {
            let b = uuid::Builder::from_unix_timestamp_millis(ms, &[k; 10]).into_uuid();
            b.simple().to_string()
        };
        let at = |ms: u64, k: u8| RawRow { msg_id: id_at(ms, k), ..row(i32::from(k)) };
        let old =
            Rows { raw: vec![at(now_ms - 9 * 86_400_000, 1), at(now_ms - 8 * 86_400_000, 2)], ..Default::default() };
        let new = Rows { raw: vec![at(now_ms - 3_600_000, 3), at(now_ms, 4)], ..Default::default() };
        sink.write_chunk(&chunk(0, 1, 1), &old).await.unwrap();
        sink.write_chunk(&chunk(2, 3, 2), &new).await.unwrap();
        assert_eq!(sink.count_of("stream_msg").await.unwrap(), 4, "{n}");
        let gone = sink.prune_message_claims(std::time::Duration::from_secs(7 * 86_400)).await.unwrap();
        assert_eq!((gone, sink.count_of("stream_msg").await.unwrap()), (2, 2), "{n}: the two older than 7 days");
        // the recent ones still keep a redelivery in another chunk out
        assert_eq!(
            sink.write_chunk(&chunk(2, 3, 9), &new).await.unwrap(),
            Stored::Written { raw: 0, telemetry: 0, signals: 0 },
            "{n}"
        );
        assert_eq!(sink.count().await.unwrap(), 4, "{n}");
        t.cleanup().await;
    }
}

/// A SQLite file's WAL is checkpointed beside the writer: after a write, the background task
/// copies the WAL's frames into the database file, which the writer does not do itself for a
/// small WAL.
#[tokio::test]
async fn a_sqlite_file_is_checkpointed_beside_the_writer() {
    let dir = std::env::temp_dir().join(format!("ckpt_{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = streamevent::store::Db::connect(&format!("sqlite://{}/c.db", dir.display())).await.unwrap();
    db.migrate().await.unwrap();
    let memory = streamevent::store::Db::connect("sqlite::memory:").await.unwrap();
    assert!(memory.spawn_checkpointer(Duration::from_millis(10)).is_none());
    let sink = SqlSink::once_per_chunk(db.clone());
    let rows = Rows { raw: (0..1000).map(row).collect(), ..Default::default() };
    sink.write_chunk(&chunk(0, 999, 1), &rows).await.unwrap();
    let size = || std::fs::metadata(dir.join("c.db")).map(|m| m.len()).unwrap_or(0);
    let before = size();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(size(), before, "the writer leaves a small WAL alone");
    let task = db.spawn_checkpointer(Duration::from_millis(20)).expect("a SQLite file gets a checkpointer");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while size() == before {
        assert!(std::time::Instant::now() < deadline, "the WAL was not checkpointed into the file");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    std::fs::remove_dir_all(&dir).ok();
}
