//! The `file` binary: the upstream sample configuration; the `oss` table's RPCs on SQLite,
//! PostgreSQL and MariaDB through gRPC (create, the `(tenant_id, oss_code)` rule, detail, list
//! with paging, filters and order, update, delete, the upstream codes); `Ping`.

use file_svc::pb;
use file_svc::pb::file_rpc_client::FileRpcClient;
use std::time::Duration;
use testkit::db::TempDb;
use testkit::port::free_port;
use testkit::service::{assert_ignored_with_warnings, print_config, spawn, wait_listening, ConfigFile};
use zero_svc::errcode::ErrCode;

const BIN: &str = env!("CARGO_BIN_EXE_file");

#[test]
fn the_upstream_sample_configures_file() {
    let file = ConfigFile::new("file.yaml", include_str!("data/upstream-file.yaml"));
    let (ok, cfg, warnings) = print_config(BIN, &file.path, &[]);
    assert!(ok, "{warnings}");
    assert_eq!(cfg["ListenOn"].as_str(), Some("0.0.0.0:21003"));
    assert_eq!(cfg["Upload"]["RelayUploadConcurrency"].as_u64(), Some(4));
    assert_eq!(cfg["Upload"]["Image"]["Thumb"]["Width"].as_u64(), Some(300));
    assert_eq!(cfg["Oss"]["TenantMode"].as_bool(), Some(true));
    assert_ignored_with_warnings(
        &warnings,
        &["Name", "Timeout", "Mode", "NacosConfig", "DB.MaxIdleConns", "DB.SlowThreshold"],
    );
}

fn code<T: std::fmt::Debug>(r: Result<T, tonic::Status>) -> ErrCode {
    let s = r.expect_err("the call fails");
    ErrCode::of_status(&s).unwrap_or_else(|| panic!("no upstream code in {s:?}"))
}

fn create(tenant: &str, code: &str, category: i64) -> pb::CreateOssReq {
    pb::CreateOssReq {
        tenant_id: tenant.into(),
        category,
        oss_code: code.into(),
        endpoint: "http://127.0.0.1:9000".into(),
        access_key: "ak".into(),
        secret_key: "sk".into(),
        bucket_name: "files".into(),
        region: "us-east-1".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_oss_table_through_grpc_on_every_backend() {
    for db in TempDb::all("filesvc").await {
        let port = free_port();
        let text =
            format!("ListenOn: 127.0.0.1:{port}\nPrometheus:\n  ListenOn: \"\"\nDB:\n  DataSource: {}\n", db.url);
        let file = ConfigFile::new("file.yaml", &text);
        let _svc = spawn(BIN, &file.path, &[]);
        wait_listening(port, Duration::from_secs(20));
        let mut c = FileRpcClient::connect(format!("http://127.0.0.1:{port}")).await.unwrap();
        assert_eq!(c.ping(pb::Req { ping: "hi".into() }).await.unwrap().into_inner().pong, "hi");

        let a = c.create_oss(create("t1", "minio", 1)).await.unwrap().into_inner().id;
        let b = c.create_oss(create("t1", "s3", 2)).await.unwrap().into_inner().id;
        let d = c.create_oss(create("t2", "minio", 1)).await.unwrap().into_inner().id;
        assert_eq!(a.len(), 32, "{}: a SimpleUUID", db.url);
        // (tenant_id, oss_code) is unique; the same code for another tenant is fine (above)
        assert_eq!(code(c.create_oss(create("t1", "minio", 3)).await), ErrCode::AlreadyExists, "{}", db.url);
        assert_eq!(code(c.create_oss(create("t1", "", 3)).await), ErrCode::MissingParam);

        let got = c.oss_detail(pb::OssDetailReq { id: a.clone() }).await.unwrap().into_inner().oss.unwrap();
        assert_eq!((got.tenant_id.as_str(), got.oss_code.as_str(), got.status), ("t1", "minio", 1), "{}", db.url);
        assert!(chrono::NaiveDateTime::parse_from_str(&got.create_time, "%Y-%m-%d %H:%M:%S").is_ok(), "{got:?}");
        assert_eq!(code(c.oss_detail(pb::OssDetailReq { id: "nope".into() }).await), ErrCode::NotFound);

        let list = |page, page_size, order_by: &str, tenant_id: &str, category| pb::OssListReq {
            page,
            page_size,
            order_by: order_by.into(),
            tenant_id: tenant_id.into(),
            category,
        };
        let r = c.oss_list(list(1, 10, "", "t1", 0)).await.unwrap().into_inner();
        assert_eq!(r.total, 2, "{}", db.url);
        let r = c.oss_list(list(1, 10, "oss_code asc", "", 1)).await.unwrap().into_inner();
        assert_eq!(r.oss.iter().map(|o| o.id.as_str()).collect::<Vec<_>>().len(), 2);
        assert!(r.oss.iter().all(|o| o.oss_code == "minio"));
        let r = c.oss_list(list(2, 2, "id asc", "", 0)).await.unwrap().into_inner();
        assert_eq!((r.total, r.oss.len()), (3, 1), "{}: the second page of two", db.url);
        let mut ids = [a.clone(), b.clone(), d.clone()];
        ids.sort();
        assert_eq!(r.oss[0].id, ids[2]);
        assert_eq!(code(c.oss_list(list(1, 10, "secret_key", "", 0)).await), ErrCode::InvalidParam);

        // update: a code taken by another row of the tenant is refused; the row changes
        let mut up = pb::UpdateOssReq {
            id: b.clone(),
            tenant_id: "t1".into(),
            category: 2,
            oss_code: "minio".into(),
            endpoint: "http://127.0.0.1:9001".into(),
            status: 2,
            ..Default::default()
        };
        assert_eq!(code(c.update_oss(up.clone()).await), ErrCode::AlreadyExists, "{}", db.url);
        up.oss_code = "s3-archive".into();
        c.update_oss(up.clone()).await.unwrap();
        c.update_oss(up.clone()).await.unwrap();
        let got = c.oss_detail(pb::OssDetailReq { id: b.clone() }).await.unwrap().into_inner().oss.unwrap();
        assert_eq!(
            (got.oss_code.as_str(), got.endpoint.as_str(), got.status),
            ("s3-archive", "http://127.0.0.1:9001", 2)
        );
        up.id = "nope".into();
        assert_eq!(code(c.update_oss(up).await), ErrCode::NotFound);

        assert_eq!(c.delete_oss(pb::DeleteOssReq { id: d.clone() }).await.unwrap().into_inner().id, d);
        assert_eq!(code(c.delete_oss(pb::DeleteOssReq { id: d }).await), ErrCode::NotFound);
        assert_eq!(c.oss_list(list(1, 10, "", "", 0)).await.unwrap().into_inner().total, 2);
    }
}
