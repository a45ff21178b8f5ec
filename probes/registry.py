"""The probe kinds ``wxmon probe KIND`` and the scheduler run as rounds, by name.

Each kind's module is imported at its first round, not here: ``wxmon status`` lists
the kinds without loading the probes (and their HTTP stack). The loaders are typed,
so mypy checks each module against :class:`~probes.base.Probe`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

from probes.base import Probe, ProbeRow

if TYPE_CHECKING:
    from monitor.config import Account
    from monitor.context import ProbeContext

ALL = "all"  # every kind, in the registry's order


class Deferred:
    """A :class:`Probe` whose module is imported when its first round runs."""

    __slots__ = ("_load",)

    def __init__(self, load: Callable[[], Probe]) -> None:
        self._load = load

    async def run_round(self, ctx: ProbeContext, accounts: Sequence[Account], run_id: int | None) -> list[ProbeRow]:
        return await self._load().run_round(ctx, accounts, run_id)


def _columns() -> Probe:
    from probes import columns

    return columns


def _inquiry() -> Probe:
    from probes import inquiry

    return inquiry


def _freshness() -> Probe:
    from probes import freshness

    return freshness


def _privacy() -> Probe:
    from probes import privacy_probe

    return privacy_probe


# In the order ``all`` runs them: freshness before privacy (privacy reads the items freshness stored).
PROBES: Mapping[str, Probe] = MappingProxyType({
    "columns": Deferred(_columns),
    "inquiry": Deferred(_inquiry),
    "freshness": Deferred(_freshness),
    "privacy": Deferred(_privacy),
})
KINDS: tuple[str, ...] = (*PROBES, ALL)

