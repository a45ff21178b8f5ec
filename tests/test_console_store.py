"""Console users and the audit log in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_fixtures import T0, store, store_url, vclock  # noqa: F401  (fixtures)

from monitor import clock
from monitor.store import NotFound, Store
from monitor.store.users import UserExists


def test_users_are_added_once_changed_and_disabled_with_an_audit_trail(store: Store,  # noqa: F811
                                                                       vclock: clock.VirtualClock) -> None:  # noqa: F811
    added = store.add_user("li", role="editor", unit="甲街道", password_hash="$argon2id$v=19$x", actor="cli:root")
    assert (added.role, added.unit, added.disabled, added.created_at) == ("editor", "甲街道", False, T0)
    with pytest.raises(UserExists):
        store.add_user("li", role="supervisor", unit=None, password_hash="h", actor="cli:root")
    with pytest.raises(ValueError, match="role"):
        store.add_user("x", role="admin", unit=None, password_hash="h", actor="cli:root")
    vclock.advance(timedelta(minutes=5))
    store.set_password_hash("li", "$argon2id$v=19$y", actor="li")
    store.disable_user("li", actor="boss")
    with pytest.raises(NotFound):
        store.disable_user("nobody", actor="boss")
    user = store.get_user("li")
    assert user is not None and user.disabled and user.password_hash == "$argon2id$v=19$y"
    assert user.updated_at == T0 + timedelta(minutes=5)
    assert [u.name for u in store.users()] == ["li"]
    store.record_audit("boss", "download.export", "2023Q3", {"format": "xlsx", "unit": None})
    log = store.audit_log()
    assert [(e.actor, e.action, e.target) for e in log] == [
        ("boss", "download.export", "2023Q3"), ("boss", "user.disable", "li"), ("li", "user.passwd", "li"),
        ("cli:root", "user.add", "li")]
    assert log[0].detail == {"format": "xlsx", "unit": None}
    assert log[-1].detail == {"role": "editor", "unit": "甲街道"}
    assert store.audit_log(actor="li")[0].action == "user.passwd"
    assert "$argon2id$v=19$y" not in repr(log)  # hashes are not audited
