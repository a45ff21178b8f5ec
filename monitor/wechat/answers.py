"""Typed models of the API answers wxmon reads, and the one way to check an answer.

Every answer is checked against its model before anything reads it. A wrong type,
a missing required field or an implausible time is the platform's fault: it raises
:class:`~monitor.wechat.errors.MalformedAnswer` (the monitor's ``error``, never held
against the account), never a crash in a probe, never a verdict.

The models are TypedDicts validated by pydantic: a checked answer is still a plain
dict, so callers read it as before and it pickles cheaply across the API helper
process; it holds only the declared fields, each of its declared type (2.5x faster
than BaseModels on the menu, which a columns round reads for every account). Only
fields somebody reads are declared: an answer that varies elsewhere is never refused.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Required, TypeVar

from pydantic import PlainValidator, StringConstraints, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from monitor.wechat import errors as E

T = TypeVar("T")

# The platform opened to official accounts in 2012; 2100 keeps datetime arithmetic far from overflow.
MIN_UNIX_TIME = 1_325_376_000  # 2012-01-01 UTC
MAX_UNIX_TIME = 4_102_444_800  # 2100-01-01 UTC
MAX_EXPIRES_IN = 31 * 86400
_DECIMAL = re.compile(r"-?[0-9]{1,18}")
_REF_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FIELD = re.compile(r"[a-z_][a-z0-9_]*")  # our field names; union branch labels are not


def _int(value: object) -> int:
    # JSON numbers only, or decimal strings (seen for times); never booleans or fractions.
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    if type(value) is str and _DECIMAL.fullmatch(value):
        return int(value)
    raise ValueError("not an integer")


def _unix_time(value: object) -> int:
    seconds = _int(value)
    if not MIN_UNIX_TIME <= seconds < MAX_UNIX_TIME:
        raise ValueError("not a plausible unix time")
    return seconds


def _optional_time(value: object) -> int | None:
    # 0 is how the platform leaves a time unset (update_time beside content, for one).
    if value is None or _int(value) == 0:
        return None
    return _unix_time(value)


def _expires_in(value: object) -> int:
    seconds = _int(value)
    if not 0 < seconds <= MAX_EXPIRES_IN:
        raise ValueError("not a token lifetime")
    return seconds


def _count(value: object) -> int:
    number = _int(value)
    if number < 0:
        raise ValueError("a negative count")
    return number


Int = Annotated[int, PlainValidator(_int)]
Count = Annotated[int, PlainValidator(_count)]
UnixTime = Annotated[int, PlainValidator(_unix_time)]
OptionalTime = Annotated[int | None, PlainValidator(_optional_time)]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]


# -- every answer ------------------------------------------------------------------------------


class Envelope(TypedDict, total=False):
    errcode: Int | None
    errmsg: str | None


class TokenAnswer(TypedDict, total=False):
    """``cgi-bin/stable_token``."""

    access_token: Required[Annotated[str, StringConstraints(min_length=1, max_length=2048)]]
    expires_in: Annotated[int, PlainValidator(_expires_in)]


# -- menus -------------------------------------------------------------------------------------


class NewsRef(TypedDict, total=False):
    content_url: str | None


class NewsInfo(TypedDict, total=False):
    list: list[NewsRef] | None


class MenuLeaf(TypedDict, total=False):
    name: str | None
    type: str | None
    url: str | None
    value: str | None  # text, or a media id (img/voice/video/news)
    news_info: NewsInfo | None


class SubMenu(TypedDict, total=False):
    list: list[MenuLeaf] | None


class MenuButton(MenuLeaf, total=False):
    # {"list": [...]} in get_current_selfmenu_info, a plain array in menu/get
    sub_button: SubMenu | list[MenuLeaf] | None


class MenuButtons(TypedDict, total=False):
    button: list[MenuButton] | None


class SelfMenu(TypedDict, total=False):
    """``cgi-bin/get_current_selfmenu_info``: the menu as followers see it."""

    is_menu_open: Int | None
    selfmenu_info: MenuButtons | None


# -- published articles ------------------------------------------------------------------------


class NewsItem(TypedDict, total=False):
    title: str | None
    url: str | None


class PublishedContent(TypedDict, total=False):
    news_item: list[NewsItem] | None
    # The docs put update_time beside content; the platform has been seen putting it here.
    update_time: OptionalTime
    create_time: OptionalTime


class FreepublishItem(TypedDict, total=False):
    article_id: Required[NonEmpty]
    update_time: OptionalTime
    content: PublishedContent | None  # absent with no_content=1


class MaterialItem(TypedDict, total=False):
    media_id: Required[NonEmpty]
    update_time: OptionalTime
    content: PublishedContent | None


class FreepublishPage(TypedDict, total=False):
    """``cgi-bin/freepublish/batchget``."""

    total_count: Count | None
    item_count: Count | None
    item: list[FreepublishItem] | None


class MaterialPage(TypedDict, total=False):
    """``cgi-bin/material/batchget_material`` (type news)."""

    total_count: Count | None
    item_count: Count | None
    item: list[MaterialItem] | None


class ArticlePart(TypedDict, total=False):
    title: str | None
    url: str | None
    content: str | None  # the article's HTML
    is_deleted: bool | None


class Article(TypedDict, total=False):
    """``cgi-bin/freepublish/getarticle``."""

    news_item: list[ArticlePart] | None


def _ref_date(value: object) -> str:
    if type(value) is not str or not _REF_DATE.fullmatch(value):
        raise ValueError("not a YYYY-MM-DD date")
    date.fromisoformat(value)  # a real day, or ValueError
    return value


RefDate = Annotated[str, PlainValidator(_ref_date)]


class ArticleSummaryEntry(TypedDict, total=False):
    """One 群发 article read on ``ref_date``; ``msgid`` is ``{msg_data_id}_{index}``."""

    ref_date: Required[RefDate]
    msgid: Required[Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[0-9]+_[0-9]+$")]]
    title: str | None
    int_page_read_user: Count | None
    int_page_read_count: Count | None


class ArticleSummary(TypedDict, total=False):
    """``datacube/getarticlesummary`` (图文群发每日数据)."""

    list: list[ArticleSummaryEntry] | None


# -- replies and conversations ---------------------------------------------------------------


class AutoReplyItem(TypedDict, total=False):
    type: str | None
    content: str | None


class KeywordRule(TypedDict, total=False):
    reply_list_info: list[AutoReplyItem] | None


class KeywordRules(TypedDict, total=False):
    list: list[KeywordRule] | None


class AutoReply(TypedDict, total=False):
    """``cgi-bin/get_current_autoreply_info``."""

    is_add_friend_reply_open: Int | None
    is_autoreply_open: Int | None
    add_friend_autoreply_info: AutoReplyItem | None
    message_default_autoreply_info: AutoReplyItem | None
    keyword_autoreply_info: KeywordRules | None


class MsgRecord(TypedDict, total=False):
    openid: Required[str]
    opercode: Required[Int]
    time: Required[UnixTime]
    text: str | None  # may hold personal data: never logged
    worker: str | None


class MsgRecordPage(TypedDict, total=False):
    """``customservice/msgrecord/getmsglist``."""

    recordlist: list[MsgRecord] | None
    number: Count | None
    msgid: Int | None


class Quota(TypedDict, total=False):
    daily_limit: Count
    used: Count
    remain: Count


class QuotaAnswer(TypedDict, total=False):
    """``cgi-bin/openapi/quota/get``."""

    quota: Quota | None


# -- checking ----------------------------------------------------------------------------------

_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def check(model: type[T], data: object, endpoint: str = "") -> T:
    """``data`` checked against ``model``: a new dict of the declared fields, or MalformedAnswer."""
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(model)
    try:
        return adapter.validate_python(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise malformed(exc, endpoint) from None


def malformed(exc: ValidationError, endpoint: str) -> E.MalformedAnswer:
    """The first problem pydantic found, named by its field path (never quoting the value)."""
    first = exc.errors(include_url=False, include_input=False)[0]
    parts = [str(p) for p in first["loc"] if isinstance(p, int) or _FIELD.fullmatch(p)]
    field = ".".join(parts)[-80:]
    return E.MalformedAnswer(f"{field or 'answer'}: {first['msg']}", endpoint=endpoint, field=field)
