"""The link emulator the DAT benchmark falls back on: the relay really delays and really meters."""
import asyncio
import time

from benchmarks.netlink.relay import Relay


async def _echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def _measure(delay_s: float, rate_bps: float, payload: int):
    echo = await asyncio.start_server(_echo, "127.0.0.1", 0)
    relay = Relay(("127.0.0.1", echo.sockets[0].getsockname()[1]), delay_s, rate_bps)
    front = await asyncio.start_server(relay.handle, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", front.sockets[0].getsockname()[1])
    t = time.monotonic()
    writer.write(b"p")
    await writer.drain()
    await reader.readexactly(1)
    rtt = time.monotonic() - t
    t = time.monotonic()
    writer.write(b"x" * payload)
    await writer.drain()
    await reader.readexactly(payload)
    transfer = time.monotonic() - t
    relay.set_link(False)  # link down: nothing moves
    writer.write(b"y")
    await writer.drain()
    try:
        await asyncio.wait_for(reader.readexactly(1), 0.5)
        moved_while_down = True
    except asyncio.TimeoutError:
        moved_while_down = False
    relay.set_link(True)
    await asyncio.wait_for(reader.readexactly(1), 2.0)
    writer.close()
    front.close()
    echo.close()
    return rtt, transfer, moved_while_down


def test_relay_adds_delay_meters_rate_and_goes_down():
    rtt, transfer, moved = asyncio.run(_measure(0.05, 800_000, 100_000))  # 100 kB at 100 kB/s
    assert 0.1 <= rtt < 0.3
    assert 0.8 <= transfer < 1.6, transfer
    assert not moved
    rtt, transfer, _ = asyncio.run(_measure(0.1, 256_000, 16_000))   # the severe profile: 16 kB in 0.5 s
    assert 0.2 <= rtt < 0.45
    assert 0.4 <= transfer < 1.0, transfer
