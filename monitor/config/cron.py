"""Standard 5-field cron expressions as APScheduler 3 triggers.

APScheduler 3's ``CronTrigger.from_crontab`` numbers weekdays from Monday = 0,
unlike cron (Sunday = 0 or 7, Monday = 1): ``0 9 * * 1`` would fire on
Tuesdays. :func:`cron_trigger` rewrites the day-of-week field into names with
cron's meaning, so the file means what a cron user reads. Use it, never
``from_crontab`` directly.
"""

from __future__ import annotations

import re

from apscheduler.triggers.cron import CronTrigger

TIMEZONE = "Asia/Shanghai"
_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_ITEM = re.compile(r"^(?P<range>\*|(?P<a>[0-7]|[a-z]{3})(?:-(?P<b>[0-7]|[a-z]{3}))?)(?:/(?P<step>\d+))?$")


class CronError(ValueError):
    pass


def _day(token: str, end: bool) -> int:
    if token.isdigit():
        return int(token)
    if token not in _NAMES:
        raise CronError(f"unknown weekday '{token}'")
    day = _NAMES.index(token)
    return 7 if end and day == 0 else day  # "fri-sun" means 5-7


def _weekdays(field: str) -> set[int]:
    """Cron weekdays of a day-of-week field, 0 = Sunday (7 folds to 0)."""
    days: set[int] = set()
    for item in field.lower().split(","):
        m = _ITEM.match(item)
        if not m:
            raise CronError(f"bad day-of-week '{item}'")
        if m["range"] == "*":
            lo, hi = 0, 6
        else:
            lo = _day(m["a"], end=False)
            hi = _day(m["b"], end=True) if m["b"] else (lo if m["step"] is None else 7)
        step = int(m["step"]) if m["step"] else 1
        if step < 1 or lo > hi:
            raise CronError(f"bad day-of-week '{item}'")
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return days


def to_apscheduler(expr: str) -> str:
    """``expr`` with its day-of-week field in APScheduler's terms (weekday names)."""
    fields = expr.split()
    if len(fields) != 5:
        raise CronError(f"wrong number of fields: got {len(fields)}, expected 5 (minute hour day month weekday) "
                        "or 6 (second first)")
    dom, dow = fields[2], fields[4]
    if dow == "*":
        return " ".join(fields)
    if dom not in ("*", "?"):
        # cron fires when either matches, APScheduler when both do: refuse the ambiguity
        raise CronError("restrict either day-of-month or day-of-week, not both")
    days = _weekdays(dow)
    fields[4] = "*" if len(days) == 7 else ",".join(_NAMES[d] for d in sorted(days))
    return " ".join(fields)


def cron_trigger(expr: str, timezone: str = TIMEZONE) -> CronTrigger:
    """The trigger for a standard cron expression in Asia/Shanghai; raises :class:`CronError`.

    Six fields put a seconds field first (``*/10 * * * * *``): for tests and
    simulations that need a job every few seconds.
    """
    fields = expr.split()
    second = "0"
    if len(fields) == 6:
        second, fields = fields[0], fields[1:]
    try:
        minute, hour, day, month, day_of_week = to_apscheduler(" ".join(fields)).split()
        return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month,
                           day_of_week=day_of_week, timezone=timezone)
    except CronError:
        raise
    except ValueError as exc:
        raise CronError(str(exc)) from None
