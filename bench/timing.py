"""What the bench scripts share: timing a callable as the best of several runs."""

from __future__ import annotations

import time
from collections.abc import Callable


def best(fn: Callable[[], object], runs: int = 5) -> float:
    """The fastest of ``runs`` calls of ``fn``, in seconds: the least disturbed by other load."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
