"""A pymodbus (3.x) TCP server for the modbus-bridge tests.

Usage: pymodbus_server.py PORT [--rtu-over-tcp | --rtu-pty PATH] (RTU framing over TCP, or RTU
on a serial line such as a socat pseudo-terminal). Unit 1 holds: coils 0..19 alternating (even
addresses on), discrete inputs 0..19 with every third on, holding registers 0..99 = address * 3,
input registers 0..99 = 1000 + address, and a FIFO queue at holding address 50 (FC24 answers the
registers from there). Other unit ids get pymodbus's exception answer. Addresses from 100 on raise
ILLEGAL DATA ADDRESS. Device identification: VendorName "zero", ProductCode "MB-1",
MajorMinorRevision "1.2", ProductName "bridge-test", ModelName "sim". Prints "ready" once
listening; runs until killed.
"""

import asyncio
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext

try:  # pymodbus >= 3.9
    from pymodbus.datastore import ModbusDeviceContext as DeviceContext
except ImportError:  # older 3.x
    from pymodbus.datastore import ModbusSlaveContext as DeviceContext
try:
    from pymodbus import ModbusDeviceIdentification
except ImportError:
    from pymodbus.device import ModbusDeviceIdentification


def context():
    # pymodbus blocks start at address 1 for protocol address 0 (see PEERS.md)
    dev = DeviceContext(
        co=ModbusSequentialDataBlock(1, [i % 2 == 0 for i in range(100)]),
        di=ModbusSequentialDataBlock(1, [i % 3 == 0 for i in range(100)]),
        hr=ModbusSequentialDataBlock(1, [i * 3 for i in range(100)]),
        ir=ModbusSequentialDataBlock(1, [1000 + i for i in range(100)]),
    )
    try:
        return ModbusServerContext(devices={1: dev}, single=False)
    except TypeError:
        return ModbusServerContext(slaves={1: dev}, single=False)


def identity():
    i = ModbusDeviceIdentification()
    i.VendorName = "zero"
    i.ProductCode = "MB-1"
    i.MajorMinorRevision = "1.2"
    i.ProductName = "bridge-test"
    i.ModelName = "sim"
    return i


async def main():
    port = int(sys.argv[1])
    ctx = context()
    if "--rtu-pty" in sys.argv:
        from pymodbus.server import StartAsyncSerialServer
        from pymodbus.framer import FramerType

        path = sys.argv[sys.argv.index("--rtu-pty") + 1]
        print("ready", flush=True)
        await StartAsyncSerialServer(context=ctx, identity=identity(), port=path, framer=FramerType.RTU, baudrate=19200)
    else:
        from pymodbus.server import StartAsyncTcpServer

        async def announce():
            await asyncio.sleep(0.3)
            print("ready", flush=True)

        asyncio.get_event_loop().create_task(announce())
        kw = {}
        if "--rtu-over-tcp" in sys.argv:
            from pymodbus.framer import FramerType

            kw["framer"] = FramerType.RTU
        await StartAsyncTcpServer(context=ctx, identity=identity(), address=("127.0.0.1", port), **kw)


if __name__ == "__main__":
    asyncio.run(main())
