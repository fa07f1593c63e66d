"""Writes the Markdown summary of a benchmark run: criterion's estimates (target/criterion),
the ratios of each measurement to the peer beside it, and the lines the custom benches print.

Usage: bench_summary.py BENCH_LOG CRITERION_DIR > summary.md
"""

import json
import os
import re
import sys

# (group, ours, peer, what the ratio means)
PAIRS = [
    ("modbus_read_holding_10", "modbus_bridge_device", "tokio_modbus_plain", "Modbus, one connection, vs plain tokio-modbus (target >= 0.95x)"),
    ("modbus_50_devices", "modbus_bridge_device", "tokio_modbus_plain", "Modbus, 50 devices at once, vs 50 plain tokio-modbus clients (target 150 k req/s)"),
    ("iec104_bytes", "decode_16_float", "plain_pass_16_float", "IEC 104 decode vs a plain read of the same bytes"),
    ("iec104_bytes_mixed", "decode_mixed", "plain_pass_mixed", "IEC 104 decode (mixed types) vs a plain read"),
]


def rate(bench_dir):
    try:
        with open(os.path.join(bench_dir, "new", "estimates.json")) as f:
            est = json.load(f)
        with open(os.path.join(bench_dir, "new", "benchmark.json")) as f:
            meta = json.load(f)
    except OSError:
        return None
    ns = est["mean"]["point_estimate"]
    tp = meta.get("throughput") or {}
    for kind, unit in (("Elements", "elem/s"), ("Bytes", "B/s")):
        if kind in tp:
            return ns, tp[kind] / (ns * 1e-9), unit
    return ns, None, ""


def human(x):
    for div, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if x >= div:
            return f"{x / div:.1f}{suffix}"
    return f"{x:.0f} "


def main():
    log, crit = sys.argv[1], sys.argv[2]
    print("# Benchmark summary\n")
    print("Produced by `scripts/bench` on this machine; every peer ran in the same run.\n")
    print("## Ratios to peers\n")
    print("| measurement | ours | peer | ratio |\n|---|---|---|---|")
    for group, ours, peer, what in PAIRS:
        a, b = rate(os.path.join(crit, group, ours)), rate(os.path.join(crit, group, peer))
        if a and b and a[1] and b[1]:
            print(f"| {what} | {human(a[1])}{a[2]} | {human(b[1])}{b[2]} | {a[1] / b[1]:.2f}x |")
    lines = open(log, errors="replace").read().splitlines()
    custom = [ln.strip() for ln in lines if re.match(r"^\s*(trigger|pipeline|zero104|socketio|bridgedump)/", ln)]
    if custom:
        print("\n## End-to-end benches (their own output)\n")
        for ln in custom:
            print(f"- {ln}")
    print("\n## Every criterion measurement\n")
    print("| group / function | mean time | throughput |\n|---|---|---|")
    if os.path.isdir(crit):
        for group in sorted(os.listdir(crit)):
            gdir = os.path.join(crit, group)
            if not os.path.isdir(gdir) or group == "report":
                continue
            for fn in sorted(os.listdir(gdir)):
                r = rate(os.path.join(gdir, fn))
                if r:
                    ns, tp, unit = r
                    t = f"{ns / 1e3:.2f} µs" if ns >= 1e3 else f"{ns:.1f} ns"
                    print(f"| {group} / {fn} | {t} | {human(tp) + unit if tp else ''} |")


if __name__ == "__main__":
    main()
