"""Exceptions that cross module boundaries and map to exit codes."""

from __future__ import annotations

import errno
import os


class WxmonError(Exception):
    """Base of wxmon's own errors. ``exit_code`` is what the CLI returns."""

    exit_code = 1


class BadInput(WxmonError):
    """The user gave something wrong (usage, config, file). One line per problem."""

    exit_code = 2

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class RuntimeFailure(WxmonError):
    """The machine could not do it now (disk full, I/O error, store locked): exit 1."""


# The place is fine but the machine is not: trying again later (or after freeing
# space) can work, so these are runtime failures rather than bad input.
_RUNTIME_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG", "EIO", "ENOMEM", "EAGAIN", "EINTR")
    if hasattr(errno, name)
)


def is_runtime_oserror(exc: OSError) -> bool:
    """Whether an OSError is the machine's trouble (exit 1) rather than a bad path (exit 2)."""
    return exc.errno in _RUNTIME_ERRNOS


def os_problem(exc: OSError) -> str:
    """``strerror`` of an OSError without Python's ``[Errno N]`` decoration."""
    if exc.strerror:
        return exc.strerror
    if exc.errno:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


def file_error(path: object, exc: OSError, action: str = "cannot write") -> WxmonError:
    """One line naming the file and what went wrong; exit 1 for a full disk or I/O
    error, 2 for a path the user can fix (missing directory, no permission, a directory)."""
    where = exc.filename if exc.filename not in (None, "") else path
    line = f"{os.fsdecode(where) if isinstance(where, bytes) else where}: {action}: {os_problem(exc)}"
    return RuntimeFailure(line) if is_runtime_oserror(exc) else BadInput(line)
