//! Migrations, mapping lookups with their cache, inbound events and the raw-row sink against
//! SQLite, and the PostgreSQL and MariaDB running on loopback.

mod common;

use common::TestDb;
use std::time::Duration;
use streamevent::sink::{RawRow, Sink, SqlSink};
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
        assert_eq!(*got, m, "{}", t.name);
        assert_eq!(got.to_json().ext1, "alarm");
        // update through the same store drops its cache entry
        m.enable_raw_insert = 0;
        store.upsert(&m).await.unwrap();
        assert_eq!(store.lookup("330KV", 1, 4004).await.unwrap().unwrap().enable_raw_insert, 0, "{}", t.name);
        assert_eq!(store.invalidate_keys([cache_key("330KV", 1, 4004).as_str(), "pm:x:1:1"]), 1);
        store.lookup("330KV", 1, 4004).await.unwrap();
        assert_eq!(store.clear(), 1);
        // a zero TTL means no caching
        let nocache = MappingStore::new(t.db.clone(), Duration::ZERO);
        assert!(nocache.lookup("330KV", 1, 4004).await.unwrap().is_some());
        t.cleanup().await;
    }
}

#[tokio::test]
async fn inbound_events_are_stored() {
    for t in TestDb::all().await {
        t.db.record_event("mqtt", "a/b", r#"{"x":1}"#).await.unwrap();
        t.db.record_event("mqtt", "a/c", "héllo 'quoted'").await.unwrap();
        t.db.record_event("kafka", "k", "v").await.unwrap();
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
        chunk_id: "t/0@0-9".into(),
    }
}

#[tokio::test]
async fn sql_sink_writes_batches() {
    for t in TestDb::all().await {
        let sink = SqlSink::new(t.db.clone());
        assert_eq!(sink.write(&[]).await.unwrap(), 0);
        let rows: Vec<RawRow> = (0..5000).map(row).collect();
        assert_eq!(sink.write(&rows).await.unwrap(), 5000, "{}", t.name);
        assert_eq!(sink.count().await.unwrap(), 5000);
        let got = sink.rows("330KV", 1, 3).await.unwrap();
        let want: Vec<RawRow> = rows.iter().filter(|r| r.ioa == 3).cloned().collect();
        assert_eq!(got, want, "{}: values and order survive", t.name);
        t.cleanup().await;
    }
}
