"""The weekly e-mail: MIME building and SMTP delivery, one message per recipient.

Message layout (what Outlook, Foxmail, Coremail and webmail all display)::

    multipart/mixed
      multipart/alternative
        text/plain                 summary for text-only clients
        multipart/related
          text/html                <img src="cid:NAME">
          image/png                Content-ID: <NAME>   (one per chart)
      text/csv ...                 attachments, RFC 2231 file names

Delivery uses one SMTP session for all messages and reconnects when the
session breaks. Every recipient gets a :class:`DeliveryResult`; a refused
address does not stop the others. Credentials come from environment variables
named in the settings and never appear in errors or logs.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import smtplib
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from monitor.config import Smtp

log = logging.getLogger("wxmon.mail")

Security = Literal["ssl", "starttls", "none"]
DEFAULT_PORTS: dict[str, int] = {"ssl": 465, "starttls": 587, "none": 25}

# Give up on the remaining messages after this many session set-ups in a row
# failed (server down, TLS broken): each attempt can cost a full timeout.
_MAX_CONSECUTIVE_CONNECT_FAILURES = 2
# SMTP reply codes that mean "this session is over, try again on a new one".
_SESSION_CODES = {421}


class MailConfigError(ValueError):
    """The SMTP settings or the environment they name are unusable (nothing was sent)."""


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the outgoing mail server (accounts.yaml ``smtp``)."""

    host: str
    port: int | None
    security: Security
    username_env: str | None
    password_env: str | None
    sender: str
    timeout: float = 30.0

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]

    @classmethod
    def from_config(cls, smtp: Smtp | Mapping[str, Any]) -> SmtpSettings:
        """Build from the config model (``monitor.config.models.Smtp``) or a mapping with at least host and sender."""
        if not isinstance(smtp, Mapping):
            return cls(
                host=smtp.host,
                port=smtp.port,
                security=smtp.security,
                username_env=smtp.username_env,
                password_env=smtp.password_env,
                sender=smtp.sender,
                timeout=float(smtp.timeout_s or 30.0),
            )
        timeout = smtp.get("timeout_s") or smtp.get("timeout") or 30.0
        return cls(
            host=smtp["host"],
            port=smtp.get("port"),
            security=smtp.get("security", "ssl"),
            username_env=smtp.get("username_env"),
            password_env=smtp.get("password_env"),
            sender=smtp["sender"],
            timeout=float(timeout),
        )


@dataclass(frozen=True)
class DeliveryResult:
    recipient: str
    ok: bool
    error: str | None = None


# --------------------------------------------------------------------------- building


def _domain_of(sender: str) -> str | None:
    addr = parseaddr(sender)[1]
    if "@" in addr:
        return addr.rsplit("@", 1)[1].strip() or None
    return None


def _split_mimetype(mimetype: str) -> tuple[str, str]:
    maintype, sep, subtype = mimetype.partition("/")
    if not sep or not maintype or not subtype:
        raise ValueError(f"bad MIME type {mimetype!r}: expected 'type/subtype'")
    return maintype.strip().lower(), subtype.split(";", 1)[0].strip().lower()


def _strip_cid(cid: str) -> str:
    return cid.strip().removeprefix("cid:").strip("<>")


def recipient(name: str | None, email: str) -> str:
    """A To: value from a supervisor's name and address (Chinese names are fine)."""
    return str(Address(display_name=name or "", addr_spec=email))


def build_message(
    subject: str,
    sender: str,
    to: str,
    html: str,
    text: str,
    inline_images: Sequence[tuple[str, bytes]] = (),
    attachments: Sequence[tuple[str, bytes, str]] = (),
    *,
    date: datetime | None = None,
) -> EmailMessage:
    """Build the weekly e-mail for one recipient.

    ``inline_images`` are ``(cid, png_bytes)``; the HTML refers to them as
    ``<img src="cid:CID">``. ``attachments`` are ``(filename, data, mimetype)``.
    Non-ASCII subject, names and file names are encoded on output (RFC 2047 for
    headers, RFC 2231 for file names).
    """
    msg = EmailMessage(policy=email_policy.SMTP)
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = format_datetime(date or datetime.now(UTC).astimezone())
    msg["Message-ID"] = make_msgid(domain=_domain_of(sender))
    # RFC 3834: stops vacation auto-replies from mailing the robot back.
    msg["Auto-Submitted"] = "auto-generated"

    # base64 keeps Chinese text 7-bit clean for servers without 8BITMIME.
    msg.set_content(text, subtype="plain", charset="utf-8", cte="base64")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
    parts = msg.get_payload()
    assert isinstance(parts, list)
    html_part = parts[1]
    assert isinstance(html_part, EmailMessage)  # add_alternative makes its parts of the message's own class
    if inline_images:
        html_part.make_related()
        html_part.set_param("type", "text/html")  # RFC 2387 root type; older Outlook wants it
    seen: set[str] = set()
    for cid, data in inline_images:
        name = _strip_cid(cid)
        if not name or name in seen:
            raise ValueError(f"inline image content id {cid!r} is empty or repeated")
        seen.add(name)
        html_part.add_related(
            data, maintype="image", subtype="png", cid=f"<{name}>", disposition="inline", filename=f"{name}.png"
        )
    msg.make_mixed()
    for filename, data, mimetype in attachments:
        maintype, subtype = _split_mimetype(mimetype)
        # name= on Content-Type as well: some clients only look there.
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename, params={"name": filename})
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]  # only the top level carries it
    return msg


# --------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class _Credentials:
    username: str
    password: str


def _credentials(settings: SmtpSettings, env: Mapping[str, str]) -> _Credentials | None:
    if not settings.username_env and not settings.password_env:
        return None
    if not settings.username_env or not settings.password_env:
        raise MailConfigError("smtp: username_env and password_env go together: set both or neither")
    username = env.get(settings.username_env)
    if not username:
        raise MailConfigError(
            f"smtp: environment variable {settings.username_env} (SMTP user name, smtp.username_env) is not set"
        )
    password = env.get(settings.password_env)
    if password is None or password == "":
        raise MailConfigError(
            f"smtp: environment variable {settings.password_env} (SMTP password, smtp.password_env) is not set"
        )
    return _Credentials(username, password)


class _Scrubber:
    """Removes the password (and the AUTH blobs that encode it) from text."""

    def __init__(self, creds: _Credentials | None) -> None:
        secrets: set[str] = set()
        if creds is not None and creds.password:
            pw = creds.password
            blobs = [
                pw.encode("utf-8"),
                b"\0" + creds.username.encode("utf-8") + b"\0" + pw.encode("utf-8"),  # AUTH PLAIN
            ]
            secrets.add(pw)
            for blob in blobs:
                secrets.add(base64.b64encode(blob).decode("ascii"))
            secrets.add(repr(pw)[1:-1])  # as it looks inside a repr() of bytes/str
        self._secrets = sorted((s for s in secrets if s), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _describe(exc: BaseException) -> str:
    """One line about an SMTP failure, with the server's reply decoded."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        parts = []
        for addr, (code, resp) in exc.recipients.items():
            parts.append(f"{addr}: {code} {_text(resp)}")
        return "recipient refused: " + "; ".join(parts)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"sender {exc.sender} refused: {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"authentication failed: {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__}: {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {exc.verify_message or exc}"
    if isinstance(exc, TimeoutError):
        return f"timed out: {exc}" if str(exc) else "timed out"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def _text(resp: bytes | str) -> str:
    if isinstance(resp, bytes):
        resp = resp.decode("utf-8", "replace")
    return " ".join(resp.split())


class _SessionBroken(Exception):
    """The session is unusable; retry the message on a new one."""


class _SessionFatal(Exception):
    """No message can be sent with these settings (bad credentials, no TLS ...)."""


def _message_recipients(msg: EmailMessage) -> list[str]:
    fields = [str(v) for key in ("To", "Cc", "Bcc") for v in (msg.get_all(key) or [])]
    return [addr for _, addr in getaddresses(fields) if addr]


class _Session:
    def __init__(
        self,
        settings: SmtpSettings,
        creds: _Credentials | None,
        ssl_context: ssl.SSLContext | None,
        local_hostname: str | None,
    ) -> None:
        self.settings = settings
        self.creds = creds
        self.ssl_context = ssl_context
        self.local_hostname = local_hostname
        self.smtp: smtplib.SMTP | None = None

    def open(self) -> smtplib.SMTP:
        s = self.settings
        ctx = self.ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                s.host, s.effective_port, local_hostname=self.local_hostname, timeout=s.timeout, context=ctx
            )
        else:
            smtp = smtplib.SMTP(s.host, s.effective_port, local_hostname=self.local_hostname, timeout=s.timeout)
        smtp.set_debuglevel(0)  # debug output would print the AUTH exchange
        try:
            smtp.ehlo()
            if s.security == "starttls":
                if not smtp.has_extn("starttls"):
                    # Never fall back to plain text when TLS was asked for.
                    raise _SessionFatal(f"server {s.host}:{s.effective_port} does not offer STARTTLS")
                smtp.starttls(context=ctx)
                smtp.ehlo()
            if self.creds is not None:
                if not smtp.has_extn("auth"):
                    raise _SessionFatal(
                        f"server {s.host}:{s.effective_port} does not offer AUTH"
                        + (" before TLS (use security: starttls or ssl)" if s.security == "none" else "")
                    )
                try:
                    smtp.login(self.creds.username, self.creds.password)
                except smtplib.SMTPAuthenticationError as exc:
                    raise _SessionFatal(_describe(exc)) from None
                except smtplib.SMTPServerDisconnected:
                    raise  # transient: the caller reconnects
                except UnicodeError:
                    # smtplib sends AUTH data as ASCII; the exception would carry the secret.
                    raise _SessionFatal(
                        "login failed: the SMTP user name or password has non-ASCII characters, "
                        "which smtplib cannot send"
                    ) from None
                except smtplib.SMTPException as exc:
                    raise _SessionFatal(f"login failed: {_describe(exc)}") from None
        except BaseException:
            _close(smtp)
            raise
        self.smtp = smtp
        return smtp

    def close(self) -> None:
        if self.smtp is not None:
            smtp, self.smtp = self.smtp, None
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                _close(smtp)


def _close(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        smtp.close()


def send_each(
    settings: SmtpSettings,
    messages: Iterable[EmailMessage],
    *,
    ssl_context: ssl.SSLContext | None = None,
    env: Mapping[str, str] | None = None,
    local_hostname: str | None = None,
) -> list[DeliveryResult]:
    """Send each message to its own recipients over one SMTP session.

    Returns one result per recipient address, in order. A refused address, or a
    message the server rejects, fails alone; a broken session is reopened and
    the message retried once. Bad credentials, a server without the TLS that
    was asked for, or repeated connection failures fail the remaining messages
    without further attempts (no password guessing loops against the server).

    Raises :class:`MailConfigError` before connecting when the settings or the
    environment variables they name are unusable.
    """
    creds = _credentials(settings, os.environ if env is None else env)
    if settings.security not in DEFAULT_PORTS:
        raise MailConfigError(f"smtp.security: {settings.security!r} is not one of ssl, starttls, none")
    scrub = _Scrubber(creds)
    envelope_from = parseaddr(settings.sender)[1] or settings.sender
    session = _Session(settings, creds, ssl_context, local_hostname)
    results: list[DeliveryResult] = []
    fatal: str | None = None
    connect_failures = 0

    def record(rcpts: list[str], ok: bool, error: str | None = None) -> None:
        for addr in rcpts:
            err = scrub(error) if error else None
            results.append(DeliveryResult(addr, ok, err))
            if ok:
                log.info("mail delivered to %s", addr)
            else:
                log.warning("mail to %s failed: %s", addr, err)

    try:
        for msg in messages:
            rcpts = _message_recipients(msg)
            if not rcpts:
                record(["(no recipient)"], False, "message has no To/Cc/Bcc address")
                continue
            if fatal is not None:
                record(rcpts, False, f"not sent: {fatal}")
                continue
            for attempt in (1, 2):
                try:
                    smtp = session.smtp
                    if smtp is None:
                        try:
                            smtp = session.open()  # _SessionFatal passes through
                        except (smtplib.SMTPException, OSError) as exc:
                            connect_failures += 1
                            where = f"{settings.host}:{settings.effective_port}"
                            detail = f"cannot open SMTP session to {where}: {_describe(exc)}"
                            if connect_failures >= _MAX_CONSECUTIVE_CONNECT_FAILURES:
                                raise _SessionFatal(detail) from None
                            raise _SessionBroken(detail) from None
                        connect_failures = 0
                    try:
                        refused = smtp.send_message(msg, from_addr=envelope_from, to_addrs=rcpts)
                    except smtplib.SMTPRecipientsRefused as exc:
                        # All refused; smtplib has already sent RSET, the session is fine.
                        record(rcpts, False, _describe(exc))
                        break
                    except smtplib.SMTPResponseException as exc:
                        if exc.smtp_code in _SESSION_CODES:
                            session.close()
                            raise _SessionBroken(_describe(exc)) from None
                        # smtplib has already sent RSET; the session goes on.
                        record(rcpts, False, _describe(exc))
                        break
                    except (smtplib.SMTPServerDisconnected, OSError) as exc:
                        session.close()
                        raise _SessionBroken(_describe(exc)) from None
                    except smtplib.SMTPException as exc:
                        # e.g. SMTPNotSupportedError: an address needs SMTPUTF8 the server lacks.
                        record(rcpts, False, _describe(exc))
                        _reset(session)
                        break
                    for addr in rcpts:
                        if addr in refused:
                            code, resp = refused[addr]
                            record([addr], False, f"recipient refused: {addr}: {code} {_text(resp)}")
                        else:
                            record([addr], True)
                    break
                except _SessionBroken as exc:
                    if attempt == 2:
                        record(rcpts, False, str(exc))
                    else:
                        log.info("SMTP session broken (%s); reconnecting", scrub(str(exc)))
                except _SessionFatal as exc:
                    fatal = str(exc)
                    record(rcpts, False, fatal)
                    break
    finally:
        session.close()
    return results


def _reset(session: _Session) -> None:
    """RSET after a rejected message; drop the session if even that fails."""
    if session.smtp is None:
        return
    try:
        session.smtp.rset()
    except (smtplib.SMTPException, OSError):
        session.close()
