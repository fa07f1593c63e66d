//! Server-side VOD playlists (RFC 8216) of recorded segments: `#EXT-X-TARGETDURATION` is the
//! longest segment rounded up (every `#EXTINF` rounded to the nearest integer must not exceed
//! it, 4.3.3.1), a gap in time between two segments is an `#EXT-X-DISCONTINUITY`, and the list
//! ends with `#EXT-X-ENDLIST`.

use crate::store::Segment;

/// A gap larger than this (ms) beyond a segment's own duration starts a discontinuity.
const GAP_MS: f64 = 1500.0;

/// The playlist of `segments` (in play order; those without a duration, still open, are
/// left out); `uri` names each segment.
///
/// ```
/// use lalhook_svc::store::Segment;
/// let seg = |t, d| Segment { ts_timestamp: t, duration: Some(d), ts_file: format!("c-{t}-1.ts"), ..Default::default() };
/// let m3u8 = lalhook_svc::playlist::vod(&[seg(0, 2.0), seg(2000, 2.4)], |s| s.ts_file.clone());
/// assert!(m3u8.contains("#EXT-X-TARGETDURATION:3\n"));
/// assert!(m3u8.ends_with("#EXT-X-ENDLIST\n"));
/// ```
pub fn vod(segments: &[Segment], uri: impl Fn(&Segment) -> String) -> String {
    let closed: Vec<&Segment> = segments.iter().filter(|s| s.duration.is_some_and(|d| d > 0.0)).collect();
    let longest = closed.iter().filter_map(|s| s.duration).fold(0.0_f64, f64::max);
    let target = longest.ceil().max(1.0) as u64;
    let mut out = String::with_capacity(64 + closed.len() * 96);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n");
    out.push_str(&format!("#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n"));
    let mut previous_end: Option<f64> = None;
    for s in closed {
        let d = s.duration.unwrap_or(0.0);
        let start = s.ts_timestamp as f64;
        if previous_end.is_some_and(|end| start - end > GAP_MS) {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        previous_end = Some(start + d * 1000.0);
        out.push_str(&format!("#EXTINF:{d:.3},\n{}\n", uri(s)));
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(t: i64, d: Option<f64>) -> Segment {
        Segment { ts_timestamp: t, duration: d, ts_file: format!("cam-{t}-1.ts"), ..Default::default() }
    }

    #[test]
    fn target_duration_gaps_and_open_segments() {
        let m = vod(&[seg(0, Some(2.0)), seg(2000, Some(3.5)), seg(60_000, Some(2.0)), seg(62_000, None)], |s| {
            s.ts_file.clone()
        });
        assert!(m.contains("#EXT-X-TARGETDURATION:4\n"), "{m}");
        assert_eq!(m.matches("#EXTINF:").count(), 3, "the open segment is left out: {m}");
        assert_eq!(m.matches("#EXT-X-DISCONTINUITY").count(), 1, "{m}");
        assert!(m.find("#EXT-X-DISCONTINUITY").unwrap() < m.find("cam-60000-1.ts").unwrap());
        assert!(m.starts_with("#EXTM3U\n") && m.ends_with("#EXT-X-ENDLIST\n"));
        assert!(vod(&[], |s| s.ts_file.clone()).contains("#EXT-X-TARGETDURATION:1\n"));
    }
}
