"""Where a columns round's results are written: a worker thread, or a writer process.

A round hands batches of :class:`ColumnResult` to a writer and goes on checking;
one batch is in flight at a time, so memory stays bounded. Both writers call the
same :meth:`Store.apply_column_results`; they differ only in where it runs.

Why a process for big rounds: folding a batch into the store is Python work
(~20 us a column). In a thread it contends with the event loop for the GIL, and
SQLite gives the GIL up and takes it back on every row, which measured slower than
not overlapping at all (bench/bench_columns.py). In a process of its own it runs on
another core. Starting one takes ~0.3 s, so small rounds use the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
import subprocess
import sys
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Protocol

from monitor.errors import WxmonError
from monitor.helper_process import ignore_stop_signals, spawn_helper, stop_helper
from monitor.store.core import first_line
from monitor.store.records import ColumnResult

if TYPE_CHECKING:
    from monitor.store.store import Store

PROCESS_WRITER_MIN_ACCOUNTS = 2000  # below this a round is too short to repay starting a process


class WriterFailed(WxmonError):
    """The writer could not store a batch (the message names why, never a secret)."""


class ColumnWriter(Protocol):
    async def submit(self, batch: Sequence[ColumnResult], run_id: int | None) -> None:
        """Hand over one batch; returns once the previous batch is stored (raises if it failed)."""

    async def drain(self) -> None:
        """Wait until every batch handed over is stored (raises if one failed)."""


class ThreadWriter:
    """Writes in the event loop's default executor; the round waits for each batch."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def submit(self, batch: Sequence[ColumnResult], run_id: int | None) -> None:
        batch = list(batch)
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: self._store.apply_column_results(batch, run_id=run_id))

    async def drain(self) -> None:
        return None


class ProcessWriter:
    """A child process with its own connection to the store, fed batches over a socket pair.

    Start once (the daemon keeps it across rounds), :meth:`close` when done. If the child
    dies, the batch in flight and later ones fail with :class:`WriterFailed`; nothing
    half-written stays behind (each batch is one transaction).
    """

    def __init__(self, store_url: str) -> None:
        self._store_url = store_url  # may hold a password: passed to the child, never logged
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._in_flight: asyncio.Future[Any] | None = None

    def start(self) -> ProcessWriter:
        self._proc, parent = spawn_helper("monitor.store.writer")
        self._conn = Connection(parent.detach())
        try:
            self._conn.send(self._store_url)
            self._expect(self._conn.recv())  # the child opened the store
        except (EOFError, OSError):
            self.close()
            raise WriterFailed("the store writer process exited while starting") from None
        except WriterFailed:
            self.close()
            raise
        return self

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None and self._conn is not None

    async def submit(self, batch: Sequence[ColumnResult], run_id: int | None) -> None:
        await self.drain()
        if self._conn is None:
            raise WriterFailed("the store writer is closed")
        rows = [_as_tuple(r) for r in batch]  # plain tuples pickle ~7x faster than the dataclasses
        # Pickling and writing ~0.5 MB to the socket (it blocks until the child has read it) happen
        # in a thread, so the event loop goes on with the round meanwhile.
        self._in_flight = asyncio.get_running_loop().run_in_executor(None, self._exchange, self._conn, rows, run_id)

    @staticmethod
    def _exchange(conn: Connection, rows: list[tuple[Any, ...]], run_id: int | None) -> Any:
        try:
            conn.send((rows, run_id))
        except OSError:  # BrokenPipeError and the like
            return ("error", "the store writer process is gone")
        return conn.recv()

    async def drain(self) -> None:
        if self._in_flight is None:
            return
        future, self._in_flight = self._in_flight, None
        try:
            answer = await future
        except (EOFError, OSError):
            raise WriterFailed("the store writer process died before storing a batch") from None
        except asyncio.CancelledError:
            # A reader thread may still wait on the pipe: this writer cannot be trusted with
            # another batch. Its batch in flight either commits whole or not at all.
            self._abandon()
            raise
        self._expect(answer)

    def _abandon(self) -> None:
        """Stop using this writer at once; the child finishes its batch, sees EOF and exits."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(None)
            self._conn.close()
            self._conn = None
        proc, self._proc = self._proc, None
        stop_helper(proc)  # a batch in flight commits first

    @staticmethod
    def _expect(answer: Any) -> None:
        if not (isinstance(answer, tuple) and answer and answer[0] == "ok"):
            detail = answer[1] if isinstance(answer, tuple) and len(answer) > 1 else repr(answer)
            raise WriterFailed(f"the store writer failed: {detail}")


_as_tuple = operator.attrgetter(*ColumnResult.__dataclass_fields__)  # field order, as ColumnResult(*row) takes


def _serve(conn: Connection) -> None:
    """The child: open the store, apply each batch, answer ("ok", n) or ("error", why)."""
    from monitor.store.store import Store

    ignore_stop_signals()  # the parent closing the socket ends us, never in mid-batch
    try:
        store_url = conn.recv()
    except EOFError:
        return
    try:
        store = Store.open(store_url, migrate_schema=False)
    except Exception as exc:
        conn.send(("error", f"cannot open the store: {type(exc).__name__}: {first_line(exc)}"))
        return
    try:
        conn.send(("ok", 0))
        while True:
            try:
                message = conn.recv()
            except EOFError:  # the parent went away
                return
            if message is None:
                return
            rows, run_id = message
            try:
                outcome = store.apply_column_results([ColumnResult(*row) for row in rows], run_id=run_id)
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {first_line(exc)}"))
            else:
                conn.send(("ok", outcome.applied))
    finally:
        store.close()


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
