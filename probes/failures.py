"""Why a probe could not judge an account, in the words shown to users.

One place for every probe: a failure of the platform API becomes ``error``
(the monitor's own trouble, never counted against the account) or
``unverifiable`` (the account's API access is not set up for us), with a
Chinese reason naming what could not be checked. A malformed answer (the
platform's fault) and a bug of wxmon's own are worded apart: only the second
says 监测程序内部错误.
"""

from __future__ import annotations

from typing import Literal

from monitor.config import Account
from monitor.wechat import errors as E

MALFORMED = "接口返回格式异常"
# Why an account was not judged: the monitor's own trouble, or API access not set up for us.
Unjudged = Literal["error", "unverifiable"]


def api_failure(exc: BaseException, what: str = "更新情况") -> tuple[Unjudged, str]:
    """(status, Chinese reason) for a failed API call: ``error`` or ``unverifiable``."""
    if isinstance(exc, E.AuthorizationGone):
        return "unverifiable", f"{exc.reason}，无法自动核查{what}"
    if isinstance(exc, E.ComponentIPNotWhitelisted):
        return "unverifiable", f"监测服务器IP不在第三方平台的IP白名单中（61004），无法自动核查{what}"
    if isinstance(exc, E.ComponentUnavailable):
        return "error", f"{exc.reason}，本轮未核查，保留上次结果"
    if isinstance(exc, E.NotAuthorized):
        return "unverifiable", f"公众号未授权本平台调用该接口（48001），无法自动核查{what}"
    if isinstance(exc, E.IPNotWhitelisted):
        return "unverifiable", f"监测服务器IP不在该公众号的IP白名单中（40164），无法自动核查{what}"
    if isinstance(exc, E.BadCredentials):
        return "unverifiable", f"AppID或AppSecret有误（errcode {exc.code}），无法自动核查{what}"
    if isinstance(exc, E.WeChatError) and exc.blames == "config":
        return "unverifiable", f"公众号接口权限未开通（errcode {exc.code}），无法自动核查{what}"
    keep = "本轮未核查，保留上次结果"
    if isinstance(exc, E.AnswerTooLarge):
        return "error", f"{MALFORMED}（返回内容超过大小上限），{keep}"
    if isinstance(exc, E.MalformedAnswer):
        where = f"（字段 {exc.field}）" if exc.field else ""
        return "error", f"{MALFORMED}{where}，{keep}"
    if isinstance(exc, E.QuotaExhausted):
        return "error", f"接口今日调用次数已达上限（45009），{keep}"
    if isinstance(exc, E.Busy):
        return "error", f"微信平台繁忙（-1），{keep}"
    if isinstance(exc, E.NetworkError):
        return "error", f"无法连接微信接口（网络故障），{keep}"
    if isinstance(exc, E.BadResponse):
        return "error", f"微信接口返回异常，{keep}"
    if isinstance(exc, E.TokenInvalid):
        return "error", f"access_token被拒绝（errcode {exc.code}），{keep}"
    if isinstance(exc, E.APIError):
        return "error", f"微信接口返回错误（errcode {exc.code}），{keep}"
    return "error", f"监测程序内部错误（{type(exc).__name__}），{keep}"


def missing_secret_reason(account: Account, what: str = "更新情况") -> str:
    if not account.api or not account.appid:
        return f"无接口权限，无法自动核查{what}"
    if account.access == "component":
        return f"第三方平台（component:）未配置完整（环境变量未设置），无法自动核查{what}"
    return f"未设置AppSecret环境变量（{account.secret_env}），无法自动核查{what}"


# Why a page could not be opened (PageResult.error), for every probe that opens pages.
PAGE_FAILURE = {
    "timeout": "访问超时",
    "connect": "无法连接",
    "reset": "连接被重置",
    # Through a forward proxy an http:// page the proxy cannot reach answers the proxy's own 502/504:
    # a network failure like "connect" (the canary decides whose), not the site's page.
    "proxy_gateway": "经代理访问返回网关错误，无法连接该站点",
    "tls": "证书或加密连接错误",
    "too_many_redirects": "重定向次数过多",
    "bad_url": "链接格式错误",
    "bad_body": "页面压缩数据损坏，无法打开",
    # An IP-literal private address (or a redirect to one): no one outside can open it either.
    "refused_address": "链接指向内网地址",
}
# What the monitor will not or cannot read, not the account's fault: a name resolving only to
# private addresses from here (split DNS is possible), a content coding we did not ask for.
PAGE_UNVERIFIABLE = {
    "refused_dns": "链接指向内网地址（域名解析到内网地址，监测服务器按安全策略不访问）",
    "undecodable": "页面使用监测端不支持的压缩编码，本轮无法核验内容",
}


def page_error_reason(error: str | None) -> str:
    """The Chinese reason for a page fetch that failed with ``error``."""
    if error is None:
        return "页面无法读取"
    return PAGE_UNVERIFIABLE.get(error) or PAGE_FAILURE.get(error, f"页面无法读取（{error}）")
