//! # bridgedump
//!
//! The file format of the NARI reverse-isolation device (spec §8): each request becomes one file
//! in a directory the device ships across, read downstream by filebeat (§8.3), and this crate
//! writes and reads it.
//!
//! | module | holds |
//! |---|---|
//! | [`gojson`] | the request's JSON as Go's `encoding/json` writes a protobuf struct: snake_case proto names, zero values omitted, Go's number format and its escaping of `<`, `>`, `&`, U+2028, U+2029 |
//! | [`envelope`] | the envelope, byte for byte: `<!System=OMG ...!>`, `<Bridge:=Free Size=N>`, the wrapper JSON line (`traceId`, `body`, `time`, `filePath`), `</Bridge:=Free>`; and its reader |
//! | [`writer`] | one file per request, written atomically (temporary name in the same directory, fsync, link into place, fsync the directory): a reader never sees a partial file, even after kill -9; names unique also when there is no trace id |
//!
//! ```
//! use bridgedump::envelope::Envelope;
//! let e = Envelope {
//!     trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
//!     body: r#"{"data":[{"dtu_id":"D1","load_cur":12.5}]}"#.into(),
//!     time: "2026-12-06 10:00:00.5".into(),
//!     file_path: "/opt/bridgedump/cable_work_list/20261206_100000_4bf92f3577b34da6a3ce929d0e0e4736_json.txt".into(),
//! };
//! let bytes = e.render();
//! assert!(bytes.starts_with(b"<!System=OMG Version=1.05 Code=utf-8 Data=1.0!>\n<Bridge:=Free Size="));
//! assert_eq!(Envelope::parse(&bytes).unwrap(), e);
//! ```

pub mod envelope;
pub mod gojson;
pub mod writer;
