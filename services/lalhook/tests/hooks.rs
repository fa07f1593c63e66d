//! The `lalhook` binary with real HLS segments made by Debian's `ffmpeg` (a test pattern with a
//! tone, renamed as LAL names its segments): the hooks as LAL sends them (open, then close with
//! the duration), each segment one row however often notified, a late `open` not undoing a
//! `close`; the list API; the segments LAL "dropped" found by the reconcile scan; the VOD
//! playlist read back end to end by `ffprobe`; bad payloads (no timestamp in the name, wrong
//! types) as 101103; the upstream sample configuration.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use testkit::http::{post_json, request};
use testkit::port::free_port;
use testkit::service::{assert_ignored_with_warnings, print_config, spawn, wait_listening, ConfigFile};

const BIN: &str = env!("CARGO_BIN_EXE_lalhook");

#[test]
fn the_upstream_sample_configures_lalhook() {
    let file = ConfigFile::new("lalhook.yaml", include_str!("data/upstream-lalhook.yaml"));
    let (ok, cfg, warnings) = print_config(BIN, &file.path, &[]);
    assert!(ok, "{warnings}");
    assert_eq!((cfg["Host"].as_str(), cfg["Port"].as_u64()), (Some("0.0.0.0"), Some(11002)));
    assert!(cfg["DB"]["DataSource"].as_str().unwrap().contains("tcp(localhost:33069)/lal"));
    assert_ignored_with_warnings(&warnings, &["Name", "Mode", "Timeout", "Log.Encoding"]);
}

/// A recorded segment: its file name (as LAL names it), time (ms) and duration (s).
#[derive(Debug, Clone)]
struct Seg {
    name: String,
    ts: i64,
    id: i64,
    duration: f64,
}

/// `n` segments of about 2 s of stream `stream` under `record_dir/stream/`, made by ffmpeg, with
/// LAL's names (`<stream>-<ms>-<id>.ts`) and its `record.m3u8`.
fn record(record_dir: &Path, stream: &str, n: usize, start_ms: i64) -> Vec<Seg> {
    let work = record_dir.join(format!(".work-{stream}"));
    std::fs::create_dir_all(&work).unwrap();
    let secs = (n * 2).to_string();
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i"])
        .arg("sine=frequency=440:sample_rate=44100")
        .args(["-t", &secs, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25"])
        .args(["-sc_threshold", "0", "-c:a", "aac", "-f", "hls", "-hls_time", "2", "-hls_list_size", "0"])
        .arg("-hls_segment_filename")
        .arg(work.join("seg%d.ts"))
        .arg(work.join("index.m3u8"))
        .output()
        .expect("ffmpeg (scripts/test installs it)");
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    let index = std::fs::read_to_string(work.join("index.m3u8")).unwrap();
    let durations = lalhook_svc::reconcile::durations(&index);
    let dir = record_dir.join(stream);
    std::fs::create_dir_all(&dir).unwrap();
    let mut segs = Vec::new();
    let mut t = start_ms;
    for i in 0..n {
        let d = durations[&format!("seg{i}.ts")];
        let name = format!("{stream}-{t}-{i}.ts");
        std::fs::rename(work.join(format!("seg{i}.ts")), dir.join(&name)).unwrap();
        segs.push(Seg { name, ts: t, id: i as i64, duration: d });
        t += (d * 1000.0).round() as i64;
    }
    let mut m3u8 = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:0\n");
    for s in &segs {
        m3u8.push_str(&format!("#EXTINF:{:.3},\n{}\n", s.duration, s.name));
    }
    std::fs::write(dir.join("record.m3u8"), m3u8).unwrap();
    std::fs::remove_dir_all(&work).unwrap();
    segs
}

/// LAL's `onHlsMakeTs` body for `s` (`duration` 0 on open, as LAL sends it).
fn make_ts(record_dir: &Path, stream: &str, s: &Seg, event: &str) -> serde_json::Value {
    json!({
        "event": event,
        "stream_name": stream,
        "cwd": "/opt/lal",
        "ts_file": format!("{}/{stream}/{}", record_dir.display(), s.name),
        "live_m3u8_file": format!("{}/{stream}/playlist.m3u8", record_dir.display()),
        "record_m3u8_file": format!("{}/{stream}/record.m3u8", record_dir.display()),
        "id": s.id,
        "duration": if event == "close" { s.duration } else { 0.0 },
        "server_id": "lal-1",
    })
}

/// The service on a free port with its database and recording directory in `dir`.
fn start(dir: &Path, reconcile: &str) -> (testkit::process::ChildGuard, u16, ConfigFile) {
    let port = free_port();
    let text = format!(
        "Host: 127.0.0.1\nPort: {port}\nPrometheus:\n  ListenOn: \"\"\nDB:\n  DataSource: sqlite://{}\n\
         RecordDir: {}\nReconcileInterval: {reconcile}\n",
        dir.join("lal.db").display(),
        dir.join("hls").display()
    );
    let file = ConfigFile::new("lalhook.yaml", &text);
    let child = spawn(BIN, &file.path, &[]);
    wait_listening(port, Duration::from_secs(20));
    (child, port, file)
}

fn rows(dir: &Path, stream: &str) -> i64 {
    let out = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3;print(sqlite3.connect('{}').execute(\"select count(*) from hls_ts_files where stream_name='{stream}'\").fetchone()[0])",
            dir.join("lal.db").display()
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lalhook-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("hls")).unwrap();
    d
}

#[tokio::test(flavor = "multi_thread")]
async fn hooks_list_reconcile_and_a_playlist_ffprobe_reads_end_to_end() {
    let dir = tmp("hooks");
    let hls = dir.join("hls");
    // a long reconcile interval: the notified part is checked first
    let (_svc, port, _cfg) = start(&dir, "1h");
    let segs = record(&hls, "cam1", 5, 1_796_000_000_000);

    // the no-op hooks answer {} to LAL's bodies
    for (route, body) in [
        (
            "onServerStart",
            json!({"server_id": "lal-1", "bin_info": "x", "lal_version": "v0.37.4", "api_version": "v0.4.1", "notify_version": "v0.2.0", "start_time": "2026-12-06 10:00:00.000"}),
        ),
        (
            "onUpdate",
            json!({"server_id": "lal-1", "groups": [{"stream_name": "cam1", "app_name": "live", "audio_codec": "AAC", "video_codec": "H264", "video_width": 320, "video_height": 240, "pub": {"session_id": "RTMPPUBSUB1", "protocol": "RTMP", "base_type": "PUB", "remote_addr": "127.0.0.1:5000", "start_time": "2026-12-06 10:00:00.000", "read_bytes_sum": 10, "wrote_bytes_sum": 0, "bitrate_kbits": 1, "read_bitrate_kbits": 1, "write_bitrate_kbits": 0}, "subs": [], "pull": {}, "pushs": [], "in_frame_per_sec": [{"unix_sec": 1796000000, "v": 25}]}]}),
        ),
        (
            "onPubStart",
            json!({"server_id": "lal-1", "session_id": "RTMPPUBSUB1", "protocol": "RTMP", "base_type": "PUB", "remote_addr": "127.0.0.1:5000", "url": "rtmp://127.0.0.1/live/cam1", "app_name": "live", "stream_name": "cam1", "url_param": "", "has_in_session": true, "has_out_session": false, "read_bytes_sum": 0, "wrote_bytes_sum": 0}),
        ),
        ("onPubStop", json!({"server_id": "lal-1", "session_id": "RTMPPUBSUB1", "stream_name": "cam1"})),
        ("onSubStart", json!({"server_id": "lal-1", "stream_name": "cam1", "has_in_session": true})),
        ("onSubStop", json!({"server_id": "lal-1", "stream_name": "cam1"})),
        ("onRelayPullStart", json!({"server_id": "lal-1", "stream_name": "cam1"})),
        ("onRelayPullStop", json!({"server_id": "lal-1", "stream_name": "cam1"})),
        (
            "onRtmpConnect",
            json!({"server_id": "lal-1", "session_id": "RTMPPUBSUB1", "remote_addr": "127.0.0.1:5000", "app": "live", "flashVer": "FMLE/3.0", "tcUrl": "rtmp://127.0.0.1/live"}),
        ),
    ] {
        let (status, got) = post_json(port, &format!("/v1/hook/{route}"), &body).await;
        assert_eq!((status, got), (200, json!({})), "{route}");
    }

    // LAL notifies the first three segments: open then close; the second one twice over, and
    // a late open of the first after its close
    for s in &segs[..3] {
        for event in ["open", "close"] {
            let (status, got) = post_json(port, "/v1/hook/onHlsMakeTs", &make_ts(&hls, "cam1", s, event)).await;
            assert_eq!((status, got), (200, json!({})), "{s:?} {event}");
        }
    }
    post_json(port, "/v1/hook/onHlsMakeTs", &make_ts(&hls, "cam1", &segs[1], "close")).await;
    post_json(port, "/v1/hook/onHlsMakeTs", &make_ts(&hls, "cam1", &segs[0], "open")).await;
    assert_eq!(rows(&dir, "cam1"), 3, "one row per segment");
    let (status, list) = post_json(port, "/v1/api/ts/list", &json!({"streamName": "cam1"})).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!((list["streamName"].as_str(), list["serverId"].as_str()), (Some("cam1"), Some("lal-1")));
    let files = list["files"].as_array().unwrap();
    let ids: Vec<i64> = files.iter().map(|f| f["tsId"].as_i64().unwrap()).collect();
    assert_eq!(ids, [2, 1, 0], "newest first");
    assert!(files.iter().all(|f| f["event"] == "close"), "a late open does not undo a close: {list}");
    assert!((files[2]["duration"].as_f64().unwrap() - segs[0].duration).abs() < 1e-6, "{list}");
    assert_eq!(files[0]["tsTimestamp"].as_i64(), Some(segs[2].ts));
    let ranged = json!({"streamName": "cam1", "startTime": segs[1].ts, "endTime": segs[2].ts});
    assert_eq!(post_json(port, "/v1/api/ts/list", &ranged).await.1["files"].as_array().unwrap().len(), 2);

    // bad payloads: 101103, nothing stored
    let mut no_time = make_ts(&hls, "cam1", &segs[3], "close");
    no_time["ts_file"] = json!(format!("{}/cam1/cam1-segment.ts", hls.display()));
    let mut wrong_type = make_ts(&hls, "cam1", &segs[3], "close");
    wrong_type["id"] = json!("three");
    for bad in [no_time, wrong_type, json!([1, 2])] {
        let (status, got) = post_json(port, "/v1/hook/onHlsMakeTs", &bad).await;
        assert_eq!((status, got["code"].as_u64()), (400, Some(101_103)), "{bad}: {got}");
    }
    let (status, got) = post_json(port, "/v1/hook/onPubStart", &json!({"has_in_session": "yes"})).await;
    assert_eq!((status, got["code"].as_u64()), (400, Some(101_103)), "{got}");
    assert_eq!(rows(&dir, "cam1"), 3);
    let (status, got) = post_json(port, "/v1/api/ts/list", &json!({})).await;
    assert_eq!((status, got["code"].as_u64()), (400, Some(101_102)), "{got}");
    drop(_svc);

    // the two segments LAL never notified are found by the scan, the others not duplicated
    let (_svc, port, _cfg) = start(&dir, "200ms");
    let deadline = Instant::now() + Duration::from_secs(10);
    while rows(&dir, "cam1") < 5 {
        assert!(Instant::now() < deadline, "the scan did not add the missing segments: {}", rows(&dir, "cam1"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(rows(&dir, "cam1"), 5, "nothing twice");

    // the playlist: RFC 8216's tags, and ffprobe reads it (and every segment) end to end
    let (status, body) = request(port, "GET", "/v1/api/ts/playlist.m3u8?streamName=cam1", b"").await;
    let m3u8 = String::from_utf8(body).unwrap();
    assert_eq!(status, 200, "{m3u8}");
    let longest = segs.iter().map(|s| s.duration).fold(0.0, f64::max);
    assert!(m3u8.contains(&format!("#EXT-X-TARGETDURATION:{}\n", longest.ceil() as u64)), "{m3u8}");
    assert!(m3u8.ends_with("#EXT-X-ENDLIST\n") && m3u8.matches("#EXTINF:").count() == 5, "{m3u8}");
    let total: f64 = segs.iter().map(|s| s.duration).sum();
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
        .arg(format!("http://127.0.0.1:{port}/v1/api/ts/playlist.m3u8?streamName=cam1"))
        .output()
        .expect("ffprobe");
    assert!(probe.status.success(), "{}", String::from_utf8_lossy(&probe.stderr));
    let probed: f64 = String::from_utf8_lossy(&probe.stdout).trim().parse().unwrap();
    assert!((probed - total).abs() < 0.5, "ffprobe read {probed} s of {total} s");
    // every frame decodes from the segments lalhook serves
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(format!("http://127.0.0.1:{port}/v1/api/ts/playlist.m3u8?streamName=cam1"))
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(decode.status.success() && decode.stderr.is_empty(), "{}", String::from_utf8_lossy(&decode.stderr));
    let (status, _) = request(port, "GET", "/v1/api/ts/playlist.m3u8?streamName=nobody", b"").await;
    assert_eq!(status, 404);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_playback_page_plays_in_chromium() {
    let dir = tmp("page");
    let hls = dir.join("hls");
    let (_svc, port, _cfg) = start(&dir, "1h");
    let segs = record(&hls, "cam2", 3, 1_796_100_000_000);
    for s in &segs {
        let (status, _) = post_json(port, "/v1/hook/onHlsMakeTs", &make_ts(&hls, "cam2", s, "close")).await;
        assert_eq!(status, 200);
    }
    let url = format!("http://127.0.0.1:{port}/v1/playback?streamName=cam2");
    let played = tokio::task::spawn_blocking(move || testkit::browser::video_plays(&url, "lalhook-playback", 1.5))
        .await
        .unwrap();
    assert!(played.played, "the video did not play: {}", played.report);
    assert_eq!(played.report["errors"], json!([]), "console errors: {}", played.report);
    let duration = played.report["duration"].as_f64().unwrap();
    let total: f64 = segs.iter().map(|s| s.duration).sum();
    assert!((duration - total).abs() < 0.5, "the page's video is {duration} s of {total} s: {}", played.report);
    assert!(played.screenshot.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_edge_guards_the_routes() {
    let dir = tmp("edge");
    let (port, prom) = (free_port(), free_port());
    let text = format!(
        "Host: 127.0.0.1\nPort: {port}\nPrometheus: {{ListenOn: \"127.0.0.1:{prom}\"}}\nDB: {{DataSource: \"sqlite://{}\"}}\n\
         JwtAuth: {{AccessSecret: lal-secret}}\nEdge: {{Public: [/v1/hook/onServerStart]}}\n",
        dir.join("lal.db").display()
    );
    let file = ConfigFile::new("lalhook.yaml", &text);
    let _svc = spawn(BIN, &file.path, &[]);
    wait_listening(port, Duration::from_secs(20));
    // a public hook needs no token; the query API, taken out of Public, does
    let (s, _) = post_json(port, "/v1/hook/onServerStart", &json!({"server_id": "s1"})).await;
    assert_eq!(s, 200);
    let list = json!({"streamName": "cam1"}).to_string();
    let (s, body) = testkit::http::request(port, "POST", "/v1/api/ts/list", list.as_bytes()).await;
    let e: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((s, e["code"].as_i64()), (401, Some(16)), "{e}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let token = zero_edge::auth::JwtAuth::new("lal-secret", "", 60).issue("ops", [], now).unwrap().access_token;
    let bearer = format!("Bearer {token}");
    let (s, body) =
        testkit::http::request_with(port, "POST", "/v1/api/ts/list", &[("authorization", &bearer)], list.as_bytes())
            .await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    // counted under APISIX's names, per route
    let (_, metrics) = testkit::http::request(prom, "GET", "/metrics", b"").await;
    let metrics = String::from_utf8_lossy(&metrics);
    let line = metrics
        .lines()
        .find(|l| l.starts_with("apisix_http_status") && l.contains("/v1/api/ts/list") && l.contains("\"401\""))
        .unwrap_or_else(|| panic!("no 401 of the list route counted:\n{metrics}"));
    assert!(line.contains("lalhook"), "{line}");
    let _ = std::fs::remove_dir_all(&dir);
}
