# SPDX-License-Identifier: MIT
"""echo.py — the asyncio/uvloop peer of examples/echo.c for the echo benchmark.

    echo.py [PORT] [--uvloop]

Uses asyncio's Protocol API (data_received -> transport.write), the fastest
way to echo in asyncio: streams add a task switch and a buffer copy per read.
Prints "asyncio: listening on 127.0.0.1:PORT" (run.py reads the port) and runs
until SIGINT/SIGTERM.
"""
import asyncio
import signal
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def main(port):
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(Echo, "127.0.0.1", port, backlog=4096)
    stop = loop.create_future()
    for s in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(s, stop.set_result, None)
    name = "uvloop" if "--uvloop" in sys.argv else "asyncio"
    print(f"{name}: listening on 127.0.0.1:{srv.sockets[0].getsockname()[1]}", flush=True)
    await stop
    srv.close()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    port = int(args[0]) if args else 0
    if "--uvloop" in sys.argv:
        import uvloop
        uvloop.install()
    asyncio.run(main(port))
