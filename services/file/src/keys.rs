//! Where an upload goes, as upstream names it: the object key `{pathPrefix}/{yyyyMMdd}/{uuid}.{ext}`
//! (the date in Asia/Shanghai, the extension the original name's, lower-cased) and, in tenant
//! mode, the bucket `{tenantId}-{bucket}`.

/// The tenant a request names when it names none.
pub const DEFAULT_TENANT: &str = "000000";

/// The bucket of `bucket` for `tenant_id`.
///
/// ```
/// assert_eq!(file_svc::keys::bucket(true, "000001", "photos"), "000001-photos");
/// assert_eq!(file_svc::keys::bucket(false, "000001", "photos"), "photos");
/// ```
pub fn bucket(tenant_mode: bool, tenant_id: &str, bucket: &str) -> String {
    if tenant_mode {
        let tenant = if tenant_id.is_empty() { DEFAULT_TENANT } else { tenant_id };
        format!("{tenant}-{bucket}")
    } else {
        bucket.to_owned()
    }
}

/// The object key of a new upload of `filename` under `path_prefix` at `now`.
pub fn object_key(path_prefix: &str, filename: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600).expect("a valid offset");
    let day = now.with_timezone(&shanghai).format("%Y%m%d");
    let id = uuid::Uuid::now_v7().simple();
    let prefix = path_prefix.trim_matches('/');
    match extension(filename) {
        Some(ext) => format!("{prefix}/{day}/{id}.{ext}"),
        None => format!("{prefix}/{day}/{id}"),
    }
}

/// The lower-cased extension of a file name, if it has one.
pub fn extension(filename: &str) -> Option<String> {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or(filename);
    let (stem, ext) = base.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty() && ext.len() <= 16 && ext.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| ext.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_as_upstream() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-06T18:30:00Z").unwrap().with_timezone(&chrono::Utc);
        let k = object_key("/upload/", "Photo.JPG", t);
        assert!(
            k.starts_with("upload/20261207/") && k.ends_with(".jpg") && k.len() == "upload/20261207/".len() + 32 + 4,
            "{k}"
        );
        assert_eq!(object_key("default", "README", t).rsplit('/').next().unwrap().len(), 32);
        assert_eq!(extension("a/b.tar.gz").as_deref(), Some("gz"));
        assert_eq!(extension(".bashrc"), None);
        assert_eq!(extension("x.j p g"), None);
        assert_eq!(bucket(true, "", "b"), "000000-b");
    }
}
