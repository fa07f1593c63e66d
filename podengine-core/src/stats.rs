//! A container's stats from one engine sample, with the docker CLI's formulas (`docker stats`):
//! CPU % from the deltas against the previous sample times the online CPUs; memory used less the
//! page cache (cgroup v2 `inactive_file`, v1 `total_inactive_file`, else `cache`); network and
//! block I/O summed over interfaces and devices. Missing data counts as zero; nothing here panics
//! on what an engine sends.

use bollard::models::ContainerStatsResponse;

/// One container's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Container id.
    pub container_id: String,
    /// Container name (without the leading `/`).
    pub container_name: String,
    /// CPU %, 100 per fully used CPU.
    pub cpu_percent: f64,
    /// CPU time used in total (ns).
    pub cpu_total_ns: u64,
    /// Memory in use less the page cache (bytes).
    pub memory_usage: u64,
    /// The memory limit (bytes).
    pub memory_limit: u64,
    /// `memory_usage / memory_limit` in %.
    pub memory_percent: f64,
    /// Bytes received, all interfaces.
    pub network_rx: u64,
    /// Bytes sent, all interfaces.
    pub network_tx: u64,
    /// Bytes read from block devices.
    pub block_read: u64,
    /// Bytes written to block devices.
    pub block_write: u64,
}

impl Stats {
    /// The figures of one sample (`stream=false` gives `precpu_stats` filled by the engine).
    pub fn from_sample(s: &ContainerStatsResponse) -> Stats {
        let cpu = s.cpu_stats.as_ref();
        let pre = s.precpu_stats.as_ref();
        let total = |c: Option<&bollard::models::ContainerCpuStats>| {
            c.and_then(|c| c.cpu_usage.as_ref()).and_then(|u| u.total_usage).unwrap_or(0)
        };
        let system = |c: Option<&bollard::models::ContainerCpuStats>| c.and_then(|c| c.system_cpu_usage).unwrap_or(0);
        let online = cpu
            .and_then(|c| c.online_cpus.filter(|n| *n > 0).map(u64::from))
            .or_else(|| {
                cpu.and_then(|c| c.cpu_usage.as_ref()).and_then(|u| u.percpu_usage.as_ref()).map(|v| v.len() as u64)
            })
            .unwrap_or(0);
        let cpu_delta = total(cpu).saturating_sub(total(pre));
        let system_delta = system(cpu).saturating_sub(system(pre));
        let cpu_percent = if cpu_delta > 0 && system_delta > 0 {
            cpu_delta as f64 / system_delta as f64 * online as f64 * 100.0
        } else {
            0.0
        };
        let mem = s.memory_stats.as_ref();
        let usage = mem.and_then(|m| m.usage).unwrap_or(0);
        let cache = mem
            .and_then(|m| m.stats.as_ref())
            .and_then(|st| {
                st.get("inactive_file").or_else(|| st.get("total_inactive_file")).or_else(|| st.get("cache")).copied()
            })
            .unwrap_or(0);
        let memory_usage = usage.saturating_sub(cache);
        let memory_limit = mem.and_then(|m| m.limit).unwrap_or(0);
        let memory_percent = if memory_limit > 0 { memory_usage as f64 / memory_limit as f64 * 100.0 } else { 0.0 };
        let (mut network_rx, mut network_tx) = (0u64, 0u64);
        for n in s.networks.iter().flat_map(|m| m.values()) {
            network_rx = network_rx.saturating_add(n.rx_bytes.unwrap_or(0));
            network_tx = network_tx.saturating_add(n.tx_bytes.unwrap_or(0));
        }
        let (mut block_read, mut block_write) = (0u64, 0u64);
        let entries = s.blkio_stats.as_ref().and_then(|b| b.io_service_bytes_recursive.as_ref());
        for e in entries.into_iter().flatten() {
            let v = e.value.unwrap_or(0);
            match e.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
                Some("read") => block_read = block_read.saturating_add(v),
                Some("write") => block_write = block_write.saturating_add(v),
                _ => {}
            }
        }
        Stats {
            container_id: s.id.clone().unwrap_or_default(),
            container_name: s.name.clone().unwrap_or_default().trim_start_matches('/').to_owned(),
            cpu_percent,
            cpu_total_ns: total(cpu),
            memory_usage,
            memory_limit,
            memory_percent,
            network_rx,
            network_tx,
            block_read,
            block_write,
        }
    }
}

/// `12.34%`.
pub fn percent(p: f64) -> String {
    format!("{:.2}%", if p.is_finite() { p } else { 0.0 })
}

/// Binary units, two decimals: `512.00 B`, `1.50 KiB`, `2.00 GiB`.
pub fn binary(bytes: u64) -> String {
    scaled(bytes, 1024.0, &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"])
}

/// Decimal units, two decimals: `1.50 kB`, `2.00 GB`.
pub fn decimal(bytes: u64) -> String {
    scaled(bytes, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB", "EB"])
}

fn scaled(bytes: u64, base: f64, units: &[&str]) -> String {
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= base && i + 1 < units.len() {
        v /= base;
        i += 1;
    }
    format!("{v:.2} {}", units[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::*;
    use std::collections::HashMap;

    fn cpu(total: u64, system: u64, online: Option<u32>, percpu: Option<Vec<u64>>) -> ContainerCpuStats {
        ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage { total_usage: Some(total), percpu_usage: percpu, ..Default::default() }),
            system_cpu_usage: Some(system),
            online_cpus: online,
            ..Default::default()
        }
    }

    #[test]
    fn the_docker_cli_formulas() {
        let s = ContainerStatsResponse {
            id: Some("abc".into()),
            name: Some("/pod-web".into()),
            cpu_stats: Some(cpu(3_000_000, 20_000_000, Some(4), None)),
            precpu_stats: Some(cpu(1_000_000, 10_000_000, Some(4), None)),
            memory_stats: Some(ContainerMemoryStats {
                usage: Some(300 << 20),
                limit: Some(1 << 30),
                stats: Some(HashMap::from([("inactive_file".to_owned(), 44 << 20)])),
                ..Default::default()
            }),
            networks: Some(HashMap::from([
                (
                    "eth0".to_owned(),
                    ContainerNetworkStats { rx_bytes: Some(100), tx_bytes: Some(10), ..Default::default() },
                ),
                (
                    "eth1".to_owned(),
                    ContainerNetworkStats { rx_bytes: Some(1), tx_bytes: Some(2), ..Default::default() },
                ),
            ])),
            blkio_stats: Some(ContainerBlkioStats {
                io_service_bytes_recursive: Some(vec![
                    ContainerBlkioStatEntry { op: Some("Read".into()), value: Some(4096), ..Default::default() },
                    ContainerBlkioStatEntry { op: Some("write".into()), value: Some(8192), ..Default::default() },
                    ContainerBlkioStatEntry { op: Some("read".into()), value: Some(4096), ..Default::default() },
                    ContainerBlkioStatEntry { op: Some("Total".into()), value: Some(99), ..Default::default() },
                ]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let st = Stats::from_sample(&s);
        // 2 ms of CPU in 10 ms of system time on 4 CPUs: 80 %
        assert!((st.cpu_percent - 80.0).abs() < 1e-9, "{}", st.cpu_percent);
        assert_eq!(st.cpu_total_ns, 3_000_000);
        assert_eq!(st.memory_usage, 256 << 20);
        assert_eq!(percent(st.memory_percent), "25.00%");
        assert_eq!((st.network_rx, st.network_tx), (101, 12));
        assert_eq!((st.block_read, st.block_write), (8192, 8192));
        assert_eq!(st.container_name, "pod-web");
        assert_eq!(binary(st.memory_usage), "256.00 MiB");
        assert_eq!(decimal(st.block_write), "8.19 kB");
    }

    #[test]
    fn missing_data_is_zero_and_percpu_counts_cpus() {
        let empty = Stats::from_sample(&ContainerStatsResponse::default());
        assert_eq!(empty, Stats::default());
        let s = ContainerStatsResponse {
            cpu_stats: Some(cpu(2_000, 2_000, None, Some(vec![1, 1]))),
            precpu_stats: Some(cpu(1_000, 1_000, None, None)),
            ..Default::default()
        };
        assert!((Stats::from_sample(&s).cpu_percent - 200.0).abs() < 1e-9);
        // counters going backwards (a restarted container) are no negative figures
        let s = ContainerStatsResponse {
            cpu_stats: Some(cpu(1, 1, Some(2), None)),
            precpu_stats: Some(cpu(9, 9, Some(2), None)),
            ..Default::default()
        };
        assert_eq!(Stats::from_sample(&s).cpu_percent, 0.0);
        assert_eq!(binary(0), "0.00 B");
        assert_eq!(binary(1536), "1.50 KiB");
        assert_eq!(binary(u64::MAX), "16.00 EiB");
        assert_eq!(percent(f64::NAN), "0.00%");
    }
}
