"""A lib60870 (c104) controlling station for the interop tests, against our slave.

Usage: c104_client.py PORT. Connects to 127.0.0.1:PORT, common address 1; runs a station
interrogation (its confirmation and termination seen on the raw frames), reads back the values of IOA 1-5 (single, double, float, scaled, normalised),
sends a single command to IOA 100 (to be accepted) and to IOA 999 (to be refused), then waits for
a spontaneous value on IOA 3. Prints one JSON line with everything it saw.
"""

import json
import sys
import threading
import time

import c104


def main():
    port = int(sys.argv[1])
    # transmit() blocks until its own (racy) wait ends; the raw frames decide, so keep that wait short
    client = c104.Client(command_timeout_ms=1000)
    conn = client.add_connection(ip="127.0.0.1", port=port, init=c104.Init.NONE)
    st = conn.add_station(common_address=1)
    pts = {
        1: st.add_point(io_address=1, type=c104.Type.M_SP_NA_1),
        2: st.add_point(io_address=2, type=c104.Type.M_DP_NA_1),
        3: st.add_point(io_address=3, type=c104.Type.M_ME_NC_1),
        4: st.add_point(io_address=4, type=c104.Type.M_ME_NB_1),
        5: st.add_point(io_address=5, type=c104.Type.M_ME_NA_1),
    }
    accept_cmd = st.add_point(io_address=100, type=c104.Type.C_SC_NA_1)
    refuse_cmd = st.add_point(io_address=999, type=c104.Type.C_SC_NA_1)

    opened = threading.Event()
    gi_con = threading.Event()
    gi_term = threading.Event()
    # confirmations of single commands by IOA: True positive, False negative
    cmd_con = {}
    cmd_seen = threading.Condition()
    spont = threading.Event()
    spont_value = []

    def on_state(connection: c104.Connection, state: c104.ConnectionState) -> None:
        if state == c104.ConnectionState.OPEN:
            opened.set()

    def on_float(point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage) -> c104.ResponseState:
        if message.cot == c104.Cot.SPONTANEOUS:
            spont_value.append(point.value)
            spont.set()
        return c104.ResponseState.SUCCESS

    frames = []

    def on_tx(connection: c104.Connection, data: bytes) -> None:
        frames.append(("TX", time.monotonic(), data.hex()))

    def on_raw(connection: c104.Connection, data: bytes) -> None:
        frames.append(("RX", time.monotonic(), data.hex()))
        if data[:3] == b"\x68\x04\x0b":  # STARTDT con
            opened.set()
        # I-frames: C_IC_NA_1 (100) with COT 7 is the GI confirmation, 10 its termination;
        # C_SC_NA_1 (45) with COT 7 confirms a single command, positively unless the P/N bit is set
        if len(data) < 15 or data[2] & 1:
            return
        cot, negative = data[8] & 0x3F, bool(data[8] & 0x40)
        if data[6] == 100:
            if cot == 7 and not negative:
                gi_con.set()
            elif cot == 10:
                gi_term.set()
        elif data[6] == 45 and cot == 7:
            with cmd_seen:
                cmd_con[int.from_bytes(data[12:15], "little")] = not negative
                cmd_seen.notify_all()

    conn.on_state_change(callable=on_state)
    conn.on_receive_raw(callable=on_raw)
    conn.on_send_raw(callable=on_tx)
    pts[3].on_receive(callable=on_float)
    client.start()
    # c104's state callback and is_connected can lag under load: our STARTDT confirmation on the
    # raw frames counts too. c104 at times connects and stays OPEN_MUTED without sending STARTDT
    # (seen here about 1 run in 4: its reconnect 10 s later then sends it): ask again with unmute()
    out = {"opened": False}
    for _ in range(10):
        if opened.wait(timeout=1):
            out["opened"] = True
            break
        conn.unmute()
    # c104's own wait for a confirmation can miss one that arrives very fast (seen here 1 run in 3,
    # more under load; the frames show ours on time), so confirmations are read off the raw frames
    for _ in range(5):
        conn.interrogation(common_address=1, cause=c104.Cot.ACTIVATION, qualifier=c104.Qoi.STATION, wait_for_response=False)
        if gi_con.wait(timeout=2):
            break
    out["gi_ok"] = gi_con.is_set() and gi_term.wait(timeout=10)
    if not out["gi_ok"]:
        t0 = frames[0][1] if frames else 0
        for d, t, h in frames:
            print(f"{d} {t - t0:8.3f} {h}", file=sys.stderr, flush=True)
    time.sleep(0.2)

    def double_bits(v):
        return {c104.Double.INTERMEDIATE: 0, c104.Double.OFF: 1, c104.Double.ON: 2, c104.Double.INDETERMINATE: 3}[v]

    out["gi"] = {
        "1": {"v": bool(pts[1].value), "q": int(pts[1].quality)},
        "2": {"v": double_bits(pts[2].value), "q": int(pts[2].quality)},
        "3": {"v": float(pts[3].value), "q": int(pts[3].quality)},
        "4": {"v": int(pts[4].value), "q": int(pts[4].quality)},
        "5": {"v": float(pts[5].value), "q": int(pts[5].quality)},
    }
    # transmit() waits for the confirmation the same racy way, so the raw frames decide again
    def confirmation(ioa):
        with cmd_seen:
            cmd_seen.wait_for(lambda: ioa in cmd_con, timeout=10)
            return cmd_con.get(ioa)

    accept_cmd.value = True
    accept_cmd.transmit(cause=c104.Cot.ACTIVATION)
    out["cmd_accepted"] = confirmation(100) is True
    refuse_cmd.value = True
    refuse_cmd.transmit(cause=c104.Cot.ACTIVATION)
    out["cmd_refused"] = confirmation(999) is False
    out["spontaneous"] = spont_value[0] if spont.wait(timeout=10) else None
    client.stop()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
