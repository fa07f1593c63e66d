//! `hls_ts_files` on each backend (SQLite, the loopback PostgreSQL and MariaDB): the migrations,
//! the upsert (one row per ts_file, a late open not undoing a close, a group with the same file
//! several times), the reconcile insert leaving known rows alone, the list order and filters.

use lalhook_svc::store::{Segment, Store};
use testkit::db::TempDb;

fn seg(ts_file: &str, t: i64, id: i64, event: &str, duration: Option<f64>) -> Segment {
    Segment {
        event: event.into(),
        stream_name: "cam".into(),
        ts_file: ts_file.into(),
        ts_id: id,
        ts_timestamp: t,
        duration,
        server_id: "lal-1".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_table_on_every_backend() {
    for db in TempDb::all("lalhook").await {
        let store = Store::connect(&db.url).await.unwrap_or_else(|e| panic!("{}: {e}", db.url));
        // many notifications at once: one group commit, the same file in it several times
        let mut calls = Vec::new();
        for i in 0..50_i64 {
            let f = format!("/hls/cam/cam-{}-{i}.ts", 1000 + i * 2000);
            for (event, d) in [("open", None), ("close", Some(2.0))] {
                let (store, f) = (store.clone(), f.clone());
                calls.push(tokio::spawn(async move { store.upsert(seg(&f, 1000 + i * 2000, i, event, d)).await }));
            }
        }
        for c in calls {
            c.await.unwrap().unwrap_or_else(|e| panic!("{}: {e}", db.url));
        }
        // a late open of a closed segment, and a notification again
        store.upsert(seg("/hls/cam/cam-1000-0.ts", 1000, 0, "open", None)).await.unwrap();
        store.upsert(seg("/hls/cam/cam-3000-1.ts", 3000, 1, "close", Some(2.0))).await.unwrap();
        let all = store.segments("cam", None, None, None, true).await.unwrap();
        assert_eq!(all.len(), 50, "{}: one row per file", db.url);
        assert!(all.iter().all(|s| s.event == "close" && s.duration == Some(2.0)), "{}: {all:?}", db.url);
        assert_eq!((all[0].ts_id, all[49].ts_id), (49, 0), "{}: newest first", db.url);
        let range = store.segments("cam", Some(3000), Some(7000), Some("close"), false).await.unwrap();
        assert_eq!(range.iter().map(|s| s.ts_id).collect::<Vec<_>>(), [1, 2, 3], "{}", db.url);
        // the scan's insert adds only what is new
        let found = [
            seg("/hls/cam/cam-1000-0.ts", 1000, 0, "close", None),
            seg("/hls/cam/cam-999000-99.ts", 999_000, 99, "close", Some(1.5)),
        ];
        assert_eq!(store.insert_new(&found).await.unwrap(), 1, "{}", db.url);
        let again = store.segments("cam", Some(1000), Some(1000), None, true).await.unwrap();
        assert_eq!(again[0].duration, Some(2.0), "{}: the known row untouched", db.url);
        assert_eq!(store.segments("cam", None, None, None, true).await.unwrap().len(), 51);
    }
}
