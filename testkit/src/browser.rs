//! Pages in a real browser: Debian's chromium, headless, driven by npm `playwright-core`
//! (`js/video-plays.mjs`; `scripts/test` installs both). Screenshots go under `target/`.

use std::path::PathBuf;

/// What a page's video did.
#[derive(Debug, Clone)]
pub struct Played {
    /// It played past the asked time.
    pub played: bool,
    /// The page's report: `currentTime`, `duration`, `errors` (console errors), `state`.
    pub report: serde_json::Value,
    /// The screenshot.
    pub screenshot: PathBuf,
}

/// The workspace's `target/screenshots/` (made if missing).
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/screenshots"));
    std::fs::create_dir_all(&dir).expect("target/screenshots");
    dir
}

/// Opens `url` and waits up to 30 s for its first `<video>` to play past `seconds`; the
/// screenshot is `target/screenshots/<name>.png`.
///
/// # Panics
/// When node or the script cannot run, or its report is not JSON.
pub fn video_plays(url: &str, name: &str, seconds: f64) -> Played {
    let screenshot = screenshot_dir().join(format!("{name}.png"));
    let out = std::process::Command::new("node")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/js/video-plays.mjs"))
        .arg(url)
        .arg(&screenshot)
        .arg(seconds.to_string())
        .output()
        .expect("node (scripts/test installs playwright-core and chromium)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("video-plays.mjs: {e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    Played { played: out.status.success(), report, screenshot }
}
