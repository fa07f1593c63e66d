"""Our asyncio master against our slave: `async with`, `async for`, spontaneous values,
commands awaiting their confirmation (direct and select-before-operate, refused), the end of
iteration when the link closes, and the errors of misuse."""

import asyncio

import pytest

import zero104
from conftest import free_port


def test_master_and_slave_in_asyncio():
    async def main():
        async with zero104.Slave(refuse_ioas=[7]) as s:
            s.add_point(1, 21.5)
            s.add_point(2, True, "single", quality=0x10)
            s.add_point(3, -7, "scaled", time_ms=1_780_000_000_123)
            async with zero104.Master("127.0.0.1", s.port) as m:
                seen = {}
                async for p in m:
                    seen[p.ioa] = p
                    if len(seen) == 3:
                        break
                assert (seen[1].value, seen[1].cot, seen[1].type_id) == (21.5, 20, 13)
                assert seen[2].value is True and seen[2].quality == 0x10
                assert seen[3].value == -7
                assert s.connections() == 1
                # a new value arrives spontaneously, with its time tag
                assert s.update(1, 99.25, time_ms=1_780_000_000_500)
                p = await m.next_point(timeout=5)
                assert (p.ioa, p.value, p.cot, p.type_id, p.time_ms) == (1, 99.25, 3, 36, 1_780_000_000_500)
                assert not s.update(42, 1.0), "no such point"
                # commands return once confirmed; a refused one raises
                await m.command(5, True)
                await m.command(6, 0.5, kind="float", select=True)
                with pytest.raises(zero104.CommandError, match="negative"):
                    await m.command(7, True)
                await m.interrogate()
                cmds = s.commands()
                assert (1, 5, 45, False) in [c[:4] for c in cmds]
                assert [c[3] for c in cmds if c[1] == 6] == [True, False], "select, then execute"
                assert any(c[1] == 7 for c in cmds)
                assert s.point(1).value == 99.25
            # a master that does not reconnect: iteration ends when the station goes away
            m2 = await zero104.Master("127.0.0.1", s.port, reconnect=False).connect()
            s.close()
            got = [p async for p in m2]
            assert all(p.cot == 20 for p in got)
            await m2.close()

    asyncio.run(main())


def test_connection_errors_and_misuse():
    async def main():
        port = free_port()
        with pytest.raises((zero104.LinkError, zero104.Iec104Timeout)):
            await zero104.Master("127.0.0.1", port, reconnect=False, timeout=2).connect()
        with pytest.raises(zero104.Iec104Timeout):
            await zero104.Master("127.0.0.1", port, timeout=0.5).connect()
        with pytest.raises(zero104.LinkError, match="not connected"):
            await zero104.Master("127.0.0.1", port).next_point()
        with pytest.raises(zero104.LinkError, match="not started"):
            zero104.Slave().add_point(1, 1.0)
        async with zero104.Slave() as s:
            with pytest.raises(ValueError, match="kind"):
                s.add_point(1, 1.0, "complex")
            with pytest.raises(ValueError, match="ioa"):
                s.add_point(1 << 25, 1.0)
            with pytest.raises(zero104.LinkError):
                await zero104.Slave(port=s.port).start()
        assert issubclass(zero104.Iec104Timeout, zero104.Iec104Error)

    asyncio.run(main())
