"""Writing the files a user names (--out): whole or not at all, one line when it fails.

A regular file is replaced atomically (written beside it, then renamed), so a
full disk leaves the previous version in place instead of half a file. A device
or FIFO the user names (``/dev/stdout``, a pipe) is written in place: renaming
over it would replace the device node.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from monitor.errors import BadInput, file_error


def write_output(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path``. Raises BadInput (exit 2) for a path the user can
    fix and RuntimeFailure (exit 1) for a full disk or an I/O error, one line each."""
    target = Path(path)
    real = Path(os.path.realpath(target))  # through a symlink: replace the file it names, not the link
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise file_error(target, OSError(exc.errno, exc.strerror)) from None
    if mode is not None and stat.S_ISDIR(mode):
        raise BadInput(f"{target}: cannot write: it is a directory")
    try:
        if mode is not None and not stat.S_ISREG(mode):
            with open(real, "wb") as fh:
                fh.write(data)
            return target
        directory = real.parent
        if not directory.is_dir():
            what = "is not a directory" if directory.exists() else "does not exist"
            raise BadInput(f"{target}: cannot write: directory {target.parent} {what}")
        # A fresh name opened with "x" (not mkstemp): the file gets the umask's usual permissions.
        tmp = directory / f".{real.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            with open(tmp, "xb") as fh:
                fh.write(data)
            os.replace(tmp, real)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        # Name the file the user asked for, not the temporary one.
        raise file_error(target, OSError(exc.errno, exc.strerror)) from None
    return target
