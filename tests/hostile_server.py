"""A hostile web server for tests: bombs, endless bodies, huge pages, redirects anywhere.

It stands in for a site an account's menu links to. It counts every connection it
accepts and every request per path, so a test can prove that a refused address
was never connected to. Threads from the standard library, no aiohttp: nothing
here shares code with the product's client.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
import threading
import time
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

MB = 1 << 20
OK_PAGE = ("<html><head><meta charset=\"utf-8\"><title>政务服务</title></head>"
           "<body><p>办事指南、政策文件和便民服务信息。</p></body></html>").encode()
FILLER = ("<p>" + "办事指南、政策文件和便民服务信息。" * 20 + "</p>\n").encode("utf-8")
SOFT404_HEAD = "<html><head><title>页面不存在</title></head><body>".encode()


def gzip_bomb(path: Path, decoded_mb: int = 1024) -> Path:
    """A gzip file of ``decoded_mb`` MB of zeros (1 GB: about 1 MB), built in well under a second.

    After a full flush the deflate state starts afresh, so the block for one MB of zeros
    is the same bytes every time: it is made once and repeated.
    """
    if path.exists():
        return path
    zeros = bytes(MB)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = deflate.flush()
    crc = 0
    for _ in range(decoded_mb):
        crc = zlib.crc32(zeros, crc)
    tmp = path.with_suffix(".part")
    with tmp.open("wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03")  # gzip header, no name, no mtime
        for _ in range(decoded_mb):
            out.write(block)
        out.write(tail + struct.pack("<II", crc, (decoded_mb * MB) & 0xFFFFFFFF))
    tmp.replace(path)
    return path


def encode(body: bytes, coding: str) -> bytes:
    if coding == "gzip":
        c = zlib.compressobj(6, zlib.DEFLATED, 31)
    elif coding == "deflate":  # zlib-wrapped, as RFC 9110 says
        c = zlib.compressobj(6, zlib.DEFLATED, 15)
    elif coding == "deflate-raw":  # what some servers send as "deflate"
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
    else:
        raise ValueError(coding)
    return c.compress(body) + c.flush()


class HostileServer:
    """``GET /ok``, ``/hit/*`` (a healthy page), ``/gzip-bomb``, ``/endless``, ``/huge``,
    ``/trickle``, ``/loop``, ``/redirect?to=URL``,
    ``/encoded?coding=gzip|deflate|deflate-raw|br|corrupt&size=N``."""

    def __init__(self, host: str = "127.0.0.1", bomb: Path | None = None) -> None:
        self.bomb = bomb
        self.hits: Counter[str] = Counter()
        self.connections = 0
        self._lock = threading.Lock()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        owner = self

        class Server(ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

            def process_request(self, request: Any, client_address: Any) -> None:
                with owner._lock:
                    owner.connections += 1
                super().process_request(request, client_address)

        self._httpd = Server((host, 0), _handler(self))
        self.host = host
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def count(self, path: str) -> None:
        with self._lock:
            self.hits[path] += 1

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _handler(server: HostileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def handle(self) -> None:
            # the client stopped reading or dropped a kept-alive connection
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                super().handle()

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            server.count(parts.path)
            # the client stopped reading: what a bounded client does
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.route(parts.path, query)

        def head(self, status: int, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()

        def route(self, path: str, query: dict[str, str]) -> None:
            html = "text/html; charset=utf-8"
            if path == "/ok" or path.startswith("/hit/"):
                self.head(200, {"Content-Type": html, "Content-Length": str(len(OK_PAGE))})
                self.wfile.write(OK_PAGE)
            elif path == "/redirect":
                self.head(int(query.get("status", "302")), {"Location": query["to"], "Content-Length": "0"})
            elif path == "/gzip-bomb":
                assert server.bomb is not None
                size = server.bomb.stat().st_size
                self.head(200, {"Content-Type": html, "Content-Encoding": "gzip", "Content-Length": str(size)})
                with server.bomb.open("rb") as f:
                    while chunk := f.read(64 * 1024):
                        self.wfile.write(chunk)
            elif path == "/endless":
                self.head(200, {"Content-Type": html, "Transfer-Encoding": "chunked"})
                piece = FILLER * 50
                chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
                self.wfile.write(b"5\r\n<html\r\n")
                while True:
                    self.wfile.write(chunk)
            elif path == "/trickle":  # an endless body, one byte at a time: only the timeout ends it
                self.head(200, {"Content-Type": html, "Transfer-Encoding": "chunked"})
                while True:
                    self.wfile.write(b"1\r\n.\r\n")
                    self.wfile.flush()
                    time.sleep(0.05)
            elif path == "/loop":
                self.head(302, {"Location": "/loop", "Content-Length": "0"})
            elif path == "/huge":  # 100 MB, the soft-404 title first
                total = int(query.get("mb", "100")) * MB
                self.head(200, {"Content-Type": html, "Content-Length": str(total)})
                self.wfile.write(SOFT404_HEAD)
                sent = len(SOFT404_HEAD)
                block = FILLER * (64 * 1024 // len(FILLER))
                while sent < total:
                    piece = block[:total - sent]
                    self.wfile.write(piece)
                    sent += len(piece)
            elif path == "/encoded":
                coding = query["coding"]
                body = OK_PAGE[:-len("</body></html>")] + FILLER * (int(query.get("size", "0")) // len(FILLER))
                body += "<p>此内容因违规无法查看</p></body></html>".encode()
                if coding == "br":
                    data = b"\x0b\x02\x80" + body  # whatever it is, we never asked for br
                elif coding == "corrupt":
                    data, coding = encode(body, "gzip")[:40] + b"\x00garbage" * 100, "gzip"
                else:
                    data = encode(body, coding)
                self.head(200, {"Content-Type": html, "Content-Length": str(len(data)),
                                "Content-Encoding": "deflate" if coding == "deflate-raw" else coding})
                self.wfile.write(data)
            else:
                self.head(404, {"Content-Type": html, "Content-Length": "0"})

    return Handler


# Peak memory of a command, measured by a small Python parent that runs it and reports its
# RUSAGE_CHILDREN. Not wait4 from the test process: a child started by vfork records the
# parent's high-water mark at exec, so a child of a 350 MB pytest reports at least 350 MB.
MEASURE = """
import json, resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(json.dumps({"rc": code, "maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}),
      file=sys.stderr)
"""


def under_memory_meter(command: list[str]) -> list[str]:
    """``command`` run under the memory-measuring parent: its last stderr line is the JSON figure."""
    return [sys.executable, "-c", MEASURE, *command]
