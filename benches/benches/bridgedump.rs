//! bridgedump's durable files per second (`Dump::write`: temporary, fsync, link, unlink, directory
//! fsync shared by concurrent writers) against the disk's own ceiling for the same files in the
//! same run (a plain loop: write, fsync, rename, with no directory fsync at all), files of the
//! size of a 20-record `CableFault` request; one writer, and 8 at once as concurrent gRPC
//! requests are served.
//!
//! `cargo bench -p zero-benches --bench bridgedump` runs 5,000 files each; under `cargo test` 200.

use bridgedump::envelope::Envelope;
use bridgedump::writer::Dump;
use std::io::Write as _;
use std::time::Instant;

fn body() -> String {
    let one = r#"{"acci_id":"A-000001","down_time":"20261206100000123","ml_name":"10kV 1","diaElepo1":"P1","err_distance":125.5,"fsltype":3,"notice":"n","warn_processed":1,"warn_category":"SC"}"#;
    format!("{{\"data\":[{}]}}", vec![one; 20].join(","))
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 5_000 } else { 200 };
    let root = std::env::temp_dir().join(format!("bench-bridgedump-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let body = body();
    let now = chrono::Utc::now().fixed_offset();

    let dump = Dump::new(&root);
    let t0 = Instant::now();
    for _ in 0..n {
        dump.write("cable_fault", "", &body, now).expect("written");
    }
    let ours = n as f64 / t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..n / 8 {
                    dump.write("cable_fault_wave", "", &body, now).expect("written");
                }
            });
        }
    });
    let ours8 = (n / 8 * 8) as f64 / t0.elapsed().as_secs_f64();
    let written = std::fs::read_dir(root.join("cable_fault")).unwrap().count();
    assert_eq!(written, n, "one file per request");
    assert_eq!(std::fs::read_dir(root.join("cable_fault_wave")).unwrap().count(), n / 8 * 8);

    // the ceiling: the same bytes, write + fsync + rename, nothing else
    let dir = root.join("plain");
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = Envelope { body: body.clone(), time: "2026-12-06 10:00:00".into(), ..Envelope::default() }.render();
    let t0 = Instant::now();
    for i in 0..n {
        let tmp = dir.join(format!(".{i}.tmp"));
        let mut f = std::fs::File::create(&tmp).unwrap();
        f.write_all(&bytes).unwrap();
        f.sync_all().unwrap();
        std::fs::rename(&tmp, dir.join(format!("{i}_json.txt"))).unwrap();
    }
    let ceiling = n as f64 / t0.elapsed().as_secs_f64();
    println!(
        "bridgedump/durable_files: {n} files of {} bytes: one writer {ours:.0} files/s, 8 writers {ours8:.0} files/s; plain write+fsync+rename loop {ceiling:.0} files/s; ratios {:.2}x / {:.2}x (target 2 k files/s)",
        bytes.len(),
        ours / ceiling,
        ours8 / ceiling
    );
    std::fs::remove_dir_all(&root).unwrap();
}
