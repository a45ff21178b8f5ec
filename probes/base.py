"""The seam between the runner and the probes: :class:`Probe` and its result row, :class:`ProbeRow`.

A probe is anything with ``run_round(ctx, accounts, run_id)``: in practice a module
(``probes.columns`` and its siblings), which mypy checks against the protocol where
:mod:`probes.registry` names it. A round returns one :class:`ProbeRow` per result
(per column for the columns probe, per account for the others); the row prints as
the JSON object of ``wxmon probe KIND --json`` (SPEC, "JSON shapes that others
parse"), laid out by its kind's :class:`RowShape`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, TypeAlias, cast, get_args

if TYPE_CHECKING:
    from monitor.config import Account
    from monitor.context import ProbeContext

Json: TypeAlias = "str | int | float | bool | list[Json] | dict[str, Json] | None"

# What a row says about its account (or column). ``error`` is the monitor's own trouble, never
# counted against the account: the runner marks a round partial or failed by it.
RowStatus = Literal[
    "ok", "unverifiable", "error",
    "failing", "broken",  # columns: failed now / confirmed (probes.confirm)
    "scheduled", "sent", "answered", "late", "unanswered", "skipped",  # inquiries
]
ROW_STATUSES: frozenset[str] = frozenset(get_args(RowStatus))


def row_status(value: str) -> RowStatus:
    """``value`` as a row status (a state read back from the store); ValueError if it is none."""
    if value not in ROW_STATUSES:
        raise ValueError(f"not a row status: {value!r}")
    return cast(RowStatus, value)


@dataclass(frozen=True, slots=True)
class RowShape:
    """How one kind's rows print: every key in order, and the name the status prints under.

    ``account``, the status and ``reason`` come from the row itself; the other keys from
    its ``fields``, each printed only when the row has it.
    """

    keys: tuple[str, ...]
    status_key: str = "status"

    def __post_init__(self) -> None:
        missing = {"account", self.status_key, "reason"} - set(self.keys)
        if missing:
            raise ValueError(f"a row shape needs the keys {sorted(missing)}")


@dataclass(slots=True)  # not frozen: that costs 4x to build, and a columns round builds 80,000 rows
class ProbeRow:
    """One result of a probe round: whose it is, its status, why, and the kind's own fields."""

    shape: RowShape
    account: str
    status: RowStatus
    reason: str = ""
    fields: Mapping[str, Json] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """The monitor could not judge this one (its own trouble, not the account's)."""
        return self.status == "error"

    def to_json(self) -> dict[str, Json]:
        """The JSON object ``wxmon probe --json`` prints for this row (keys in the shape's order)."""
        shape = self.shape
        out: dict[str, Json] = {}
        for key in shape.keys:
            if key == "account":
                out[key] = self.account
            elif key == shape.status_key:
                out[key] = self.status
            elif key == "reason":
                out[key] = self.reason
            elif key in self.fields:
                out[key] = self.fields[key]
        if len(out) != len(self.fields) + 3:
            raise ValueError(f"fields outside the row's shape: {sorted(set(self.fields) - set(shape.keys))}")
        return out


class Probe(Protocol):
    """One kind of check, run as rounds over accounts by :func:`wxmon.runner.run_probe`.

    A round records what it observed in the store itself and returns its rows; it isolates
    each account's failures (an ``error`` row), so that an exception out of it is a bug or a
    cancellation. ``run_id`` is the store's probe run the round belongs to (None outside one).
    """

    async def run_round(self, ctx: ProbeContext, accounts: Sequence[Account], run_id: int | None) -> list[ProbeRow]:
        ...
