//! `zero`: the platform in one process.
//!
//! ```text
//! zero up [-c zero.yaml] [--stations N] [--points N] [--rate N] [--db URL] [--kafka BROKERS]
//!         [--station HOST:PORT]... [--ack-after-store]
//! zero print-config [-c zero.yaml]
//! ```

use clap::Parser;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(version, about = "The zero platform in one process")]
struct Cli {
    /// YAML configuration overlaid on the embedded defaults.
    #[arg(short, long, global = true)]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// Run simulator, master, bus, compactor and streamevent.
    Up {
        /// Simulated stations.
        #[arg(long)]
        stations: Option<u16>,
        /// Points per simulated station.
        #[arg(long)]
        points: Option<u32>,
        /// Changes per second per simulated station.
        #[arg(long)]
        rate: Option<u32>,
        /// Database URL (sqlite://, postgres://, mysql://).
        #[arg(long)]
        db: Option<String>,
        /// Kafka brokers (comma-separated): use Kafka instead of the in-process bus.
        #[arg(long)]
        kafka: Option<String>,
        /// A real station to poll (host:port), repeatable.
        #[arg(long = "station")]
        extra: Vec<String>,
        /// Acknowledge the --station stations' frames only once stored (for stations that send
        /// unacknowledged events again after a reconnection: nothing lost if zero crashes).
        #[arg(long)]
        ack_after_store: bool,
    },
    /// Print the effective configuration and exit.
    PrintConfig,
}

/// mimalloc: the services allocate many short-lived strings per point; glibc malloc was ~20 %
/// of the pipeline's profile.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut cfg: zero::Config = match zero_svc::config::load(zero::DEFAULTS, cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("zero: {e}");
            return ExitCode::from(2);
        }
    };
    let Cmd::Up { stations, points, rate, db, kafka, extra, ack_after_store } = cli.command else {
        print!("{}", zero_svc::config::to_yaml(&cfg));
        return ExitCode::SUCCESS;
    };
    if let Some(v) = stations {
        cfg.simulator.stations = v;
    }
    if let Some(v) = points {
        cfg.simulator.points = v;
    }
    if let Some(v) = rate {
        cfg.simulator.changes_per_second = v;
    }
    if let Some(v) = db {
        cfg.db.data_source = v;
    }
    if let Some(v) = kafka {
        cfg.bus = "kafka".into();
        cfg.kafka.brokers = v.split(',').map(str::to_owned).collect();
    }
    for s in extra {
        let Some((host, port)) = s.rsplit_once(':').and_then(|(h, p)| p.parse().ok().map(|p: u16| (h.to_owned(), p)))
        else {
            eprintln!("zero: --station {s:?} is not host:port");
            return ExitCode::from(2);
        };
        cfg.stations.push(streamevent::caller::config::Station {
            host,
            port,
            ic_coa_list: vec![1],
            ack_after_store,
            ..Default::default()
        });
    }
    zero_svc::telemetry::init(&cfg.log.level);
    let r = zero::up(cfg, zero_svc::shutdown_signal(), |r| {
        let scope =
            |a: &std::net::SocketAddr| if a.ip().is_loopback() { "loopback only" } else { "OPEN TO THE NETWORK" };
        eprintln!(
            "zero up: ieccaller gRPC {} ({}), streamevent gRPC {} ({}); {} simulated station(s) on {:?}; Ctrl-C stops",
            r.iec_caller,
            scope(&r.iec_caller),
            r.stream_event,
            scope(&r.stream_event),
            r.simulated.len(),
            r.simulated,
        );
        if let Some(d) = r.dashboard {
            eprintln!("zero up: dashboard http://{d}/ ({})", scope(&d));
        }
    })
    .await;
    match r {
        Ok(()) => {
            eprintln!("zero: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("zero: {e}");
            ExitCode::from(2)
        }
    }
}
