"""zero104: IEC 60870-5-104 for data engineers, with Rust inside.

- :func:`decode` / :func:`decode_pcap`: bytes of many APDUs, or a pcap/pcapng capture, into
  columns (numpy arrays; :meth:`Columns.to_arrow` / :meth:`Columns.to_pandas` when installed):
  time, station, common_address, ioa, type_id, cot, value, quality, device_time.
- :func:`encode_points`, :func:`encode_asdu`, :func:`decode_asdu`, :func:`i_frame`: build test
  traffic of every type.
- :class:`Master` (``async with`` / ``async for``) and :class:`Slave` (a station simulator).
- :class:`Compactor` and :func:`compact`: the streamevent compactor over Python iterables.

Errors derive from :class:`Iec104Error`.

>>> import zero104
>>> asdu = zero104.encode_points(13, [(4004, 220.5)], common_address=1)
>>> cols = zero104.decode(zero104.i_frame(asdu))
>>> int(cols["ioa"][0]), float(cols["value"][0])
(4004, 220.5)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, AsyncIterator, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _zero104
from ._zero104 import (
    CommandError,
    Compactor,
    DecodeError,
    EncodeError,
    Iec104Error,
    Iec104Timeout,
    LinkError,
    Point,
    asdu_to_json,
    encode_points,
    i_frame,
)

__all__ = [
    "Columns",
    "CommandError",
    "Compactor",
    "DecodeError",
    "EncodeError",
    "Iec104Error",
    "Iec104Timeout",
    "LinkError",
    "Master",
    "Point",
    "Slave",
    "compact",
    "decode",
    "decode_asdu",
    "decode_asdus",
    "decode_pcap",
    "encode_asdu",
    "encode_points",
    "i_frame",
]

COLUMNS = ("time", "station", "common_address", "ioa", "type_id", "cot", "value", "quality", "device_time")


class Columns(Mapping):
    """Decoded information objects, one row each, as numpy columns.

    ``time`` and ``device_time`` are ``datetime64[ns]`` (NaT when absent; ``device_time`` is the
    object's CP56Time2a tag read as UTC), ``station`` is an object array of station names (the
    integer codes are in :attr:`station_code`, the names in :attr:`stations`), the others are
    unsigned integers except ``value`` (float64).
    """

    def __init__(self, raw: Dict[str, np.ndarray], stations: Sequence[str], **info: Any) -> None:
        self._raw = raw
        self.stations: List[str] = list(stations)
        self.info: Dict[str, Any] = info

    @property
    def station_code(self) -> np.ndarray:
        return self._raw["station_code"]

    def __getitem__(self, name: str) -> np.ndarray:
        if name in ("time", "device_time"):
            return self._raw[name].view("datetime64[ns]")
        if name == "station":
            names = np.empty(len(self.stations), dtype=object)
            names[:] = self.stations
            return names[self._raw["station_code"]] if len(names) else np.empty(0, dtype=object)
        return self._raw[name]

    def __iter__(self) -> Iterator[str]:
        return iter(COLUMNS)

    def __len__(self) -> int:
        return len(COLUMNS)

    @property
    def rows(self) -> int:
        """Number of rows."""
        return int(self._raw["ioa"].shape[0])

    def to_arrow(self):
        """A ``pyarrow.Table`` (``station`` dictionary-encoded). Needs pyarrow."""
        try:
            import pyarrow as pa
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("to_arrow needs pyarrow: pip install pyarrow") from e
        arrays = {}
        for name in COLUMNS:
            if name == "station":
                arrays[name] = pa.DictionaryArray.from_arrays(
                    pa.array(self._raw["station_code"].astype(np.int32)), pa.array(self.stations, type=pa.string())
                )
            elif name in ("time", "device_time"):
                arrays[name] = pa.array(self[name], type=pa.timestamp("ns"))
            else:
                arrays[name] = pa.array(self._raw[name])
        return pa.table(arrays)

    def to_pandas(self):
        """A ``pandas.DataFrame``. Needs pandas."""
        import pandas as pd

        return pd.DataFrame({name: self[name] for name in COLUMNS})


def _params(kw: Dict[str, Any]) -> Dict[str, Any]:
    return {k: kw[k] for k in ("cot_size", "ca_size", "ioa_size") if k in kw}


def decode(data: Union[bytes, bytearray], *, station: str = "", time: Optional[int] = None, **sizes: int) -> Columns:
    """Decodes back-to-back APDUs (one direction of a connection) into :class:`Columns`.

    ``time`` (ns since the epoch) fills the ``time`` column; ``station`` names the rows. An
    incomplete last frame is ignored; its offset is ``info["consumed"]``. Raises
    :class:`DecodeError` for a malformed frame (the message gives its offset).
    """
    raw, consumed = _zero104.decode_apdus(data, time_ns=time, **_params(sizes))
    return Columns(raw, [station], consumed=consumed)


def decode_asdus(asdus: Iterable[bytes], *, station: str = "", **sizes: int) -> Columns:
    """Decodes ASDUs (without APCI) into :class:`Columns`."""
    return Columns(_zero104.decode_asdus(list(asdus), **_params(sizes)), [station])


def decode_pcap(source: Union[str, "os.PathLike[str]", bytes], *, port: Optional[int] = 2404, **sizes: int) -> Columns:
    """Decodes the IEC 104 traffic of a pcap or pcapng capture (a path or its bytes).

    TCP segments to or from ``port`` (None: any) are reassembled per direction; each row's
    station is the sender's ``ip:port`` and its time the capture time. ``info`` holds
    ``frames``, ``packets`` and ``errors`` (frames that did not decode and were skipped).
    """
    if not isinstance(source, (bytes, bytearray)):
        with open(os.fspath(source), "rb") as f:
            source = f.read()
    r = _zero104.decode_pcap(source, port=port, **_params(sizes))
    return Columns(r["columns"], r["stations"], frames=r["frames"], packets=r["packets"], errors=r["errors"])


def decode_asdu(asdu: bytes, **sizes: int) -> Dict[str, Any]:
    """One ASDU of any type as a dict (the serde model :func:`encode_asdu` takes back)."""
    return json.loads(asdu_to_json(asdu, **_params(sizes)))


def encode_asdu(asdu: Dict[str, Any], **sizes: int) -> bytes:
    """Encodes an ASDU of any type given as the dict :func:`decode_asdu` returns."""
    return _zero104.encode_asdu_json(json.dumps(asdu), **_params(sizes))


class Master:
    """An asyncio IEC 104 master (controlling station).

    >>> async def main():  # doctest: +SKIP
    ...     async with Master("127.0.0.1", 2404) as m:
    ...         async for p in m:
    ...             print(p.ioa, p.value)
    ...         await m.command(100, True)

    On entry it connects (the first reachable of ``host:port`` and ``backups``), starts data
    transfer and, unless ``interrogate=False``, runs a general interrogation. Iterating yields
    :class:`Point` objects until the link closes; :meth:`command` and :meth:`interrogate`
    return once the station confirmed (:class:`CommandError` when it refused).
    """

    def __init__(
        self,
        host: str,
        port: int = 2404,
        *,
        common_address: int = 1,
        interrogate: bool = True,
        timeout: float = 10.0,
        reconnect: bool = True,
        command_timeout: float = 10.0,
        backups: Sequence[str] = (),
        **sizes: int,
    ) -> None:
        self._addresses = [f"{host}:{port}", *backups]
        self._kw = dict(
            common_address=common_address,
            interrogate=interrogate,
            timeout=timeout,
            reconnect=reconnect,
            command_timeout=command_timeout,
            **_params(sizes),
        )
        self._m: Optional[_zero104.Master] = None

    async def connect(self) -> "Master":
        self._m = await _zero104.Master.connect(self._addresses, **self._kw)
        return self

    def _native(self) -> "_zero104.Master":
        if self._m is None:
            raise LinkError("not connected: use `async with Master(...)` or `await master.connect()`")
        return self._m

    async def __aenter__(self) -> "Master":
        return await self.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[Point]:
        return self

    async def __anext__(self) -> Point:
        p = await self._native().next_point()
        if p is None:
            raise StopAsyncIteration
        return p

    async def next_point(self, timeout: Optional[float] = None) -> Optional[Point]:
        """The next point, or None when the link closed or ``timeout`` seconds passed."""
        return await self._native().next_point(timeout)

    async def interrogate(self, common_address: Optional[int] = None) -> None:
        await self._native().interrogate(common_address)

    async def command(self, ioa: int, value: Any, kind: str = "single", **kw: Any) -> None:
        await self._native().command(ioa, value, kind, **kw)

    async def close(self) -> None:
        if self._m is not None:
            await self._m.close()
            self._m = None


class Slave:
    """An asyncio IEC 104 slave (a station simulator for tests).

    >>> async def main():  # doctest: +SKIP
    ...     async with Slave(port=0) as s:
    ...         s.add_point(1, 21.5)
    ...         print(s.port)
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        common_address: int = 1,
        accept_commands: bool = True,
        refuse_ioas: Sequence[int] = (),
    ) -> None:
        self._args = (host, port)
        self._kw = dict(common_address=common_address, accept_commands=accept_commands, refuse_ioas=list(refuse_ioas))
        self._s: Optional[_zero104.Slave] = None

    async def start(self) -> "Slave":
        self._s = await _zero104.Slave.start(*self._args, **self._kw)
        return self

    async def __aenter__(self) -> "Slave":
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        self.close()

    def _native(self) -> "_zero104.Slave":
        if self._s is None:
            raise LinkError("not started: use `async with Slave(...)` or `await slave.start()`")
        return self._s

    @property
    def port(self) -> int:
        return self._native().port

    def connections(self) -> int:
        return self._native().connections()

    def add_point(self, ioa: int, value: Any, kind: str = "float", **kw: Any) -> None:
        self._native().add_point(ioa, value, kind, **kw)

    def update(self, ioa: int, value: Any, kind: str = "float", **kw: Any) -> bool:
        return self._native().update(ioa, value, kind, **kw)

    def point(self, ioa: int, common_address: Optional[int] = None) -> Optional[Point]:
        return self._native().point(ioa, common_address)

    def commands(self) -> List[Tuple[int, int, int, bool, str]]:
        return self._native().commands()

    def close(self) -> None:
        if self._s is not None:
            self._s.close()
            self._s = None


Chunk = Tuple[str, List[Tuple[str, str]], int]


def compact(
    messages: Iterable[Union[Tuple[str, str], Tuple[str, str, Optional[float]], Tuple[str, str, Optional[float], bool]]],
    mode: str = "batch",
    **kw: Any,
) -> Iterator[Chunk]:
    """Runs :class:`Compactor` over ``messages`` (``(key, payload[, value[, event]])``) and yields
    its chunks ``(id, [(key, payload), ...], received)``, flushing at the end."""
    c = Compactor(mode, **kw)
    for m in messages:
        yield from c.push(*m)
    last = c.flush()
    if last is not None:
        yield last
