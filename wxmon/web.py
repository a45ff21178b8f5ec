"""``wxmon web`` and the daemon's console: the console app served by uvicorn.

The listening socket is bound here, before uvicorn starts, so a bad or busy address is one clear
line (exit 2) and a caller knows the port before the first request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import uvicorn

from console.app import create_app, is_loopback
from dashboards.weekly import WeeklyReport
from monitor.config import Config
from monitor.errors import BadInput
from monitor.store import Store
from wxmon.reports import weekly_report

log = logging.getLogger("wxmon.web")


def weekly_charts(config: Config, store: Store, week_key: str) -> WeeklyReport:
    """The weekly report the mail carries, built in memory (no files, nothing sent)."""
    report, _ = weekly_report(config, store, week_key, None, send=False)
    return report


def bind(listen: str) -> socket.socket:
    host, _, port_text = listen.rpartition(":")
    host = host.strip("[]")
    try:
        port = int(port_text)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (ValueError, OSError) as exc:
        raise BadInput(f"--listen {listen}: not an address to listen on ({exc})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise BadInput(f"--listen {listen}: cannot listen there: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    """Leaves the signals to its host (the daemon's or ``wxmon web``'s handlers): uvicorn would
    take SIGTERM/SIGINT in the main thread and raise them again when it stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ConsoleServer:
    """The console on an already bound socket, inside the caller's event loop."""

    def __init__(self, config: Config, store: Store, sock: socket.socket, *, key: str | None = None) -> None:
        self.sock = sock
        host = sock.getsockname()[0]
        secure = config.web.secure_cookie if config.web.secure_cookie is not None else not is_loopback(f"{host}:0")
        self.app = create_app(config, store, weekly=weekly_charts, key=key, secure_cookie=secure)
        self.server = _Server(uvicorn.Config(self.app, log_config=None, access_log=False,
                                             proxy_headers=False, server_header=False, lifespan="off"))
        self._task: asyncio.Task[None] | None = None
        self._warm: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self.server.serve(sockets=[self.sock]))
        self._warm = loop.create_task(self._warm_up())

    async def _warm_up(self) -> None:
        """Cut the font and measure the default period now, so the first visitor does not wait for them."""
        from console.snapshot import default_period, off_loop
        from console.webfont import common_subset

        cache = self.app.state.console.cache
        try:
            await off_loop(common_subset)
            await cache.get(await asyncio.to_thread(default_period, cache.store))
        except Exception as exc:  # the first request will try again and show the error
            log.warning("console: could not measure the current period at start: %s", exc)

    @property
    def task(self) -> asyncio.Task[None]:
        assert self._task is not None, "start() first"
        return self._task

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._warm is not None:
            self._warm.cancel()
            with suppress(asyncio.CancelledError):
                await self._warm
        if self._task is not None:
            with suppress(asyncio.CancelledError):
                await self._task
        await self.app.state.console.cache.aclose()
        self.sock.close()


def run_console(config_path: Path, listen: str | None) -> int:
    """``wxmon web``: serve until SIGTERM/SIGINT."""
    import signal

    from monitor.config import load_config

    config = load_config(config_path)
    address = listen or config.web.listen
    sock = bind(address)

    async def go() -> None:
        with Store.open(config.store_url) as store:
            server = ConsoleServer(config, store, sock)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            server.start()
            print(f"wxmon web: {server.url}/ (Ctrl-C to stop)", flush=True)
            waiter = loop.create_task(stop.wait())
            await asyncio.wait({waiter, server.task}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            await server.stop()

    asyncio.run(go())
    return 0
