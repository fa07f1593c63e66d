"""Decoding into columns, encoding, the serde model of every type, errors, pcap reassembly and
the compactor, without a network."""

import struct

import numpy as np
import pyarrow as pa
import pytest

import zero104
from zero104 import DecodeError, EncodeError, Iec104Error

T_MS = 1_780_000_000_123  # 2026-05-28T20:26:40.123Z


def frames(*asdus, start=0):
    return b"".join(zero104.i_frame(a, send_seq=start + i) for i, a in enumerate(asdus))


@pytest.mark.parametrize(
    "tid,points,values",
    [
        (1, [(1, True), (2, False)], [1.0, 0.0]),
        (3, [(1, 2), (2, 1)], [2.0, 1.0]),
        (5, [(1, -5), (2, 63)], [-5.0, 63.0]),
        (7, [(1, 0x12345678)], [float(0x12345678)]),
        (9, [(1, 0.5), (2, -0.25)], [0.5, -0.25]),
        (21, [(1, 0.5)], [0.5]),
        (11, [(1, -1000), (2, 32767)], [-1000.0, 32767.0]),
        (13, [(1, 220.5), (2, -1.25)], [220.5, -1.25]),
        (15, [(1, -123456)], [-123456.0]),
    ],
)
def test_every_monitor_kind_round_trips(tid, points, values):
    asdu = zero104.encode_points(tid, points, common_address=7, cot=20)
    cols = zero104.decode(zero104.i_frame(asdu), station="rtu-1", time=5)
    assert cols.rows == len(points)
    assert cols["value"].tolist() == values
    assert cols["ioa"].tolist() == [p[0] for p in points]
    assert set(cols["type_id"].tolist()) == {tid}
    assert set(cols["cot"].tolist()) == {20}
    assert set(cols["common_address"].tolist()) == {7}
    assert cols["station"].tolist() == ["rtu-1"] * len(points)
    assert cols["time"].dtype == np.dtype("datetime64[ns]") and int(cols["time"].view("int64")[0]) == 5
    assert np.isnat(cols["device_time"]).all()


@pytest.mark.parametrize("tid,value", [(30, True), (31, 2), (32, 7), (33, 9), (34, 0.5), (35, -7), (36, 21.5), (37, 42)])
def test_time_tagged_types_carry_their_time_and_quality(tid, value):
    asdu = zero104.encode_points(tid, [(100, value, 0x80, T_MS)])
    cols = zero104.decode(zero104.i_frame(asdu))
    assert cols["type_id"].tolist() == [tid]
    assert cols["quality"].tolist() == [0x80]
    assert cols["device_time"].astype("int64").tolist() == [T_MS * 1_000_000]
    assert float(cols["value"][0]) == float(value)
    # given without a time, the point is still sent, its time marked invalid (read back as NaT)
    cols = zero104.decode(zero104.i_frame(zero104.encode_points(tid, [(100, value)])))
    assert cols["type_id"].tolist() == [tid] and np.isnat(cols["device_time"]).all()


def test_a_stream_of_many_frames_and_s_frames_columns_and_arrow():
    asdus = [zero104.encode_points(36, [(i * 15 + k, float(i * 15 + k), 0, T_MS) for k in range(15)]) for i in range(200)]
    s_frame = bytes([0x68, 4, 1, 0, 2, 0])
    data = b"".join(zero104.i_frame(a, send_seq=i) + s_frame for i, a in enumerate(asdus))
    cols = zero104.decode(data, station="st")
    assert cols.rows == 3000
    assert np.array_equal(cols["value"], np.arange(3000, dtype=np.float64))
    assert cols.info["consumed"] == len(data)
    table = cols.to_arrow()
    assert table.num_rows == 3000
    assert table.schema.field("station").type == pa.dictionary(pa.int32(), pa.string())
    assert table.column("time").type == pa.timestamp("ns")
    assert table.column("ioa").to_pylist()[:3] == [0, 1, 2]
    assert set(cols) == set(zero104.Columns.__init__.__globals__["COLUMNS"])


def test_an_incomplete_last_frame_is_left_and_bad_frames_are_typed_errors():
    f = frames(zero104.encode_points(13, [(1, 1.0)]), zero104.encode_points(13, [(2, 2.0)]))
    cut = f[:-3]
    cols = zero104.decode(cut)
    assert cols["ioa"].tolist() == [1]
    assert cols.info["consumed"] == len(f) // 2
    with pytest.raises(DecodeError, match="frame at byte 0"):
        zero104.decode(b"\x00\x01\x02")
    with pytest.raises(Iec104Error):
        zero104.decode(f + bytes([0x68, 4, 0x43, 0, 0, 0]) + bytes([0x68, 0x05, 0, 0, 0, 0, 13]))
    # an unknown type passes through as no rows
    assert zero104.decode(zero104.i_frame(bytes([200, 1, 3, 0, 1, 0, 1, 0, 0, 9]))).rows == 0
    with pytest.raises(DecodeError, match="ASDU 1"):
        zero104.decode_asdus([zero104.encode_points(1, [(1, True)]), b"\x0d\x01"])


def test_field_sizes_are_honoured():
    asdu = zero104.encode_points(13, [(300, 1.5)], common_address=5, cot_size=1, ca_size=1, ioa_size=2)
    assert len(asdu) == 1 + 1 + 1 + 1 + 2 + 5
    cols = zero104.decode_asdus([asdu], cot_size=1, ca_size=1, ioa_size=2)
    assert (cols["ioa"].tolist(), cols["common_address"].tolist()) == ([300], [5])
    with pytest.raises(ValueError):
        zero104.decode(b"", cot_size=3)


RAW_ASDUS = {
    "C_SC_NA_1": bytes([45, 1, 6, 0, 1, 0, 0x10, 0x27, 0, 0x81]),
    "C_DC_NA_1": bytes([46, 1, 6, 0, 1, 0, 1, 0, 0, 0x02]),
    "C_SE_NC_1": bytes([50, 1, 6, 0, 1, 0, 1, 0, 0, 0, 0, 0x80, 0x3F, 0]),
    "C_SC_TA_1": bytes([58, 1, 6, 0, 1, 0, 1, 0, 0, 1, 0xE8, 0x03, 30, 14, 5, 6, 26]),
    "C_IC_NA_1": bytes([100, 1, 6, 0, 1, 0, 0, 0, 0, 20]),
    "C_CI_NA_1": bytes([101, 1, 6, 0, 1, 0, 0, 0, 0, 5]),
    "C_CS_NA_1": bytes([103, 1, 6, 0, 1, 0, 0, 0, 0, 0xE8, 0x03, 30, 14, 5, 6, 26]),
    "P_ME_NC_1": bytes([112, 1, 6, 0, 1, 0, 1, 0, 0, 0, 0, 0x20, 0x41, 1]),
    "M_EI_NA_1": bytes([70, 1, 4, 0, 1, 0, 0, 0, 0, 0]),
    "M_EP_TD_1": bytes([38, 1, 3, 0, 1, 0, 1, 0, 0, 0x02, 0xF4, 0x01, 0xE8, 0x03, 30, 14, 5, 6, 26]),
    "M_PS_NA_1": bytes([20, 1, 3, 0, 1, 0, 1, 0, 0, 0x01, 0x80, 0x02, 0x00, 0x10]),
}


@pytest.mark.parametrize("name", sorted(RAW_ASDUS))
def test_every_type_round_trips_through_the_dict_model(name):
    raw = RAW_ASDUS[name]
    d = zero104.decode_asdu(raw)
    assert zero104.encode_asdu(d) == raw
    # change a field through the dict: the common address
    d["common_address"] = 9
    assert zero104.encode_asdu(d)[4:6] == b"\x09\x00"


def test_encoding_errors():
    with pytest.raises(EncodeError, match="encode_asdu"):
        zero104.encode_points(45, [(1, True)])
    with pytest.raises(ValueError, match="scaled value 40000"):
        zero104.encode_points(11, [(1, 40000)])
    with pytest.raises(ValueError):
        zero104.encode_points(13, [(1,)])
    with pytest.raises(EncodeError):
        zero104.encode_points(13, [(i, 1.0) for i in range(1, 200)])
    with pytest.raises(EncodeError, match="ASDU JSON"):
        zero104.encode_asdu({"nope": 1})
    with pytest.raises(EncodeError):
        zero104.i_frame(b"x", send_seq=40000)
    assert issubclass(EncodeError, Iec104Error) and issubclass(DecodeError, Iec104Error)


def pcap(packets, linktype=1):
    """A classic pcap (microsecond) of (t_us, frame bytes)."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    for t, data in packets:
        out += struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(data), len(data)) + data
    return out


def tcp_packet(src, dst, seq, payload, flags=0x18):
    (sip, sport), (dip, dport) = src, dst
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, bytes(sip), bytes(dip))
    return b"\x00" * 12 + b"\x08\x00" + ip + tcp


def test_pcap_reassembly_split_frames_retransmissions_and_both_directions():
    station, master = ((127, 0, 0, 1), 2404), ((127, 0, 0, 2), 50000)
    a = frames(*[zero104.encode_points(13, [(i, float(i))]) for i in range(1, 5)])
    gi = zero104.i_frame(RAW_ASDUS["C_IC_NA_1"])
    pk = [
        (1_000_000, tcp_packet(station, master, 999, b"", flags=0x12)),  # SYN-ACK: seq 1000 next
        (1_000_100, tcp_packet(master, station, 5000, gi)),  # a command: no rows
        (1_000_200, tcp_packet(station, master, 1000, a[:20])),  # frame 1 and part of 2
        (1_000_300, tcp_packet(station, master, 1000, a[:20])),  # retransmitted
        (1_000_400, tcp_packet(station, master, 1020, a[20:50])),
        (1_000_500, tcp_packet(station, master, 1010, a[10:])),  # overlaps, brings the rest
    ]
    cols = zero104.decode_pcap(pcap(pk))
    assert cols["ioa"].tolist() == [1, 2, 3, 4]
    assert cols["value"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert cols["station"].tolist() == ["127.0.0.1:2404"] * 4
    assert cols["time"].astype("int64").tolist() == [1_000_200_000, 1_000_400_000, 1_000_500_000, 1_000_500_000]
    assert cols.info["frames"] == 5 and cols.info["errors"] == []
    # another port: nothing; any port: the same rows
    assert zero104.decode_pcap(pcap(pk), port=2405).rows == 0
    assert zero104.decode_pcap(pcap(pk), port=None).rows == 4
    with pytest.raises(DecodeError, match="pcap"):
        zero104.decode_pcap(b"not a capture at all")


def test_pcap_resynchronises_after_garbage(tmp_path):
    station, master = ((10, 0, 0, 1), 2404), ((10, 0, 0, 9), 40000)
    good = zero104.i_frame(zero104.encode_points(1, [(7, True)]))
    data = good + bytes([0x68, 0x05, 0x00, 0x00, 0x00, 0x00, 0xFF]) + b"\x01\x02" + good
    f = tmp_path / "c.pcap"
    f.write_bytes(pcap([(0, tcp_packet(station, master, 1, data))]))
    cols = zero104.decode_pcap(f)
    assert cols["ioa"].tolist() == [7, 7]
    assert len(cols.info["errors"]) >= 1


def test_damaged_captures_decode_or_raise_decode_error():
    """Captures cut anywhere, with bytes flipped, or made up after a pcapng magic: each decodes
    (what survives) or raises DecodeError; nothing else escapes (a Rust panic would surface as
    pyo3's PanicException, which is not an Exception)."""
    import random

    rng = random.Random(104)
    station, master = ((127, 0, 0, 1), 2404), ((127, 0, 0, 2), 50000)
    kinds = [(1, True), (3, 2), (11, -7), (30, False), (36, 1.5)]
    a = frames(*[zero104.encode_points(tid, [(i, v)]) for i, (tid, v) in enumerate(kinds, 1)])
    good = pcap([(i, tcp_packet(station, master, 1 + 40 * i, a[40 * i : 40 * i + 40])) for i in range(len(a) // 40 + 1)])
    assert zero104.decode_pcap(good).rows == 5
    ng_magic = bytes([0x0A, 0x0D, 0x0D, 0x0A])
    cases = [good[:n] for n in range(len(good))]
    for _ in range(3000):
        b = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        cases.append(bytes(b))
        cases.append(ng_magic + rng.randbytes(rng.randint(0, 200)))
    decoded = 0
    for data in cases:
        try:
            cols = zero104.decode_pcap(data, port=None)
        except DecodeError:
            continue
        decoded += 1
        assert len(cols["ioa"]) == len(cols["value"]) == cols.rows
    assert decoded > 1000


def test_compactor_modes_and_errors():
    msgs = [("a", "1", 1.0), ("b", "10", 10.0), ("a", "2", 2.0), ("a", "3", 3.0, True)]
    (cid, out, received), = list(zero104.compact(msgs))
    assert out == [("a", "1"), ("b", "10"), ("a", "2"), ("a", "3")] and received == 4
    (cid, out, _), = list(zero104.compact(msgs, mode="last_value"))
    # the event (time-tagged) is never merged away
    assert ("a", "3") in out and ("b", "10") in out and ("a", "1") not in out
    assert cid.startswith("py@0-3#"), cid  # positions, then the fingerprint of the messages
    c = zero104.Compactor("deadband", bands={"a": ("abs", 5.0)})
    c.push("a", "1", 1.0)
    assert c.flush()[1] == [("a", "1")]
    c.push("a", "3", 3.0)
    within = c.flush()
    assert within is None or within[1] == []
    c.push("a", "9", 9.0)
    assert c.flush()[1] == [("a", "9")]
    small = zero104.Compactor(max_bytes=4)
    closed = [ch for m in [("k", "12"), ("k", "34"), ("k", "56")] for ch in small.push(*m)]
    assert closed and all(sum(len(p) for _, p in ch[1]) >= 4 for ch in closed)
    with pytest.raises(ValueError):
        zero104.Compactor("zip")
    with pytest.raises(ValueError):
        zero104.Compactor("deadband", bands={"a": ("rel", 1.0)})
