//! # lalhook (service)
//!
//! LAL's HTTP notifications on 11002 (spec §14): every `POST /v1/hook/<name>` route with LAL's
//! JSON, `onHlsMakeTs` kept in `hls_ts_files` (one row per segment however often it is
//! notified, answered once committed, commits grouped), `POST /v1/api/ts/list`; beyond upstream:
//! a reconcile scan of LAL's recording directory (LAL drops notifications when its receiver is
//! slow), server-side VOD playlists of any stream and range, and a playback page.
//!
//! ## Layout
//! | module | holds |
//! |---|---|
//! | [`config`] | the typed configuration and its embedded defaults |
//! | [`hook`] | LAL's JSON bodies and the segment-time rule |
//! | [`store`] | `hls_ts_files` |
//! | [`reconcile`] | the recording directory scan |
//! | [`playlist`] | VOD playlists |
//! | [`http`] | the routes |
//! | [`page`] | the playback page |
//! | [`run`](mod@run) | wiring |

pub mod config;
pub mod hook;
pub mod http;
pub mod page;
pub mod playlist;
pub mod reconcile;
pub mod run;
pub mod store;

pub use config::{Config, DEFAULTS};
pub use run::run;
