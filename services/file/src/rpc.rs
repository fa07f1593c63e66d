//! `file.FileRpc`. Built so far: `Ping`, the `oss` table's CRUD (`OssDetail`, `OssList`,
//! `CreateOss`, `UpdateOss`, `DeleteOss`) with the `(tenant_id, oss_code)` rule, and on the
//! template's storage `MakeBucket`, `RemoveBucket`, `StatFile`, `SignUrl`, `PutFile`,
//! `PutStreamFile` (multipart, one part in memory), `RelayFile`, `RemoveFile`, `RemoveFiles`,
//! `CaptureVideoStream` (one frame grabbed by Debian's `ffmpeg`).

use crate::convert::{self, status_of};
use crate::pb;
use crate::s3::{self, Clients, S3Error};
use crate::store::{Oss, Store};
use tonic::{Request, Response, Status, Streaming};
use zero_svc::errcode::ErrCode;

/// The handler.
#[derive(Debug, Clone)]
pub struct Rpc {
    /// The `oss` table.
    pub store: Store,
    /// Storage clients by template.
    pub clients: Clients,
    /// `Oss.TenantMode`.
    pub tenant_mode: bool,
    /// `Upload.TempDir`: the only place `PutFile` reads a local file from.
    pub temp_dir: std::path::PathBuf,
    /// `Upload.RelayUploadConcurrency`.
    pub relay_concurrency: usize,
    /// `Upload.Image`.
    pub image: crate::config::ImageConf,
    /// Thumbnail workers (`ThumbTaskConcurrency` permits).
    pub thumb_workers: std::sync::Arc<tokio::sync::Semaphore>,
}

/// A file removed when dropped.
#[derive(Debug)]
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Bytes per part of a streamed upload (S3's minimum is 5 MiB).
pub const PART_SIZE: usize = 8 << 20;

/// How long a broken `PutStreamFile` can be resumed.
pub const RESUME_FOR: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The largest relay source, as upstream.
pub const RELAY_MAX: u64 = 200 << 20;

fn s3_status(e: &S3Error) -> Status {
    match e {
        S3Error::NotFound(m) => ErrCode::NotFound.status(m.clone()),
        S3Error::Conflict(m) => ErrCode::AlreadyExists.status(m.clone()),
        S3Error::Failed(m) => ErrCode::ThirdPartyFailure.status(m.clone()),
    }
}

/// `12.34 MB` (1024-based).
pub fn format_size(bytes: i64) -> String {
    let mut v = bytes.max(0) as f64;
    let units = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.2} {}", units[i])
}

/// A content type from the caller, else from the file name.
fn content_type(given: &str, filename: &str) -> String {
    if !given.is_empty() {
        return given.to_owned();
    }
    let by_ext = match crate::keys::extension(filename).as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("mp4") => "video/mp4",
        Some("ts") => "video/mp2t",
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("json") => "application/json",
        Some("txt" | "log") => "text/plain",
        Some("pdf") => "application/pdf",
        _ => "application/octet-stream",
    };
    by_ext.to_owned()
}

/// Stores the file at `path` as `bucket/key` in parts of [`PART_SIZE`] (one in memory); its MD5.
async fn upload_file(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    path: &std::path::Path,
    ct: &str,
) -> Result<String, S3Error> {
    use tokio::io::AsyncReadExt as _;
    let mut f = tokio::fs::File::open(path).await.map_err(|e| S3Error::Failed(format!("{}: {e}", path.display())))?;
    let mut upload = s3::Multipart::start(c, bucket, key, ct).await?;
    let mut md5 = md5::Context::new();
    let mut sent_any = false;
    loop {
        let mut part = Vec::with_capacity(PART_SIZE);
        let n = (&mut f).take(PART_SIZE as u64).read_to_end(&mut part).await;
        let n = match n {
            Ok(n) => n,
            Err(e) => {
                upload.abort().await;
                return Err(S3Error::Failed(e.to_string()));
            }
        };
        if n == 0 && sent_any {
            break;
        }
        md5.consume(&part);
        if let Err(e) = upload.part(part).await {
            upload.abort().await;
            return Err(e);
        }
        sent_any = true;
        if n < PART_SIZE {
            break;
        }
    }
    upload.finish().await?;
    Ok(format!("{:x}", md5.finalize()))
}

/// `ImageMeta` of what an image's first bytes say.
fn meta_pb(m: crate::images::Meta) -> pb::ImageMeta {
    pb::ImageMeta {
        longitude: m.longitude,
        latitude: m.latitude,
        time: m.time,
        img_height: i32::try_from(m.height).unwrap_or(i32::MAX),
        img_width: i32::try_from(m.width).unwrap_or(i32::MAX),
        altitude: m.altitude,
        camera_model: m.camera_model,
        body_serial_number: m.body_serial_number,
        extra: m.extra.into_iter().collect(),
    }
}

impl Rpc {
    /// For an image just stored as `bucket/key`: its metadata from `head` (its first bytes), and,
    /// when asked and enabled, its thumbnail made in the background by a worker (the object read
    /// back, resized, stored as [`crate::images::thumb_key`]); the `File` tells both.
    fn image_extras(
        &self,
        file: &mut pb::File,
        c: &aws_sdk_s3::Client,
        bucket: &str,
        ct: &str,
        head: &[u8],
        thumb: bool,
    ) {
        if !crate::images::is_image(ct) {
            return;
        }
        let head = &head[..head.len().min(self.image.max_exif_read)];
        file.meta = crate::images::meta(head).map(meta_pb);
        if !(thumb && self.image.thumb.enabled) {
            return;
        }
        let thumb_key = crate::images::thumb_key(&file.name);
        file.thumb_link = format!("{}/{bucket}/{thumb_key}", file.domain);
        file.thumb_name = thumb_key.clone();
        let (c, bucket, key, workers) = (c.clone(), bucket.to_owned(), file.name.clone(), self.thumb_workers.clone());
        let (w, h) = (self.image.thumb.width, self.image.thumb.height);
        let ct = ct.to_owned();
        tokio::spawn(async move {
            let Ok(_permit) = workers.acquire_owned().await else { return };
            let made = async {
                let bytes = s3::get(&c, &bucket, &key).await.map_err(|e| e.to_string())?;
                let small = tokio::task::spawn_blocking(move || crate::images::thumbnail(&bytes, w, h))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                let ct = if ct == "image/png" || ct == "image/gif" { ct } else { "image/jpeg".to_owned() };
                s3::put(&c, &bucket, &thumb_key, small, &ct).await.map_err(|e| e.to_string())
            };
            match made.await {
                Ok(()) => metrics::counter!("file_thumbnails_total").increment(1),
                Err(e) => {
                    metrics::counter!("file_thumbnail_errors_total").increment(1);
                    tracing::warn!(%bucket, %key, error = %e, "thumbnail");
                }
            }
        });
    }

    /// The relay source in a file of the temp directory (removed on drop): a download of
    /// `url` or a copy of `path`, at most [`RELAY_MAX`] bytes.
    async fn relay_source(&self, url: &str, path: &str) -> Result<(TempFile, u64), Status> {
        use futures_util::StreamExt as _;
        use tokio::io::AsyncWriteExt as _;
        let tmp = TempFile(self.temp_dir.join(format!("relay-{}", uuid::Uuid::now_v7().simple())));
        if !url.is_empty() {
            let res =
                reqwest::get(url).await.map_err(|e| ErrCode::RemoteCallFailed.status(format!("source_url: {e}")))?;
            if !res.status().is_success() {
                return Err(ErrCode::RemoteCallFailed.status(format!("source_url: HTTP {}", res.status())));
            }
            if res.content_length().is_some_and(|n| n > RELAY_MAX) {
                return Err(ErrCode::InvalidParam.status(format!("source_url: larger than {RELAY_MAX} bytes")));
            }
            let mut out = tokio::fs::File::create(&tmp.0).await.map_err(|e| ErrCode::Internal.status(e.to_string()))?;
            let mut body = res.bytes_stream();
            let mut n: u64 = 0;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| ErrCode::RemoteCallFailed.status(format!("source_url: {e}")))?;
                n += chunk.len() as u64;
                if n > RELAY_MAX {
                    return Err(ErrCode::InvalidParam.status(format!("source_url: larger than {RELAY_MAX} bytes")));
                }
                out.write_all(&chunk).await.map_err(|e| ErrCode::Internal.status(e.to_string()))?;
            }
            out.flush().await.map_err(|e| ErrCode::Internal.status(e.to_string()))?;
            Ok((tmp, n))
        } else {
            let src = self.local(path)?;
            let n =
                std::fs::metadata(&src).map_err(|e| ErrCode::InvalidParam.status(format!("source_path: {e}")))?.len();
            if n > RELAY_MAX {
                return Err(ErrCode::InvalidParam.status(format!("source_path: larger than {RELAY_MAX} bytes")));
            }
            tokio::fs::copy(&src, &tmp.0).await.map_err(|e| ErrCode::Internal.status(e.to_string()))?;
            Ok((tmp, n))
        }
    }

    /// `path` when it is a file under `Upload.TempDir` (upstream reads any path a caller names).
    fn local(&self, path: &str) -> Result<std::path::PathBuf, Status> {
        let p = std::fs::canonicalize(path).map_err(|e| ErrCode::InvalidParam.status(format!("path {path:?}: {e}")))?;
        let root = std::fs::canonicalize(&self.temp_dir).unwrap_or_else(|_| self.temp_dir.clone());
        if !p.starts_with(&root) {
            return Err(ErrCode::InvalidParam.status(format!("path {path:?} is not under Upload.TempDir")));
        }
        Ok(p)
    }

    /// The template of `(tenant_id, code)` and the bucket a request names (empty: the
    /// template's), tenant-prefixed in tenant mode.
    async fn target(
        &self,
        tenant_id: &str,
        code: &str,
        bucket: &str,
    ) -> Result<(Oss, aws_sdk_s3::Client, String), Status> {
        required("code", code)?;
        let tenant = if tenant_id.is_empty() { crate::keys::DEFAULT_TENANT } else { tenant_id };
        let o = self.store.by_code(tenant, code).await.map_err(|e| status_of(&e))?;
        let b = if bucket.is_empty() { o.bucket_name.clone() } else { bucket.to_owned() };
        required("bucket_name", &b)?;
        let client = self.clients.of(&o);
        Ok((o, client, crate::keys::bucket(self.tenant_mode, tenant, &b)))
    }

    /// [`Rpc::target`] for an upload: the bucket must exist.
    async fn upload_target(
        &self,
        tenant_id: &str,
        code: &str,
        bucket: &str,
    ) -> Result<(Oss, aws_sdk_s3::Client, String), Status> {
        let (o, c, b) = self.target(tenant_id, code, bucket).await?;
        s3::must_exist(&c, &b).await.map_err(|e| s3_status(&e))?;
        Ok((o, c, b))
    }

    /// The `File` of an object just stored.
    fn file_pb(o: &Oss, bucket: &str, key: &str, size: i64, original: &str, md5: String) -> pb::File {
        let domain = o.endpoint.trim_end_matches('/').to_owned();
        pb::File {
            link: format!("{domain}/{bucket}/{key}"),
            domain,
            name: key.to_owned(),
            size,
            format_size: format_size(size),
            original_name: original.to_owned(),
            md5,
            ..Default::default()
        }
    }
}

fn required(what: &str, v: &str) -> Result<(), Status> {
    if v.trim().is_empty() {
        return Err(ErrCode::MissingParam.status(format!("{what} is required")));
    }
    Ok(())
}

#[tonic::async_trait]
impl pb::file_rpc_server::FileRpc for Rpc {
    async fn ping(&self, r: Request<pb::Req>) -> Result<Response<pb::Res>, Status> {
        let r = r.into_inner();
        Ok(Response::new(pb::Res { pong: if r.ping.is_empty() { "pong".into() } else { r.ping } }))
    }

    async fn oss_detail(&self, r: Request<pb::OssDetailReq>) -> Result<Response<pb::OssDetailRes>, Status> {
        let r = r.into_inner();
        required("id", &r.id)?;
        let o = self.store.get(&r.id).await.map_err(|e| status_of(&e))?;
        Ok(Response::new(pb::OssDetailRes { oss: Some(convert::oss_pb(&o)) }))
    }

    async fn oss_list(&self, r: Request<pb::OssListReq>) -> Result<Response<pb::OssListRes>, Status> {
        let r = r.into_inner();
        let (rows, total) = self
            .store
            .list(r.page, r.page_size, &r.order_by, &r.tenant_id, r.category)
            .await
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(pb::OssListRes { oss: rows.iter().map(convert::oss_pb).collect(), total }))
    }

    async fn create_oss(&self, r: Request<pb::CreateOssReq>) -> Result<Response<pb::CreateOssRes>, Status> {
        let r = r.into_inner();
        required("oss_code", &r.oss_code)?;
        required("endpoint", &r.endpoint)?;
        let id = self.store.create(&convert::oss_of_create(&r)).await.map_err(|e| status_of(&e))?;
        Ok(Response::new(pb::CreateOssRes { id }))
    }

    async fn update_oss(&self, r: Request<pb::UpdateOssReq>) -> Result<Response<pb::UpdateOssRes>, Status> {
        let r = r.into_inner();
        required("id", &r.id)?;
        required("oss_code", &r.oss_code)?;
        required("endpoint", &r.endpoint)?;
        self.store.update(&convert::oss_of_update(&r)).await.map_err(|e| status_of(&e))?;
        Ok(Response::new(pb::UpdateOssRes {}))
    }

    async fn delete_oss(&self, r: Request<pb::DeleteOssReq>) -> Result<Response<pb::DeleteOssRes>, Status> {
        let r = r.into_inner();
        required("id", &r.id)?;
        self.store.delete(&r.id).await.map_err(|e| status_of(&e))?;
        Ok(Response::new(pb::DeleteOssRes { id: r.id }))
    }

    async fn make_bucket(&self, r: Request<pb::MakeBucketReq>) -> Result<Response<pb::MakeBucketRes>, Status> {
        let r = r.into_inner();
        let (_, c, bucket) = self.target(&r.tenant_id, &r.code, &r.bucket_name).await?;
        s3::make_bucket(&c, &bucket).await.map_err(|e| s3_status(&e))?;
        Ok(Response::new(pb::MakeBucketRes {}))
    }

    async fn remove_bucket(&self, r: Request<pb::RemoveBucketReq>) -> Result<Response<pb::RemoveBucketRes>, Status> {
        let r = r.into_inner();
        let (_, c, bucket) = self.target(&r.tenant_id, &r.code, &r.bucket_name).await?;
        s3::remove_bucket(&c, &bucket).await.map_err(|e| s3_status(&e))?;
        Ok(Response::new(pb::RemoveBucketRes {}))
    }

    async fn stat_file(&self, r: Request<pb::StatFileReq>) -> Result<Response<pb::StatFileRes>, Status> {
        let r = r.into_inner();
        required("filename", &r.filename)?;
        let (o, c, bucket) = self.target(&r.tenant_id, &r.code, &r.bucket_name).await?;
        let st = s3::stat(&c, &bucket, &r.filename).await.map_err(|e| s3_status(&e))?;
        let sign_url = if r.is_sign {
            let minutes = if r.expires > 0 { u64::try_from(r.expires).unwrap_or(60) } else { 60 };
            s3::sign_get(&c, &bucket, &r.filename, std::time::Duration::from_secs(minutes * 60))
                .await
                .map_err(|e| s3_status(&e))?
        } else {
            String::new()
        };
        Ok(Response::new(pb::StatFileRes {
            oss_file: Some(pb::OssFile {
                link: format!("{}/{bucket}/{}", o.endpoint.trim_end_matches('/'), r.filename),
                name: r.filename,
                size: st.size,
                format_size: format_size(st.size),
                put_time: convert::datetime(st.modified.saturating_mul(1000)),
                content_type: st.content_type,
                sign_url,
            }),
        }))
    }

    async fn sign_url(&self, r: Request<pb::SignUrlReq>) -> Result<Response<pb::SignUrlRes>, Status> {
        let r = r.into_inner();
        required("filename", &r.filename)?;
        let (_, c, bucket) = self.target(&r.tenant_id, &r.code, &r.bucket_name).await?;
        let minutes = if r.expires > 0 { u64::try_from(r.expires).unwrap_or(60) } else { 60 };
        let url = s3::sign_get(&c, &bucket, &r.filename, std::time::Duration::from_secs(minutes * 60))
            .await
            .map_err(|e| s3_status(&e))?;
        Ok(Response::new(pb::SignUrlRes { url }))
    }

    async fn put_file(&self, r: Request<pb::PutFileReq>) -> Result<Response<pb::PutFileRes>, Status> {
        let r = r.into_inner();
        required("path", &r.path)?;
        let path = self.local(&r.path)?;
        let (o, c, bucket) = self.upload_target(&r.tenant_id, &r.code, &r.bucket_name).await?;
        let body = tokio::fs::read(&path).await.map_err(|e| ErrCode::InvalidParam.status(format!("path: {e}")))?;
        let filename = if r.filename.is_empty() {
            path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        } else {
            r.filename.clone()
        };
        let prefix = if r.path_prefix.is_empty() { "default" } else { r.path_prefix.as_str() };
        let key = crate::keys::object_key(prefix, &filename, chrono::Utc::now());
        let md5 = format!("{:x}", md5::compute(&body));
        let size = i64::try_from(body.len()).unwrap_or(i64::MAX);
        let ct = content_type(&r.content_type, &filename);
        let head = body[..body.len().min(self.image.max_exif_read)].to_vec();
        s3::put(&c, &bucket, &key, body, &ct).await.map_err(|e| s3_status(&e))?;
        let mut file = Rpc::file_pb(&o, &bucket, &key, size, &filename, md5);
        self.image_extras(&mut file, &c, &bucket, &ct, &head, r.is_thumb);
        Ok(Response::new(pb::PutFileRes { file: Some(file) }))
    }

    async fn put_stream_file(
        &self,
        r: Request<Streaming<pb::PutStreamFileReq>>,
    ) -> Result<Response<pb::PutStreamFileRes>, Status> {
        let mut stream = r.into_inner();
        let Some(first) = stream.message().await? else {
            return Err(ErrCode::MissingParam.status("an empty stream: the first message names the file"));
        };
        required("filename", &first.filename)?;
        let (o, c, bucket) = self.upload_target(&first.tenant_id, &first.code, &first.bucket_name).await?;
        let ct = content_type(&first.content_type, &first.filename);
        // an upload with its size announced can be resumed: the same file and size sent again
        // carries on with the parts already stored (each part's bytes checked against its ETag)
        let state = (first.size > 0).then(|| {
            let id = format!("{}|{}|{bucket}|{}|{}", o.tenant_id, o.oss_code, first.filename, first.size);
            self.temp_dir.join("uploads").join(format!("{:x}.json", md5::compute(id)))
        });
        let saved: Option<s3::Saved> = state
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|s: &s3::Saved| s.bucket == bucket);
        // a day-old broken upload is given up (its parts dropped by the server), not resumed
        let stale = state
            .as_ref()
            .and_then(|p| std::fs::metadata(p).ok()?.modified().ok()?.elapsed().ok())
            .is_some_and(|age| age > RESUME_FOR);
        let saved = match saved {
            Some(s) if stale => {
                s3::Multipart::resume(&c, &s).abort().await;
                None
            }
            other => other,
        };
        let mut upload = match &saved {
            Some(s) => s3::Multipart::resume(&c, s),
            None => {
                let prefix = if first.path_prefix.is_empty() { "upload" } else { first.path_prefix.as_str() };
                let key = crate::keys::object_key(prefix, &first.filename, chrono::Utc::now());
                s3::Multipart::start(&c, &bucket, &key, &ct).await.map_err(|e| s3_status(&e))?
            }
        };
        let keep = |upload: &s3::Multipart| {
            if let Some(p) = &state {
                let _ = std::fs::create_dir_all(p.parent().unwrap_or(&self.temp_dir));
                if let Ok(b) = serde_json::to_vec(&upload.saved()) {
                    let _ = std::fs::write(p, b);
                }
            }
        };
        let forget = || {
            if let Some(p) = &state {
                let _ = std::fs::remove_file(p);
            }
        };
        // the MD5 is computed beside the upload, in a thread of its own (4 chunks queued at most)
        let (md5_tx, mut md5_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
        let hasher = tokio::task::spawn_blocking(move || {
            let mut md5 = md5::Context::new();
            while let Some(b) = md5_rx.blocking_recv() {
                md5.consume(&b);
            }
            format!("{:x}", md5.finalize())
        });
        let mut size: i64 = 0;
        let mut n: i32 = 1;
        let mut part: Vec<u8> = Vec::with_capacity(PART_SIZE);
        let mut inflight: Option<tokio::task::JoinHandle<Result<aws_sdk_s3::types::CompletedPart, S3Error>>> = None;
        let mut head: Vec<u8> = Vec::new();
        let mut chunk = first.content;
        loop {
            if head.len() < self.image.max_exif_read {
                let take = (self.image.max_exif_read - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            size += i64::try_from(chunk.len()).unwrap_or(i64::MAX);
            part.extend_from_slice(&chunk);
            let _ = md5_tx.send(chunk).await;
            while part.len() >= PART_SIZE {
                let rest = part.split_off(PART_SIZE);
                let full = std::mem::replace(&mut part, rest);
                // one part goes up while the next one fills: two parts in memory at most
                if let Some(previous) = inflight.take() {
                    match previous.await {
                        Ok(Ok(done)) => upload.record(done),
                        Ok(Err(e)) => {
                            keep(&upload);
                            return Err(s3_status(&e));
                        }
                        Err(e) => {
                            keep(&upload);
                            return Err(ErrCode::Internal.status(e.to_string()));
                        }
                    }
                }
                if upload.has_part(n, &full) {
                    metrics::counter!("file_stream_parts_skipped_total").increment(1);
                } else {
                    inflight = Some(tokio::spawn(upload.part_upload(n, full)));
                }
                n += 1;
            }
            match stream.message().await {
                Ok(Some(m)) => chunk = m.content,
                Ok(None) => break,
                Err(e) => {
                    // the caller went away: resumable, or nothing half-written is left
                    if let Some(Ok(Ok(done))) = match inflight.take() {
                        Some(h) => Some(h.await),
                        None => None,
                    } {
                        upload.record(done);
                    }
                    if state.is_some() {
                        keep(&upload);
                    } else {
                        upload.abort().await;
                    }
                    return Err(e);
                }
            }
        }
        if let Some(previous) = inflight.take() {
            match previous.await {
                Ok(Ok(done)) => upload.record(done),
                Ok(Err(e)) => {
                    keep(&upload);
                    return Err(s3_status(&e));
                }
                Err(e) => {
                    keep(&upload);
                    return Err(ErrCode::Internal.status(e.to_string()));
                }
            }
        }
        if first.size > 0 && size < first.size {
            keep(&upload);
            return Err(ErrCode::InvalidParam.status(format!(
                "size {} announced, {size} bytes sent: send it again to resume ({} parts stored)",
                first.size,
                upload.stored()
            )));
        }
        if first.size > 0 && first.size != size {
            forget();
            upload.abort().await;
            return Err(ErrCode::InvalidParam.status(format!("size {} announced, {size} bytes sent", first.size)));
        }
        let done = async {
            if (!part.is_empty() || size == 0) && !upload.has_part(n, &part) {
                let last = upload.part_upload(n, part).await?;
                upload.record(last);
            }
            let key = upload.key().to_owned();
            upload.finish().await.map(|()| key)
        };
        let key = done.await.map_err(|e| s3_status(&e))?;
        forget();
        drop(md5_tx);
        let md5 = hasher.await.map_err(|e| ErrCode::Internal.status(e.to_string()))?;
        let mut file = Rpc::file_pb(&o, &bucket, &key, size, &first.filename, md5);
        self.image_extras(&mut file, &c, &bucket, &ct, &head, first.is_thumb);
        Ok(Response::new(pb::PutStreamFileRes { file: Some(file), is_end: true, size }))
    }

    async fn relay_file(&self, r: Request<pb::RelayFileReq>) -> Result<Response<pb::RelayFileRes>, Status> {
        use futures_util::StreamExt as _;
        let r = r.into_inner();
        if r.source_url.is_empty() && r.source_path.is_empty() {
            return Err(ErrCode::MissingParam.status("source_url or source_path is required"));
        }
        if r.targets.is_empty() {
            return Err(ErrCode::MissingParam.status("targets: at least one"));
        }
        let (source, size) = self.relay_source(&r.source_url, &r.source_path).await?;
        let source_name = r
            .source_url
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .or_else(|| std::path::Path::new(&r.source_path).file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        let one = |t: pb::RelayTarget| {
            let (source, source_name, ct) = (&source.0, &source_name, &r.content_type);
            async move {
                let filename = if t.filename.is_empty() { source_name.clone() } else { t.filename.clone() };
                let (o, c, bucket) = self.upload_target(&t.tenant_id, &t.code, &t.bucket_name).await?;
                let prefix = if t.path_prefix.is_empty() { "default" } else { t.path_prefix.as_str() };
                let key = crate::keys::object_key(prefix, &filename, chrono::Utc::now());
                let md5 = upload_file(&c, &bucket, &key, source, &content_type(ct, &filename))
                    .await
                    .map_err(|e| s3_status(&e))?;
                Ok::<_, Status>(Rpc::file_pb(&o, &bucket, &key, size, &filename, md5))
            }
        };
        // every target, RelayUploadConcurrency at a time; one failing target does not stop the others
        let results: Vec<Result<pb::File, Status>> = futures_util::stream::iter(r.targets.clone().into_iter().map(one))
            .buffered(self.relay_concurrency.max(1))
            .collect()
            .await;
        let mut errors = Vec::new();
        let files = results
            .into_iter()
            .enumerate()
            .map(|(i, res)| match res {
                Ok(f) => f,
                Err(e) => {
                    errors.push(serde_json::json!({"index": i, "code": ErrCode::of_status(&e).map(ErrCode::value), "message": e.message()}));
                    pb::File { original_name: r.targets[i].filename.clone(), ..Default::default() }
                }
            })
            .collect();
        drop(source);
        let mut res = Response::new(pb::RelayFileRes { files });
        if !errors.is_empty() {
            // which targets failed and why: a File cannot say it
            if let Ok(v) = serde_json::Value::Array(errors).to_string().parse() {
                res.metadata_mut().insert("x-relay-errors", v);
            }
        }
        Ok(res)
    }

    async fn remove_file(&self, r: Request<pb::RemoveFileReq>) -> Result<Response<pb::RemoveFileRes>, Status> {
        let r = r.into_inner();
        required("filename", &r.filename)?;
        let (_, c, bucket) = self.target(&r.tenant_id, &r.code, &r.bucket_name).await?;
        s3::remove(&c, &bucket, &[r.filename]).await.map_err(|e| s3_status(&e))?;
        Ok(Response::new(pb::RemoveFileRes {}))
    }

    async fn remove_files(&self, r: Request<pb::RemoveFilesReq>) -> Result<Response<pb::RemoveFileRes>, Status> {
        let r = r.into_inner();
        if r.filename.is_empty() {
            return Err(ErrCode::MissingParam.status("filename: at least one"));
        }
        let (_, c, bucket) = self.target(&r.tenant_id, &r.code, &r.bucket_name).await?;
        s3::remove(&c, &bucket, &r.filename).await.map_err(|e| s3_status(&e))?;
        Ok(Response::new(pb::RemoveFileRes {}))
    }

    async fn capture_video_stream(
        &self,
        r: Request<pb::CaptureVideoStreamReq>,
    ) -> Result<Response<pb::CaptureVideoStreamRes>, Status> {
        let r = r.into_inner();
        required("stream_url", &r.stream_url)?;
        // network streams only: ffmpeg would read local files (file:, concat:, ...) as well
        let scheme = r.stream_url.split_once("://").map(|(s, _)| s.to_ascii_lowercase()).unwrap_or_default();
        if !["rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "srt"].contains(&scheme.as_str()) {
            return Err(
                ErrCode::InvalidParam.status(format!("stream_url {:?}: rtsp, rtmp, http(s) or srt", r.stream_url))
            );
        }
        let (o, c, bucket) = self.upload_target(&r.tenant_id, &r.code, &r.bucket_name).await?;
        let shot = TempFile(self.temp_dir.join(format!("capture-{}.jpg", uuid::Uuid::now_v7().simple())));
        let grab = tokio::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-protocol_whitelist", "http,https,tcp,tls,crypto,rtp,rtsp,rtmp,rtmps,udp,srt"])
            .args(["-i", &r.stream_url, "-frames:v", "1", "-q:v", "2"])
            .arg(&shot.0)
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(std::time::Duration::from_secs(30), grab)
            .await
            .map_err(|_| ErrCode::Timeout.status(format!("no frame from {} within 30 s", r.stream_url)))?
            .map_err(|e| ErrCode::Internal.status(format!("ffmpeg: {e}")))?;
        if !out.status.success() || !shot.0.exists() {
            let why = String::from_utf8_lossy(&out.stderr);
            return Err(ErrCode::RemoteCallFailed.status(format!("no frame from {}: {}", r.stream_url, why.trim())));
        }
        let body = tokio::fs::read(&shot.0).await.map_err(|e| ErrCode::Internal.status(e.to_string()))?;
        let prefix = if r.path_prefix.is_empty() { "capture" } else { r.path_prefix.as_str() };
        let key = crate::keys::object_key(prefix, "frame.jpg", chrono::Utc::now());
        let md5 = format!("{:x}", md5::compute(&body));
        let size = i64::try_from(body.len()).unwrap_or(i64::MAX);
        s3::put(&c, &bucket, &key, body, "image/jpeg").await.map_err(|e| s3_status(&e))?;
        Ok(Response::new(pb::CaptureVideoStreamRes {
            file: Some(Rpc::file_pb(&o, &bucket, &key, size, "frame.jpg", md5)),
        }))
    }
}
