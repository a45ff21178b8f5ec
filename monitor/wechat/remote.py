"""API calls made in a helper process, for rounds that make thousands of them.

A columns round after a start reads a token and a menu for every account: at 10,000
accounts that is 20,000 requests of ~100 us of Python work each, on the core the
round needs for its page checks. :class:`RemoteAPI` hands such calls to a child
process (``python -m monitor.wechat.remote``), which makes them with the same
:class:`~monitor.wechat.client.AccountAPI` code on the other core and sends the
answers back in batches.

The parent stays the owner of what calls share: it gives the child the account's
cached token and caches the one the child used, counts the child's requests in its
quota book, and gets failures back as the same typed :mod:`~monitor.wechat.errors`.
If the child dies, its unanswered calls fail with :class:`RemoteUnavailable` and the
caller makes them inline. Secrets travel only over the private socket pair.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import pickle
import socket
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from monitor.errors import WxmonError
from monitor.helper_process import ignore_stop_signals, spawn_helper, stop_helper
from monitor.logs import logging_mode, setup_logging
from monitor.proxy import Proxies
from monitor.wechat import errors as E
from monitor.wechat.client import AccountAPI, RetryPolicy, WeChatAPI
from monitor.wechat.quota import QuotaBook
from monitor.wechat.tokens import TokenCache

log = logging.getLogger(__name__)

MIN_CALLS = 2000  # below this many calls a round, starting the process (~0.3 s) does not pay
START_TIMEOUT_S = 30.0
_HEADER = struct.Struct("!I")  # frame: payload length, then a pickle (both ends are ours)
START_FRAME_BYTES = 1 << 20  # the settings frame, before the answer limit is known


class RemoteUnavailable(WxmonError):
    """The API helper process is gone or could not start: make the call inline."""


class RemoteCrashed(WxmonError):
    """A call failed inside the helper with an unexpected error (a bug; named by its type)."""


class FrameTooLarge(EOFError):
    """A frame announced longer than the agreed limit: the stream is not read past it."""


def frame_limit(max_answer_bytes: int) -> int:
    """Longest frame either side reads: one answer's pickle (under twice its JSON) and change."""
    return 2 * max_answer_bytes + (1 << 20)


def _frame(obj: Any) -> bytes:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(payload)) + payload


async def _read_frame(reader: asyncio.StreamReader, limit: int) -> Any:
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    if size > limit:
        raise FrameTooLarge(f"a frame of {size} bytes (limit {limit})")
    return pickle.loads(await reader.readexactly(size))


def _answer_frames(batch: list[tuple[Any, ...]], limit: int) -> Iterator[bytes]:
    """``batch`` in frames of at most ``limit`` bytes; an answer too long alone becomes AnswerTooLarge."""
    frame = _frame(batch)
    if len(frame) - _HEADER.size <= limit:
        yield frame
    elif len(batch) > 1:
        half = len(batch) // 2
        yield from _answer_frames(batch[:half], limit)
        yield from _answer_frames(batch[half:], limit)
    else:
        request_id, _ok, _payload, *rest = batch[0]
        error = E.AnswerTooLarge(f"answer over {limit} bytes between processes")
        yield _frame([(request_id, False, ("wechat", *E.describe(error)), *rest)])


class RemoteAPI:
    """The parent's side: :meth:`submit` a call, await its future; :meth:`aclose` when done."""

    def __init__(self, api: WeChatAPI) -> None:
        self.api = api
        self.settings = api.settings()
        self._frame_limit = frame_limit(self.settings["max_answer_bytes"])
        self.calls: Counter[str] = Counter()  # HTTP requests the helper made, by endpoint
        self._proc: subprocess.Popen[bytes] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        # request id -> (future, account, endpoint, the token handed over)
        self._pending: dict[int, tuple[asyncio.Future[dict[str, Any]], AccountAPI, str, str | None]] = {}
        self._outbox: list[tuple[Any, ...]] = []
        self._next_id = 0

    async def start(self) -> RemoteAPI:
        loop = asyncio.get_running_loop()
        try:
            self._proc, sock = await loop.run_in_executor(None, spawn_helper, "monitor.wechat.remote")
            reader, self._writer = await asyncio.open_unix_connection(sock=sock)
            self._writer.write(_frame(_start_message(self.settings)))
            if await asyncio.wait_for(_read_frame(reader, START_FRAME_BYTES), START_TIMEOUT_S) != "ready":
                raise EOFError
        except (TimeoutError, EOFError, OSError, asyncio.IncompleteReadError, pickle.UnpicklingError):
            await self.aclose()
            raise RemoteUnavailable("the API helper process exited while starting") from None
        except asyncio.CancelledError:  # no await here: stop the child at once
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            if self._proc is not None:
                self._proc.kill()
            raise
        self._reader_task = asyncio.ensure_future(self._read_answers(reader))
        return self

    @property
    def alive(self) -> bool:
        return (self._proc is not None and self._proc.poll() is None and self._writer is not None
                and self._reader_task is not None and not self._reader_task.done())

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def submit(self, account: AccountAPI, method: str, endpoint: str, *,
               params: dict[str, Any] | None = None, body: dict[str, Any] | None = None,
               ) -> asyncio.Future[dict[str, Any]]:
        """Queue one token-authenticated call (as :meth:`AccountAPI.call` makes it).

        Calls submitted in the same turn of the event loop go to the helper in one message.
        The answer comes back as the raw JSON object: check it with :mod:`monitor.wechat.answers`.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        try:
            if not self.alive:
                raise RemoteUnavailable("the API helper process is not running")
            if not account.remote_ok:
                raise RemoteUnavailable("this account's token comes from its authorization: called inline")
            account.check_budget(endpoint)
        except (RemoteUnavailable, E.QuotaExhausted) as exc:
            future.set_exception(exc)
            return future
        token = self.api.tokens.get(account.appid, self.api.now())
        self._next_id += 1
        self._pending[self._next_id] = (future, account, endpoint, token)
        self._outbox.append((self._next_id, account.appid, account._secret, token, method, endpoint, params, body))
        if len(self._outbox) == 1:
            loop.call_soon(self._flush)
        return future

    async def call(self, account: AccountAPI, method: str, endpoint: str, **kwargs: Any) -> dict[str, Any]:
        return await self.submit(account, method, endpoint, **kwargs)

    def _flush(self) -> None:
        batch, self._outbox = self._outbox, []
        if batch and self._writer is not None and not self._writer.is_closing():
            self._writer.write(_frame(batch))

    async def _read_answers(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                for answer in await _read_frame(reader, self._frame_limit):
                    self._settle(*answer)
        except FrameTooLarge as exc:  # a bug of ours: stop trusting the helper, make its calls here
            log.error("API helper: %s; %d unanswered calls are made inline", exc, len(self._pending))
        except (asyncio.IncompleteReadError, OSError, pickle.UnpicklingError, EOFError):
            if self._writer is not None:  # not closed by us
                log.warning("the API helper process exited; %d unanswered calls are made inline",
                            len(self._pending))
        finally:
            self._fail_pending()

    def _settle(self, request_id: int, ok: bool, payload: Any, token: str | None, expires_in: int,
                calls: list[str]) -> None:
        entry = self._pending.pop(request_id, None)
        if entry is None:
            return
        future, account, endpoint, given = entry
        api, appid = self.api, account.appid
        self.calls.update(calls)
        spent = calls.count(endpoint)
        if spent:
            api.quotas.spend(appid, endpoint, spent)
        if token is not None:
            api.tokens.put(appid, token, expires_in, api.now())
        if ok:
            outcome: Any = payload
        elif payload[0] == "wechat":
            outcome = E.rebuild(*payload[1:])
            if isinstance(outcome, E.QuotaExhausted):
                api.quotas.mark_exhausted(appid, endpoint)
            elif isinstance(outcome, E.TokenInvalid) and given is not None:
                api.tokens.drop(appid, given)
        else:
            outcome = RemoteCrashed(f"{endpoint}: {payload[1]} in the API helper process")
        if not future.done():
            if ok:
                future.set_result(outcome)
            else:
                future.set_exception(outcome)

    def _fail_pending(self) -> None:
        pending, self._pending = self._pending, {}
        self._outbox = []
        for future, *_ in pending.values():
            if not future.done():
                future.set_exception(RemoteUnavailable("the API helper process is gone"))

    async def aclose(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            if not writer.is_closing():
                writer.write(_frame(None))
            writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            await asyncio.gather(self._reader_task, return_exceptions=True)
            self._reader_task = None
        self._fail_pending()
        proc, self._proc = self._proc, None
        if proc is not None:
            await asyncio.get_running_loop().run_in_executor(None, stop_helper, proc, 10.0)


def _start_message(settings: dict[str, Any]) -> dict[str, Any]:
    return {**settings, "logging": logging_mode()}  # the helper logs as the daemon does (JSON lines or not)


# -- the child ------------------------------------------------------------------------------------

HELPER_NICE = 10  # reads run ahead of need: they take the CPU the round's own work leaves idle
HANDED_TOKEN_S = 7200  # a token the parent hands over is fresh by the parent's clock; it stays its owner
_job_calls: contextvars.ContextVar[list[str]] = contextvars.ContextVar("job_calls")


class _CountingAPI(WeChatAPI):
    """Notes every request (each attempt) under the job making it: the parent counts them."""

    async def _once(self, method: str, endpoint: str, params: dict[str, Any] | None,
                    body: dict[str, Any] | None) -> dict[str, Any]:
        calls = _job_calls.get(None)
        if calls is not None:
            calls.append(endpoint)
        return await super()._once(method, endpoint, params, body)


class _ParentsQuotas(QuotaBook):
    """The parent's book decides (it checked before handing the call over); here nothing is kept."""

    def blocked_until(self, appid: str, endpoint: str) -> datetime | None:
        return None

    def spend(self, appid: str, endpoint: str, calls: int = 1) -> None:
        return None

    def mark_exhausted(self, appid: str, endpoint: str) -> datetime:
        return self._now()


class _FetchedTokens(TokenCache):
    """Remembers the lifetime of each token fetched here, to hand it to the parent."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: dict[str, tuple[str, int]] = {}

    def put(self, appid: str, value: str, expires_in: int, now: datetime) -> None:
        super().put(appid, value, expires_in, now)
        self.fetched[appid] = (value, int(expires_in))


async def _serve(fd: int) -> None:
    ignore_stop_signals()  # the parent closing the socket ends us
    os.nice(HELPER_NICE)
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_unix_connection(sock=socket.socket(fileno=fd))
    try:
        settings = await _read_frame(reader, START_FRAME_BYTES)
    except (asyncio.IncompleteReadError, OSError, EOFError):
        return
    setup_logging(**settings["logging"])  # its messages hold no secret (error kinds and endpoints only)
    api = _CountingAPI(settings["api_base"], timeout=settings["timeout"], retry=RetryPolicy(*settings["retry"]),
                       quotas=_ParentsQuotas(budgets={}), max_connections=settings["max_connections"],
                       max_answer_bytes=settings["max_answer_bytes"],
                       proxies=Proxies.from_spec(settings.get("proxies")))  # credentials: from our environment
    limit = frame_limit(settings["max_answer_bytes"])
    tokens = api.tokens = _FetchedTokens()
    outbox: list[tuple[Any, ...]] = []

    def flush() -> None:
        nonlocal outbox
        batch, outbox = outbox, []
        if not writer.is_closing():
            for frame in _answer_frames(batch, limit):
                writer.write(frame)

    async def job(request_id: int, appid: str, secret: str, token: str | None, method: str, endpoint: str,
                  params: dict[str, Any] | None, body: dict[str, Any] | None) -> None:
        calls: list[str] = []
        _job_calls.set(calls)  # this job's own task context
        if token is not None:
            tokens.put(appid, token, HANDED_TOKEN_S, api.now())
            tokens.fetched.pop(appid, None)  # handed over, not fetched here
        answer: tuple[Any, ...]
        try:
            result = await api.account(appid, secret).call(method, endpoint, params=params, body=body)
            answer = (request_id, True, result)
        except E.WeChatError as exc:
            answer = (request_id, False, ("wechat", *E.describe(exc)))
        except Exception as exc:
            log.error("API helper: %s on %s", type(exc).__name__, endpoint)
            answer = (request_id, False, ("crash", type(exc).__name__))
        fetched = tokens.fetched.pop(appid, None)
        if fetched is not None and tokens.get(appid, api.now()) != fetched[0]:
            fetched = None  # fetched, then refused: nothing worth keeping
        tokens.drop(appid)  # the parent keeps tokens; we keep nothing between calls
        outbox.append(answer + ((fetched[0], fetched[1]) if fetched else (None, 0)) + (calls,))
        if len(outbox) == 1:
            loop.call_soon(flush)

    tasks: set[asyncio.Task[None]] = set()
    try:
        writer.write(_frame("ready"))
        while True:
            try:
                batch = await _read_frame(reader, limit)
            except (asyncio.IncompleteReadError, OSError, EOFError):
                break
            if batch is None:
                break
            for request in batch:
                task = loop.create_task(job(*request))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
    finally:
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await api.aclose()
        writer.close()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1])))
