"""The HTTP server: one aiohttp app on one port, run in a background thread or in the foreground."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from pathlib import Path
from types import FrameType, TracebackType

from aiohttp import web

from emulator import api, bridge, component, control, pages
from emulator.responses import WORLD
from emulator.scenario import Scenario, ScenarioError, load_scenario
from emulator.world import World
from monitor.clock import Clock, SystemClock, VirtualClock, to_local


def build_app(world: World) -> web.Application:
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[WORLD] = world
    api.add_routes(app)
    pages.add_routes(app)
    control.add_routes(app)
    component.add_routes(app)  # the third-party platform (开放平台, emulator/component.py)
    bridge.add_routes(app)  # the follower as a tester-device rig (docs/bridge-openapi.yaml)
    return app


def default_clock(scenario: Scenario) -> Clock:
    """A virtual clock when the scenario sets ``clock.start``, real time otherwise."""
    return VirtualClock(scenario.clock.start) if scenario.clock.start is not None else SystemClock()


class EmulatorServer:
    """The emulator in a background thread with its own event loop."""

    def __init__(self, scenario: Scenario | None = None, host: str = "127.0.0.1", port: int = 0,
                 clock: Clock | None = None) -> None:
        self.scenario = scenario if scenario is not None else load_scenario(None)
        self.clock = clock if clock is not None else default_clock(self.scenario)
        self.world = World(self.scenario, self.clock)
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> EmulatorServer:
        """Start serving; returns once listening (raises OSError when the port cannot be bound)."""
        if self._thread is not None:
            raise RuntimeError("emulator already started")
        self._thread = threading.Thread(target=self._run, name="wxmon-emulator", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        # shutdown_timeout bounds stop() while hang pages are still being answered
        runner = web.AppRunner(build_app(self.world), access_log=None, shutdown_timeout=0.5)
        try:
            loop.run_until_complete(self._listen(runner))
        except BaseException as exc:  # reported to start()'s caller
            self._error = exc
            loop.run_until_complete(runner.cleanup())
            loop.close()
            self._ready.set()
            return
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            # Handlers still sleeping (slow and hang faults) past the shutdown timeout: end them
            # here rather than leave them to be destroyed pending.
            left = asyncio.all_tasks(loop)
            for task in left:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.close()

    async def _listen(self, runner: web.AppRunner) -> None:
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=1024)
        await site.start()
        self.port = runner.addresses[0][1]

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def serve_forever(host: str = "127.0.0.1", port: int = 8780, scenario: str | Path | None = None,
                  seed: int | None = None) -> int:
    """Run the emulator until SIGINT/SIGTERM; the exit code for ``wxmon emulator``."""
    try:
        loaded = load_scenario(scenario, seed)
    except ScenarioError as exc:
        for line in str(exc).splitlines():
            print(f"wxmon emulator: {line}", file=sys.stderr)
        return 2
    server = EmulatorServer(loaded, host=host, port=port)
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            server.start()
        except OSError as exc:
            print(f"wxmon emulator: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        clock = (f"virtual clock at {to_local(server.clock.now()).isoformat()}"
                 if isinstance(server.clock, VirtualClock) else "real time")
        print(f"wxmon emulator listening on {server.base_url} ({len(loaded.accounts)} accounts, {clock})",
              flush=True)
        while not stopping.wait(0.5):
            pass
        server.stop()
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
