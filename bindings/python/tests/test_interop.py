"""Interop with lib60870 (the c104 package): our asyncio master against a c104 server, a c104
client against our slave, and a capture (tshark) of c104 traffic decoded by decode_pcap."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import zero104
from conftest import C104_CLIENT, C104_SERVER, free_port


def start_c104_server():
    p = subprocess.Popen([sys.executable, C104_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    info = json.loads(p.stdout.readline())
    return p, info


def stop(p):
    try:
        p.stdin.close()
    except Exception:
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


NORMALISED = {9, 10, 21, 34}
COUNTERS = {15, 16, 37}


def in_gi(tid):
    """The types c104 answers a station interrogation with."""
    return tid in (1, 3, 5, 7, 9, 11, 13) or 30 <= tid <= 36


def check(point, exp):
    tol = 1 / 16384 if exp["tid"] in NORMALISED else 1e-9
    assert abs(float(point.value) - float(exp["v"])) <= tol, (point, exp)
    if isinstance(exp["v"], bool):
        assert point.value is exp["v"], (point, exp)
    if "q" in exp and exp["tid"] not in COUNTERS:
        assert point.quality == exp["q"], (point, exp)
    if exp["tid"] in COUNTERS:
        assert point.quality == exp["q"] & 0x80, (point, exp)
    if exp.get("t"):
        assert point.time_ms == exp["t"]["epoch_ms"], (point, exp)


async def collect(m, ioas, cot=None, timeout=15.0):
    got = {}
    deadline = time.monotonic() + timeout
    while not ioas <= got.keys():
        left = deadline - time.monotonic()
        assert left > 0, f"missing {sorted(ioas - got.keys())}"
        p = await m.next_point(timeout=left)
        assert p is not None, "link closed"
        if cot is None or p.cot == cot:
            got[p.ioa] = p
    return got


def test_python_master_against_c104_server():
    server, info = start_c104_server()
    expected = {e["ioa"]: e for e in info["points"]}
    gi = {ioa: e for ioa, e in expected.items() if in_gi(e["tid"])}
    try:

        async def main():
            async with zero104.Master("127.0.0.1", info["port"], common_address=1) as m:
                got = await collect(m, set(gi), cot=20)
                for ioa, exp in gi.items():
                    assert got[ioa].type_id == exp["tid"]
                    check(got[ioa], exp)
                # commands: accepted, refused
                await m.command(200, True)
                await m.command(201, 2, kind="double")
                await m.command(202, 1.5, kind="float")
                with pytest.raises(zero104.CommandError):
                    await m.command(210, True)
                # a command that makes the station send everything spontaneously
                await m.command(9999, True)
                spont = await collect(m, set(expected), cot=3)
                for ioa, exp in expected.items():
                    assert spont[ioa].type_id == exp["tid"]
                    check(spont[ioa], exp)
                await m.interrogate()

        asyncio.run(main())
    finally:
        stop(server)


def test_c104_client_against_python_slave():
    async def main():
        async with zero104.Slave(refuse_ioas=[999]) as s:
            s.add_point(1, True, "single", quality=0x10)
            s.add_point(2, 2, "double", quality=0x80)
            s.add_point(3, 220.5, "float")
            s.add_point(4, -1000, "scaled", quality=0x40)
            s.add_point(5, 0.5, "normalized")
            client = await asyncio.create_subprocess_exec(
                sys.executable, C104_CLIENT, str(s.port), stdout=asyncio.subprocess.PIPE
            )
            deadline = time.monotonic() + 20
            while not any(c[1] == 100 for c in s.commands()):
                assert time.monotonic() < deadline, "the c104 command never arrived"
                await asyncio.sleep(0.02)
            assert s.update(3, 99.5)
            out, _ = await asyncio.wait_for(client.communicate(), 30)
            return json.loads(out), s.commands()

    r, cmds = asyncio.run(main())
    assert r["opened"] and r["gi_ok"], r
    gi = r["gi"]
    assert gi["1"] == {"v": True, "q": 0x10}
    assert gi["2"] == {"v": 2, "q": 0x80}
    assert gi["3"]["v"] == 220.5
    assert gi["4"] == {"v": -1000, "q": 0x40}
    assert abs(gi["5"]["v"] - 0.5) < 1e-4
    assert r["cmd_accepted"] and r["cmd_refused"], r
    assert r["spontaneous"] == 99.5
    c = next(c for c in cmds if c[1] == 100)
    assert c[:4] == (1, 100, 45, False)
    assert any(c[1] == 999 for c in cmds)


def test_decode_a_capture_of_c104_traffic(tmp_path):
    server, info = start_c104_server()
    port = info["port"]
    cap = tmp_path / "c104.pcapng"
    tshark = subprocess.Popen(
        ["tshark", "-q", "-i", "lo", "-f", f"tcp port {port}", "-w", str(cap)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    expected = {e["ioa"]: e for e in info["points"] if in_gi(e["tid"])}
    try:
        # tshark says "Capturing on 'Loopback: lo'" once it listens
        line = ""
        while "Capturing" not in line:
            line = tshark.stderr.readline()
            assert line, "tshark did not start capturing"
        time.sleep(0.5)

        async def main():
            async with zero104.Master("127.0.0.1", port) as m:
                await collect(m, set(expected), cot=20)

        asyncio.run(main())
        time.sleep(1.0)
    finally:
        tshark.send_signal(signal.SIGINT)
        tshark.wait(timeout=15)
        stop(server)
    cols = zero104.decode_pcap(cap, port=port)
    assert cols.info["errors"] == []
    station = f"127.0.0.1:{port}"
    assert station in cols.stations
    rows = {}
    for i in range(cols.rows):
        if cols["station"][i] == station and int(cols["cot"][i]) == 20:
            rows[int(cols["ioa"][i])] = i
    assert set(expected) <= set(rows), sorted(set(expected) - set(rows))
    for ioa, exp in expected.items():
        i = rows[ioa]
        assert int(cols["type_id"][i]) == exp["tid"]
        v = exp["v"]
        got = float(cols["value"][i])
        assert abs(got - float(v)) <= (1 / 16384 if exp["tid"] in NORMALISED else 1e-9), (ioa, got, v)
        if exp.get("t"):
            assert int(cols["device_time"][i].astype("int64")) == exp["t"]["epoch_ms"] * 1_000_000
    assert (cols["time"].astype("int64") > 0).all()
