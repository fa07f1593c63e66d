"""The reference worker of the platform's compute bridge (``services/computebridge``).

A worker connects to the bridge over WebSocket, says ``hello`` with its capabilities (the task
kinds it runs) and its concurrency, and is handed ``task`` frames; it answers each with a
``result`` or an ``error``. Every frame is one binary WebSocket message holding one MsgPack map
whose ``type`` names it (the protocol: ``trigger-core/src/compute/proto.rs``). A task's ``data``
is bytes (by convention MsgPack whose float64 arrays are ``bin`` of little-endian doubles), zstd
compressed when ``zstd`` is true.

Arrays in and out without copies::

    >>> import numpy as np
    >>> a = np.arange(4, dtype="<f8")
    >>> b = f64_from(f64_bytes(a))
    >>> bool(np.shares_memory(a, b)), b.tolist()
    (True, [0.0, 1.0, 2.0, 3.0])

A worker::

    async def solve(task):              # or a plain function: run in a thread
        body = task.body()              # {"p": <bin>}
        p = f64_from(body["p"])         # a view of the frame's bytes
        return {"x": f64_bytes(p * 2)}  # packed as bin

    asyncio.run(Worker("ws://127.0.0.1:21120/worker", solve, capabilities=["opf"], concurrency=4).run())
"""

from __future__ import annotations

import asyncio
import inspect
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Optional, Union

import msgpack
import numpy as np
import zstandard

__all__ = [
    "VERSION",
    "ProtocolError",
    "Task",
    "TaskFailed",
    "Worker",
    "decode_frame",
    "encode_frame",
    "f64_bytes",
    "f64_from",
    "pack",
    "unpack",
]

VERSION = 1
"""The protocol's version."""

TYPES = {"hello", "welcome", "task", "result", "error", "ping", "pong", "bye"}


class ProtocolError(ValueError):
    """Bytes that are no frame of the protocol."""


class TaskFailed(Exception):
    """Raised by a handler: the task failed; ``retry=False`` dead-letters it at once."""

    def __init__(self, message: str, retry: bool = True):
        super().__init__(message)
        self.retry = retry


def f64_bytes(a: np.ndarray) -> memoryview:
    """A float64 array as little-endian bytes: a view of the array (no copy) when it is
    C-contiguous little-endian float64, else of a converted copy."""
    a = np.ascontiguousarray(a, dtype="<f8")
    return memoryview(a).cast("B")


def f64_from(b: Union[bytes, bytearray, memoryview]) -> np.ndarray:
    """Little-endian float64 bytes as an array viewing them (no copy; read-only for bytes)."""
    return np.frombuffer(b, dtype="<f8")


def _default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return f64_bytes(o)
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    raise TypeError(f"cannot pack {type(o).__name__}")


def pack(obj: Any) -> bytes:
    """A body as MsgPack: numpy arrays become bin of little-endian float64."""
    return msgpack.packb(obj, default=_default, use_bin_type=True)


def unpack(b: Union[bytes, memoryview]) -> Any:
    """A MsgPack body; its bin values stay bytes (``f64_from`` views them as arrays)."""
    return msgpack.unpackb(b, raw=False)


def encode_frame(frame: dict) -> bytes:
    """One frame as the bytes of a binary WebSocket message."""
    if frame.get("type") not in TYPES:
        raise ProtocolError(f"unknown type {frame.get('type')!r}")
    return msgpack.packb(frame, use_bin_type=True)


def decode_frame(b: bytes, limit: int = 1 << 30) -> dict:
    """A frame from a binary WebSocket message, at most ``limit`` bytes."""
    if len(b) > limit:
        raise ProtocolError(f"{len(b)} bytes, more than the {limit} allowed")
    try:
        f = msgpack.unpackb(b, raw=False, strict_map_key=True)
    except Exception as e:  # noqa: BLE001 - msgpack raises several kinds
        raise ProtocolError(f"not a MsgPack map: {e}") from None
    if not isinstance(f, dict):
        raise ProtocolError("not a map")
    if f.get("type") not in TYPES:
        raise ProtocolError(f"unknown type {f.get('type')!r}")
    return f


def _compress(body: bytes, threshold: int) -> tuple:
    if threshold and len(body) > threshold:
        z = zstandard.ZstdCompressor(level=1).compress(body)
        if len(z) < len(body):
            return z, True
    return body, False


@dataclass
class Task:
    """A task handed to this worker."""

    id: str
    kind: str
    attempt: int
    deadline_ms: int
    data: bytes
    """The body (decompressed)."""
    compressed: bool = False
    """It came zstd-compressed."""

    def body(self) -> Any:
        """The body as MsgPack."""
        return unpack(self.data)


Handler = Callable[[Task], Union[Any, Awaitable[Any]]]


class Worker:
    """A worker connected to the bridge at ``url`` running ``handler`` for each task, at most
    ``concurrency`` at once. The handler returns the result's body: bytes as they are, anything
    else packed with :func:`pack`; it raises :class:`TaskFailed` (or any exception: retried) when
    the task failed. A plain function runs in a thread."""

    def __init__(
        self,
        url: str,
        handler: Handler,
        capabilities: Optional[list] = None,
        concurrency: int = 1,
        name: str = "python-worker",
        max_frame: int = 1 << 30,
    ):
        self.url = url
        self.handler = handler
        self.capabilities = list(capabilities or [])
        self.concurrency = max(1, int(concurrency))
        self.name = name
        self.max_frame = max_frame
        self.done = 0
        self.failed = 0
        self._closing = False

    async def run(self, stop: Optional[asyncio.Event] = None) -> None:
        """Connects, runs tasks until ``stop`` is set or the bridge closes the connection."""
        import websockets

        async with websockets.connect(self.url, max_size=self.max_frame, compression=None) as ws:
            await ws.send(
                encode_frame(
                    {
                        "type": "hello",
                        "worker": self.name,
                        "capabilities": self.capabilities,
                        "concurrency": self.concurrency,
                        "version": VERSION,
                    }
                )
            )
            welcome = decode_frame(await ws.recv(), self.max_frame)
            if welcome["type"] != "welcome":
                raise ProtocolError(f"expected welcome, got {welcome['type']}")
            threshold = int(welcome.get("zstd_threshold", 0))
            beat = max(0.05, int(welcome.get("heartbeat", 5000)) / 1000)
            send_lock = asyncio.Lock()

            async def send(frame: dict) -> None:
                async with send_lock:
                    await ws.send(encode_frame(frame))

            async def pings() -> None:
                while True:
                    await asyncio.sleep(beat)
                    await send({"type": "ping", "t": int(time.time() * 1000)})

            running: set = set()
            ticker = asyncio.create_task(pings())
            stopper = asyncio.create_task(stop.wait()) if stop else None
            try:
                while True:
                    recv = asyncio.create_task(ws.recv())
                    waiting = {recv} | ({stopper} if stopper else set())
                    finished, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                    if recv not in finished:
                        recv.cancel()
                        await send({"type": "bye", "reason": "worker stopping"})
                        return
                    f = decode_frame(recv.result(), self.max_frame)
                    if f["type"] == "task":
                        t = asyncio.create_task(self._run(f, send, threshold))
                        running.add(t)
                        t.add_done_callback(running.discard)
                    elif f["type"] == "ping":
                        await send({"type": "pong", "t": f.get("t", 0)})
                    elif f["type"] == "bye":
                        return
            except Exception as e:  # the connection closed
                import websockets.exceptions as wse

                if isinstance(e, wse.ConnectionClosed):
                    return
                raise
            finally:
                ticker.cancel()
                if stopper:
                    stopper.cancel()
                for t in running:
                    t.cancel()

    async def _run(self, f: dict, send: Callable, threshold: int) -> None:
        data = f.get("data") or b""
        compressed = bool(f.get("zstd"))
        if compressed:
            data = zstandard.ZstdDecompressor().decompress(data, max_output_size=self.max_frame)
        task = Task(f["id"], f.get("kind", ""), int(f.get("attempt", 1)), int(f.get("deadline", 0)), data, compressed)
        try:
            if inspect.iscoroutinefunction(self.handler):
                out = await self.handler(task)
            else:
                out = await asyncio.to_thread(self.handler, task)
            body = bytes(out) if isinstance(out, (bytes, bytearray, memoryview)) else pack(out)
            body, z = _compress(body, threshold)
            await send({"type": "result", "id": task.id, "zstd": z, "data": body})
            self.done += 1
        except asyncio.CancelledError:
            raise
        except TaskFailed as e:
            self.failed += 1
            await send({"type": "error", "id": task.id, "message": str(e), "retry": e.retry})
        except Exception as e:  # noqa: BLE001 - any handler failure is the task's
            self.failed += 1
            await send({"type": "error", "id": task.id, "message": f"{type(e).__name__}: {e}", "retry": True})
