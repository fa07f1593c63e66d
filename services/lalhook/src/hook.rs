//! LAL's notification bodies (its snake_case JSON), the error body, and the rule that names a
//! segment's time: `ts_file` split on `-`, the second-to-last part a positive integer of
//! milliseconds (`…/test110-1652345678900-12.ts`), else 101103 as upstream.

use serde::{Deserialize, Serialize};

/// `onServerStart`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct ServerStart {
    pub server_id: String,
    pub bin_info: String,
    pub lal_version: String,
    pub api_version: String,
    pub notify_version: String,
    pub start_time: String,
}

/// A session inside `onUpdate`'s groups.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct Session {
    pub session_id: String,
    pub protocol: String,
    pub base_type: String,
    pub remote_addr: String,
    pub start_time: String,
    pub read_bytes_sum: i64,
    pub wrote_bytes_sum: i64,
    pub bitrate_kbits: i64,
    pub read_bitrate_kbits: i64,
    pub write_bitrate_kbits: i64,
}

/// Frames per second in one second.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct FrameRate {
    pub unix_sec: i64,
    pub v: i64,
}

/// A stream group of `onUpdate`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct Group {
    pub stream_name: String,
    pub app_name: String,
    pub audio_codec: String,
    pub video_codec: String,
    pub video_width: i64,
    pub video_height: i64,
    #[serde(rename = "pub")]
    pub publisher: Session,
    pub subs: Vec<Session>,
    pub pull: Session,
    pub pushs: Vec<Session>,
    pub in_frame_per_sec: Vec<FrameRate>,
}

/// `onUpdate`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct Update {
    pub server_id: String,
    pub groups: Vec<Group>,
}

/// `onPubStart`, `onPubStop`, `onSubStart`, `onSubStop`, `onRelayPullStart`, `onRelayPullStop`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct SessionEvent {
    pub server_id: String,
    pub session_id: String,
    pub protocol: String,
    pub base_type: String,
    pub remote_addr: String,
    pub url: String,
    pub app_name: String,
    pub stream_name: String,
    pub url_param: String,
    pub has_in_session: bool,
    pub has_out_session: bool,
    pub read_bytes_sum: i64,
    pub wrote_bytes_sum: i64,
}

/// `onRtmpConnect`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct RtmpConnect {
    pub server_id: String,
    pub session_id: String,
    pub remote_addr: String,
    pub app: String,
    #[serde(rename = "flashVer")]
    pub flash_ver: String,
    #[serde(rename = "tcUrl")]
    pub tc_url: String,
}

/// `onHlsMakeTs`: a segment opened or closed.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct HlsMakeTs {
    pub event: String,
    pub stream_name: String,
    pub cwd: String,
    pub ts_file: String,
    pub live_m3u8_file: String,
    pub record_m3u8_file: String,
    pub id: i64,
    pub duration: f64,
    pub server_id: String,
}

/// The segment's time (ms) from its file name, as upstream reads it.
///
/// ```
/// assert_eq!(lalhook_svc::hook::ts_timestamp("/hls/t110/t110-1652345678900-12.ts"), Some(1652345678900));
/// assert_eq!(lalhook_svc::hook::ts_timestamp("/hls/t110/t110-12.ts"), None);
/// ```
pub fn ts_timestamp(ts_file: &str) -> Option<i64> {
    let parts: Vec<&str> = ts_file.split('-').collect();
    let n = parts.len();
    if n < 2 {
        return None;
    }
    parts[n - 2].parse::<i64>().ok().filter(|t| *t > 0)
}

/// `POST /v1/api/ts/list`'s body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[allow(missing_docs)]
pub struct ListReq {
    pub stream_name: String,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub event: Option<String>,
}

/// One file of the list.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TsFile {
    pub event: String,
    pub ts_file: String,
    pub ts_id: i64,
    pub live_m3u8_file: String,
    pub duration: f64,
    pub ts_timestamp: i64,
}

/// `POST /v1/api/ts/list`'s answer.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ListRes {
    pub stream_name: String,
    pub server_id: String,
    pub files: Vec<TsFile>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_is_the_second_to_last_dash_part() {
        assert_eq!(ts_timestamp("./lal_record/hls/my-cam/my-cam-1652345678900-3.ts"), Some(1_652_345_678_900));
        assert_eq!(ts_timestamp("cam-0-3.ts"), None);
        assert_eq!(ts_timestamp("cam--3.ts"), None);
        assert_eq!(ts_timestamp("cam-x-3.ts"), None);
        assert_eq!(ts_timestamp("cam.ts"), None);
        assert_eq!(ts_timestamp(""), None);
    }
}
