"""Content check (严重表述错误、敏感词、有害链接): rule files as data, one automaton, candidates for review.

:mod:`.rules` reads and validates rule files; :mod:`.checker` finds hits; :mod:`.links`
extracts outbound links. Shipped rule files: ``rules/*.yaml`` (for real use) and
``rules/samples/*.yaml`` (fictional leaders and neutral samples: the demo's and the tests').
"""

from probes.content_check.checker import Checker, Hit
from probes.content_check.rules import (
    KIND_ZH,
    KINDS,
    LoadedSet,
    RulesError,
    load_sets,
    sample_paths,
    shipped_paths,
)

__all__ = [
    "KINDS",
    "KIND_ZH",
    "Checker",
    "Hit",
    "LoadedSet",
    "RulesError",
    "load_sets",
    "sample_paths",
    "shipped_checker",
    "shipped_paths",
]


def shipped_checker(*, samples: bool = True) -> Checker:
    """The checker over the shipped rule files (and, by default, the samples: the tests' and bench's)."""
    return Checker(load_sets(shipped_paths() + (sample_paths() if samples else [])))
