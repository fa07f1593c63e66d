"""The worker SDK's codec on its own: frames, float64 arrays without copies, zstd."""

import numpy as np
import pytest
import zstandard

import zero_compute as zc


def test_frames_round_trip_and_unknown_types_are_refused():
    f = {"type": "hello", "worker": "w", "capabilities": ["opf"], "concurrency": 2, "version": 1}
    assert zc.decode_frame(zc.encode_frame(f)) == f
    with pytest.raises(zc.ProtocolError):
        zc.encode_frame({"type": "launch"})
    with pytest.raises(zc.ProtocolError, match="unknown type"):
        zc.decode_frame(zc.msgpack.packb({"type": "launch"}))
    with pytest.raises(zc.ProtocolError, match="not a map"):
        zc.decode_frame(zc.msgpack.packb([1, 2]))
    with pytest.raises(zc.ProtocolError, match="MsgPack"):
        zc.decode_frame(b"\xc1")
    with pytest.raises(zc.ProtocolError, match="allowed"):
        zc.decode_frame(zc.encode_frame({"type": "ping", "t": 1}), limit=2)


def test_arrays_go_out_and_come_in_without_copies_bit_exact():
    a = np.random.default_rng(7).standard_normal(100_000)
    a[3] = np.nan
    a[4] = -0.0
    out = zc.f64_bytes(a)
    assert np.shares_memory(np.frombuffer(out, dtype="<f8"), a), "a view of the array"
    body = zc.pack({"x": a, "n": np.int64(3)})
    back = zc.f64_from(zc.unpack(body)["x"])
    assert back.view("<u8").tolist() == a.view("<u8").tolist(), "bit-exact, NaN and -0.0 included"
    # the bin in a packed body is the array's little-endian bytes, no per-element encoding
    assert len(body) < a.nbytes + 32
    buf = bytearray(zc.f64_bytes(a))
    view = zc.f64_from(buf)
    assert np.shares_memory(view, np.frombuffer(buf, dtype="u1"))


def test_compression_above_the_threshold_only():
    small = b"x" * 100
    assert zc._compress(small, 1000) == (small, False)
    big = bytes(zc.f64_bytes(np.zeros(100_000)))
    z, flag = zc._compress(big, 1000)
    assert flag and len(z) < len(big) // 100
    assert zstandard.ZstdDecompressor().decompress(z, max_output_size=len(big)) == big
    noise = np.random.default_rng(1).bytes(10_000)
    assert zc._compress(noise, 1000) == (noise, False), "kept as is when it does not shrink"


def test_frames_of_the_rust_bridge_read_here():
    # as trigger-core's compute::proto encodes them (the bridge's side of the codec)
    task = bytes.fromhex(
        "87a474797065a47461736ba26964a27439a46b696e64a36f7066a7617474656d707402a8646561646c696e65cd7530"
        "a47a737464c2a464617461c40d81a170c408000000000000f83f"
    )
    f = zc.decode_frame(task)
    assert (f["type"], f["id"], f["kind"], f["attempt"], f["deadline"], f["zstd"]) == ("task", "t9", "opf", 2, 30000, False)
    assert zc.f64_from(zc.unpack(f["data"])["p"]).tolist() == [1.5]
    welcome = bytes.fromhex(
        "84a474797065a777656c636f6d65a9686561727462656174cd1388a96d61785f6672616d65ce40000000"
        "ae7a7374645f7468726573686f6c64ce00010000"
    )
    assert zc.decode_frame(welcome) == {
        "type": "welcome",
        "heartbeat": 5000,
        "max_frame": 1 << 30,
        "zstd_threshold": 65536,
    }
