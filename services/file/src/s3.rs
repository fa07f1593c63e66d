//! The object storage of a template, through the AWS SDK for Rust (any S3-compatible server:
//! path-style addressing, the template's endpoint, keys and region). Clients are made per
//! template and kept while the template is unchanged.

use crate::store::Oss;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A storage failure, with what the server said.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// No such bucket or object.
    #[error("{0}")]
    NotFound(String),
    /// The bucket exists already (`MakeBucket`), or is not empty (`RemoveBucket`).
    #[error("{0}")]
    Conflict(String),
    /// The server refused or did not answer.
    #[error("{0}")]
    Failed(String),
}

fn classify<E>(what: &str, e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> S3Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = e.as_service_error().and_then(|s| s.code()).unwrap_or_default().to_owned();
    // a HEAD answer has no body, so no error code: its status says it
    let status = e.raw_response().map(|r| r.status().as_u16());
    let text = format!("{what}: {}", aws_sdk_s3::error::DisplayErrorContext(&e));
    match code.as_str() {
        "NoSuchBucket" | "NoSuchKey" | "NotFound" => S3Error::NotFound(text),
        "BucketAlreadyExists" | "BucketAlreadyOwnedByYou" | "BucketNotEmpty" => S3Error::Conflict(text),
        _ if status == Some(404) => S3Error::NotFound(text),
        _ => S3Error::Failed(text),
    }
}

/// Clients by template (id and last change).
#[derive(Debug, Clone, Default)]
pub struct Clients {
    made: Arc<Mutex<HashMap<(String, i64), aws_sdk_s3::Client>>>,
}

impl Clients {
    /// The client of template `o`.
    pub fn of(&self, o: &Oss) -> aws_sdk_s3::Client {
        let key = (o.id.clone(), o.update_time);
        let mut made = self.made.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = made.get(&key) {
            return c.clone();
        }
        let region = if o.region.is_empty() { "us-east-1".to_owned() } else { o.region.clone() };
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .endpoint_url(o.endpoint.clone())
            .credentials_provider(Credentials::new(o.access_key.clone(), o.secret_key.clone(), None, None, "oss"))
            .force_path_style(true)
            .build();
        let c = aws_sdk_s3::Client::from_conf(conf);
        made.retain(|(id, _), _| id != &o.id);
        made.insert(key, c.clone());
        c
    }
}

/// An object's facts.
#[derive(Debug, Clone, PartialEq)]
pub struct Stat {
    /// Bytes.
    pub size: i64,
    /// Its content type.
    pub content_type: String,
    /// When it was stored (seconds since the epoch).
    pub modified: i64,
}

/// Makes `bucket`.
///
/// # Errors
/// [`S3Error`].
pub async fn make_bucket(c: &aws_sdk_s3::Client, bucket: &str) -> Result<(), S3Error> {
    // S3 in us-east-1 (and servers that follow it) answers a second create of one's own bucket
    // with success: asked first, so that an existing bucket is a conflict everywhere
    if c.head_bucket().bucket(bucket).send().await.is_ok() {
        return Err(S3Error::Conflict(format!("bucket {bucket} exists")));
    }
    c.create_bucket().bucket(bucket).send().await.map_err(|e| classify(&format!("bucket {bucket}"), e))?;
    Ok(())
}

/// Fails with [`S3Error::NotFound`] unless `bucket` exists (some servers, `s3s-fs` among them,
/// make a missing bucket on the first upload into it: asked first, an upload to a missing bucket
/// is refused everywhere).
///
/// # Errors
/// [`S3Error`].
pub async fn must_exist(c: &aws_sdk_s3::Client, bucket: &str) -> Result<(), S3Error> {
    match c.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(e) => match classify(&format!("bucket {bucket}"), e) {
            S3Error::NotFound(_) => Err(S3Error::NotFound(format!("bucket {bucket} does not exist"))),
            other => Err(other),
        },
    }
}

/// Removes the empty `bucket`.
///
/// # Errors
/// [`S3Error`].
pub async fn remove_bucket(c: &aws_sdk_s3::Client, bucket: &str) -> Result<(), S3Error> {
    c.delete_bucket().bucket(bucket).send().await.map_err(|e| classify(&format!("bucket {bucket}"), e))?;
    Ok(())
}

/// The facts of `bucket/key`.
///
/// # Errors
/// [`S3Error`].
pub async fn stat(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Stat, S3Error> {
    let h =
        c.head_object().bucket(bucket).key(key).send().await.map_err(|e| classify(&format!("{bucket}/{key}"), e))?;
    Ok(Stat {
        size: h.content_length().unwrap_or(0),
        content_type: h.content_type().unwrap_or_default().to_owned(),
        modified: h.last_modified().map(|t| t.secs()).unwrap_or(0),
    })
}

/// A presigned GET of `bucket/key` valid for `expires`.
///
/// # Errors
/// [`S3Error`].
pub async fn sign_get(c: &aws_sdk_s3::Client, bucket: &str, key: &str, expires: Duration) -> Result<String, S3Error> {
    let cfg = PresigningConfig::expires_in(expires).map_err(|e| S3Error::Failed(e.to_string()))?;
    let p = c
        .get_object()
        .bucket(bucket)
        .key(key)
        .presigned(cfg)
        .await
        .map_err(|e| classify(&format!("{bucket}/{key}"), e))?;
    Ok(p.uri().to_owned())
}

/// Stores `body` as `bucket/key`.
///
/// # Errors
/// [`S3Error`].
pub async fn put(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
) -> Result<(), S3Error> {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| classify(&format!("{bucket}/{key}"), e))?;
    Ok(())
}

/// The bytes of `bucket/key`.
///
/// # Errors
/// [`S3Error`].
pub async fn get(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<u8>, S3Error> {
    let r = c.get_object().bucket(bucket).key(key).send().await.map_err(|e| classify(&format!("{bucket}/{key}"), e))?;
    let body = r.body.collect().await.map_err(|e| S3Error::Failed(format!("{bucket}/{key}: {e}")))?;
    Ok(body.into_bytes().to_vec())
}

/// Removes `bucket/key` (a missing object is no error, as S3 answers it).
///
/// # Errors
/// [`S3Error`].
pub async fn remove(c: &aws_sdk_s3::Client, bucket: &str, keys: &[String]) -> Result<(), S3Error> {
    for key in keys {
        c.delete_object().bucket(bucket).key(key).send().await.map_err(|e| classify(&format!("{bucket}/{key}"), e))?;
    }
    Ok(())
}

/// A multipart upload under way: parts go up as they fill, so memory holds one part.
pub struct Multipart {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    upload_id: String,
    parts: Vec<aws_sdk_s3::types::CompletedPart>,
}

/// What resuming an upload needs: its object, its id and the parts stored (number, ETag).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Saved {
    /// The bucket.
    pub bucket: String,
    /// The object key.
    pub key: String,
    /// The server's upload id.
    pub upload_id: String,
    /// (part number, ETag) of the parts stored.
    pub parts: Vec<(i32, String)>,
}

impl Multipart {
    /// Starts an upload of `bucket/key`.
    ///
    /// # Errors
    /// [`S3Error`].
    pub async fn start(
        c: &aws_sdk_s3::Client,
        bucket: &str,
        key: &str,
        content_type: &str,
    ) -> Result<Multipart, S3Error> {
        let r = c
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| classify(&format!("{bucket}/{key}"), e))?;
        Ok(Multipart {
            client: c.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            upload_id: r.upload_id().unwrap_or_default().to_owned(),
            parts: Vec::new(),
        })
    }

    /// The upload `saved` describes, to carry on with.
    pub fn resume(c: &aws_sdk_s3::Client, saved: &Saved) -> Multipart {
        Multipart {
            client: c.clone(),
            bucket: saved.bucket.clone(),
            key: saved.key.clone(),
            upload_id: saved.upload_id.clone(),
            parts: saved
                .parts
                .iter()
                .map(|(n, etag)| {
                    aws_sdk_s3::types::CompletedPart::builder().part_number(*n).e_tag(etag.clone()).build()
                })
                .collect(),
        }
    }

    /// What resuming this upload needs.
    pub fn saved(&self) -> Saved {
        Saved {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            upload_id: self.upload_id.clone(),
            parts: self
                .parts
                .iter()
                .map(|p| (p.part_number().unwrap_or(0), p.e_tag().unwrap_or_default().to_owned()))
                .collect(),
        }
    }

    /// The object key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// How many parts are stored.
    pub fn stored(&self) -> usize {
        self.parts.len()
    }

    /// Whether part `n` (1-based) is stored with these very bytes already (a resumed upload:
    /// S3's ETag of a part is the MD5 of its bytes; hashed only when part `n` is stored).
    pub fn has_part(&self, n: i32, body: &[u8]) -> bool {
        let Some(stored) = self.parts.iter().find(|p| p.part_number() == Some(n)) else { return false };
        stored.e_tag() == Some(format!("\"{:x}\"", md5::compute(body)).as_str())
    }

    /// The upload of part `n`, to run while the next part fills (its result goes to
    /// [`Multipart::record`]).
    pub fn part_upload(
        &self,
        n: i32,
        body: Vec<u8>,
    ) -> impl std::future::Future<Output = Result<aws_sdk_s3::types::CompletedPart, S3Error>> + Send + 'static {
        let (c, bucket, key, id) = (self.client.clone(), self.bucket.clone(), self.key.clone(), self.upload_id.clone());
        async move {
            let r = c
                .upload_part()
                .bucket(&bucket)
                .key(&key)
                .upload_id(&id)
                .part_number(n)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| classify(&format!("{bucket}/{key} part {n}"), e))?;
            Ok(aws_sdk_s3::types::CompletedPart::builder()
                .part_number(n)
                .set_e_tag(r.e_tag().map(str::to_owned))
                .build())
        }
    }

    /// Records a part stored by [`Multipart::part_upload`].
    pub fn record(&mut self, part: aws_sdk_s3::types::CompletedPart) {
        self.parts.retain(|p| p.part_number() != part.part_number());
        self.parts.push(part);
        self.parts.sort_by_key(|p| p.part_number());
    }

    /// Sends the next part.
    ///
    /// # Errors
    /// [`S3Error`].
    pub async fn part(&mut self, body: Vec<u8>) -> Result<(), S3Error> {
        let n = i32::try_from(self.parts.len() + 1).unwrap_or(i32::MAX);
        self.send_part(n, body).await
    }

    async fn send_part(&mut self, n: i32, body: Vec<u8>) -> Result<(), S3Error> {
        let r = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .part_number(n)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| classify(&format!("{}/{} part {n}", self.bucket, self.key), e))?;
        self.parts.push(
            aws_sdk_s3::types::CompletedPart::builder().part_number(n).set_e_tag(r.e_tag().map(str::to_owned)).build(),
        );
        self.parts.sort_by_key(|p| p.part_number());
        Ok(())
    }

    /// Completes the upload.
    ///
    /// # Errors
    /// [`S3Error`].
    pub async fn finish(self) -> Result<(), S3Error> {
        let parts = aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(self.parts.clone())).build();
        let done = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .multipart_upload(parts)
            .send()
            .await;
        match done {
            Ok(_) => Ok(()),
            // a 200 whose body the SDK cannot read (moto names its root element
            // CompleteMultipartUploadResponse): the object is there when a HEAD finds it
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 200) => {
                stat(&self.client, &self.bucket, &self.key).await.map(|_| ())
            }
            Err(e) => Err(classify(&format!("{}/{}", self.bucket, self.key), e)),
        }
    }

    /// Gives the upload up (its parts are dropped by the server): nothing is left half-written.
    pub async fn abort(self) {
        let _ = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .send()
            .await;
    }
}
