//! Captures: pcap or pcapng (Ethernet, Linux cooked v1/v2, raw IP, BSD loopback), TCP segments
//! of the IEC 104 port reassembled per direction, then decoded into columns. The station of a
//! row is the sender's `ip:port`; its time is the capture time of the segment that completed
//! its frame.

use crate::{columns_dict, params, DecodeError};
use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use iec104::asdu::AsduParams;
use iec104::columns::Columns;
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyDict;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

#[derive(Default)]
struct Flow {
    next_seq: Option<u32>,
    buf: Vec<u8>,
    station: u32,
}

#[derive(Default)]
struct Reassembler {
    flows: HashMap<(SocketAddr, SocketAddr), Flow>,
    stations: Vec<String>,
    station_ids: HashMap<SocketAddr, u32>,
    cols: Columns,
    frames: usize,
    packets: usize,
    errors: Vec<String>,
}

impl Reassembler {
    fn station(&mut self, a: SocketAddr) -> u32 {
        if let Some(s) = self.station_ids.get(&a) {
            return *s;
        }
        let id = self.stations.len() as u32;
        self.stations.push(a.to_string());
        self.station_ids.insert(a, id);
        id
    }

    /// One TCP segment of the flow `src` -> `dst`.
    fn segment(
        &mut self,
        p: &AsduParams,
        time_ns: i64,
        (src, dst): (SocketAddr, SocketAddr),
        seq: u32,
        syn: bool,
        payload: &[u8],
    ) {
        let station = self.station(src);
        let flow = self.flows.entry((src, dst)).or_insert_with(|| Flow { station, ..Flow::default() });
        if syn {
            flow.next_seq = Some(seq.wrapping_add(1));
            flow.buf.clear();
        }
        if payload.is_empty() {
            return;
        }
        let next = *flow.next_seq.get_or_insert(seq);
        let ahead = seq.wrapping_sub(next) as i32;
        let data = if ahead == 0 {
            payload
        } else if ahead < 0 {
            // a retransmission: keep only what is new
            let dup = ahead.unsigned_abs() as usize;
            if dup >= payload.len() {
                return;
            }
            &payload[dup..]
        } else {
            // bytes were lost: what is buffered cannot be completed
            flow.buf.clear();
            payload
        };
        flow.next_seq = Some(seq.wrapping_add(payload.len() as u32));
        flow.buf.extend_from_slice(data);
        loop {
            match self.cols.push_apdus(&flow.buf, p, time_ns, flow.station) {
                Ok(progress) => {
                    self.frames += progress.frames;
                    flow.buf.drain(..progress.consumed);
                    break;
                }
                Err(e) => {
                    // skip the bad frame: resynchronise on the next start byte
                    let at = match &e {
                        iec104::DecodeError::Frame { offset, .. } => *offset,
                        _ => 0,
                    };
                    if self.errors.len() < 100 {
                        self.errors.push(format!("{src} -> {dst}: {e}"));
                    }
                    let skip =
                        flow.buf[at + 1..].iter().position(|b| *b == 0x68).map_or(flow.buf.len(), |i| at + 1 + i);
                    flow.buf.drain(..skip);
                }
            }
        }
    }

    fn packet(&mut self, p: &AsduParams, port: Option<u16>, link: DataLink, time_ns: i64, data: &[u8]) {
        let sliced = match link {
            DataLink::ETHERNET => SlicedPacket::from_ethernet(data).ok(),
            DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(data).ok(),
            DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => SlicedPacket::from_ip(data).ok(),
            // BSD loopback: a 4-byte address family, then IP
            DataLink::NULL | DataLink::LOOP => data.get(4..).and_then(|d| SlicedPacket::from_ip(d).ok()),
            DataLink::LINUX_SLL2 => data.get(20..).and_then(|d| SlicedPacket::from_ip(d).ok()),
            _ => None,
        };
        let Some(s) = sliced else { return };
        let (src_ip, dst_ip): (IpAddr, IpAddr) = match &s.net {
            Some(NetSlice::Ipv4(v4)) => (v4.header().source_addr().into(), v4.header().destination_addr().into()),
            Some(NetSlice::Ipv6(v6)) => (v6.header().source_addr().into(), v6.header().destination_addr().into()),
            _ => return,
        };
        let Some(TransportSlice::Tcp(tcp)) = &s.transport else { return };
        let (sp, dp) = (tcp.source_port(), tcp.destination_port());
        if port.is_some_and(|port| sp != port && dp != port) {
            return;
        }
        self.packets += 1;
        let (src, dst) = (SocketAddr::new(src_ip, sp), SocketAddr::new(dst_ip, dp));
        self.segment(p, time_ns, (src, dst), tcp.sequence_number(), tcp.syn(), tcp.payload());
    }
}

fn ns(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn read(r: &mut Reassembler, p: &AsduParams, port: Option<u16>, data: &[u8]) -> Result<(), String> {
    if data.len() >= 4 && data[..4] == [0x0A, 0x0D, 0x0D, 0x0A] {
        let mut ng = PcapNgReader::new(data).map_err(|e| format!("pcapng: {e}"))?;
        let mut links: Vec<DataLink> = ng.interfaces().iter().map(|i| i.linktype).collect();
        while let Some(block) = ng.next_block() {
            match block.map_err(|e| format!("pcapng: {e}"))? {
                Block::InterfaceDescription(i) => links.push(i.linktype),
                Block::EnhancedPacket(e) => {
                    let link = links.get(e.interface_id as usize).copied().unwrap_or(DataLink::ETHERNET);
                    r.packet(p, port, link, ns(e.timestamp), &e.data);
                }
                Block::SimplePacket(s) => {
                    let link = links.first().copied().unwrap_or(DataLink::ETHERNET);
                    r.packet(p, port, link, iec104::columns::NAT, &s.data);
                }
                _ => {}
            }
        }
        Ok(())
    } else {
        let mut pc = PcapReader::new(data).map_err(|e| format!("pcap: {e}"))?;
        let link = pc.header().datalink;
        while let Some(pkt) = pc.next_packet() {
            let pkt = pkt.map_err(|e| format!("pcap: {e}"))?;
            r.packet(p, port, link, ns(pkt.timestamp), &pkt.data);
        }
        Ok(())
    }
}

/// decode_pcap(data, *, port=2404, cot_size=2, ca_size=2, ioa_size=3) -> dict
///
/// Decodes the IEC 104 traffic of a pcap or pcapng capture (its bytes): `columns`, `stations`
/// (sender `ip:port` per station code), `frames`, `packets` and `errors` (frames that did not
/// decode, skipped). `port=None` takes every TCP segment.
#[pyfunction]
#[pyo3(signature = (data, *, port=Some(2404), cot_size=2, ca_size=2, ioa_size=3))]
pub(crate) fn decode_pcap<'py>(
    py: Python<'py>,
    data: PyBackedBytes,
    port: Option<u16>,
    cot_size: u8,
    ca_size: u8,
    ioa_size: u8,
) -> PyResult<Bound<'py, PyDict>> {
    let p = params(cot_size, ca_size, ioa_size)?;
    let (r, res) = py.detach(|| {
        let mut r = Reassembler::default();
        let res = read(&mut r, &p, port, &data);
        (r, res)
    });
    res.map_err(DecodeError::new_err)?;
    let out = PyDict::new(py);
    out.set_item("columns", columns_dict(py, r.cols)?)?;
    out.set_item("stations", r.stations)?;
    out.set_item("frames", r.frames)?;
    out.set_item("packets", r.packets)?;
    out.set_item("errors", r.errors)?;
    Ok(out)
}
