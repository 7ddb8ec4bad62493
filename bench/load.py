"""A lean HTTP/1.1 load client for the benchmarks: raw keep-alive sockets, no library.

The first version of the station benchmark drove its load with httpx's async client,
which on two cores topped out near 160 requests a second even against a bare
``/health`` endpoint (wrk reached 930): the client, not the servers, was measured.
This client writes each request as pre-built bytes and reads the reply by its
``Content-Length``, so nearly all of the CPU goes to the servers under test.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from urllib.parse import urlsplit

MAX_HEADER_BYTES = 64 * 1024


def post_request(url: str, body: bytes, content_type: str, token: str = "") -> bytes:
    parts = urlsplit(url)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{auth}"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """Send one request on a kept-alive connection; return the status code."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEADER_BYTES:
        raise RuntimeError("reply header too large")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(
        (
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length:")
        ),
        0,
    )
    await reader.readexactly(length)
    return status


async def run(
    url: str, n: int, concurrency: int, request_for: Callable[[int], bytes]
) -> tuple[dict[int, float], dict[int, float]]:
    """Send requests 0..n-1 with ``concurrency`` in flight; start and reply times."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    started: dict[int, float] = {}
    replied: dict[int, float] = {}
    queue = iter(range(n))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for i in queue:
                started[i] = time.time()
                status = await _exchange(reader, writer, request_for(i))
                if status >= 300:
                    raise RuntimeError(f"request {i} answered {status}")
                replied[i] = time.time()
        finally:
            writer.close()

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), 600)
    return started, replied
