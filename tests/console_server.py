"""The console served by uvicorn on 127.0.0.1 (a free port) in a thread of its own, for tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from monitor.config import Config
from monitor.store import Store
from wxmon.web import ConsoleServer, bind

TEST_KEY = "k" * 64  # signs the test sessions (a real console takes web.secret_env or its key file)


@contextmanager
def running_console(config: Config, store: Store) -> Iterator[ConsoleServer]:
    """The socket listens before the server starts, so requests queue until it accepts: no wait."""
    sock = bind("127.0.0.1:0")
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: list[ConsoleServer] = []
    failure: list[BaseException] = []
    done = asyncio.Event()

    async def serve() -> None:
        server = ConsoleServer(config, store, sock, key=TEST_KEY)
        holder.append(server)
        server.start()
        started.set()
        waiter = asyncio.ensure_future(done.wait())
        await asyncio.wait({waiter, server.task}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        await server.stop()  # as `wxmon web` stops: the warm-up and the cache's work end too

    def run() -> None:
        try:
            loop.run_until_complete(serve())
        except BaseException as exc:  # surfaced to the test below
            failure.append(exc)
            started.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="console", daemon=True)
    thread.start()
    started.wait()
    if failure:
        raise failure[0]
    server = holder[0]
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(done.set)
        thread.join()
        sock.close()
