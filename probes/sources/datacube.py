"""群发 articles from ``datacube/getarticlesummary`` (图文群发每日数据).

One call per day, at most yesterday: the list holds the 群发 articles *read* that
day, so an article shows again on each day it is read. It is stored once, under
its ``msgid``, with the first day it was seen: published no later than the end
of that day (the end, so our coarse view never ages an account's update).
Never today: an article sent today is seen tomorrow.

Each round reads back from yesterday to the last day an article was seen or the
day before the last successful look (at least ``MIN_DAYS``, at most ``MAX_DAYS``
calls): a daily round costs a few calls. Freshness reads it only for accounts
whose feed is absent or failed (a feed sees 群发 already).
An article first seen on the oldest day read may be older than that day: it is
not stored from that round (see :func:`read`).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from monitor.clock import SHANGHAI, to_local
from monitor.store import ContentItem
from monitor.wechat import AccountAPI
from probes.sources import DATACUBE

MIN_DAYS = 3  # rounds missed for a day or two are caught up
MAX_DAYS = 15  # covers the 2-week update rule on a first round


def days_to_read(last_known: datetime | None, now: datetime, last_look: datetime | None = None) -> list[date]:
    """Newest first: yesterday back to the day of ``last_known`` or the day before the last
    successful freshness look (which read up to then), whichever is later (bounded)."""
    yesterday = to_local(now).date() - timedelta(days=1)
    oldest = yesterday - timedelta(days=MAX_DAYS - 1)
    marks = [to_local(last_known).date()] if last_known is not None else []
    if last_look is not None:
        marks.append(to_local(last_look).date() - timedelta(days=1))
    if marks:
        oldest = max(oldest, min(max(marks), yesterday - timedelta(days=MIN_DAYS - 1)))
    return [yesterday - timedelta(days=i) for i in range((yesterday - oldest).days + 1)]


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time(0), SHANGHAI)


async def read(api: AccountAPI, account_id: str, last_known: datetime | None, now: datetime,
               last_look: datetime | None = None) -> list[ContentItem]:
    """Every 群发 article read on the days to read; all or nothing (a failed day raises)."""
    first_seen: dict[str, tuple[date, str | None]] = {}
    days = days_to_read(last_known, now, last_look)
    for day in days:
        for entry in await api.article_summary(day):
            seen = date.fromisoformat(entry["ref_date"])
            known = first_seen.get(entry["msgid"])
            if known is None or seen < known[0]:
                first_seen[entry["msgid"]] = (seen, entry.get("title"))
    # Seen first on the oldest day read: published then or any day before. Dated that day it would
    # look younger than it is, so it is left out (a daily round has stored it already).
    return [ContentItem(account_id, DATACUBE.name, msgid, title, None, start_of_day(day), now)
            for msgid, (day, title) in first_seen.items() if day != days[-1]]
