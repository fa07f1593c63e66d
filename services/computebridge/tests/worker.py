"""A test worker on the compute worker SDK (bindings/compute-worker, on PYTHONPATH).

    python3 worker.py URL NAME CONCURRENCY MODE [CAPABILITIES,...]

MODE echo: the result is {"by": NAME, "echo": <the body's "x">}, after sleeping the body's
"sleep" seconds (if any); prints "got <id>" when a task arrives. MODE fail: every task fails
(retryable). MODE arrays: the body's "a" (float64 bin) comes back as "a" unchanged.
"""

import asyncio
import sys

import zero_compute as zc

url, name, concurrency, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
capabilities = [c for c in (sys.argv[5] if len(sys.argv) > 5 else "").split(",") if c]


async def handle(task):
    print(f"got {task.id}", flush=True)
    print(f"zstd {task.id} {task.compressed}", flush=True)
    body = task.body()
    if mode == "fail":
        raise zc.TaskFailed(f"{name} cannot do {task.id}")
    if mode == "arrays":
        a = zc.f64_from(body["a"])
        return {"a": a}
    if body.get("sleep"):
        await asyncio.sleep(body["sleep"])
    return {"by": name, "echo": body.get("x")}


asyncio.run(zc.Worker(url, handle, capabilities=capabilities, concurrency=concurrency, name=name).run())
