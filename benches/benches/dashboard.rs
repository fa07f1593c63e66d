//! The dashboard of `zero up` (`zero_svc::dashboard` with the acquisition panel), on a running
//! platform of many simulated stations:
//!
//! 1. first render: headless Chromium (`testkit/js/dashboard.mjs`) from the page's request until
//!    its Stations table shows every station; and the page plus its first views over HTTP;
//! 2. the cost of viewers: CPU of the platform's runtime threads over a window with no viewer,
//!    then with many open event streams (each counting the views it received), at 1 update/s;
//!    the difference as a share of one core.
//!
//! `cargo bench -p zero-benches --bench dashboard`: 1,000 stations x 100 points (100,000
//! points), 100 viewers, 10 s windows. Under `cargo test`: 50 stations x 100, 20 viewers, 3 s.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// CPU seconds of this process's threads named `zero-rt*` (the platform's runtime).
fn runtime_cpu() -> f64 {
    let mut total = 0.0;
    for t in std::fs::read_dir("/proc/self/task").expect("/proc").flatten() {
        let tid = t.file_name().to_string_lossy().into_owned();
        let comm = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).unwrap_or_default();
        if comm.starts_with("zero-rt") {
            total += testkit::proc::cpu_secs(&format!("self/task/{tid}")).unwrap_or(0.0);
        }
    }
    total
}

fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    // chunked bodies: the views are one JSON document, found between its braces
    (status, body)
}

fn views(port: u16) -> serde_json::Value {
    let (status, body) = get(port, "/api/dashboard");
    assert_eq!(status, 200, "{body}");
    let json = &body[body.find('{').unwrap()..=body.rfind('}').unwrap()];
    serde_json::from_str(json).unwrap()
}

fn started(v: &serde_json::Value) -> String {
    v["panels"][0]["view"]["stats"][0]["value"].as_str().unwrap_or_default().to_owned()
}

/// An open event stream counting the views it receives, until `stop`.
fn viewer(port: u16, got: Arc<AtomicU64>, stop: Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        write!(s, "GET /api/dashboard/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
            .unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let needle = b"event: views";
        let mut tail: Vec<u8> = Vec::new();
        while !stop.load(Relaxed) {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    tail.extend_from_slice(&buf[..n]);
                    let found = tail.windows(needle.len()).filter(|w| w == needle).count();
                    got.fetch_add(found as u64, Relaxed);
                    // keep what could be the start of the next marker
                    let keep = tail.len().min(needle.len() - 1);
                    tail.drain(..tail.len() - keep);
                }
                Err(_) => {}
            }
        }
    })
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (stations, points, viewers, window) = if full {
        (1_000u16, 100u32, 100usize, Duration::from_secs(10))
    } else {
        (50, 100, 20, Duration::from_secs(3))
    };
    let dir = std::env::temp_dir().join(format!("zero_dash_bench_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = testkit::port::free_port();
    let env = [
        (
            "Simulator".to_string(),
            format!("{{Stations: {stations}, Points: {points}, ChangesPerSecond: 2, Host: 127.0.0.1, BasePort: 0}}"),
        ),
        ("Db".into(), format!("{{DataSource: 'sqlite://{}/z.db'}}", dir.display())),
        ("IecCallerListenOn".into(), "127.0.0.1:0".into()),
        ("StreamEventListenOn".into(), "127.0.0.1:0".into()),
        ("StatusEverySeconds".into(), "0".into()),
        ("Dashboard".into(), format!("{{ListenOn: '127.0.0.1:{port}', AccessSecret: ''}}")),
    ];
    let cfg: zero::Config = zero_svc::config::merge_str(zero::DEFAULTS, None, &env).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let platform = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("zero-rt")
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(zero::up(
            cfg,
            async move {
                let _ = stop_rx.await;
            },
            |_| {},
        ))
        .unwrap();
    });
    testkit::service::wait_listening(port, Duration::from_secs(60));
    let want = format!("{stations}/{stations}");
    let deadline = Instant::now() + Duration::from_secs(180);
    while started(&views(port)) != want {
        assert!(Instant::now() < deadline, "stations not all started: {}", started(&views(port)));
        std::thread::sleep(Duration::from_millis(500));
    }

    // 1. first render
    let mut http_ms = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let (status, page) = get(port, "/");
        assert!(status == 200 && page.contains("EventSource"));
        let v = views(port);
        assert_eq!(v["panels"][0]["view"]["tables"][0]["rows"].as_array().unwrap().len(), stations as usize);
        http_ms = http_ms.min(t.elapsed().as_secs_f64() * 1000.0);
    }
    let key = v_first_key(port);
    // the station's detail holds all its points once its interrogation is in
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, detail) = get(port, &format!("/api/dashboard/acquisition/detail?key={key}"));
        assert_eq!(status, 200, "{detail:.300}");
        if detail.matches("\"key\"").count() >= points as usize {
            break;
        }
        assert!(Instant::now() < deadline, "{detail:.300}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = std::process::Command::new("node")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../testkit/js/dashboard.mjs"))
        .arg(format!("http://127.0.0.1:{port}/"))
        .arg(testkit::browser::screenshot_dir())
        .arg("-")
        .output()
        .expect("node (scripts/test installs playwright-core and chromium)");
    let text = String::from_utf8_lossy(&out.stdout);
    let r: serde_json::Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("dashboard.mjs: {e}: {text} {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(r["rows"], stations, "{r}");
    assert_eq!(r["errors"], serde_json::json!([]), "{r}");
    println!(
        "dashboard/first_render ({stations} stations, {} points): the page shows its full Stations table {:.0} ms after its navigation started (target < 500; the HTML arrived at {:.0} ms); {} ms from asking Chromium to open it; page with its views over HTTP {http_ms:.1} ms",
        u64::from(stations) * u64::from(points),
        r["shown"].as_f64().unwrap_or(f64::NAN),
        r["response"].as_f64().unwrap_or(f64::NAN),
        r["firstRender"]
    );

    // 2. the cost of viewers
    let cpu0 = runtime_cpu();
    let t0 = Instant::now();
    std::thread::sleep(window);
    let idle = (runtime_cpu() - cpu0) / t0.elapsed().as_secs_f64();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let counts: Vec<Arc<AtomicU64>> = (0..viewers).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let threads: Vec<_> = counts.iter().map(|c| viewer(port, c.clone(), stop.clone())).collect();
    std::thread::sleep(Duration::from_secs(2));
    let before: Vec<u64> = counts.iter().map(|c| c.load(Relaxed)).collect();
    let cpu1 = runtime_cpu();
    let t1 = Instant::now();
    std::thread::sleep(window);
    let watched = (runtime_cpu() - cpu1) / t1.elapsed().as_secs_f64();
    let got: Vec<u64> = counts.iter().zip(&before).map(|(c, b)| c.load(Relaxed) - b).collect();
    stop.store(true, Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let min = *got.iter().min().unwrap();
    let ticks = window.as_secs();
    assert!(min + 1 >= ticks, "every viewer got a view per second: min {min} in {ticks} s");
    println!(
        "dashboard/viewers: {viewers} open dashboards at 1 update/s add {:.2}% of a core to the platform's runtime ({:.2}% -> {:.2}%; each viewer got >= {min} views in {ticks} s) (target < 2%)",
        (watched - idle) * 100.0,
        idle * 100.0,
        watched * 100.0
    );
    let _ = stop_tx.send(());
    let _ = platform.join();
    std::fs::remove_dir_all(&dir).ok();
}

/// The first station's key in the views.
fn v_first_key(port: u16) -> String {
    views(port)["panels"][0]["view"]["tables"][0]["rows"][0]["key"].as_str().unwrap().to_owned()
}
