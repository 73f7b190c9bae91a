"""A TCP forwarder: listens on LISTEN:PORT and forwards each connection to HOST:PORT.

The daemon sends plain HTTP only to a loopback address (the API key must not travel in
clear), so a daemon in a network namespace of tests/hosts-fail.sh reaches the one stand-in
through this forwarder, run in its own namespace: cut the namespace's link, and its
requests are cut as a real host's would be. (The stand-in listens on 127.0.0.1 of its own
namespace too, and is reached through another.)

Usage: python3 forward.py LISTEN LISTEN_PORT HOST PORT
"""

import asyncio
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def serve(client_reader, client_writer, host, port):
    try:
        upstream_reader, upstream_writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), timeout=5
        )
    except (OSError, asyncio.TimeoutError):
        client_writer.close()
        return
    await asyncio.gather(
        pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer)
    )


async def main():
    listen, listen_port = sys.argv[1], int(sys.argv[2])
    host, port = sys.argv[3], int(sys.argv[4])
    server = await asyncio.start_server(
        lambda r, w: serve(r, w, host, port), listen, listen_port
    )
    async with server:
        await server.serve_forever()


asyncio.run(main())
