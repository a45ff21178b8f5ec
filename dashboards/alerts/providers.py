"""Where an alert goes: one small provider per channel behind one interface (as Gatus's
``alerting/provider/``): e-mail over the weekly mail's SMTP code, and Apprise URLs for
WeCom, DingTalk, Feishu and the rest.

Webhook URLs carry keys. In accounts.yaml they are written with ``${VARIABLE}``
references, resolved only here, at send time; a recipient is known to the store
and the logs by a key and a label that never hold the URL's secret part, and
the Apprise and urllib3 loggers are scrubbed of every URL part that could be one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from dashboards.mail import MailConfigError, SmtpSettings, build_message, recipient, send_each
from monitor.config import Config
from monitor.config.models import ENV_REFERENCE

log = logging.getLogger("wxmon.alerts")

# Loggers that print a webhook's URL (Apprise's plugins, the HTTP pool under them).
_LEAKY_LOGGERS = ("apprise", "urllib3.connectionpool", "requests")
_MIN_SECRET = 6  # shorter URL parts are not scrubbed (ports, "hook", "send" ...)


@dataclass(frozen=True)
class Alert:
    """One message to one recipient."""

    subject: str
    body: str


class DeliveryError(Exception):
    """The provider could not deliver (its text holds no secret)."""


class Provider(Protocol):
    key: str  # stable and secret-free: how the store names the recipient
    label: str  # for logs

    def send(self, alert: Alert) -> None:
        """Deliver ``alert``; :class:`DeliveryError` when it could not."""


# ------------------------------------------------------------------ secrets out of the logs

class _Scrub(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: list[str] = []

    def add(self, values: set[str]) -> None:
        with self._lock:
            self._secrets = sorted(set(self._secrets) | {v for v in values if len(v) >= _MIN_SECRET},
                                   key=len, reverse=True)

    def clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            try:
                message = record.getMessage()
            except Exception:  # a bad format string: drop its arguments rather than print them
                message = str(record.msg)
            record.msg, record.args = self.clean(message), ()
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = self.clean(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


_SCRUB = _Scrub()


def _install_scrubber() -> None:
    for name in _LEAKY_LOGGERS:
        logger = logging.getLogger(name)
        if _SCRUB not in logger.filters:
            logger.addFilter(_SCRUB)


def scrub(text: str) -> str:
    """``text`` without any webhook secret known to this process."""
    return _SCRUB.clean(text)


def _secret_parts(url: str) -> set[str]:
    """Every part of a URL that may be a key: user info, a host that is no host name, path
    segments, query values."""
    parts = urlsplit(url)
    found = {p for p in (parts.username, parts.password) if p}
    host = parts.hostname or ""
    if host and "." not in host:  # wecombot://KEY, dingtalk://TOKEN: the key is in the host's place
        found.add(parts.netloc.rsplit("@", 1)[-1])
    found.update(seg for seg in parts.path.split("/") if seg)
    found.update(v for _, v in parse_qsl(parts.query) if v)
    return found


def _label(template: str) -> str:
    scheme = template.split("://", 1)[0] if "://" in template else "apprise"
    host = urlsplit(template).hostname or ""
    shown = host if ("." in host and "$" not in host) else "***"
    return f"{scheme}://{shown}/…"


# ----------------------------------------------------------------------------- e-mail

class EmailProvider:
    """E-mail through the configured SMTP server (dashboards.mail)."""

    def __init__(self, smtp: SmtpSettings | None, address: str, name: str | None = None) -> None:
        self.smtp = smtp
        self.address = address
        self.name = name
        self.key = f"mail:{address.casefold()}"
        self.label = f"mail:{address}"

    def send(self, alert: Alert) -> None:
        if self.smtp is None:
            raise DeliveryError("smtp: not configured; alerts by e-mail have nowhere to be sent from")
        message = build_message(alert.subject, self.smtp.sender, recipient(self.name, self.address),
                                _html(alert.body), alert.body)
        try:
            results = send_each(self.smtp, [message])
        except MailConfigError as exc:
            raise DeliveryError(str(exc)) from None
        failed = [r for r in results if not r.ok]
        if failed or not results:
            raise DeliveryError(failed[0].error or "not delivered" if failed else "not delivered")


def _html(text: str) -> str:
    from html import escape

    return "<html><body><pre style=\"font-family:sans-serif;white-space:pre-wrap\">" + escape(text) + \
        "</pre></body></html>"


# ----------------------------------------------------------------------------- Apprise

class AppriseProvider:
    """One Apprise URL (WeCom ``wecombot://``, DingTalk ``dingtalk://``, Feishu ``feishu://``,
    ``json://`` ...), its ``${VARIABLE}`` references resolved from the environment at send time."""

    def __init__(self, template: str, env: Mapping[str, str] | None = None) -> None:
        self.template = template
        self.env = env
        # The template holds references, not keys; hashed all the same (a literal URL may hold one).
        self.key = "apprise:" + hashlib.sha256(template.encode()).hexdigest()[:16]
        self.label = _label(template)

    def resolve(self) -> str:
        env = os.environ if self.env is None else self.env
        missing = [n for n in ENV_REFERENCE.findall(self.template) if not env.get(n)]
        if missing:
            raise DeliveryError(f"{self.label}: environment variable {', '.join(missing)} is not set")
        values = {n: env[n] for n in ENV_REFERENCE.findall(self.template)}
        url = ENV_REFERENCE.sub(lambda m: values[m.group(1)], self.template)
        _SCRUB.add(set(values.values()) | _secret_parts(url) | {url})
        return url

    def send(self, alert: Alert) -> None:
        import apprise

        _install_scrubber()
        url = self.resolve()
        notifier = apprise.Apprise()
        if not notifier.add(url):
            raise DeliveryError(f"{self.label}: not a URL Apprise knows")
        try:
            ok = bool(notifier.notify(body=alert.body, title=alert.subject))
        except Exception as exc:  # a plugin's bug must not stop the other recipients
            raise DeliveryError(f"{self.label}: {scrub(type(exc).__name__ + ': ' + str(exc))}") from None
        if not ok:
            raise DeliveryError(f"{self.label}: the service did not accept the message")


# ----------------------------------------------------------------------------- recipients

@dataclass(frozen=True)
class Recipient:
    provider: Provider
    digest: bool


def _people_recipients(people: list[tuple[str | None, str | None, list[str], bool]],
                       smtp: SmtpSettings | None, env: Mapping[str, str] | None) -> list[Recipient]:
    out: list[Recipient] = []
    seen: set[str] = set()
    for name, email, urls, digest in people:
        providers: list[Provider] = []
        if email:
            providers.append(EmailProvider(smtp, email, name))
        providers += [AppriseProvider(u, env) for u in urls]
        for p in providers:
            if p.key not in seen:
                seen.add(p.key)
                out.append(Recipient(p, digest))
    return out


def account_recipients(config: Config, account_id: str, *,
                       env: Mapping[str, str] | None = None) -> list[Recipient]:
    """The account's contacts, one recipient per address and Apprise URL."""
    smtp = SmtpSettings.from_config(config.smtp) if config.smtp is not None else None
    account = config.accounts_by_id.get(account_id)
    if account is None:
        return []
    return _people_recipients([(c.name, c.email, list(c.apprise), c.digest) for c in account.contacts], smtp, env)


def supervisor_recipients(config: Config, *, env: Mapping[str, str] | None = None) -> list[Recipient]:
    smtp = SmtpSettings.from_config(config.smtp) if config.smtp is not None else None
    return _people_recipients([(s.name, s.email, list(s.apprise), s.digest) for s in config.supervisors], smtp, env)


def all_recipients(config: Config, *, env: Mapping[str, str] | None = None) -> dict[str, Recipient]:
    """Every recipient the configuration names, by key (to deliver what the store queued)."""
    out = {r.provider.key: r for r in supervisor_recipients(config, env=env)}
    for account in config.accounts:
        for r in account_recipients(config, account.id, env=env):
            out.setdefault(r.provider.key, r)
    return out


_SAFE_ERROR = re.compile(r"\s+")


def one_line(text: str) -> str:
    return _SAFE_ERROR.sub(" ", scrub(text)).strip()[:500]
