//! The HTTP routes: every `POST /v1/hook/<name>` of LAL (each answers `{}`), `POST
//! /v1/api/ts/list`, and ours: `GET /v1/api/ts/playlist.m3u8` (a VOD playlist of any stream and
//! time range), `GET /v1/playback` (a page that plays it), `GET /v1/hls/<stream>/<file>` (the
//! segments, from `RecordDir`). A body that is not the route's JSON (wrong types, no timestamp
//! in a segment's name) is HTTP 400 with `{"code": 101103, "message": ...}`.

use crate::hook::{self, HlsMakeTs, ListReq, ListRes, TsFile};
use crate::store::{Segment, Store, StoreError};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use zero_svc::errcode::ErrCode;

/// What the routes share.
#[derive(Debug, Clone)]
pub struct App {
    /// The table.
    pub store: Store,
    /// Where playlists point for the segments (ends with `/`).
    pub segment_url_prefix: Arc<str>,
}

/// An error answer: the upstream code's HTTP status and `{"code", "message"}`.
#[derive(Debug)]
pub struct ApiError(ErrCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.http()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(serde_json::json!({ "code": self.0.value(), "message": self.1 }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError(ErrCode::DbError, e.to_string())
    }
}

/// The body as `T`, or 101103 naming what is wrong.
fn body<T: DeserializeOwned>(hook: &str, b: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(b).map_err(|e| ApiError(ErrCode::InvalidParam, format!("{hook}: {e}")))
}

fn counted(hook: &'static str) -> Json<serde_json::Value> {
    metrics::counter!("lalhook_hooks_total", "hook" => hook).increment(1);
    Json(serde_json::json!({}))
}

macro_rules! noop_hook {
    ($name:ident, $hook:literal, $ty:ty) => {
        async fn $name(b: Bytes) -> Result<Json<serde_json::Value>, ApiError> {
            let v: $ty = body($hook, &b)?;
            tracing::debug!(hook = $hook, payload = ?v, "notified");
            Ok(counted($hook))
        }
    };
}

noop_hook!(on_server_start, "onServerStart", hook::ServerStart);
noop_hook!(on_update, "onUpdate", hook::Update);
noop_hook!(on_pub_start, "onPubStart", hook::SessionEvent);
noop_hook!(on_pub_stop, "onPubStop", hook::SessionEvent);
noop_hook!(on_sub_start, "onSubStart", hook::SessionEvent);
noop_hook!(on_sub_stop, "onSubStop", hook::SessionEvent);
noop_hook!(on_relay_pull_start, "onRelayPullStart", hook::SessionEvent);
noop_hook!(on_relay_pull_stop, "onRelayPullStop", hook::SessionEvent);
noop_hook!(on_rtmp_connect, "onRtmpConnect", hook::RtmpConnect);

/// `onHlsMakeTs`: the segment's row, answered once committed.
async fn on_hls_make_ts(State(app): State<App>, b: Bytes) -> Result<Json<serde_json::Value>, ApiError> {
    let v: HlsMakeTs = body("onHlsMakeTs", &b)?;
    let Some(ts) = hook::ts_timestamp(&v.ts_file) else {
        return Err(ApiError(
            ErrCode::InvalidParam,
            format!("onHlsMakeTs: ts_file {:?} has no <ms> before its last '-'", v.ts_file),
        ));
    };
    app.store
        .upsert(Segment {
            event: v.event,
            stream_name: v.stream_name,
            cwd: v.cwd,
            ts_file: v.ts_file,
            live_m3u8_file: v.live_m3u8_file,
            record_m3u8_file: Some(v.record_m3u8_file).filter(|f| !f.is_empty()),
            ts_id: v.id,
            ts_timestamp: ts,
            duration: Some(v.duration).filter(|d| *d > 0.0),
            server_id: v.server_id,
        })
        .await?;
    Ok(counted("onHlsMakeTs"))
}

/// `POST /v1/api/ts/list`: newest first.
async fn ts_list(State(app): State<App>, b: Bytes) -> Result<Json<ListRes>, ApiError> {
    let r: ListReq = body("ts/list", &b)?;
    if r.stream_name.is_empty() {
        return Err(ApiError(ErrCode::MissingParam, "streamName is required".into()));
    }
    let rows = app.store.segments(&r.stream_name, r.start_time, r.end_time, r.event.as_deref(), true).await?;
    Ok(Json(ListRes {
        server_id: rows.first().map(|s| s.server_id.clone()).unwrap_or_default(),
        stream_name: r.stream_name,
        files: rows
            .into_iter()
            .map(|s| TsFile {
                event: s.event,
                ts_file: s.ts_file,
                ts_id: s.ts_id,
                live_m3u8_file: s.live_m3u8_file,
                duration: s.duration.unwrap_or(0.0),
                ts_timestamp: s.ts_timestamp,
            })
            .collect(),
    }))
}

/// A playlist's or page's query.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Range {
    stream_name: String,
    start_time: Option<i64>,
    end_time: Option<i64>,
}

/// `GET /v1/api/ts/playlist.m3u8?streamName=…&startTime=…&endTime=…`.
async fn playlist(State(app): State<App>, Query(r): Query<Range>) -> Result<Response, ApiError> {
    let rows = app.store.segments(&r.stream_name, r.start_time, r.end_time, None, false).await?;
    if !rows.iter().any(|s| s.duration.is_some()) {
        return Err(ApiError(ErrCode::NotFound, format!("no recorded segment of {:?} in that range", r.stream_name)));
    }
    let text = crate::playlist::vod(&rows, |s| {
        let file = s.ts_file.rsplit('/').next().unwrap_or(&s.ts_file);
        format!("{}{}/{file}", app.segment_url_prefix, s.stream_name)
    });
    Ok(([(header::CONTENT_TYPE, "application/vnd.apple.mpegurl")], text).into_response())
}

/// `GET /v1/playback?streamName=…`: a page that plays the range's playlist.
async fn playback(Query(r): Query<Range>) -> Html<String> {
    let mut q = format!("streamName={}", form_urlencoded::byte_serialize(r.stream_name.as_bytes()).collect::<String>());
    if let Some(s) = r.start_time {
        q.push_str(&format!("&startTime={s}"));
    }
    if let Some(e) = r.end_time {
        q.push_str(&format!("&endTime={e}"));
    }
    Html(crate::page::PLAYBACK.replace("{{QUERY}}", &q).replace("{{STREAM}}", &html_escape(&r.stream_name)))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The routes; `record_dir` serves the segments under `/v1/hls/`.
pub fn router(app: App, record_dir: Option<&std::path::Path>, edge: &zero_edge::http::Edge) -> Router {
    let r = Router::new()
        .route("/v1/hook/onServerStart", post(on_server_start))
        .route("/v1/hook/onUpdate", post(on_update))
        .route("/v1/hook/onPubStart", post(on_pub_start))
        .route("/v1/hook/onPubStop", post(on_pub_stop))
        .route("/v1/hook/onSubStart", post(on_sub_start))
        .route("/v1/hook/onSubStop", post(on_sub_stop))
        .route("/v1/hook/onRelayPullStart", post(on_relay_pull_start))
        .route("/v1/hook/onRelayPullStop", post(on_relay_pull_stop))
        .route("/v1/hook/onRtmpConnect", post(on_rtmp_connect))
        .route("/v1/hook/onHlsMakeTs", post(on_hls_make_ts))
        .route("/v1/api/ts/list", post(ts_list))
        .route("/v1/api/ts/playlist.m3u8", get(playlist))
        .route("/v1/playback", get(playback));
    let mut r = edge.wrap(r);
    if let Some(dir) = record_dir {
        // plain files, outside the edge
        r = r.nest_service("/v1/hls", tower_http::services::ServeDir::new(dir));
    }
    r.with_state(app)
}
