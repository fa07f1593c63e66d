//! Independent decoder check: frames this crate encodes are written to a pcap on an arbitrary
//! TCP port and decoded by Wireshark's dissector (`tshark -d tcp.port==N,iec60870_104`); the
//! values tshark reports must equal the ones encoded, for every type tshark knows (it has no
//! dissection for 17-19, 104 and 106, nor for the body of 107 or the parameter and file types
//! 110-127).
//! `scripts/test` installs tshark.

use bytes::BytesMut;
use iec104::apci::{self, Apci, UFunction};
use iec104::asdu::*;
use iec104::types::*;
use std::io::Write;
use std::process::Command;

/// The pcap port; deliberately not 2404, so the `-d` decode-as rule is what makes tshark parse it.
const PORT: u16 = 12404;

fn ioa(n: u32) -> Ioa {
    Ioa::new(n).unwrap()
}

fn t56() -> Cp56Time2a {
    Cp56Time2a::new(26, 6, 5, 14, 30, 1234).unwrap().with_day_of_week(5)
}

fn t24() -> Cp24Time2a {
    Cp24Time2a::new(30, 1234).unwrap()
}

fn one<E: AsduType>(cot: Cot, n: u32, v: E) -> OwnedAsdu {
    OwnedAsdu::new(Cause::new(cot), CommonAddress(0x0102), InfoObjects::one(ioa(n), v))
}

fn timed<E: Element, T: Element>(value: E, time: T) -> Timed<E, T> {
    Timed { value, time }
}

type Case = (OwnedAsdu, Vec<(&'static str, &'static str)>);

const T56F: [(&str, &str); 6] = [
    ("cp56time.ms", "1234"),
    ("cp56time.min", "30"),
    ("cp56time.hour", "14"),
    ("cp56time.day", "5"),
    ("cp56time.month", "6"),
    ("cp56time.year", "26"),
];
const T24F: [(&str, &str); 2] = [("cp24time.ms", "1234"), ("cp24time.min", "30")];

fn with(
    mut v: Vec<(&'static str, &'static str)>,
    extra: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    v.extend_from_slice(extra);
    v
}

fn cases() -> Vec<Case> {
    use Cot as C;
    let sp = || vec![("siq.spi", "1"), ("siq.iv", "1"), ("siq.bl", "0")];
    let dp = || vec![("diq.dpi", "2"), ("diq.nt", "1")];
    let st = || vec![("vti.v", "-5"), ("vti.t", "1"), ("qds.ov", "1")];
    // Wireshark shows BSI as the four octets read big-endian; lib60870 (see interop_c104) and this
    // crate read them little-endian. Either way the octets on the wire are 78 56 34 12.
    let bo = || vec![("bitstring", "0x78563412"), ("qds.bl", "1")];
    let nv = || vec![("normval", "0.5"), ("qds.sb", "1")];
    let sv = || vec![("scalval", "-1000"), ("qds.iv", "1")];
    let fl = || vec![("float", "220.5"), ("qds.nt", "1")];
    let it = || vec![("bcr.count", "-123456"), ("bcr.sq", "17"), ("bcr.cy", "1"), ("bcr.ca", "0"), ("bcr.iv", "1")];
    let q = |b: u8| Qds(b);
    let stp = StepPosition { vti: Vti::new(-5, true).unwrap(), qds: q(0x01) };
    let bos = Bitstring { bsi: 0x1234_5678, qds: q(0x10) };
    let nvs = Normalized { nva: Nva(0x4000), qds: q(0x20) };
    let svs = Scaled { sva: -1000, qds: q(0x80) };
    let fls = ShortFloat { value: 220.5, qds: q(0x40) };
    let bcr = Bcr::new(-123_456, 17, true, false, true);
    vec![
        (one(C::SPONTANEOUS, 1, Siq(0x81)), sp()),
        (one(C::SPONTANEOUS, 2, timed(Siq(0x81), t24())), with(sp(), &T24F)),
        (one(C::SPONTANEOUS, 3, Diq(0x42)), dp()),
        (one(C::SPONTANEOUS, 4, timed(Diq(0x42), t24())), with(dp(), &T24F)),
        (one(C::SPONTANEOUS, 5, stp), st()),
        (one(C::SPONTANEOUS, 6, timed(stp, t24())), with(st(), &T24F)),
        (one(C::SPONTANEOUS, 7, bos), bo()),
        (one(C::SPONTANEOUS, 8, timed(bos, t24())), with(bo(), &T24F)),
        (one(C::SPONTANEOUS, 9, nvs), nv()),
        (one(C::SPONTANEOUS, 10, timed(nvs, t24())), with(nv(), &T24F)),
        (one(C::SPONTANEOUS, 11, svs), sv()),
        (one(C::SPONTANEOUS, 12, timed(svs, t24())), with(sv(), &T24F)),
        (one(C::SPONTANEOUS, 13, fls), fl()),
        (one(C::SPONTANEOUS, 14, timed(fls, t24())), with(fl(), &T24F)),
        (one(C::REQUESTED_BY_GENERAL_COUNTER, 15, bcr), it()),
        (one(C::SPONTANEOUS, 16, timed(bcr, t24())), with(it(), &T24F)),
        (one(C::SPONTANEOUS, 21, Nva(-0x2000)), vec![("normval", "-0.25")]),
        (one(C::SPONTANEOUS, 30, timed(Siq(0x81), t56())), with(sp(), &T56F)),
        (one(C::SPONTANEOUS, 31, timed(Diq(0x42), t56())), with(dp(), &T56F)),
        (one(C::SPONTANEOUS, 32, timed(stp, t56())), with(st(), &T56F)),
        (one(C::SPONTANEOUS, 33, timed(bos, t56())), with(bo(), &T56F)),
        (one(C::SPONTANEOUS, 34, timed(nvs, t56())), with(nv(), &T56F)),
        (one(C::SPONTANEOUS, 35, timed(svs, t56())), with(sv(), &T56F)),
        (one(C::SPONTANEOUS, 36, timed(fls, t56())), with(fl(), &T56F)),
        (one(C::SPONTANEOUS, 37, timed(bcr, t56())), with(it(), &T56F)),
        (one(C::ACTIVATION, 45, Sco::new(true, 1, true)), vec![("sco.on", "1"), ("sco.qu", "1"), ("sco.se", "1")]),
        (one(C::ACTIVATION, 46, Dco::new(2, 3, false)), vec![("dco.on", "2"), ("dco.qu", "3"), ("dco.se", "0")]),
        (one(C::ACTIVATION, 47, Rco::new(1, 2, true)), vec![("rco.up", "1"), ("rco.qu", "2"), ("rco.se", "1")]),
        (
            one(C::ACTIVATION, 48, SetpointNormalized { nva: Nva(-0x4000), qos: Qos::new(3, true) }),
            vec![("normval", "-0.5"), ("qos.ql", "3"), ("qos.se", "1")],
        ),
        (
            one(C::ACTIVATION, 49, SetpointScaled { sva: 1234, qos: Qos::new(0, false) }),
            vec![("scalval", "1234"), ("qos.ql", "0"), ("qos.se", "0")],
        ),
        (
            one(C::ACTIVATION, 50, SetpointFloat { value: -1.5, qos: Qos::new(5, false) }),
            vec![("float", "-1.5"), ("qos.ql", "5")],
        ),
        (one(C::ACTIVATION, 51, Bsi(0xDEAD_BEEF)), vec![("bitstring", "0xefbeadde")]),
        (
            one(C::ACTIVATION, 58, timed(Sco::new(false, 0, false), t56())),
            with(vec![("sco.on", "0"), ("sco.se", "0")], &T56F),
        ),
        (
            one(C::ACTIVATION, 59, timed(Dco::new(1, 0, true), t56())),
            with(vec![("dco.on", "1"), ("dco.se", "1")], &T56F),
        ),
        (one(C::ACTIVATION, 60, timed(Rco::new(2, 0, false), t56())), with(vec![("rco.up", "2")], &T56F)),
        (
            one(C::ACTIVATION, 61, timed(SetpointNormalized { nva: Nva(0x2000), qos: Qos::new(1, false) }, t56())),
            with(vec![("normval", "0.25"), ("qos.ql", "1")], &T56F),
        ),
        (
            one(C::ACTIVATION, 62, timed(SetpointScaled { sva: -7, qos: Qos::new(0, true) }, t56())),
            with(vec![("scalval", "-7"), ("qos.se", "1")], &T56F),
        ),
        (
            one(C::ACTIVATION, 63, timed(SetpointFloat { value: 50.25, qos: Qos::new(0, false) }, t56())),
            with(vec![("float", "50.25")], &T56F),
        ),
        (one(C::ACTIVATION, 64, timed(Bsi(7), t56())), with(vec![("bitstring", "0x07000000")], &T56F)),
        (one(C::INITIALIZED, 0, Coi(0x82)), vec![("coi_r", "2"), ("coi_i", "1")]),
        (one(C::ACTIVATION, 0, Qoi::STATION), vec![("qoi", "20")]),
        (one(C::ACTIVATION, 0, Qcc::new(5, 1)), vec![("rqt", "5"), ("frz", "1")]),
        (one(C::REQUEST, 102, Read), vec![]),
        (one(C::ACTIVATION, 0, t56()), T56F.to_vec()),
        (one(C::ACTIVATION, 0, Qrp::GENERAL), vec![("qrp", "1")]),
        // tshark 4.0 dissects only the header of C_TS_TA_1
        (one(C::ACTIVATION, 0, TestWithTime { tsc: 0x1234, time: t56() }), vec![]),
    ]
}

/// A pcap (raw IPv4 link type) with one TCP segment per frame, 127.0.0.1:40000 -> PORT.
fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![];
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&101u32.to_le_bytes()); // LINKTYPE_RAW
    let mut seq = 1u32;
    for (i, f) in frames.iter().enumerate() {
        let total = 40 + f.len();
        let mut p = vec![0x45, 0];
        p.extend_from_slice(&(total as u16).to_be_bytes());
        p.extend_from_slice(&(i as u16).to_be_bytes());
        p.extend_from_slice(&[0x40, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
        let sum = p.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum::<u32>();
        let sum = !(((sum & 0xFFFF) + (sum >> 16)) as u16);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        p.extend_from_slice(&40000u16.to_be_bytes());
        p.extend_from_slice(&PORT.to_be_bytes());
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&1u32.to_be_bytes());
        p.extend_from_slice(&[0x50, 0x18, 0xFF, 0xFF, 0, 0, 0, 0]);
        p.extend_from_slice(f);
        seq += f.len() as u32;
        out.extend_from_slice(&(i as u32 + 1).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(&p);
    }
    out
}

fn tshark(pcap_path: &std::path::Path, fields: &[String]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(pcap_path).args(["-o", "tcp.analyze_sequence_numbers:FALSE"]);
    cmd.args([
        "-d",
        &format!("tcp.port=={PORT},iec60870_104"),
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "separator=\t",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark (run scripts/test to install it)");
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| l.split('\t').map(str::to_owned).collect()).collect()
}

fn same(expected: &str, got: &str) -> bool {
    let norm = |s: &str| match s {
        "True" => "1".to_owned(),
        "False" => "0".to_owned(),
        s => s.to_owned(),
    };
    let (e, g) = (norm(expected), norm(got));
    match (e.parse::<f64>(), g.parse::<f64>()) {
        (Ok(a), Ok(b)) => (a - b).abs() <= 1e-4 * a.abs().max(1.0),
        _ => e == g,
    }
}

#[test]
fn tshark_decodes_what_we_encode() {
    let cases = cases();
    let params = AsduParams::default();
    let mut frames = vec![];
    let mut control = BytesMut::new();
    apci::write_control(Apci::U(UFunction::StartDtAct), &mut control);
    frames.push(control.to_vec());
    for (n, (asdu, _)) in cases.iter().enumerate() {
        let mut b = BytesMut::new();
        let apci = Apci::I { send: SeqNo::new(n as u16).unwrap(), recv: SeqNo::new(7).unwrap() };
        apci::write_frame(apci, &mut b, |o| asdu.encode(&params, o)).unwrap();
        frames.push(b.to_vec());
    }
    let dir = std::env::temp_dir().join(format!("iec104-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("frames.pcap");
    std::fs::File::create(&path).unwrap().write_all(&pcap(&frames)).unwrap();

    let mut names: Vec<&str> = vec![];
    for (_, exp) in &cases {
        for (k, _) in exp {
            if !names.contains(k) {
                names.push(k);
            }
        }
    }
    let head = ["iec60870_104.utype", "iec60870_104.tx", "iec60870_104.rx", "iec60870_104.apdulen"];
    let asdu_head = ["typeid", "causetx", "addr", "ioa", "numix", "sq", "nega", "test", "oa"];
    let fields: Vec<String> = head
        .iter()
        .map(|s| s.to_string())
        .chain(asdu_head.iter().chain(names.iter()).map(|s| format!("iec60870_asdu.{s}")))
        .collect();
    let rows = tshark(&path, &fields);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(rows.len(), frames.len(), "one row per packet");
    assert_eq!(rows[0][0], "0x00000001", "STARTDT act recognised as a U-frame");

    let col = |name: &str| fields.iter().position(|f| f.ends_with(&format!(".{name}"))).unwrap();
    for (n, ((asdu, exp), row)) in cases.iter().zip(&rows[1..]).enumerate() {
        let ctx = format!("{} ({}): {:?}", asdu.type_id(), asdu.type_id().0, row);
        assert_eq!(row[col("tx")], n.to_string(), "N(S) {ctx}");
        assert_eq!(row[col("rx")], "7", "N(R) {ctx}");
        assert_eq!(row[col("apdulen")], (frames[n + 1].len() - 2).to_string(), "{ctx}");
        assert_eq!(row[col("typeid")], asdu.type_id().0.to_string(), "{ctx}");
        assert_eq!(row[col("causetx")], asdu.cause.cot.0.to_string(), "{ctx}");
        assert_eq!(row[col("addr")], "258", "{ctx}");
        assert_eq!(row[col("numix")], "1", "{ctx}");
        let expected_ioa = match &asdu.body {
            b if b.type_id().0 < 70 || b.type_id() == TypeId::C_RD_NA_1 => b.type_id().0.to_string(),
            _ => "0".into(),
        };
        assert_eq!(row[col("ioa")], expected_ioa, "IOA {ctx}");
        for (k, v) in exp {
            let got = &row[col(k)];
            assert!(same(v, got), "{k}: expected {v}, tshark says {got:?} — {ctx}");
        }
    }
}

#[test]
fn tshark_reads_sequences_and_negative_test_flags() {
    let params = AsduParams::default();
    let seq = OwnedAsdu::new(
        Cause { cot: Cot::INTERROGATED_BY_STATION, negative: true, test: true, originator: 9 },
        CommonAddress(1),
        InfoObjects::Sequence {
            start: ioa(1000),
            items: (0..5).map(|i| ShortFloat { value: i as f32 * 1.5, qds: Qds::GOOD }).collect(),
        },
    );
    let mut b = BytesMut::new();
    apci::write_frame(Apci::I { send: SeqNo::default(), recv: SeqNo::default() }, &mut b, |o| seq.encode(&params, o))
        .unwrap();
    let dir = std::env::temp_dir().join(format!("iec104-tshark-seq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("seq.pcap");
    std::fs::File::create(&path).unwrap().write_all(&pcap(&[b.to_vec()])).unwrap();
    let fields: Vec<String> =
        ["sq", "numix", "nega", "test", "oa", "ioa", "float"].iter().map(|s| format!("iec60870_asdu.{s}")).collect();
    let rows = tshark(&path, &fields);
    std::fs::remove_dir_all(&dir).ok();
    let r = &rows[0];
    assert!(same("1", &r[0]), "SQ {r:?}");
    assert_eq!(r[1], "5");
    assert!(same("1", &r[2]) && same("1", &r[3]), "negative/test {r:?}");
    assert_eq!(r[4], "9");
    assert_eq!(r[5], "1000,1001,1002,1003,1004");
    let floats: Vec<f64> = r[6].split(',').map(|s| s.parse().unwrap()).collect();
    assert_eq!(floats, [0.0, 1.5, 3.0, 4.5, 6.0]);
}
