"""Who may see what: the one place for the console's roles.

supervisor: everything. editor: the accounts of their unit (``unit:`` in accounts.yaml), read-only.
inspector: their inquiry tasks only. Anything outside a user's reach answers 404, as if it did not
exist, so a unit's editor cannot even learn which accounts their neighbours have.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.config import Config
from monitor.store.users import ConsoleUser

SUPERVISOR, EDITOR, INSPECTOR = "supervisor", "editor", "inspector"
ROLE_LABELS = {SUPERVISOR: "督查人员", EDITOR: "单位编辑", INSPECTOR: "巡检员"}


@dataclass(frozen=True, slots=True)
class Viewer:
    name: str
    role: str
    unit: str | None

    @classmethod
    def of(cls, user: ConsoleUser) -> Viewer:
        return cls(user.name, user.role, user.unit)

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)

    @property
    def sees_accounts(self) -> bool:
        return self.role in (SUPERVISOR, EDITOR)

    @property
    def sees_district(self) -> bool:
        """The documents about every unit: bulletin, weekly charts, the whole export."""
        return self.role == SUPERVISOR

    def may_see_unit(self, unit: str | None) -> bool:
        if self.role == SUPERVISOR:
            return True
        return self.role == EDITOR and self.unit is not None and unit == self.unit

    def may_see_task(self, inspector: str | None) -> bool:
        """An inquiry task: a supervisor sees all; an inspector those issued to their name (the
        user name is the inspector's name in accounts.yaml)."""
        return self.role == SUPERVISOR or (self.role == INSPECTOR and inspector is not None and inspector == self.name)

    def account_ids(self, config: Config) -> list[str]:
        """The accounts this viewer may see, in config order."""
        return [a.id for a in config.accounts if self.may_see_unit(a.unit)]

    def units(self, config: Config) -> list[str]:
        seen: dict[str, None] = {}
        for account in config.accounts:
            if account.unit and self.may_see_unit(account.unit):
                seen.setdefault(account.unit)
        return list(seen)
