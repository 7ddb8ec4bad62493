"""Fetching a published page by URL: size, time, redirects and private addresses."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from backchannel.analysis.leaks.page import MAX_PAGE_BYTES, PageError
from backchannel.station.leaks.fetch import MAX_REDIRECTS, fetch

PAGE = b"<html><body><article><p>A published page about the Vessa.</p></article></body></html>"


class Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/page":
            self._send(200, "text/html; charset=utf-8", PAGE)
        elif self.path == "/hang":
            time.sleep(5)
        elif self.path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b"<p>x</p>" * 10)
                self.wfile.flush()
                time.sleep(0.1)
        elif self.path.startswith("/loop"):
            self.send_response(302)
            self.send_header("Location", f"/loop{len(self.path)}")
            self.end_headers()
        elif self.path == "/big":
            self._send(200, "text/html", b"x" * (MAX_PAGE_BYTES + 10))
        elif self.path == "/image":
            self._send(200, "image/png", b"\x89PNG")
        else:
            self._send(404, "text/plain", b"no")

    def _send(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_page_is_fetched_when_private_sources_are_allowed(site: str) -> None:
    assert fetch(f"{site}/page", allow_private=True) == PAGE


def test_a_loopback_or_private_address_is_refused_by_default(site: str) -> None:
    for url in (f"{site}/page", "http://10.1.2.3/", "http://[::1]:9/", "http://169.254.169.254/"):
        with pytest.raises(PageError, match="private or loopback"):
            fetch(url)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/hang", "did not answer in time"),
        ("/trickle", "too long"),
        ("/loop", f"more than {MAX_REDIRECTS} redirects"),
        ("/big", "larger than"),
        ("/image", "image/png, not text"),
        ("/missing", "answered 404"),
    ],
)
def test_a_bad_page_is_refused_in_one_line(site: str, path: str, message: str) -> None:
    started = time.monotonic()
    with pytest.raises(PageError, match=message) as raised:
        fetch(f"{site}{path}", allow_private=True, seconds=2.0)
    assert time.monotonic() - started < 4.5
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("url", ["ftp://example.org/x", "file:///etc/passwd", "http://"])
def test_only_http_urls_are_fetched(url: str) -> None:
    with pytest.raises(PageError, match="http or https"):
        fetch(url)
