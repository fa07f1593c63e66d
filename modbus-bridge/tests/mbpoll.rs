//! Debian's `mbpoll` (libmodbus inside) as an independent client against the crate's simulator:
//! reads of every table, writes read back, an out-of-range read refused.

use modbus_bridge::sim::{Bank, Simulator};

/// Runs mbpoll once (`-1`: one poll) against 127.0.0.1:`port`, writing `writes` if any; its
/// output.
async fn mbpoll(port: u16, args: &[&str], writes: &[&str]) -> String {
    let mut cmd = vec!["-m", "tcp", "-a", "1", "-1", "-p"];
    let p = port.to_string();
    cmd.push(&p);
    cmd.extend_from_slice(args);
    cmd.push("127.0.0.1");
    cmd.extend_from_slice(writes);
    let out =
        tokio::process::Command::new("mbpoll").args(&cmd).output().await.expect("mbpoll (scripts/test installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The `[ref]: value` lines of a poll.
fn values(out: &str) -> Vec<(u32, String)> {
    out.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix('[')?;
            let (r, v) = rest.split_once("]:")?;
            Some((r.parse().ok()?, v.trim().to_owned()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbpoll_reads_and_writes_the_simulator() {
    let mut bank = Bank::new(100);
    for i in 0..100 {
        bank.holding[i] = (i * 7) as u16;
        bank.input[i] = 5000 + i as u16;
        bank.coils[i] = i % 4 == 0;
        bank.discrete_inputs[i] = i % 5 == 0;
    }
    let sim = Simulator::new(bank, 1);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(sim.clone().serve(listener));

    // mbpoll references are 1-based: -r 1 is address 0
    let holding = values(&mbpoll(port, &["-t", "4", "-r", "3", "-c", "4"], &[]).await);
    assert_eq!(holding, vec![(3, "14".into()), (4, "21".into()), (5, "28".into()), (6, "35".into())]);
    let input = values(&mbpoll(port, &["-t", "3", "-r", "1", "-c", "2"], &[]).await);
    assert_eq!(input, vec![(1, "5000".into()), (2, "5001".into())]);
    let coils = values(&mbpoll(port, &["-t", "0", "-r", "1", "-c", "5"], &[]).await);
    assert_eq!(coils.iter().map(|c| c.1.as_str()).collect::<Vec<_>>(), ["1", "0", "0", "0", "1"]);
    let di = values(&mbpoll(port, &["-t", "1", "-r", "1", "-c", "6"], &[]).await);
    assert_eq!(di.iter().map(|c| c.1.as_str()).collect::<Vec<_>>(), ["1", "0", "0", "0", "0", "1"]);

    // writes land in the bank
    let out = mbpoll(port, &["-t", "4", "-r", "10"], &["4321", "17"]).await;
    assert!(out.contains("Written 2 references"), "{out}");
    let out = mbpoll(port, &["-t", "0", "-r", "2"], &["1"]).await;
    assert!(out.contains("Written 1 references"), "{out}");
    let b = sim.bank();
    assert_eq!(&b.holding[9..11], &[4321, 17]);
    assert!(b.coils[1]);

    // past the bank: the simulator's exception reaches libmodbus
    let out = mbpoll(port, &["-t", "4", "-r", "99", "-c", "5"], &[]).await;
    assert!(out.to_lowercase().contains("illegal data address"), "{out}");
    server.abort();
}
