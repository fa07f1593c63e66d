"""Throughput of zero104.decode into numpy columns on one core (target: 5 M information objects/s).

Prints one line per case, `zero104/<case>: <rate> M IO/s (<ratio>x of the 5 M target)`, which
scripts/bench copies into its summary. `--quick` runs each case once (scripts/test).
"""

import sys
import time

import zero104

T_MS = 1_780_000_000_123


def stream(tid, make, frames):
    asdus = [zero104.encode_points(tid, [make(i * 15 + k) for k in range(15)]) for i in range(64)]
    one = b"".join(zero104.i_frame(a, send_seq=i) for i, a in enumerate(asdus))
    return one * (frames // 64)


def main():
    quick = "--quick" in sys.argv
    frames = 6400 if quick else 200_000
    cases = {
        "floats_cp56": stream(36, lambda i: (i, float(i), 0, T_MS), frames),
        "floats": stream(13, lambda i: (i, float(i)), frames),
        "singles": stream(1, lambda i: (i, i % 2 == 0), frames),
    }
    for name, data in cases.items():
        best = 0.0
        for _ in range(1 if quick else 5):
            t = time.perf_counter()
            cols = zero104.decode(data)
            dt = time.perf_counter() - t
            best = max(best, cols.rows / dt)
        assert cols.rows == frames * 15, cols.rows
        print(f"zero104/{name}: {best / 1e6:.1f} M IO/s ({best / 5e6:.1f}x of the 5 M target), {cols.rows} objects")


if __name__ == "__main__":
    main()
