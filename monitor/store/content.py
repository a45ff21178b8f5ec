"""Published content (articles and pages) as the probes found it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor import clock
from monitor.store.core import StoreCore, chunks
from monitor.store.records import CONTENT_SOURCES, ContentItem, PublicationSpan, check_choice
from monitor.store.tables import content_items


class ContentStore(StoreCore):
    def upsert_content_items(self, items: Iterable[ContentItem], *, refresh: bool = True) -> list[ContentItem]:
        """Insert new items, refresh title/url/published_at of known ones (unless ``refresh`` is
        False: datacube lists an article again on every day it is read, and its first day stays).

        Returns the items seen for the first time (``first_seen_at`` set).
        """
        now = clock.now()
        by_key: dict[tuple[str, str, str], ContentItem] = {}
        for item in items:
            check_choice("content source", item.source, CONTENT_SOURCES)
            by_key[(item.account_id, item.source, item.item_id)] = item  # last one wins
        if not by_key:
            return []
        keys = list(by_key)
        c = content_items.c
        with self._write() as conn:
            existing: set[tuple[str, str, str]] = set()
            # Per (account, source), so the unique index answers: SQLite scanned the whole
            # index for a row-value IN list (measured: minutes at 760,000 items).
            groups: dict[tuple[str, str], list[str]] = {}
            for account_id, source, item_id in keys:
                groups.setdefault((account_id, source), []).append(item_id)
            for (account_id, source), item_ids in groups.items():
                for chunk in chunks(item_ids, 500):
                    rows = conn.execute(
                        sa.select(c.item_id).where(c.account_id == account_id, c.source == source,
                                                   c.item_id.in_(list(chunk)))
                    )
                    existing.update((account_id, source, r.item_id) for r in rows)
            new = [
                ContentItem(
                    account_id=i.account_id,
                    source=i.source,
                    item_id=i.item_id,
                    title=i.title,
                    url=i.url,
                    published_at=i.published_at,
                    first_seen_at=i.first_seen_at or now,
                )
                for k, i in by_key.items()
                if k not in existing
            ]
            if new:
                conn.execute(
                    self._dialect.insert(content_items).on_conflict_do_nothing(
                        index_elements=[c.account_id, c.source, c.item_id]
                    ),
                    [_content_row(i) for i in new],
                )
            updates = [
                {"p_account_id": k[0], "p_source": k[1], "p_item_id": k[2], "p_title": i.title, "p_url": i.url,
                 "p_published_at": i.published_at}
                for k, i in by_key.items()
                if k in existing and refresh
            ]
            if updates:
                conn.execute(
                    sa.update(content_items)
                    .where(
                        c.account_id == sa.bindparam("p_account_id"),
                        c.source == sa.bindparam("p_source"),
                        c.item_id == sa.bindparam("p_item_id"),
                    )
                    .values(
                        title=sa.bindparam("p_title"),
                        url=sa.bindparam("p_url"),
                        published_at=sa.bindparam("p_published_at"),
                    ),
                    updates,
                )
        return new

    def last_published(self, *, before: datetime | None = None) -> dict[str, datetime]:
        """Latest publication time per account (one query for all accounts)."""
        query = sa.select(content_items.c.account_id, sa.func.max(content_items.c.published_at).label("last")).where(
            content_items.c.published_at.is_not(None)
        )
        if before is not None:
            query = query.where(content_items.c.published_at < before)
        query = query.group_by(content_items.c.account_id)
        with self._read() as conn:
            return {row.account_id: row.last for row in conn.execute(query)}

    def content_sources(self, *, before: datetime) -> dict[str, dict[str, datetime]]:
        """Per account and source, its latest publication before ``before`` (which sources
        have ever seen the account publish; one query for all accounts)."""
        c = content_items.c
        query = (
            sa.select(c.account_id, c.source, sa.func.max(c.published_at).label("last"))
            .where(c.published_at.is_not(None), c.published_at < before)
            .group_by(c.account_id, c.source)
        )
        out: dict[str, dict[str, datetime]] = {}
        with self._read() as conn:
            for row in conn.execute(query):
                out.setdefault(row.account_id, {})[row.source] = row.last
        return out

    def content_between(
        self, start: datetime, end: datetime, *, account_id: str | None = None
    ) -> list[ContentItem]:
        """Items published in ``[start, end)``, in publication order."""
        query = (
            sa.select(content_items)
            .where(content_items.c.published_at >= start, content_items.c.published_at < end)
            .order_by(content_items.c.published_at, content_items.c.id)
        )
        if account_id is not None:
            query = query.where(content_items.c.account_id == account_id)
        with self._read() as conn:
            return [content_record(row) for row in conn.execute(query).mappings()]

    def publication_spans(self, start: datetime, end: datetime) -> list[PublicationSpan]:
        """Per account with items published in ``[start, end)``: the first and last
        publication and the widest gap between consecutive ones.

        The gaps are computed by the database (a window function), so one row per
        account comes back, not one per article.
        """
        ci = content_items.c
        t = self._dialect.epoch_seconds(ci.published_at)
        published = self._dialect.unindexed(ci.published_at)
        inner = (
            sa.select(
                ci.account_id,
                t.label("t"),
                (t - sa.func.lag(t).over(partition_by=ci.account_id, order_by=ci.published_at)).label("gap"),
            )
            .where(published >= start, published < end)
            .subquery()
        )
        query = sa.select(
            inner.c.account_id,
            sa.func.min(inner.c.t).label("first"),
            sa.func.max(inner.c.t).label("last"),
            sa.func.max(inner.c.gap).label("inner_gap"),
        ).group_by(inner.c.account_id)
        with self._read() as conn:
            return [
                PublicationSpan(r.account_id, float(r.first), float(r.last),
                                None if r.inner_gap is None else float(r.inner_gap))
                for r in conn.execute(query)
            ]


def content_record(row: sa.RowMapping) -> ContentItem:
    return ContentItem(**{k: v for k, v in row.items() if k != "id"})


def _content_row(item: ContentItem) -> dict[str, Any]:
    return {
        "account_id": item.account_id,
        "source": item.source,
        "item_id": item.item_id,
        "title": item.title,
        "url": item.url,
        "published_at": item.published_at,
        "first_seen_at": item.first_seen_at,
    }
