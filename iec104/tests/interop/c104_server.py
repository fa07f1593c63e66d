"""A lib60870 (c104) controlled station for the interop tests.

Serves one point of every monitor type c104 supports (the 104 profile: no CP24 types) at IOA 100 + type id, common address 1.
Prints one JSON line on stdout: {"port": N, "points": [...]}, the values it set, in the
normalised form the Rust test compares against. A single command (C_SC_NA_1) at IOA 9999 makes
it transmit every point spontaneously. Command points at IOA 200-205 accept (204 step, 201/205 double), 210 refuses; with
$C104_COMMAND_LOG set, each command received is logged there as a JSON line. An optional first argument fixes the port.
Exits when stdin closes or after 120 s.
"""

import datetime
import json
import os
import socket
import sys
import threading

import c104

T = datetime.datetime(2026, 6, 5, 14, 30, 1, 234000, tzinfo=datetime.timezone.utc)
T_MS = int(T.timestamp() * 1000)
CP24 = {"min": T.minute, "ms": T.second * 1000 + T.microsecond // 1000}
CP56 = {"epoch_ms": T_MS}


def flags(enum, bits):
    """An enum flag value from its bit mask (c104 flag members carry .value)."""
    out = None
    for name in dir(enum):
        if name.startswith("_") or name in ("name", "value", "is_any", "is_good", "is_none"):
            continue
        member = getattr(enum, name)
        if isinstance(member, enum) and member.value & bits and member.value != 0:
            out = member if out is None else out | member
    return out if out is not None else enum(0)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# (type id, c104 type name, factory(time) -> Information, expected fields)
def specs():
    q = lambda bits: flags(c104.Quality, bits)  # noqa: E731
    out = []

    def add(tids, make, expect):
        for tid, name, tag in tids:
            if tag == "24":
                continue  # c104 follows the 104 profile strictly: no CP24Time2a types
            rec = T if tag else None
            exp = dict(expect)
            exp["t"] = {"24": CP24, "56": CP56}.get(tag)
            out.append((tid, name, make(rec), exp))

    add([(1, "M_SP_NA_1", None)], lambda r: c104.SingleInfo(on=True, quality=q(0), recorded_at=r), {"v": True, "q": 0})
    add([(2, "M_SP_TA_1", "24"), (30, "M_SP_TB_1", "56")],
        lambda r: c104.SingleInfo(on=False, quality=q(0x10), recorded_at=r), {"v": False, "q": 0x10})
    add([(3, "M_DP_NA_1", None)], lambda r: c104.DoubleInfo(state=c104.Double.ON, recorded_at=r), {"v": 2, "q": 0})
    add([(4, "M_DP_TA_1", "24"), (31, "M_DP_TB_1", "56")],
        lambda r: c104.DoubleInfo(state=c104.Double.OFF, quality=q(0x80), recorded_at=r), {"v": 1, "q": 0x80})
    add([(5, "M_ST_NA_1", None)],
        lambda r: c104.StepInfo(state=c104.Int7(-5), transient=True, recorded_at=r), {"v": -5, "transient": True, "q": 0})
    add([(6, "M_ST_TA_1", "24"), (32, "M_ST_TB_1", "56")],
        lambda r: c104.StepInfo(state=c104.Int7(63), transient=False, quality=q(0x40), recorded_at=r),
        {"v": 63, "transient": False, "q": 0x40})
    # lib60870's BitString32_create takes no quality, so c104 always sends QDS 0 for bitstrings
    add([(7, "M_BO_NA_1", None), (8, "M_BO_TA_1", "24"), (33, "M_BO_TB_1", "56")],
        lambda r: c104.BinaryInfo(blob=c104.Byte32((0x12345678).to_bytes(4, "little")), recorded_at=r), {"v": 0x12345678, "q": 0})
    add([(9, "M_ME_NA_1", None), (10, "M_ME_TA_1", "24"), (34, "M_ME_TD_1", "56")],
        lambda r: c104.NormalizedInfo(actual=c104.NormalizedFloat(0.5), quality=q(0x01), recorded_at=r), {"v": 0.5, "q": 0x01})
    add([(21, "M_ME_ND_1", None)],
        lambda r: c104.NormalizedInfo(actual=c104.NormalizedFloat(-0.25), recorded_at=r), {"v": -0.25})
    add([(11, "M_ME_NB_1", None), (12, "M_ME_TB_1", "24"), (35, "M_ME_TE_1", "56")],
        lambda r: c104.ScaledInfo(actual=c104.Int16(-1000), quality=q(0x80), recorded_at=r), {"v": -1000, "q": 0x80})
    add([(13, "M_ME_NC_1", None), (14, "M_ME_TC_1", "24"), (36, "M_ME_TF_1", "56")],
        lambda r: c104.ShortInfo(actual=220.5, quality=q(0), recorded_at=r), {"v": 220.5, "q": 0})
    # c104 numbers its counter flags differently from the wire (its Adjusted is 32): build by
    # meaning. Carry is CY (bit 5), Invalid is IV (bit 7).
    bcq = c104.BinaryCounterQuality.Carry | c104.BinaryCounterQuality.Invalid
    add([(15, "M_IT_NA_1", None), (16, "M_IT_TA_1", "24"), (37, "M_IT_TB_1", "56")],
        lambda r: c104.BinaryCounterInfo(counter=-123456, sequence=c104.UInt5(17), quality=bcq, recorded_at=r),
        {"v": -123456, "seq": 17, "q": 0xA0})
    add([(17, "M_EP_TA_1", "24"), (38, "M_EP_TD_1", "56")],
        lambda r: c104.ProtectionEventInfo(state=c104.EventState.ON, elapsed_ms=c104.UInt16(500), quality=q(0x08), recorded_at=r),
        {"v": 2, "elapsed": 500, "q": 0x08})
    add([(18, "M_EP_TB_1", "24"), (39, "M_EP_TE_1", "56")],
        lambda r: c104.ProtectionStartInfo(events=flags(c104.StartEvents, 0x03), relay_duration_ms=c104.UInt16(10),
                                           quality=q(0x80), recorded_at=r),
        {"v": 0x03, "elapsed": 10, "q": 0x80})
    add([(19, "M_EP_TC_1", "24"), (40, "M_EP_TF_1", "56")],
        lambda r: c104.ProtectionCircuitInfo(events=flags(c104.OutputCircuits, 0x09), relay_duration_ms=c104.UInt16(20),
                                             quality=q(0), recorded_at=r),
        {"v": 0x09, "elapsed": 20, "q": 0})
    add([(20, "M_PS_NA_1", None)],
        lambda r: c104.StatusAndChanged(status=flags(c104.PackedSingle, 0x8001), changed=flags(c104.PackedSingle, 0x0002),
                                        quality=q(0x10), recorded_at=r),
        {"v": 0x8001, "changed": 0x0002, "q": 0x10})
    return out


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else free_port()
    server = c104.Server(ip="127.0.0.1", port=port)
    station = server.add_station(common_address=1)
    points, expected = [], []
    for tid, name, info, exp in specs():
        p = station.add_point(io_address=100 + tid, type=getattr(c104.Type, name))
        p.info = info
        points.append(p)
        expected.append(dict(exp, ioa=100 + tid, tid=tid))

    trigger = threading.Event()
    cmd = station.add_point(io_address=9999, type=c104.Type.C_SC_NA_1)

    def on_cmd(point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage) -> c104.ResponseState:
        trigger.set()
        return c104.ResponseState.SUCCESS

    cmd.on_receive(callable=on_cmd)

    # command points: 200-202 and 58 accept, 210 refuses
    def accept(point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage) -> c104.ResponseState:
        return c104.ResponseState.SUCCESS

    def refuse(point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage) -> c104.ResponseState:
        return c104.ResponseState.FAILURE

    # every command received is appended as one JSON line to $C104_COMMAND_LOG when set, with the
    # value as lib60870 decoded it (a double command's state by name: what the station will do)
    log_path = os.environ.get("C104_COMMAND_LOG")
    log_lock = threading.Lock()

    def logged(cb):
        def inner(point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage) -> c104.ResponseState:
            if log_path:
                info = point.info
                state = getattr(info, "state", None)
                direction = getattr(info, "direction", None)
                rec = {"ioa": point.io_address, "type": str(point.type), "value": repr(getattr(info, "value", None)),
                       "state": state.name if state is not None else None,
                       "direction": direction.name if direction is not None else None}
                with log_lock, open(log_path, "a") as f:
                    f.write(json.dumps(rec) + "\n")
            return cb(point, previous_info, message)
        return inner

    for ioa, name, cb in [(200, "C_SC_NA_1", accept), (201, "C_DC_NA_1", accept), (202, "C_SE_NC_1", accept),
                          (203, "C_SC_TA_1", accept), (204, "C_RC_NA_1", accept), (205, "C_DC_TA_1", accept),
                          (210, "C_SC_NA_1", refuse)]:
        station.add_point(io_address=ioa, type=getattr(c104.Type, name)).on_receive(callable=logged(cb))
    server.start()
    print(json.dumps({"port": port, "points": expected}), flush=True)

    def watch_stdin():
        sys.stdin.read()
        trigger.set()
        done.set()

    done = threading.Event()
    threading.Thread(target=watch_stdin, daemon=True).start()
    while not done.is_set():
        if trigger.wait(timeout=120):
            if done.is_set():
                break
            trigger.clear()
            for p in points:
                p.transmit(cause=c104.Cot.SPONTANEOUS)
        else:
            break
    server.stop()


if __name__ == "__main__":
    main()
