"""Which proxy, if any, a request goes through: ``http.proxy`` of accounts.yaml or the environment.

The standard variables (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY, any case) are read
when ``http.env_proxy`` is true; ``http.proxy`` replaces the first three. Loopback and
``localhost`` are always reached directly: no proxy can reach the monitor's own machine.

A proxy URL may hold credentials (only from the environment): :func:`redact` is the only
form that goes into a log line or a message.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from monitor.config.models import Http

log = logging.getLogger(__name__)

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain"})
_warned: set[str] = set()  # variables already warned about


def redact(url: str) -> str:
    """``url`` without user name and password (``http://***@proxy:8080``), safe to log."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unreadable proxy URL)"
    auth = "***@" if parts.username is not None or parts.password is not None else ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{auth}{host}{port}"


def _env(environ: Mapping[str, str], name: str) -> str | None:
    # curl reads lower case first; an empty value means unset.
    return (environ.get(name.lower()) or environ.get(name.upper()) or "").strip() or None


@dataclass(frozen=True, repr=False)  # the URLs may hold credentials: see __repr__
class Proxies:
    """The proxy for http:// and for https:// targets, and the hosts reached directly."""

    http: str | None = None
    https: str | None = None
    no_proxy: tuple[str, ...] = ()
    source: str = "none"  # none | config | environment: where the proxy came from (for messages)
    settings: Mapping[str, Any] | None = field(default=None, compare=False)  # http: of accounts.yaml

    @classmethod
    def resolve(cls, http: Http | None = None, environ: Mapping[str, str] | None = None) -> Proxies:
        """The proxies ``http:`` of accounts.yaml and the environment describe."""
        found = cls._resolve(http, os.environ if environ is None else environ)
        return replace(found, settings=http.model_dump()) if http is not None else found

    @classmethod
    def _resolve(cls, http: Http | None, env: Mapping[str, str]) -> Proxies:
        use_env = http is None or http.env_proxy
        no_proxy: list[str] = list(http.no_proxy) if http is not None else []
        if use_env:
            no_proxy += [e.strip() for e in (_env(env, "NO_PROXY") or "").split(",") if e.strip()]
        if http is not None and http.proxy:
            return cls(http.proxy, http.proxy, tuple(no_proxy), "config")
        if not use_env:
            return cls(no_proxy=tuple(no_proxy))
        every = _usable(_env(env, "ALL_PROXY"), "ALL_PROXY")
        # HTTP_PROXY is ignored when REQUEST_METHOD is set (CGI: a client can set the Proxy header).
        plain = None if env.get("REQUEST_METHOD") else _usable(_env(env, "HTTP_PROXY"), "HTTP_PROXY")
        found = cls(plain or every, _usable(_env(env, "HTTPS_PROXY"), "HTTPS_PROXY") or every, tuple(no_proxy),
                    "environment")
        return found if found.http or found.https else cls(no_proxy=tuple(no_proxy))

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> Proxies:
        """Rebuilt in another process from :meth:`spec` (credentials come from its environment again)."""
        if spec is None:
            return cls()
        if not spec:
            return cls.resolve()
        from monitor.config.models import Http

        return cls.resolve(Http.model_validate(spec))

    def spec(self) -> dict[str, Any] | None:
        """What another process needs to resolve the same proxies, without credentials."""
        return dict(self.settings) if self.settings is not None else ({} if self.active else None)

    @property
    def active(self) -> bool:
        return bool(self.http or self.https)

    def for_url(self, url: str) -> str | None:
        """The proxy URL for a request to ``url`` (credentials included: never log it), or None."""
        if not self.active:
            return None
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
        except ValueError:
            return None
        proxy = self.https if parts.scheme == "https" else self.http if parts.scheme == "http" else None
        if proxy is None or not host or self.bypass(host):
            return None
        return proxy

    def bypass(self, host: str) -> bool:
        """Whether ``host`` is reached directly (loopback, localhost, or listed in no_proxy)."""
        host = host.lower().rstrip(".").strip("[]")
        if host in _LOCAL_NAMES:
            return True
        try:
            ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is not None and ip.is_loopback:
            return True
        return any(_matches(entry, host, ip) for entry in self.no_proxy)

    def __repr__(self) -> str:
        return f"Proxies({self.describe()})"

    def describe(self) -> str:
        """One line for logs: the proxies without credentials."""
        if not self.active:
            return "no proxy"
        shown = {redact(p) for p in (self.http, self.https) if p}
        return f"proxy {', '.join(sorted(shown))} (from {self.source})"


def _usable(url: str | None, name: str) -> str | None:
    """``url`` if it is an http:// or https:// proxy; None with a warning otherwise (e.g. socks5://)."""
    if url is None:
        return None
    if "://" not in url:
        url = "http://" + url  # "proxy:3128", as curl reads it
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port
    except ValueError:
        ok = False
    if not ok:
        if name in _warned:
            return None
        _warned.add(name)  # once per process: resolved again for every channel
        log.warning("%s is not an http:// or https:// proxy (%s): ignored, requests go direct", name, redact(url))
        return None
    return url


def _matches(entry: str, host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
    entry = entry.strip().lower()
    if entry == "*":
        return True
    if "/" in entry:
        try:
            return ip is not None and ip in ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False
    if entry.startswith("[") or entry.count(":") > 1:  # an IPv6 address, maybe bracketed
        return ip is not None and entry.strip("[]") == str(ip)
    entry = entry.split(":", 1)[0].lstrip("*").lstrip(".")  # a port is ignored, as curl does
    return bool(entry) and (host == entry or host.endswith("." + entry))


def describe_urls(urls: Sequence[str]) -> str:
    """URLs for a log line: scheme, host, port and path only (no credentials, no query)."""
    out = []
    for url in urls:
        try:
            parts = urlsplit(url)
            port = f":{parts.port}" if parts.port else ""
            out.append(f"{parts.scheme}://{parts.hostname}{port}{parts.path}")
        except ValueError:
            out.append("(unreadable URL)")
    return ", ".join(out)
