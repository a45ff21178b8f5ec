"""Typed errors of the platform API.

Each error says whose problem it is, so no caller has to guess from a code:
``blames`` is ``"monitor"`` (our network, the platform busy or malformed, a quota: the result
is ``error``) or ``"config"`` (the account's API access is not set up for us:
``unverifiable``). None of them ever blames the account itself, and none carries
a secret or an access token in its text.
"""

from __future__ import annotations


class WeChatError(Exception):
    blames = "monitor"
    retryable = False

    def __init__(self, message: str, *, endpoint: str = "", code: int | None = None) -> None:
        self.message = message
        self.endpoint = endpoint
        self.code = code
        where = f"{endpoint}: " if endpoint else ""
        tag = f" (errcode {code})" if code is not None else ""
        super().__init__(f"{where}{message}{tag}")


class NetworkError(WeChatError):
    """No usable answer: connect failure, timeout, reset connection."""

    retryable = True


class BadResponse(WeChatError):
    """An answer that is not the API's JSON (HTTP error, HTML page, garbage)."""

    retryable = True


class MalformedAnswer(WeChatError):
    """JSON whose shape or types are not what the platform documents (``field``: where).

    The platform's fault, never the account's; not retried (the same call gives the same answer).
    """

    def __init__(self, message: str, *, endpoint: str = "", code: int | None = None, field: str = "") -> None:
        super().__init__(message, endpoint=endpoint, code=code)
        self.field = field


class AnswerTooLarge(MalformedAnswer):
    """An answer longer than ``wechat.max_answer_bytes`` (received or decoded): not read further."""


class APIError(WeChatError):
    """The platform answered with a non-zero errcode not covered below."""


class Busy(APIError):
    """errcode -1: the platform is busy; retry with backoff."""

    retryable = True


class QuotaExhausted(APIError):
    """errcode 45009: the endpoint's daily quota is used up; stop until tomorrow."""


class NotAuthorized(APIError):
    """errcode 48001: the account has not been granted this API."""

    blames = "config"


class IPNotWhitelisted(APIError):
    """errcode 40164: the monitor's IP is not on the account's whitelist."""

    blames = "config"


class BadCredentials(APIError):
    """errcode 40013 / 40125 / 40001 on the token call: wrong appid or secret."""

    blames = "config"


class TokenInvalid(APIError):
    """errcode 40001 / 40014 / 42001 on a call: the token was refused."""


class NoMenu(APIError):
    """errcode 46003: the account has no API-created menu (not an error of anyone)."""


class OutOfWindow(APIError):
    """errcode 45015: the follower has not written within 48 hours."""


class FeatureOff(APIError):
    """errcode 65400: the account has not enabled the new customer-service feature."""

    blames = "config"


class AuthorizationGone(APIError):
    """The unit's authorization of wxmon's third-party platform is missing or revoked
    (61003 not authorized, 61023 refresh token invalid, the unauthorized notice): the unit must
    authorize again (``wxmon connect``). ``reason`` is the Chinese reason shown to users."""

    blames = "config"

    def __init__(self, message: str, *, endpoint: str = "", code: int | None = None, reason: str = "") -> None:
        super().__init__(message, endpoint=endpoint, code=code)
        self.reason = reason or "公众号未授权本平台（第三方平台授权已取消或失效）"


class ComponentIPNotWhitelisted(APIError):
    """errcode 61004: the monitor's IP is not on the third-party platform's whitelist."""

    blames = "config"


class ComponentUnavailable(WeChatError):
    """The third-party platform cannot act yet (no ticket pushed, 61005/61006 ticket expired or
    invalid, no component credentials): the monitor's trouble, never the account's."""

    def __init__(self, message: str, *, endpoint: str = "", code: int | None = None, reason: str = "") -> None:
        super().__init__(message, endpoint=endpoint, code=code)
        self.reason = reason or "第三方平台暂不可用"


_BY_CODE: dict[int, type[APIError]] = {
    -1: Busy,
    45009: QuotaExhausted,
    48001: NotAuthorized,
    40164: IPNotWhitelisted,
    40013: BadCredentials,
    40125: BadCredentials,
    40001: TokenInvalid,
    40014: TokenInvalid,
    42001: TokenInvalid,
    46003: NoMenu,
    45015: OutOfWindow,
    65400: FeatureOff,
    61003: AuthorizationGone,
    61023: AuthorizationGone,
    61004: ComponentIPNotWhitelisted,
}
# On the component token call: the ticket is stale or wrong (the push did not reach us).
TICKET_CODES = frozenset({61005, 61006})

TOKEN_CODES = frozenset({40001, 40014, 42001})


def describe(exc: WeChatError) -> tuple[str, str, str, int | None, str]:
    """What :func:`rebuild` needs to make ``exc`` again in another process."""
    return type(exc).__name__, exc.message, exc.endpoint, exc.code, getattr(exc, "field", "")


def rebuild(name: str, message: str, endpoint: str, code: int | None, field: str = "") -> WeChatError:
    """The error named ``name`` (a class of this module), as another process described it."""
    named = globals().get(name)
    cls: type[WeChatError]
    if isinstance(named, type) and issubclass(named, WeChatError):
        cls = named
    else:
        cls = APIError if code is not None else WeChatError
    if issubclass(cls, MalformedAnswer):
        return cls(message, endpoint=endpoint, code=code, field=field)
    return cls(message, endpoint=endpoint, code=code)


def error_for(code: int, errmsg: str, endpoint: str) -> APIError:
    cls = _BY_CODE.get(code, APIError)
    return cls(_scrub(errmsg), endpoint=endpoint, code=code)


def _scrub(text: str) -> str:
    # errmsg sometimes echoes request parts ("rid: ..." is fine, a token is not).
    text = str(text)[:200]
    return " ".join(w if len(w) < 40 else w[:6] + "…" for w in text.split())
