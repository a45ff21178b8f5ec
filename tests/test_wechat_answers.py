"""Property tests of the API answer parsers (Hypothesis).

Whatever JSON the platform sends, in whatever field, the parsing layer either reads
it or raises MalformedAnswer: never another exception (which would surface as
监测程序内部错误). Well-formed answers come through unchanged and read as built.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.wechat import answers as A
from monitor.wechat import errors as E
from monitor.wechat.client import decode_answer
from probes.columns import menu_leaves
from probes.conversations import parse_records
from probes.freshness import FREEPUBLISH, MATERIAL, parse_page
from probes.inquiry import autoreply_texts

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEN = datetime(2023, 8, 1, tzinfo=UTC)

# -- arbitrary JSON ------------------------------------------------------------------------------

FIELD_NAMES = ["list", "button", "sub_button", "name", "type", "url", "value", "news_info", "content_url",
               "item", "content", "news_item", "update_time", "create_time", "article_id", "media_id",
               "errcode", "errmsg", "access_token", "expires_in", "recordlist", "openid", "opercode", "time"]
scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
           | st.sampled_from([0, -1, 10 ** 30, 1.5, "", "0", "abc", "1690848000", "-5", " 7 "]))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=6), inner, max_size=4),
    max_leaves=12)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from paths(item, prefix + (i,))


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, new)}
    return [replaced(v, rest, new) if i == head else v for i, v in enumerate(value)]


@st.composite
def mutated(draw: st.DrawFn, well_formed: st.SearchStrategy[Any]) -> Any:
    """A well-formed answer with one value anywhere (the root included) swapped for arbitrary JSON."""
    answer = draw(well_formed)
    return replaced(answer, draw(st.sampled_from(list(paths(answer)))), draw(json_values))


# -- well-formed answers -------------------------------------------------------------------------

texts = st.text(max_size=10)
ids = st.text(min_size=1, max_size=10)
times = st.integers(A.MIN_UNIX_TIME, A.MAX_UNIX_TIME - 1)
LEAF_TYPES = ["view", "miniprogram", "news", "text", "img", "voice", "video", "click", "media_id", "article_id"]


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


news_refs = optional(content_url=st.none() | texts)
leaves = st.fixed_dictionaries(
    {"name": texts, "type": st.sampled_from(LEAF_TYPES)},
    optional={"url": texts, "value": texts, "news_info": optional(list=st.lists(news_refs, max_size=3))})
groups = st.fixed_dictionaries({"name": texts, "sub_button": st.fixed_dictionaries(
    {"list": st.lists(leaves, min_size=1, max_size=5)})})
selfmenus = st.fixed_dictionaries({"is_menu_open": st.sampled_from([0, 1]), "selfmenu_info": st.fixed_dictionaries(
    {"button": st.lists(leaves | groups, max_size=3)})})


def expected_columns(menu: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What a follower sees in ``menu``, read independently of probes.columns."""
    if not menu["is_menu_open"]:
        return []
    out = []
    for top in menu["selfmenu_info"]["button"]:
        for path, leaf in ([(f"{top['name']}/{s['name']}", s) for s in top["sub_button"]["list"]]
                           if "sub_button" in top else [(top["name"], top)]):
            kind = leaf["type"]
            if kind in ("view", "miniprogram"):
                targets = (leaf["url"],) if leaf.get("url") else ()
            elif kind == "news":
                targets = tuple(n["content_url"] for n in leaf.get("news_info", {}).get("list", [])
                                if n.get("content_url"))
            else:
                targets = ()
            value = leaf.get("value") if kind in ("text", "img", "voice", "video", "news") else None
            out.append((path, kind, targets, value))
    return out


def published_pages(key: str) -> st.SearchStrategy[dict[str, Any]]:
    news = st.lists(optional(title=texts, url=texts), max_size=3)
    content = optional(news_item=news, update_time=times, create_time=times)
    items = st.lists(st.fixed_dictionaries({key: ids}, optional={"update_time": times, "content": content}),
                     max_size=4)
    return st.fixed_dictionaries({"item": items}, optional={"total_count": st.integers(0, 10 ** 6),
                                                            "item_count": st.integers(0, 20)})


records = st.fixed_dictionaries({"openid": ids, "opercode": st.sampled_from([1000, 2001, 2002, 2003]), "time": times},
                                optional={"text": texts, "worker": texts})
record_pages = st.fixed_dictionaries({"recordlist": st.lists(records, max_size=5)},
                                     optional={"number": st.integers(0, 10000), "msgid": st.integers(1, 10 ** 9)})
tokens = st.fixed_dictionaries({"access_token": ids}, optional={"expires_in": st.integers(1, A.MAX_EXPIRES_IN)})
reply = optional(type=st.sampled_from(["text", "img", "news"]), content=texts)
autoreplies = optional(is_autoreply_open=st.sampled_from([0, 1]), add_friend_autoreply_info=reply,
                       message_default_autoreply_info=reply,
                       keyword_autoreply_info=optional(list=st.lists(optional(reply_list_info=st.lists(reply,
                                                                                                      max_size=3)),
                                                                     max_size=3)))
articles = optional(news_item=st.lists(optional(title=texts, url=texts, content=texts, is_deleted=st.booleans()),
                                       max_size=3))
quotas = optional(quota=optional(daily_limit=st.integers(0, 10 ** 6), used=st.integers(0, 10 ** 6),
                                 remain=st.integers(0, 10 ** 6)))

# (model, its well-formed answers, everything the probes do with one)
PARSERS: dict[str, tuple[Any, st.SearchStrategy[Any], Callable[[Any], Any]]] = {
    "selfmenu": (A.SelfMenu, selfmenus, lambda raw: menu_leaves("acct", raw)),
    "freepublish": (A.FreepublishPage, published_pages("article_id"),
                    lambda raw: parse_page("acct", FREEPUBLISH, raw, SEEN)),
    "material": (A.MaterialPage, published_pages("media_id"), lambda raw: parse_page("acct", MATERIAL, raw, SEEN)),
    "msgrecord": (A.MsgRecordPage, record_pages,
                  lambda raw: parse_records(A.check(A.MsgRecordPage, raw).get("recordlist") or [])),
    "token": (A.TokenAnswer, tokens, lambda raw: A.check(A.TokenAnswer, raw)),
    "autoreply": (A.AutoReply, autoreplies, lambda raw: autoreply_texts(A.check(A.AutoReply, raw))),
    "article": (A.Article, articles, lambda raw: A.check(A.Article, raw)),
    "quota": (A.QuotaAnswer, quotas, lambda raw: A.check(A.QuotaAnswer, raw)),
}


# -- properties ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PARSERS))
@FAST
@given(data=st.data())
def test_any_json_anywhere_is_read_or_malformed_never_another_error(name, data):
    model, well_formed, parse = PARSERS[name]
    raw = data.draw(mutated(well_formed) | json_values)
    try:
        parse(raw)
        checked = A.check(model, raw)
    except E.MalformedAnswer as exc:
        assert exc.blames == "monitor" and not exc.retryable
        return
    assert A.check(model, checked) == checked  # a checked answer passes again, unchanged


@pytest.mark.parametrize("name", list(PARSERS))
@FAST
@given(data=st.data())
def test_well_formed_answers_come_through_unchanged(name, data):
    model, well_formed, parse = PARSERS[name]
    raw = data.draw(well_formed)
    assert A.check(model, raw) == raw
    assert A.check(model, json.loads(json.dumps(raw))) == raw
    parse(raw)


@FAST
@given(selfmenus)
def test_a_well_formed_menu_reads_as_built(menu):
    assert [(c.path, c.type, c.targets, c.value) for c in menu_leaves("acct", menu)] == expected_columns(menu)


@FAST
@given(published_pages("article_id"))
def test_a_well_formed_page_reads_as_built(page):
    items, entries = parse_page("acct", FREEPUBLISH, page, SEEN)
    assert entries == len(page["item"])
    expected = []
    for entry in page["item"]:
        content = entry.get("content", {})
        when = entry.get("update_time") or content.get("update_time") or content.get("create_time")
        news = content.get("news_item") or [{}]
        for i, article in enumerate(news):
            expected.append((entry["article_id"] if len(news) == 1 else f"{entry['article_id']}#{i}",
                             article.get("title"), article.get("url") or None, when))
    assert [(i.item_id, i.title, i.url, i.published_at and int(i.published_at.timestamp())) for i in items] == expected


@FAST
@given(st.lists(records, max_size=6))
def test_well_formed_records_read_as_built(recs):
    assert parse_records(recs) == [(r["time"], r["opercode"], r["openid"]) for r in recs
                                   if r["opercode"] in (2002, 2003)]


@FAST
@given(json_values.map(lambda v: json.dumps(v).encode("utf-8")) | st.binary(max_size=40))
def test_any_body_decodes_to_an_object_or_a_typed_error(body):
    try:
        data = decode_answer(body, "cgi-bin/x")
    except E.WeChatError as exc:
        assert not isinstance(exc, E.APIError) or exc.code not in (None, 0)
        return
    assert isinstance(data, dict) and not (data.get("errcode") or 0)


@pytest.mark.parametrize(("value", "ok"), [
    (1690848000, True), ("1690848000", True), (1690848000.0, True), (0, None), (None, None),
    ("abc", False), (True, False), (1690848000.5, False), (-1690848000, False), (86400, False), (10 ** 12, False),
    (float("nan"), False), (float("inf"), False), ([1690848000], False), ("1e9", False),
])
def test_publication_times(value, ok):
    page = {"item": [{"article_id": "A", "update_time": value}]}
    if ok is False:
        with pytest.raises(E.MalformedAnswer, match="update_time"):
            A.check(A.FreepublishPage, page)
    else:
        checked = A.check(A.FreepublishPage, page)["item"][0]["update_time"]
        assert checked == (1690848000 if ok else None)
