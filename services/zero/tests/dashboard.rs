//! `zero up`'s dashboard, on the real binary: a simulated station and a station of the test's
//! own (an iec104 slave in this process) polled with `--station`. Over HTTP: no or a bad token
//! gets 401 and nothing of the page; the views change while the simulator runs; the events
//! stream sends a view per tick; a station's latest values. In headless Chromium
//! (`testkit/js/dashboard.mjs`): the page renders with no console error, values change, a
//! station's values and a point's chart show, it fits a phone's width, and the test's station,
//! killed, shows as disconnected within 2 s. Screenshots under `target/screenshots/`.

use iec104::slave::{serve, sim::Simulator, SlaveConfig};
use iec104::types::CommonAddress;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::http::get_text as get;
use testkit::process::ChildGuard;

const SECRET: &str = "dash-secret";

struct AcceptAll;

impl iec104::slave::CommandHandler for AcceptAll {
    fn command(&self, _: &iec104::slave::Command) -> bool {
        true
    }
}

/// Another service's panel: a figure, and a "ping" action it counts.
struct Extra(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl zero_svc::dashboard::Panel for Extra {
    fn id(&self) -> &str {
        "extra"
    }
    fn view(&self) -> zero_svc::dashboard::BoxFuture<'_, zero_svc::dashboard::View> {
        zero_svc::dashboard::View::new("Extra").stat("answer", 42).ready()
    }
    fn act<'a>(
        &'a self,
        action: &'a str,
        _key: &'a str,
    ) -> zero_svc::dashboard::BoxFuture<'a, Result<String, zero_svc::dashboard::ApiError>> {
        let r = if action == "ping" {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok("pong".to_owned())
        } else {
            Err(zero_svc::dashboard::ApiError::bad_request("no"))
        };
        Box::pin(std::future::ready(r))
    }
}

fn token() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    zero_edge::auth::JwtAuth::new(SECRET, "", 3600).issue("operator", [], now).unwrap().access_token
}

/// The acquisition panel's figure `label` in a `/api/dashboard` answer.
fn stat(views: &serde_json::Value, label: &str) -> String {
    let panel = &views["panels"][0]["view"];
    panel["stats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["label"] == label)
        .unwrap_or_else(|| panic!("{label} in {panel}"))["value"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The first `n` Server-Sent Events of `path` (raw HTTP/1.1: the stream never ends).
fn sse_events(port: u16, path: &str, n: usize, within: Duration) -> Vec<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(within)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n").unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 65536];
    let deadline = Instant::now() + within;
    while text.matches("event: views").count() < n && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => text.push_str(&String::from_utf8_lossy(&buf[..k])),
        }
    }
    text.split("event: views").skip(1).map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_pipeline_live_and_a_killed_station_within_2_s() {
    // the test's own station, on a runtime of its own: shutting that down kills the station
    // (listener and connections closed at once, as when its process dies)
    let station_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let station = std_listener.local_addr().unwrap();
    station_rt.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
        let (slave, driver) = serve(listener, SlaveConfig::default(), AcceptAll);
        tokio::spawn(driver);
        Simulator::new(slave, CommonAddress(1), 30, 20).run().await;
    });

    // another service's part (as the trigger service serves its Tasks on its metrics port),
    // shown on zero's page through Dashboard.Services, its actions passed on
    let pings = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let extra = zero_svc::dashboard::Dashboard::new(zero_edge::auth::JwtAuth::new(SECRET, "", 0))
        .panel(Extra(pings.clone()))
        .router();
    let extra_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let extra_url = format!("http://{}", extra_listener.local_addr().unwrap());
    tokio::spawn(async move {
        let make = extra.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let _ = axum::serve(extra_listener, make).await;
    });

    let dir = std::env::temp_dir().join(format!("zero_dash_{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = testkit::port::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_zero"))
        .args(["up", "--station", &station.to_string()])
        .env("ZERO_SIMULATOR", "{Stations: 1, Points: 40, ChangesPerSecond: 100, Host: 127.0.0.1, BasePort: 0}")
        .env("ZERO_IECCALLERLISTENON", "127.0.0.1:0")
        .env("ZERO_STREAMEVENTLISTENON", "127.0.0.1:0")
        .env("ZERO_STATUSEVERYSECONDS", "0")
        .env("ZERO_DB", format!("{{DataSource: 'sqlite://{}/z.db'}}", dir.display()))
        .env(
            "ZERO_DASHBOARD",
            format!("{{ListenOn: '127.0.0.1:{port}', AccessSecret: {SECRET}, Services: [{{Panel: extra, Url: '{extra_url}'}}]}}"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _zero = ChildGuard(child);
    testkit::service::wait_listening(port, Duration::from_secs(30));
    let t = token();

    // no token, a bad token: 401 and nothing of the page or the views
    for path in ["/", "/api/dashboard", "/api/dashboard/events", "/?token=abc.def.ghi", "/api/dashboard?token=x"] {
        let (status, body) = get(port, path).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert!(!body.contains("<html") && !body.contains("Stations") && !body.contains("panels"), "{path}: {body}");
        assert!(body.contains("\"code\""), "the error body: {body}");
    }
    let (status, page) = get(port, &format!("/?token={t}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("<html") && page.contains("EventSource"));

    // the views change while the simulator runs; both stations are listed, started
    let key = station.to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        let (status, body) = get(port, &format!("/api/dashboard?token={t}")).await;
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        if stat(&v, "stations started") == "2/2" && stat(&v, "points on the bus") != "0" {
            break v;
        }
        assert!(Instant::now() < deadline, "not both stations started with points: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, body) = get(port, &format!("/api/dashboard?token={t}")).await;
    let second: serde_json::Value = serde_json::from_str(&body).unwrap();
    let points = |v: &serde_json::Value| stat(v, "points on the bus").parse::<u64>().unwrap();
    assert!(points(&second) > points(&first), "points move: {} then {}", points(&first), points(&second));
    assert_ne!(first["at"], second["at"], "a new view per tick");
    assert!(stat(&second, "points in stored chunks").parse::<u64>().unwrap() > 0, "the flow: {second}");
    let other =
        second["panels"].as_array().unwrap().iter().find(|p| p["id"] == "extra").expect("the other service's panel");
    assert_eq!(other["view"]["stats"][0]["value"], "42", "{other}");
    let (status, body) = testkit::http::request_with(
        port,
        "POST",
        &format!("/api/dashboard/extra/action?token={t}"),
        &[("content-type", "application/json")],
        br#"{"action":"ping","key":"x"}"#,
    )
    .await;
    assert_eq!((status, String::from_utf8_lossy(&body).as_ref()), (200, r#"{"message":"pong"}"#));
    assert_eq!(pings.load(std::sync::atomic::Ordering::Relaxed), 1, "the action reached the other service");
    // the channels: the in-process bus delivered, nothing failed
    let channels = &second["panels"][0]["view"]["tables"][1];
    assert_eq!(channels["title"], "Channels", "{channels}");
    let bus = &channels["rows"][0]["cells"];
    assert_eq!((&bus[0], &bus[4]), (&"memory".into(), &"0".into()), "{channels}");
    assert!(bus[3].as_str().unwrap().parse::<u64>().unwrap() > 0, "delivered: {channels}");
    let rows = second["panels"][0]["view"]["tables"][0]["rows"].as_array().unwrap();
    let ours = rows.iter().find(|r| r["key"] == key.as_str()).unwrap_or_else(|| panic!("{key} in {rows:?}"));
    assert_eq!(ours["cells"][1], "started");
    assert!(ours["cells"][2].as_str().unwrap().parse::<u64>().unwrap() >= 30, "GI and changes: {ours}");

    // the latest values of the test's station: its 30 points, from IOA 100
    let (status, body) = get(port, &format!("/api/dashboard/acquisition/detail?key={key}&token={t}")).await;
    assert_eq!(status, 200, "{body}");
    let detail: serde_json::Value = serde_json::from_str(&body).unwrap();
    let values = detail["tables"][0]["rows"].as_array().unwrap();
    assert_eq!(values.len(), 30, "{detail}");
    assert_eq!(values[0]["key"], "1:100");
    assert!(values.iter().filter(|r| r["value"].is_number()).count() >= 20, "numeric values: {detail}");
    let (status, _) = get(port, &format!("/api/dashboard/acquisition/detail?key=nowhere:1&token={t}")).await;
    assert_eq!(status, 404);

    // the events stream: a view per tick
    let events = tokio::task::spawn_blocking(move || {
        sse_events(port, &format!("/api/dashboard/events?token={}", token()), 3, Duration::from_secs(10))
    })
    .await
    .unwrap();
    assert!(events.len() >= 3, "{events:?}");
    assert!(events.iter().all(|e| e.contains("\"panels\"")), "{events:?}");

    // in Chromium
    let shots = testkit::browser::screenshot_dir();
    let mut node = Command::new("node")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testkit/js/dashboard.mjs"))
        .arg(format!("http://127.0.0.1:{port}/?token={t}"))
        .arg(&shots)
        .arg(&key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node (scripts/test installs playwright-core and chromium)");
    let mut stdin = node.stdin.take().unwrap();
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    // the browser driver is killed if the test ends early
    let _node = ChildGuard(node);
    let ready: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(ready["step"], "ready", "{ready}");
    assert!(ready["firstRender"].as_u64().unwrap() < 5_000, "{ready}");
    assert_ne!(ready["before"], ready["after"], "values change on the page: {ready}");
    assert!(ready["overflow"].as_i64().unwrap() <= 0, "the page fits a phone's width: {ready}");

    // the station killed: shown disconnected within 2 s
    station_rt.shutdown_background();
    writeln!(stdin, "killed").unwrap();
    let done: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(done["step"], "done", "{done}");
    let ms = done["ms"].as_i64().unwrap();
    assert!((0..2000).contains(&ms), "disconnected shown after {ms} ms: {done}");
    assert_eq!(done["errors"], serde_json::json!([]), "console errors: {done}");
    for shot in ["dashboard.png", "dashboard-phone.png", "dashboard-disconnected.png"] {
        assert!(std::fs::metadata(shots.join(shot)).unwrap().len() > 1000, "{shot}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
