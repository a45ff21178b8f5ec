"""Scanning the files named on a command line (`privacy scan`, `content scan`): one place for what
a file that cannot be scanned does — one line on stderr, the others still scanned, and the exit
code saying the result is incomplete (2, bad input, wins over 1, an I/O error)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from monitor.errors import file_error
from probes.privacy import FileRefused

T = TypeVar("T")


class FileScan:
    def __init__(self) -> None:
        self.code = 0
        self.scanned = 0

    def each(self, names: Sequence[str], scan: Callable[[Path], T]) -> Iterator[tuple[str, T]]:
        """``(name, scan(path))`` for each file that could be scanned."""
        for name in names:
            try:
                result = scan(Path(name))
            except FileRefused as exc:
                print(f"wxmon: {name}: not scanned: {exc}", file=sys.stderr)
                self.code = 2
                continue
            except OSError as exc:
                error = file_error(name, OSError(exc.errno, exc.strerror), "cannot read")
                print(f"wxmon: {error}", file=sys.stderr)
                self.code = max(self.code, error.exit_code)
                continue
            self.scanned += 1
            yield name, result
