"""A TCP relay that adds one-way propagation delay (and, in emulator mode, a rate limit).

This kernel has ``tbf``/``htb`` but no ``netem``, so the benchmark shapes the *rate* in the kernel
and adds *delay* here: every chunk read from one side is written to the other ``delay_s`` later,
in both directions, so RTT >= 2 x delay. The relay sits after the bottleneck (in the cloud's
namespace), so its buffer only ever holds what the shaped link already delivered (~rate x delay);
backpressure still reaches the sender through TCP.

Emulator mode (``rate_bps``, used where namespaces cannot be made): the relay also meters the
edge->cloud direction with a token bucket, so the loopback socket buffers become the bottleneck
queue. Packet loss is not emulated in either mode.

Link down/up (``SIGUSR1``/``SIGUSR2``): while down, no byte moves in either direction and new
connections are accepted and closed at once, like a dead uplink behind a NAT.

Run: ``python -m benchmarks.netlink.relay --listen HOST:PORT --upstream HOST:PORT --delay-ms 50``.
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import time
from collections import deque

CHUNK = 16 * 1024            # read size; small enough that delay stays smooth at low rates
MAX_BUFFER = 4 * 1024 * 1024  # per direction; reading pauses above it (backpressure)
BUCKET_S = 0.02              # emulator token-bucket depth in seconds of rate ...
MTU = 1500                   # ... but at least two packets; bytes move in packet-sized steps


class Relay:
    def __init__(self, upstream: tuple[str, int], delay_s: float, rate_bps: float | None = None) -> None:
        self.upstream = upstream
        self.delay_s = delay_s
        self.rate = rate_bps / 8.0 if rate_bps else None
        self.up = asyncio.Event()
        self.up.set()
        self._conns: set[asyncio.StreamWriter] = set()
        self.bytes_up = 0

    def set_link(self, up: bool) -> None:
        if up:
            self.up.set()
        else:
            self.up.clear()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, meter: bool) -> None:
        q: deque[tuple[float, bytes]] = deque()
        buffered = 0
        have = asyncio.Event()
        room = asyncio.Event()
        room.set()
        done = False

        async def pump_in() -> None:
            nonlocal buffered, done
            tokens, last = 0.0, time.monotonic()
            try:
                while True:
                    await room.wait()
                    await self.up.wait()
                    n = CHUNK
                    if meter and self.rate:
                        now = time.monotonic()
                        tokens = min(max(self.rate * BUCKET_S, 2 * MTU), tokens + (now - last) * self.rate)
                        last = now
                        if tokens < MTU:
                            await asyncio.sleep((MTU - tokens) / self.rate)
                            continue
                        n = int(min(CHUNK, tokens))
                    data = await reader.read(n)
                    if not data:
                        break
                    if meter and self.rate:
                        tokens -= len(data)
                    if meter:
                        self.bytes_up += len(data)
                    q.append((time.monotonic() + self.delay_s, data))
                    buffered += len(data)
                    if buffered > MAX_BUFFER:
                        room.clear()
                    have.set()
            finally:
                done = True
                have.set()

        async def pump_out() -> None:
            nonlocal buffered
            while True:
                if not q:
                    if done:
                        break
                    have.clear()
                    await have.wait()
                    continue
                due, data = q[0]
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self.up.wait()
                q.popleft()
                buffered -= len(data)
                if buffered <= MAX_BUFFER:
                    room.set()
                writer.write(data)
                await writer.drain()

        tasks = [asyncio.ensure_future(pump_in()), asyncio.ensure_future(pump_out())]
        try:
            await asyncio.gather(*tasks)
        except (ConnectionError, OSError):
            pass
        finally:
            for t in tasks:
                t.cancel()
            try:
                writer.close()
            except Exception:
                pass

    async def handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        if not self.up.is_set():
            c_writer.close()
            return
        try:
            u_reader, u_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            c_writer.close()
            return
        self._conns.update((c_writer, u_writer))
        try:
            await asyncio.gather(self._pipe(c_reader, u_writer, meter=True),
                                 self._pipe(u_reader, c_writer, meter=False), return_exceptions=True)
        except asyncio.CancelledError:  # relay shutting down
            pass
        finally:
            self._conns.difference_update((c_writer, u_writer))


def _hostport(s: str) -> tuple[str, int]:
    host, _, port = s.rpartition(":")
    return host, int(port)


async def serve(listen: tuple[str, int], relay: Relay, ready_file: str | None) -> None:
    server = await asyncio.start_server(relay.handle, *listen)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, relay.set_link, False)
    loop.add_signal_handler(signal.SIGUSR2, relay.set_link, True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    if ready_file:
        with open(ready_file, "w") as f:
            f.write(str(server.sockets[0].getsockname()[1]))
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--rate-bps", type=float, default=0.0, help="emulator mode: meter edge->cloud at this rate")
    ap.add_argument("--ready-file")
    a = ap.parse_args(argv)
    relay = Relay(_hostport(a.upstream), a.delay_ms / 1000.0, a.rate_bps or None)
    asyncio.run(serve(_hostport(a.listen), relay, a.ready_file))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
