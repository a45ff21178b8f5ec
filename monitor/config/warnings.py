"""What ``wxmon config check`` warns about: settings that are valid but likely wrong here.

A warning never fails the check (exit 0); it says what to do instead.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from monitor.config.models import Config
from monitor.netpolicy import AddressPolicy, is_public, literal_ip

# The default canary besides the API base: WeChat's article host, which every article link uses.
ARTICLE_HOST_URL = "https://mp.weixin.qq.com/"
_LOCAL_NAMES = ("localhost", "localhost.localdomain")


def url_host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def is_local_url(url: str) -> bool:
    """Whether ``url``'s host is this machine or a non-public address (an IP literal or localhost)."""
    host = url_host(url)
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return True
    ip = literal_ip(host)
    return ip is not None and not is_public(ip)


def is_emulator_setup(config: Config) -> bool:
    """An API base on this machine or a private network: the emulator (the demo), not WeChat."""
    return is_local_url(config.wechat.api_base)


def default_canary_urls(config: Config) -> list[str]:
    """The control URLs when ``checks.canary_urls`` is empty: the API base and the article host.

    In an emulator setup the emulator serves the pages too and the internet is not needed,
    so only the API base is asked there.
    """
    api_base = config.wechat.api_base
    return [api_base] if is_emulator_setup(config) else [api_base, ARTICLE_HOST_URL]


def config_warnings(config: Config) -> list[tuple[tuple[str | int, ...], str]]:
    """(field path, message) of each warning, in file order."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    policy = AddressPolicy.from_cidrs(config.checks.allow_private)
    emulator = is_emulator_setup(config)
    for i, url in enumerate(config.checks.canary_urls):
        if not is_local_url(url):
            continue
        host = url_host(url)
        where = "this machine" if (ip := literal_ip(host)) is None or ip.is_loopback else "a private network"
        msg = (f"points at {where} ({host}), so it cannot tell whether the monitor reaches the internet: "
               "columns rounds would run, and blame pages, while the internet is cut. ")
        msg += "Fine for the demo's emulator; on a real installation " if emulator else "Unless this is a test setup, "
        msg += ("remove checks.canary_urls (default: wechat.api_base and https://mp.weixin.qq.com/) or list "
                "URLs on the internet")
        if not policy.permits(ip if ip is not None else "127.0.0.1"):  # localhost resolves to loopback
            msg += "; checks.allow_private does not list its address either, so every round would be skipped"
        out.append((("checks", "canary_urls", i), msg))
    comp = config.component
    if (comp is not None and comp.public_url is None and not emulator
            and any(a.access == "component" for a in config.accounts)):
        # The platform pushes tickets from the internet; a unit's browser returns there too.
        out.append((("component", "callback_listen"),
                    f"the platform pushes its tickets to http://{comp.callback_listen}/wxmon/component/ticket, "
                    "which the internet cannot reach if this is a local address: set component.public_url to "
                    "the HTTPS address of a reverse proxy in front of it"))
    return out
