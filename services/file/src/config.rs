//! The configuration: the upstream `etc/file.yaml` keys (`ListenOn`, `ThumbTaskConcurrency`,
//! `Upload`, `DB`, `Oss`), defaults in `etc/file.yaml`.

use serde::{Deserialize, Serialize};
use zero_svc::config::DbConf;

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/file.yaml");

/// Configuration (see `etc/file.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `ListenOn`, `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// Thumbnail workers.
    pub thumb_task_concurrency: usize,
    /// Uploads.
    pub upload: Upload,
    /// The `oss` table.
    #[serde(rename = "DB")]
    pub db: DbConf,
    /// Object storage.
    pub oss: OssConf,
}

/// `Upload`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Upload {
    /// Where streamed uploads keep their parts until stored.
    pub temp_dir: String,
    /// Keep those files after the upload.
    pub keep_temp_files: bool,
    /// Targets of one `RelayFile` uploaded at once.
    pub relay_upload_concurrency: usize,
    /// Images.
    pub image: ImageConf,
}

/// `Upload.Image`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ImageConf {
    /// EXIF is read from this many first bytes.
    pub max_exif_read: usize,
    /// Thumbnails.
    pub thumb: ThumbConf,
}

/// `Upload.Image.Thumb`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ThumbConf {
    /// Make thumbnails.
    pub enabled: bool,
    /// At most this wide.
    pub width: u32,
    /// At most this high.
    pub height: u32,
}

/// `Oss`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct OssConf {
    /// Buckets are `<tenant_id>-<bucket>`.
    pub tenant_mode: bool,
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "file";
    const DEFAULTS: &'static str = DEFAULTS;
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}
