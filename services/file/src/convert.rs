//! protobuf <-> the store's rows, times as the upstream "datetime" (`yyyy-MM-dd HH:mm:ss`,
//! Asia/Shanghai), store errors as upstream codes.

use crate::pb;
use crate::store::{Oss, StoreError};
use tonic::Status;
use zero_svc::errcode::ErrCode;

/// `yyyy-MM-dd HH:mm:ss` in Asia/Shanghai of `ms` since the epoch.
pub fn datetime(ms: i64) -> String {
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600).expect("a valid offset");
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&shanghai).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// The message of a row.
pub fn oss_pb(o: &Oss) -> pb::Oss {
    pb::Oss {
        id: o.id.clone(),
        tenant_id: o.tenant_id.clone(),
        category: o.category,
        oss_code: o.oss_code.clone(),
        endpoint: o.endpoint.clone(),
        access_key: o.access_key.clone(),
        secret_key: o.secret_key.clone(),
        bucket_name: o.bucket_name.clone(),
        app_id: o.app_id.clone(),
        region: o.region.clone(),
        remark: o.remark.clone(),
        status: o.status,
        create_time: datetime(o.create_time),
        update_time: datetime(o.update_time),
    }
}

/// The row of `CreateOss` (status 1: enabled).
pub fn oss_of_create(r: &pb::CreateOssReq) -> Oss {
    let u = pb::UpdateOssReq {
        id: String::new(),
        tenant_id: r.tenant_id.clone(),
        category: r.category,
        oss_code: r.oss_code.clone(),
        endpoint: r.endpoint.clone(),
        access_key: r.access_key.clone(),
        secret_key: r.secret_key.clone(),
        bucket_name: r.bucket_name.clone(),
        app_id: r.app_id.clone(),
        region: r.region.clone(),
        remark: r.remark.clone(),
        status: 1,
    };
    oss_of_update(&u)
}

/// The row of `UpdateOss` (an empty tenant is the default one).
pub fn oss_of_update(r: &pb::UpdateOssReq) -> Oss {
    Oss {
        id: r.id.clone(),
        tenant_id: if r.tenant_id.is_empty() { crate::keys::DEFAULT_TENANT.to_owned() } else { r.tenant_id.clone() },
        category: r.category,
        oss_code: r.oss_code.clone(),
        endpoint: r.endpoint.clone(),
        access_key: r.access_key.clone(),
        secret_key: r.secret_key.clone(),
        bucket_name: r.bucket_name.clone(),
        app_id: r.app_id.clone(),
        region: r.region.clone(),
        remark: r.remark.clone(),
        status: r.status,
        ..Default::default()
    }
}

/// The upstream code of a store failure.
pub fn status_of(e: &StoreError) -> Status {
    match e {
        StoreError::NotFound(_) => ErrCode::NotFound.status(e.to_string()),
        StoreError::Duplicate(..) => ErrCode::AlreadyExists.status(e.to_string()),
        StoreError::Invalid(_) => ErrCode::InvalidParam.status(e.to_string()),
        StoreError::Db(_) => ErrCode::DbError.status(e.to_string()),
    }
}
