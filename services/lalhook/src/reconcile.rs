//! The reconcile scan: LAL drops notifications when its receiver is slow (one queue, no retry),
//! so the recording directory is the truth. Each stream directory's `.ts` files named as LAL
//! names them (`<stream>-<ms>-<id>.ts`) are segments; the `#EXTINF` lines of the directory's
//! playlists give their durations. A segment in no playlist yet is still being written and waits
//! for the next scan, unless it is older than a minute (its playlist was lost): then it is added
//! without a duration.

use crate::hook::ts_timestamp;
use crate::store::Segment;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// A segment in no playlist counts as finished once it is this old.
const ORPHAN_AGE: Duration = Duration::from_secs(60);

/// `#EXTINF` durations by segment file name, from a playlist's text.
pub fn durations(m3u8: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    let mut pending: Option<f64> = None;
    for line in m3u8.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            pending = rest.split(',').next().and_then(|d| d.trim().parse().ok());
        } else if !line.is_empty() && !line.starts_with('#') {
            if let Some(d) = pending.take() {
                let name = line.rsplit('/').next().unwrap_or(line);
                out.insert(name.to_owned(), d);
            }
        }
    }
    out
}

/// LAL's segment number: what follows the last `-` of `<stream>-<ms>-<id>.ts`.
fn ts_id(name: &str) -> Option<i64> {
    name.strip_suffix(".ts")?.rsplit('-').next()?.parse().ok()
}

/// The segments under `dir` (one directory per stream), named as LAL would name them with its
/// `out_path` written as `lal_out_path`.
///
/// # Errors
/// The directory cannot be read.
pub fn scan(dir: &Path, lal_out_path: &str) -> std::io::Result<Vec<Segment>> {
    let mut found = Vec::new();
    for stream_dir in std::fs::read_dir(dir)? {
        let stream_dir = stream_dir?;
        if !stream_dir.file_type()?.is_dir() {
            continue;
        }
        let stream = stream_dir.file_name().to_string_lossy().into_owned();
        let mut known: HashMap<String, f64> = HashMap::new();
        let mut record_m3u8 = None;
        let mut files = Vec::new();
        for f in std::fs::read_dir(stream_dir.path())? {
            let f = f?;
            let name = f.file_name().to_string_lossy().into_owned();
            if name.ends_with(".m3u8") {
                if name.starts_with("record") {
                    record_m3u8 = Some(format!("{}/{stream}/{name}", lal_out_path.trim_end_matches('/')));
                }
                if let Ok(text) = std::fs::read_to_string(f.path()) {
                    known.extend(durations(&text));
                }
            } else if name.ends_with(".ts") {
                let age = f.metadata()?.modified().ok().and_then(|m| SystemTime::now().duration_since(m).ok());
                files.push((name, age.unwrap_or_default()));
            }
        }
        for (name, age) in files {
            let ts_file = format!("{}/{stream}/{name}", lal_out_path.trim_end_matches('/'));
            let (Some(ts), Some(id)) = (ts_timestamp(&name), ts_id(&name)) else { continue };
            let duration = known.get(&name).copied();
            if duration.is_none() && age < ORPHAN_AGE {
                continue;
            }
            found.push(Segment {
                event: "close".into(),
                stream_name: stream.clone(),
                ts_file,
                record_m3u8_file: record_m3u8.clone(),
                ts_id: id,
                ts_timestamp: ts,
                duration,
                ..Default::default()
            });
        }
    }
    found.sort_by(|a, b| {
        (a.stream_name.as_str(), a.ts_timestamp, a.ts_id).cmp(&(b.stream_name.as_str(), b.ts_timestamp, b.ts_id))
    });
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlists_give_durations() {
        let m = "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:2.000,\ncam-1000-0.ts\n#EXTINF:2.48,\nhls/cam/cam-3000-1.ts\n#EXT-X-ENDLIST\n";
        let d = durations(m);
        assert_eq!(d.get("cam-1000-0.ts"), Some(&2.0));
        assert_eq!(d.get("cam-3000-1.ts"), Some(&2.48));
        assert_eq!(d.len(), 2);
        assert_eq!(ts_id("cam-3000-17.ts"), Some(17));
        assert_eq!(ts_id("cam.ts"), None);
    }
}
