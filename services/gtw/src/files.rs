//! Files: local uploads kept under `NfsRootPath` and served back (paths that leave the root are
//! refused), and the `/file/v1` routes, forwarded to `file.FileRpc` (JSON transcoded by the
//! descriptors of file.proto; multipart uploads streamed to `PutStreamFile` as they arrive, never
//! held whole in memory).

use axum::extract::multipart::{Field, Multipart};
use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage};
use serde::Serialize;
use std::path::{Component, Path, PathBuf};
use tokio::io::AsyncWriteExt as _;
use zero_edge::error::ApiError;
use zero_svc::client::RpcClient;

/// An upload's answer (`/app/common/v1/mfs/uploadFile`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Uploaded {
    /// The file's name as sent.
    pub name: String,
    /// Where it is, relative to `NfsRootPath`.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// Its content type (the upstream's key name).
    pub context_type: String,
    /// `DownloadUrl` + `path`.
    pub url: String,
    /// Image facts (`{"width","height"}` of an image; empty otherwise).
    pub meta: serde_json::Map<String, serde_json::Value>,
    /// The thumbnail's path (an image sent with `isThumb`), else empty.
    pub thumb_path: String,
    /// The thumbnail's url, else empty.
    pub thumb_url: String,
}

/// `rel` (from a request) under `root`, or why not: empty, absolute, `..`, or (after links are
/// followed) outside the root.
///
/// # Errors
/// 400 for a path that leaves the root, 404 for one that does not exist.
pub fn resolve(root: &Path, rel: &str) -> Result<PathBuf, ApiError> {
    let p = Path::new(rel);
    if rel.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(ApiError::bad_request(format!("path {rel:?}: not a path under the file root")));
    }
    let full = root.join(p);
    let real = full.canonicalize().map_err(|_| ApiError::not_found(format!("path {rel:?}: no such file")))?;
    let real_root = root.canonicalize().map_err(|e| ApiError::internal(format!("file root: {e}")))?;
    if !real.starts_with(&real_root) {
        return Err(ApiError::bad_request(format!("path {rel:?}: not a path under the file root")));
    }
    if !real.is_file() {
        return Err(ApiError::not_found(format!("path {rel:?}: no such file")));
    }
    Ok(real)
}

/// The extension of `name` kept on the stored file (letters and digits only, at most 10).
fn extension(name: &str) -> String {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| e.len() <= 10 && e.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(|e| format!(".{}", e.to_ascii_lowercase()))
        .unwrap_or_default()
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::bad_request(format!("multipart: {}", e.body_text()))
}

/// How much of an upload refused part-way is still read (and thrown away) before the refusal
/// is answered, and for how long: a client that writes its whole body before it reads the
/// answer then gets the 400 instead of a connection closed under it (nginx's lingering close).
const DRAIN_BYTES: u64 = 64 << 20;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads the rest of `field` and throws it away, within [`DRAIN_BYTES`] and [`DRAIN_TIME`].
async fn discard(field: &mut Field<'_>) {
    let mut left = DRAIN_BYTES;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Ok(Some(chunk)) = field.chunk().await {
            left = left.saturating_sub(chunk.len() as u64);
            if left == 0 {
                break;
            }
        }
    })
    .await;
}

/// Writes `field` to `path`, at most `limit` bytes in all (`written` so far); the byte count.
async fn write_field(field: &mut Field<'_>, path: &Path, limit: u64) -> Result<u64, ApiError> {
    let mut out = tokio::fs::File::create(path).await.map_err(|e| ApiError::internal(format!("upload: {e}")))?;
    let mut n = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        n += chunk.len() as u64;
        if n > limit {
            discard(field).await;
            return Err(ApiError::bad_request(format!("upload larger than MaxBytes ({limit})")));
        }
        out.write_all(&chunk).await.map_err(|e| ApiError::internal(format!("upload: {e}")))?;
    }
    out.sync_all().await.map_err(|e| ApiError::internal(format!("upload: {e}")))?;
    Ok(n)
}

/// A 300x300 (at most) JPEG thumbnail of the image at `src` written to `dst`, and the image's
/// size; `None` when it is no image this build decodes.
fn thumbnail(src: &Path, dst: &Path) -> Option<(u32, u32)> {
    let img = image::ImageReader::open(src).ok()?.with_guessed_format().ok()?.decode().ok()?;
    let size = (img.width(), img.height());
    img.thumbnail(300, 300).into_rgb8().save_with_format(dst, image::ImageFormat::Jpeg).ok()?;
    Some(size)
}

/// `mfs/uploadFile`: the `file` part kept under `root/{temp|business}/yyyyMMdd/<uuid>.<ext>`
/// (form `status` 1 temp, 2 business; `isThumb` adds a thumbnail of an image). The part goes to
/// a hidden file first and is moved in place once the whole form was read, so a cut upload
/// leaves nothing.
///
/// # Errors
/// 400 (no file part, a bad `status`, beyond `limit`, a broken form), 500 (the disk).
pub async fn upload_local(
    root: &Path,
    download_url: &str,
    limit: u64,
    mut form: Multipart,
) -> Result<Uploaded, ApiError> {
    let incoming = root.join(".incoming");
    tokio::fs::create_dir_all(&incoming).await.map_err(|e| ApiError::internal(format!("file root: {e}")))?;
    let id = uuid::Uuid::now_v7().simple().to_string();
    let part = incoming.join(&id);
    let result = async {
        let (mut status, mut thumb, mut file) = (1i64, false, None::<(String, String, u64)>);
        while let Some(mut f) = form.next_field().await.map_err(multipart_error)? {
            match f.name().unwrap_or_default() {
                "file" if file.is_none() => {
                    let name = f.file_name().unwrap_or("upload").to_owned();
                    let ctype = f.content_type().unwrap_or("application/octet-stream").to_owned();
                    let n = write_field(&mut f, &part, limit).await?;
                    file = Some((name, ctype, n));
                }
                "status" => {
                    let t = f.text().await.map_err(multipart_error)?;
                    status = t.trim().parse().map_err(|_| ApiError::bad_request(format!("status {t:?}: 1 or 2")))?;
                }
                "isThumb" => {
                    let t = f.text().await.map_err(multipart_error)?;
                    thumb = matches!(t.trim(), "true" | "1");
                }
                _ => {}
            }
        }
        let (name, ctype, size) = file.ok_or_else(|| ApiError::bad_request("no file part (form field `file`)"))?;
        let dir = match status {
            1 => "temp",
            2 => "business",
            s => return Err(ApiError::bad_request(format!("status {s}: 1 (temp) or 2 (business)"))),
        };
        let day = chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("offset"));
        let rel_dir = format!("{dir}/{}", day.format("%Y%m%d"));
        tokio::fs::create_dir_all(root.join(&rel_dir))
            .await
            .map_err(|e| ApiError::internal(format!("file root: {e}")))?;
        let rel = format!("{rel_dir}/{id}{}", extension(&name));
        tokio::fs::rename(&part, root.join(&rel)).await.map_err(|e| ApiError::internal(format!("upload: {e}")))?;
        let mut up = Uploaded {
            name,
            url: format!("{download_url}{rel}"),
            path: rel.clone(),
            size,
            context_type: ctype,
            ..Uploaded::default()
        };
        if thumb {
            let thumb_rel = format!("{rel_dir}/{id}_thumb.jpg");
            let (src, dst) = (root.join(&rel), root.join(&thumb_rel));
            if let Ok(Some((w, h))) = tokio::task::spawn_blocking(move || thumbnail(&src, &dst)).await {
                up.meta.insert("width".into(), w.into());
                up.meta.insert("height".into(), h.into());
                up.thumb_url = format!("{download_url}{thumb_rel}");
                up.thumb_path = thumb_rel;
            }
        }
        Ok(up)
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&part).await;
    }
    result
}

/// The file service: its client and the descriptors of its messages.
#[derive(Debug)]
pub struct FileRpc {
    /// The client (`FileRpcConf`).
    pub client: RpcClient,
    pool: DescriptorPool,
}

/// The service's full name.
const SERVICE: &str = "file.FileRpc";

impl FileRpc {
    /// The client of `conf`.
    ///
    /// # Errors
    /// A configuration that does not fit.
    pub fn new(conf: &zero_svc::client::RpcClientConf, timeout: std::time::Duration) -> Result<FileRpc, String> {
        let pool = DescriptorPool::decode(crate::pb::DESCRIPTOR).map_err(|e| format!("file.proto: {e}"))?;
        Ok(FileRpc { client: RpcClient::with_descriptors(conf, Some(pool.clone()), timeout)?, pool })
    }

    /// A unary method (`StatFile`, `SignUrl`) called with the JSON `body`, the reply as proto
    /// JSON.
    ///
    /// # Errors
    /// 400 naming the field that does not fit; the call's status as go-zero maps it.
    pub async fn unary_json(
        &self,
        method: &str,
        body: &[u8],
        metadata: tonic::metadata::MetadataMap,
    ) -> Result<Vec<u8>, ApiError> {
        let rpc = format!("{SERVICE}/{method}");
        // resolved from file.proto's descriptors once, then cached by the client
        let m = self.client.method(&rpc).await?;
        let msg = zero_svc::transcode::build_request(&m.input(), &[], None, body, false)?;
        let (bytes, _) = self
            .client
            .call(&rpc, zero_svc::transcode::encode(&msg), metadata, self.client.timeout)
            .await
            .map_err(|s| zero_svc::client::http_error(&s))?;
        zero_svc::transcode::render(&zero_svc::transcode::decode_reply(&m, bytes)?)
    }

    /// `putFile` / `putStreamFile`: the form's fields (`tenantId`, `code`, `bucketName`,
    /// `filename`, `contentType`, `isThumb`, `pathPrefix`, `size`; the query string may carry
    /// them too) before its `file` part, whose bytes go to `PutStreamFile` as they arrive. A form
    /// cut short, or beyond `limit`, cancels the call: nothing is stored.
    ///
    /// # Errors
    /// 400 (no file part, a bad field, beyond `limit`), the call's status.
    pub async fn put_stream(
        &self,
        query: Option<&str>,
        mut form: Multipart,
        limit: u64,
        metadata: tonic::metadata::MetadataMap,
    ) -> Result<Vec<u8>, ApiError> {
        let mut first = crate::pb::PutStreamFileReq::default();
        let mut fields: Vec<(String, String)> = query.map(|q| form_fields(q.as_bytes())).unwrap_or_default();
        let mut file = loop {
            let Some(f) = form.next_field().await.map_err(multipart_error)? else {
                return Err(ApiError::bad_request("no file part (form field `file`)"));
            };
            if f.name() == Some("file") {
                break f;
            }
            let name = f.name().unwrap_or_default().to_owned();
            fields.push((name, f.text().await.map_err(multipart_error)?));
        };
        for (k, v) in fields {
            match k.as_str() {
                "tenantId" | "tenant_id" => first.tenant_id = v,
                "code" => first.code = v,
                "bucketName" | "bucket_name" => first.bucket_name = v,
                "filename" => first.filename = v,
                "contentType" | "content_type" => first.content_type = v,
                "pathPrefix" | "path_prefix" => first.path_prefix = v,
                "isThumb" | "is_thumb" => first.is_thumb = matches!(v.trim(), "true" | "1"),
                "size" => {
                    first.size =
                        v.trim().parse().map_err(|_| ApiError::bad_request(format!("size {v:?}: not a number")))?
                }
                _ => {}
            }
        }
        if first.filename.is_empty() {
            first.filename = file.file_name().unwrap_or_default().to_owned();
        }
        if first.content_type.is_empty() {
            first.content_type = file.content_type().unwrap_or_default().to_owned();
        }
        // an error item resets the call's stream: the store never takes a cut upload for whole
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, tonic::Status>>(4);
        let rpc = format!("{SERVICE}/PutStreamFile");
        let call = self.client.client_streaming(&rpc, tokio_stream::wrappers::ReceiverStream::new(rx), metadata);
        let feed = async move {
            let mut total = 0u64;
            let mut head = Some(first);
            let failed = loop {
                let chunk = match file.chunk().await {
                    Ok(c) => c,
                    Err(e) => break Some(multipart_error(e)),
                };
                let last = chunk.is_none();
                let content = chunk.unwrap_or_default();
                total += content.len() as u64;
                if total > limit {
                    discard(&mut file).await;
                    break Some(ApiError::bad_request(format!("upload larger than MaxBytes ({limit})")));
                }
                // the first message carries the fields (and may be empty: an empty file)
                let msg = match head.take() {
                    Some(mut h) => {
                        h.content = content.to_vec();
                        h
                    }
                    None if last => break None,
                    None => crate::pb::PutStreamFileReq { content: content.to_vec(), ..Default::default() },
                };
                // a send fails when the call ended early: its answer tells why
                if tx.send(Ok(Bytes::from(msg.encode_to_vec()))).await.is_err() {
                    // the call ended early (refused, say): its answer tells why; the rest of
                    // the upload is read first, so the client gets that answer
                    discard(&mut file).await;
                    break None;
                }
                if last {
                    break None;
                }
            };
            if let Some(e) = &failed {
                let _ = tx.send(Err(tonic::Status::cancelled(e.message.clone()))).await;
            }
            failed
        };
        let (failed, reply) = tokio::join!(feed, call);
        if let Some(e) = failed {
            return Err(e);
        }
        let (bytes, _) = reply.map_err(|s| zero_svc::client::http_error(&s))?;
        let out = self
            .pool
            .get_message_by_name("file.PutStreamFileRes")
            .ok_or_else(|| ApiError::internal("file.proto has no PutStreamFileRes"))?;
        let reply = DynamicMessage::decode(out, bytes).map_err(|e| ApiError::bad_gateway(format!("reply: {e}")))?;
        zero_svc::transcode::render(&reply)
    }
}

/// `k=v&...` pairs.
fn form_fields(q: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(q).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}
