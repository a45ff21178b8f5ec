"""Skips for what a machine lacks (root, a database server), and failures for them on CI.

A developer's machine may lack root or PostgreSQL: those tests skip with the reason.
CI (``CI=true``, as .ci/run is started) has both, so a skip there would hide a test
that never ran: it fails instead.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> NoReturn:
    """Skip for ``reason`` here; fail on CI, which must run every test."""
    if on_ci():
        pytest.fail(f"CI must run this test, but: {reason}")
    pytest.skip(reason)
