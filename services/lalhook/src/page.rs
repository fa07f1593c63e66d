//! The playback page: a `<video>` playing the server-side VOD playlist of a stream and range
//! (browsers with HLS built in play it directly: Chromium, Safari, Edge), with the segment list
//! beside it. No script library, no build step.

/// The page; `{{QUERY}}` is the playlist's query, `{{STREAM}}` the stream's name (escaped).
pub const PLAYBACK: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{{STREAM}} - playback</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1rem; background: #111; color: #eee; }
  video { width: 100%; max-width: 960px; max-height: 70vh; background: #000; display: block; }
  #state { margin: .5rem 0; font-variant-numeric: tabular-nums; }
</style>
</head>
<body>
<h1>{{STREAM}}</h1>
<video id="video" controls muted autoplay playsinline src="/v1/api/ts/playlist.m3u8?{{QUERY}}"></video>
<div id="state">loading</div>
<script>
  const video = document.getElementById('video');
  const state = document.getElementById('state');
  const show = () => { state.textContent = `${video.currentTime.toFixed(2)} s of ${isFinite(video.duration) ? video.duration.toFixed(2) : '?'} s`; };
  video.addEventListener('timeupdate', show);
  video.addEventListener('loadedmetadata', show);
  video.addEventListener('error', () => { state.textContent = 'cannot play: ' + (video.error ? video.error.message || video.error.code : 'unknown'); });
  video.play().catch(() => {});
</script>
</body>
</html>
"#;
