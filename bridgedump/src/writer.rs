//! One file per request, written so that a reader never sees a partial one.
//!
//! A file is written under a temporary name in its own directory (`.<name>.<pid>.<n>.tmp`, which
//! filebeat's `*_json.txt` does not match), synced, then linked to its final name, which fails
//! rather than replace an existing file, and the directory is synced before `write` returns
//! (writers of one directory share its fsyncs: one serves all that were waiting when it began). After a kill -9 there is
//! either the whole file or none, plus at most a temporary that [`Dump::clean_temporaries`]
//! removes at start.
//!
//! Names are `{yyyyMMdd_HHmmss}_{traceId}_json.txt` as upstream; with no trace id (tracing off),
//! where upstream names the file `{ts}__json.txt` and appends a second request of the same second
//! to it, the id is a fresh UUIDv7 instead, and a name already taken gets `-1`, `-2`, ...
//!
//! ```
//! use bridgedump::writer::Dump;
//! let root = std::env::temp_dir().join(format!("bridgedump-doc-{}", std::process::id()));
//! let dump = Dump::new(&root);
//! let now = chrono::DateTime::parse_from_rfc3339("2026-12-06T10:00:00.5+08:00").unwrap();
//! let path = dump.write("cable_fault", "", r#"{"data":[]}"#, now).unwrap();
//! let e = bridgedump::envelope::Envelope::parse(&std::fs::read(&path).unwrap()).unwrap();
//! assert_eq!(e.time, "2026-12-06 10:00:00.5");
//! assert_eq!(e.file_path, path.to_str().unwrap());
//! # std::fs::remove_dir_all(&root).unwrap();
//! ```

use crate::envelope::Envelope;
use chrono::{DateTime, FixedOffset, NaiveDateTime, Timelike as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A request that could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The sub-directory is not one plain name.
    #[error("sub-directory {0:?}: one plain name expected")]
    SubDir(String),
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io { path: path.to_owned(), source }
}

/// `yyyy-MM-dd HH:mm:ss.ffffff`, trailing zeros of the fraction trimmed (Go's `.999999`).
pub fn datetime_micro(t: &NaiveDateTime) -> String {
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let us = t.nanosecond() % 1_000_000_000 / 1000;
    if us > 0 {
        let frac = format!("{us:06}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s
}

static TEMPORARIES: AtomicU64 = AtomicU64::new(0);

/// One directory's fsyncs, shared by the writers waiting on it (group commit): a writer whose
/// file is linked takes a ticket and returns once a directory fsync that started after its
/// ticket has finished; one fsync serves every writer that was waiting when it began.
#[derive(Debug, Default)]
struct DirSync {
    state: std::sync::Mutex<SyncState>,
    done: std::sync::Condvar,
}

#[derive(Debug, Default)]
struct SyncState {
    issued: u64,
    synced: u64,
    running: bool,
}

impl DirSync {
    fn sync(&self, dir: &Path) -> std::io::Result<()> {
        fn lock(m: &std::sync::Mutex<SyncState>) -> std::sync::MutexGuard<'_, SyncState> {
            m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
        }
        let mut st = lock(&self.state);
        st.issued += 1;
        let ticket = st.issued;
        loop {
            if st.synced >= ticket {
                return Ok(());
            }
            if st.running {
                st = self.done.wait(st).unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            st.running = true;
            let target = st.issued;
            drop(st);
            let r = std::fs::File::open(dir).and_then(|d| d.sync_all());
            st = lock(&self.state);
            st.running = false;
            if r.is_ok() {
                st.synced = st.synced.max(target);
            }
            self.done.notify_all();
            r?;
        }
    }
}

/// The dump directory (`DumpPath`). Clones share the directories' fsyncs.
#[derive(Debug, Clone)]
pub struct Dump {
    root: PathBuf,
    syncs: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<PathBuf, std::sync::Arc<DirSync>>>>,
}

impl Dump {
    /// Files go under `root/<sub_dir>/`.
    pub fn new(root: impl Into<PathBuf>) -> Dump {
        Dump { root: root.into(), syncs: std::sync::Arc::default() }
    }

    fn dir_sync(&self, dir: &Path) -> std::sync::Arc<DirSync> {
        let mut m = self.syncs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        m.entry(dir.to_owned()).or_default().clone()
    }

    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, sub_dir: &str) -> Result<PathBuf, WriteError> {
        let plain = !sub_dir.is_empty()
            && sub_dir != "."
            && sub_dir != ".."
            && !sub_dir.contains(['/', '\\', '\0'])
            && !sub_dir.starts_with('.');
        if plain {
            Ok(self.root.join(sub_dir))
        } else {
            Err(WriteError::SubDir(sub_dir.to_owned()))
        }
    }

    /// Writes one request (`body`: its JSON) with its trace id (empty: none) at `now` (its
    /// offset is the one of the name and of `time`: Asia/Shanghai upstream); returns the path.
    ///
    /// # Errors
    /// A bad sub-directory, or the file system's error (nothing is left behind then).
    pub fn write(
        &self,
        sub_dir: &str,
        trace_id: &str,
        body: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<PathBuf, WriteError> {
        let dir = self.dir(sub_dir)?;
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let ts = now.format("%Y%m%d_%H%M%S");
        let id = if trace_id.is_empty() { uuid::Uuid::now_v7().simple().to_string() } else { trace_id.to_owned() };
        let time = datetime_micro(&now.naive_local());
        for n in 0u32.. {
            let name = if n == 0 { format!("{ts}_{id}_json.txt") } else { format!("{ts}_{id}-{n}_json.txt") };
            let path = dir.join(&name);
            if path.exists() {
                continue;
            }
            let file_path = path.to_string_lossy().into_owned();
            let bytes =
                Envelope { trace_id: trace_id.to_owned(), body: body.to_owned(), time: time.clone(), file_path }
                    .render();
            let tmp =
                dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), TEMPORARIES.fetch_add(1, Ordering::Relaxed)));
            let placed = write_synced(&tmp, &bytes).and_then(|()| std::fs::hard_link(&tmp, &path));
            let _ = std::fs::remove_file(&tmp);
            match placed {
                Ok(()) => {
                    self.dir_sync(&dir).sync(&dir).map_err(io(&dir))?;
                    return Ok(path);
                }
                // taken meanwhile by another writer: the next name
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(WriteError::Io { path, source: e }),
            }
        }
        unreachable!("u32 names run out")
    }

    /// Removes the temporaries a killed writer left in `sub_dir`; returns how many.
    ///
    /// # Errors
    /// A bad sub-directory, or the directory cannot be read.
    pub fn clean_temporaries(&self, sub_dir: &str) -> Result<usize, WriteError> {
        let dir = self.dir(sub_dir)?;
        let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(0) };
        let mut n = 0;
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(".tmp") && std::fs::remove_file(e.path()).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }
}

/// What a retention sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Files deleted.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// How long files are kept: by age, by the total size of a sub-directory (oldest go first);
/// `None` for no limit. Only finished files (`*_json.txt`) are considered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Files modified longer ago than this go.
    pub max_age: Option<std::time::Duration>,
    /// Beyond this many bytes in a sub-directory, the oldest files go.
    pub max_bytes: Option<u64>,
}

impl Dump {
    /// Applies `r` to `sub_dir` as of `now`.
    ///
    /// # Errors
    /// A bad sub-directory, or the directory cannot be read (a file that cannot be deleted is
    /// skipped and left for the next sweep).
    pub fn sweep(&self, sub_dir: &str, r: Retention, now: std::time::SystemTime) -> Result<Swept, WriteError> {
        let dir = self.dir(sub_dir)?;
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Swept::default()),
            Err(e) => return Err(WriteError::Io { path: dir, source: e }),
        };
        let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with("_json.txt"))
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                m.is_file().then(|| (m.modified().unwrap_or(now), m.len(), e.path()))
            })
            .collect();
        files.sort();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        let mut swept = Swept::default();
        for (modified, len, path) in files {
            let too_old = r.max_age.is_some_and(|a| now.duration_since(modified).is_ok_and(|age| age > a));
            let too_big = r.max_bytes.is_some_and(|m| total > m);
            if !(too_old || too_big) {
                // the rest are younger and the total fits
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
                swept.files += 1;
                swept.bytes += len;
            }
        }
        Ok(swept)
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(tag: &str) -> PathBuf {
        let r = std::env::temp_dir().join(format!("bridgedump-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&r);
        r
    }

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn datetime_micro_trims() {
        let t = |s: &str| at(s).naive_local();
        assert_eq!(datetime_micro(&t("2026-12-06T10:00:00+08:00")), "2026-12-06 10:00:00");
        assert_eq!(datetime_micro(&t("2026-12-06T10:00:00.5+08:00")), "2026-12-06 10:00:00.5");
        assert_eq!(datetime_micro(&t("2026-12-06T10:00:00.000120+08:00")), "2026-12-06 10:00:00.00012");
        assert_eq!(datetime_micro(&t("2026-12-06T10:00:00.1234567+08:00")), "2026-12-06 10:00:00.123456");
    }

    #[test]
    fn one_file_per_request_even_in_the_same_second_without_a_trace_id() {
        let r = root("unique");
        let d = Dump::new(&r);
        let now = at("2026-12-06T10:00:00+08:00");
        let a = d.write("cable_fault", "", "{}", now).unwrap();
        let b = d.write("cable_fault", "", "{}", now).unwrap();
        assert_ne!(a, b);
        // the same trace id twice in one second: a second name, not an overwrite
        let c = d.write("cable_fault", "abc", "{\"n\":1}", now).unwrap();
        let e = d.write("cable_fault", "abc", "{\"n\":2}", now).unwrap();
        assert!(c.ends_with("20261206_100000_abc_json.txt"), "{c:?}");
        assert!(e.ends_with("20261206_100000_abc-1_json.txt"), "{e:?}");
        assert_eq!(Envelope::parse(&std::fs::read(&c).unwrap()).unwrap().body, "{\"n\":1}");
        assert_eq!(Envelope::parse(&std::fs::read(&e).unwrap()).unwrap().file_path, e.to_str().unwrap());
        let names: Vec<String> = std::fs::read_dir(r.join("cable_fault"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 4, "no temporaries left: {names:?}");
        assert!(names.iter().all(|n| n.ends_with("_json.txt")));
        std::fs::remove_dir_all(&r).unwrap();
    }

    #[test]
    fn concurrent_writers_share_the_directory_fsyncs_and_lose_nothing() {
        let r = root("concurrent");
        let d = Dump::new(&r);
        let now = at("2026-12-06T10:00:00+08:00");
        std::thread::scope(|s| {
            for w in 0..8 {
                let d = d.clone();
                s.spawn(move || {
                    for i in 0..20 {
                        // the same trace id from every writer: names must still not collide
                        d.write("cable_fault", "same", &format!("{{\"w\":{w},\"i\":{i}}}"), now).unwrap();
                    }
                });
            }
        });
        let bodies: std::collections::HashSet<String> = std::fs::read_dir(r.join("cable_fault"))
            .unwrap()
            .map(|e| Envelope::parse(&std::fs::read(e.unwrap().path()).unwrap()).unwrap().body)
            .collect();
        assert_eq!(bodies.len(), 160);
        std::fs::remove_dir_all(&r).unwrap();
    }

    #[test]
    fn bad_sub_directories_write_nothing() {
        let r = root("bad");
        let d = Dump::new(&r);
        let now = at("2026-12-06T10:00:00+08:00");
        for bad in ["", ".", "..", "../x", "a/b", ".hidden"] {
            assert!(matches!(d.write(bad, "", "{}", now), Err(WriteError::SubDir(_))), "{bad}");
        }
        assert!(!r.exists());
    }

    #[test]
    fn retention_by_age_then_by_size_oldest_first() {
        let r = root("retention");
        let d = Dump::new(&r);
        let now = std::time::SystemTime::now();
        let dir = r.join("cable_fault");
        std::fs::create_dir_all(&dir).unwrap();
        // five files of 100 bytes, 1 to 5 hours old, and one that is not ours
        for h in 1..=5u64 {
            let p = dir.join(format!("2026120{h}_000000_t{h}_json.txt"));
            std::fs::write(&p, [b'x'; 100]).unwrap();
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(now - std::time::Duration::from_secs(h * 3600)).unwrap();
        }
        std::fs::write(dir.join("notes.md"), [b'y'; 10_000]).unwrap();
        assert_eq!(d.sweep("cable_fault", Retention::default(), now).unwrap(), Swept::default());
        let by_age = Retention { max_age: Some(std::time::Duration::from_secs(4 * 3600 + 60)), max_bytes: None };
        assert_eq!(d.sweep("cable_fault", by_age, now).unwrap(), Swept { files: 1, bytes: 100 });
        assert!(!dir.join("20261205_000000_t5_json.txt").exists());
        let by_size = Retention { max_age: None, max_bytes: Some(250) };
        assert_eq!(d.sweep("cable_fault", by_size, now).unwrap(), Swept { files: 2, bytes: 200 });
        let mut left: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, ["20261201_000000_t1_json.txt", "20261202_000000_t2_json.txt", "notes.md"]);
        assert_eq!(d.sweep("never_written", by_size, now).unwrap(), Swept::default());
        std::fs::remove_dir_all(&r).unwrap();
    }

    #[test]
    fn temporaries_are_cleaned() {
        let r = root("clean");
        let d = Dump::new(&r);
        std::fs::create_dir_all(r.join("cable_fault")).unwrap();
        std::fs::write(r.join("cable_fault/.x_json.txt.1.0.tmp"), b"partial").unwrap();
        std::fs::write(r.join("cable_fault/20261206_100000_t_json.txt"), b"whole").unwrap();
        assert_eq!(d.clean_temporaries("cable_fault").unwrap(), 1);
        assert_eq!(std::fs::read_dir(r.join("cable_fault")).unwrap().count(), 1);
        std::fs::remove_dir_all(&r).unwrap();
    }
}
