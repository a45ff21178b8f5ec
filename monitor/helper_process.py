"""Helper processes: a plain child interpreter running one of our modules, over a socket pair.

Used where a round has Python work that would otherwise share the event loop's core:
the store writer (:mod:`monitor.store.writer`) and the API helper
(:mod:`monitor.wechat.remote`). A plain ``python -m`` child, not multiprocessing's
spawn, which re-imports the caller's ``__main__`` (the CLI, a test runner).

The child gets its end of the socket pair as ``argv[1]`` (a file descriptor). It
ignores SIGINT and SIGTERM and exits when the parent closes its end, so a Ctrl-C
or a service stop reaching the whole process group never cuts its work short.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])


def spawn_helper(module: str) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """Start ``python -m module FD``; returns the process and the parent's end of the socket."""
    parent, child = socket.socketpair()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    try:
        proc = subprocess.Popen([sys.executable, "-m", module, str(child.fileno())],
                                pass_fds=[child.fileno()], stdin=subprocess.DEVNULL, env=env)
    except BaseException:
        parent.close()
        raise
    finally:
        child.close()
    return proc, parent


def stop_helper(proc: subprocess.Popen[bytes] | None, grace_s: float = 30.0) -> None:
    """Wait for a child whose socket the parent has closed; kill it if it does not exit."""
    if proc is None:
        return
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def ignore_stop_signals() -> None:
    """In the child: the parent decides when we stop (EOF on the socket)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
