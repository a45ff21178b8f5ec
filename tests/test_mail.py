"""The weekly e-mail against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import logging
import os
import socket
import ssl
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from dashboards.mail import (
    DeliveryResult,
    MailConfigError,
    SmtpSettings,
    build_message,
    recipient,
    send_each,
)

SENDER = "wxmon 监测 <wxmon@jiangbin.example.gov.cn>"
SUBJECT = "江滨区政务新媒体监测周报（2023年第38周）：合格率61.9%，请各单位对照问题清单及时整改"
PNG_PASS = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8 + b"\r\n.\r\n"  # CRLF and a lone dot inside
PNG_REPLY = b"\x89PNG\r\n\x1a\n" + os.urandom(3000)
CSV_NAME = "江滨区政务新媒体监测周报_2023-W38_各账号明细.csv"
CSV_DATA = "\ufeff账号,合格率\r\n江滨发布（模拟）,100%\r\n新华街道（模拟）,0%\r\n".encode("utf-8")
TEXT = "本周合格率61.9%。\n图表见邮件正文，明细见附件。"
HTML = (
    "<html><body><p>本周合格率<b>61.9%</b></p>"
    '<img src="cid:chart-pass" alt="合格率"><img src="cid:chart-reply" alt="回复时长（分钟）">'
    "</body></html>"
)
USER_ENV, PASS_ENV = "WXMON_TEST_SMTP_USER", "WXMON_TEST_SMTP_PASSWORD"
USER, PASSWORD = "wxmon-bot", "pw-S3cr3t!x9Q"


# --------------------------------------------------------------------------- server


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    session: int
    tls: bool
    login: bytes | None


@dataclass
class Handler:
    refuse: set[str] = field(default_factory=set)  # 550 at RCPT
    reject_data: set[str] = field(default_factory=set)  # 554 at end of DATA
    close_once: set[str] = field(default_factory=set)  # 421 at end of DATA, first time only
    received: list[Received] = field(default_factory=list)
    sessions: set[int] = field(default_factory=set)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        self.sessions.add(id(session))
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        rcpts = list(envelope.rcpt_tos)
        if self.reject_data & set(rcpts):
            return "554 5.7.1 message rejected"
        closing = self.close_once & set(rcpts)
        if closing:
            self.close_once -= closing
            return "421 4.3.2 service shutting down"
        self.received.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=rcpts,
                content=envelope.original_content or envelope.content,
                session=id(session),
                tls=server.transport.get_extra_info("ssl_object") is not None,
                login=session.login_data,
            )
        )
        return "250 2.0.0 queued"


class Authenticator:
    """Checks USER/PASSWORD; the failure reply echoes what it got (a hostile/buggy server)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        self.calls += 1
        assert isinstance(auth_data, LoginPassword)
        if auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode():
            return AuthResult(success=True, auth_data=auth_data)
        echoed = auth_data.password.decode("utf-8", "replace")
        blob = base64.b64encode(b"\0" + auth_data.login + b"\0" + auth_data.password).decode()
        return AuthResult(success=False, handled=False, message=f"535 5.7.8 bad credentials {echoed} {blob}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def start_server() -> Iterator[Callable[..., tuple[Controller, Handler]]]:
    controllers: list[Controller] = []

    def start(handler: Handler | None = None, **kwargs: Any) -> tuple[Controller, Handler]:
        handler = handler or Handler()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # aiosmtpd warns about AUTH without TLS on purpose
            controller = Controller(handler, hostname="127.0.0.1", port=_free_port(), **kwargs)
            controller.start()
        controllers.append(controller)
        return controller, handler

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost, made with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wxmon test smtp")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def server_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*tls_files)
    return ctx


@pytest.fixture
def client_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_files[0]))


def _settings(controller: Controller, security: str = "none", auth: bool = False) -> SmtpSettings:
    return SmtpSettings(
        host="127.0.0.1",
        port=controller.port,
        security=security,  # type: ignore[arg-type]
        username_env=USER_ENV if auth else None,
        password_env=PASS_ENV if auth else None,
        sender=SENDER,
        timeout=5,
    )


def _weekly(to: str) -> EmailMessage:
    return build_message(
        SUBJECT,
        SENDER,
        to,
        HTML,
        TEXT,
        inline_images=[("chart-pass", PNG_PASS), ("chart-reply", PNG_REPLY)],
        attachments=[(CSV_NAME, CSV_DATA, "text/csv")],
    )


def _parse(raw: bytes) -> EmailMessage:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


SUPERVISORS = [
    ("周明（模拟）", "zhouming@example.gov.cn"),
    ("林芳（模拟）", "linfang@example.gov.cn"),
    ("王强（模拟）", "wangqiang@example.gov.cn"),
]


# --------------------------------------------------------------------------- message


def test_each_recipient_gets_an_intact_message(start_server: Callable[..., tuple[Controller, Handler]]) -> None:
    controller, handler = start_server(Handler(refuse={"linfang@example.gov.cn"}))
    messages = [_weekly(recipient(name, addr)) for name, addr in SUPERVISORS]

    results = send_each(_settings(controller), messages)

    assert [(r.recipient, r.ok) for r in results] == [
        ("zhouming@example.gov.cn", True),
        ("linfang@example.gov.cn", False),
        ("wangqiang@example.gov.cn", True),
    ]
    assert "550" in (results[1].error or "") and "linfang@example.gov.cn" in (results[1].error or "")
    assert len(handler.sessions) == 1  # one SMTP session for all of them
    assert [r.rcpt_tos for r in handler.received] == [["zhouming@example.gov.cn"], ["wangqiang@example.gov.cn"]]

    for got, (name, addr) in zip(handler.received, [SUPERVISORS[0], SUPERVISORS[2]]):
        assert got.mail_from == "wxmon@jiangbin.example.gov.cn"
        assert all(b < 128 for b in got.content), "headers and bodies must be 7-bit encoded"
        msg = _parse(got.content)
        assert msg["Subject"] == SUBJECT
        assert msg["To"].addresses[0].display_name == name
        assert msg["To"].addresses[0].addr_spec == addr
        assert msg["From"].addresses[0].display_name == "wxmon 监测"
        assert parsedate_to_datetime(str(msg["Date"])).tzinfo is not None
        assert str(msg["Message-ID"]).endswith("@jiangbin.example.gov.cn>")

        # multipart/mixed > multipart/alternative > (text/plain, multipart/related > (html, png, png))
        assert msg.get_content_type() == "multipart/mixed"
        body, *attachments = msg.iter_parts()
        assert body.get_content_type() == "multipart/alternative"
        plain, related = body.iter_parts()
        assert plain.get_content_type() == "text/plain"
        # text parts are in canonical CRLF form inside base64
        assert plain.get_content().replace("\r\n", "\n").strip() == TEXT
        assert related.get_content_type() == "multipart/related"
        html, *images = related.iter_parts()
        assert html.get_content_type() == "text/html"
        assert "cid:chart-pass" in html.get_content() and "本周合格率" in html.get_content()
        assert {img["Content-ID"]: img.get_content() for img in images} == {
            "<chart-pass>": PNG_PASS,
            "<chart-reply>": PNG_REPLY,
        }
        assert all(img.get_content_type() == "image/png" for img in images)
        # the preferred body is the HTML with its images
        assert msg.get_body(("html",)) is html

        assert len(attachments) == 1
        csv = attachments[0]
        assert csv.get_content_type() == "text/csv"
        assert csv.get_content_disposition() == "attachment"
        assert csv.get_filename() == CSV_NAME
        assert csv.get_param("name") == CSV_NAME
        assert csv.get_payload(decode=True) == CSV_DATA  # BOM and CRLF preserved
        assert b"filename*0*=utf-8''" in got.content or b"filename*=utf-8''" in got.content  # RFC 2231


def test_message_without_attachments_or_images() -> None:
    msg = build_message("周报", SENDER, "a@example.gov.cn", "<p>无图</p>", "无图", [], [])
    parsed = _parse(msg.as_bytes())
    assert parsed.get_content_type() == "multipart/mixed"
    assert parsed.get_body(("plain",)).get_content().strip() == "无图"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>无图</p>"
    assert list(parsed.iter_attachments()) == []


def test_bad_inline_image_ids_are_rejected() -> None:
    with pytest.raises(ValueError):
        build_message("s", SENDER, "a@example.gov.cn", "h", "t", [("x", b"1"), ("<x>", b"2")], [])
    with pytest.raises(ValueError):
        build_message("s", SENDER, "a@example.gov.cn", "h", "t", [], [("a.csv", b"1", "csv")])


# --------------------------------------------------------------------------- failures


def test_rejected_message_and_dropped_session(start_server: Callable[..., tuple[Controller, Handler]]) -> None:
    handler = Handler(reject_data={"a@example.gov.cn"}, close_once={"b@example.gov.cn"})
    controller, handler = start_server(handler)
    addrs = ["a@example.gov.cn", "b@example.gov.cn", "c@example.gov.cn"]

    results = send_each(_settings(controller), [_weekly(a) for a in addrs])

    assert [r.ok for r in results] == [False, True, True]
    assert "554" in (results[0].error or "")
    assert [r.rcpt_tos for r in handler.received] == [["b@example.gov.cn"], ["c@example.gov.cn"]]
    assert len(handler.sessions) == 2  # 421 closed the first session; one reconnect


def test_server_down_fails_every_message_without_raising() -> None:
    settings = SmtpSettings("127.0.0.1", _free_port(), "none", None, None, SENDER, timeout=2)
    results = send_each(settings, [_weekly("a@example.gov.cn"), _weekly("b@example.gov.cn")])
    assert [r.ok for r in results] == [False, False]
    assert all("127.0.0.1" in (r.error or "") for r in results)


def test_starttls_required_but_not_offered(start_server: Callable[..., tuple[Controller, Handler]]) -> None:
    controller, handler = start_server()
    results = send_each(_settings(controller, "starttls"), [_weekly("a@example.gov.cn")])
    assert not results[0].ok and "STARTTLS" in (results[0].error or "")
    assert handler.received == []  # never falls back to plain text


# --------------------------------------------------------------------------- credentials


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_auth_plain_connection(
    start_server: Callable[..., tuple[Controller, Handler]], monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = Authenticator()
    controller, handler = start_server(authenticator=auth, auth_require_tls=False, auth_required=True)
    monkeypatch.setenv(USER_ENV, USER)
    monkeypatch.setenv(PASS_ENV, PASSWORD)

    results = send_each(_settings(controller, auth=True), [_weekly("a@example.gov.cn"), _weekly("b@example.gov.cn")])

    assert results == [DeliveryResult("a@example.gov.cn", True), DeliveryResult("b@example.gov.cn", True)]
    assert auth.calls == 1
    assert [r.login for r in handler.received] == [USER.encode(), USER.encode()]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_wrong_password_never_leaks(
    start_server: Callable[..., tuple[Controller, Handler]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth = Authenticator()
    controller, handler = start_server(authenticator=auth, auth_require_tls=False, auth_required=True)
    wrong = "Wr0ng-Pa55word-7731"
    monkeypatch.setenv(USER_ENV, USER)
    monkeypatch.setenv(PASS_ENV, wrong)
    caplog.set_level(logging.DEBUG)

    results = send_each(_settings(controller, auth=True), [_weekly("a@example.gov.cn"), _weekly("b@example.gov.cn")])

    assert [r.ok for r in results] == [False, False]
    assert "535" in (results[0].error or "") and "authentication" in (results[0].error or "")
    # One login (smtplib tries each offered mechanism once), not one per recipient.
    assert auth.calls == 2
    assert handler.received == []
    assert all("***" in (r.error or "") for r in results)  # the server's echo was scrubbed
    ours = [rec.getMessage() for rec in caplog.records if rec.name.startswith("wxmon")]
    assert ours
    blob = base64.b64encode(f"\0{USER}\0{wrong}".encode()).decode()
    for text in [r.error or "" for r in results] + ours:
        assert wrong not in text and blob not in text


def test_missing_env_variable_is_named_not_valued(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = SmtpSettings("127.0.0.1", 1, "none", USER_ENV, PASS_ENV, SENDER)
    monkeypatch.delenv(USER_ENV, raising=False)
    monkeypatch.setenv(PASS_ENV, "topsecret-value")
    with pytest.raises(MailConfigError) as info:
        send_each(settings, [_weekly("a@example.gov.cn")])
    assert USER_ENV in str(info.value) and "topsecret-value" not in str(info.value)

    monkeypatch.setenv(USER_ENV, USER)
    monkeypatch.delenv(PASS_ENV)
    with pytest.raises(MailConfigError, match=PASS_ENV):
        send_each(settings, [_weekly("a@example.gov.cn")])

    half = SmtpSettings("127.0.0.1", 1, "none", USER_ENV, None, SENDER)
    with pytest.raises(MailConfigError, match="password_env"):
        send_each(half, [])


def test_non_ascii_password_fails_cleanly(
    start_server: Callable[..., tuple[Controller, Handler]], monkeypatch: pytest.MonkeyPatch
) -> None:
    controller, _ = start_server(authenticator=Authenticator(), auth_require_tls=False)
    monkeypatch.setenv(USER_ENV, USER)
    monkeypatch.setenv(PASS_ENV, "密码-secret")
    results = send_each(_settings(controller, auth=True), [_weekly("a@example.gov.cn")])
    assert not results[0].ok and "non-ASCII" in (results[0].error or "")
    assert "密码" not in (results[0].error or "")


def test_auth_offered_only_after_tls(
    start_server: Callable[..., tuple[Controller, Handler]], monkeypatch: pytest.MonkeyPatch
) -> None:
    controller, _ = start_server(authenticator=Authenticator(), auth_require_tls=True)
    monkeypatch.setenv(USER_ENV, USER)
    monkeypatch.setenv(PASS_ENV, PASSWORD)
    results = send_each(_settings(controller, auth=True), [_weekly("a@example.gov.cn")])
    assert not results[0].ok and "AUTH" in (results[0].error or "")


# --------------------------------------------------------------------------- TLS


def test_starttls_with_auth(
    start_server: Callable[..., tuple[Controller, Handler]],
    server_tls: ssl.SSLContext,
    client_tls: ssl.SSLContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controller, handler = start_server(
        tls_context=server_tls, require_starttls=True, authenticator=Authenticator(), auth_require_tls=True
    )
    monkeypatch.setenv(USER_ENV, USER)
    monkeypatch.setenv(PASS_ENV, PASSWORD)

    results = send_each(
        _settings(controller, "starttls", auth=True), [_weekly("a@example.gov.cn")], ssl_context=client_tls
    )

    assert results == [DeliveryResult("a@example.gov.cn", True)]
    assert handler.received[0].tls and handler.received[0].login == USER.encode()
    assert _parse(handler.received[0].content)["Subject"] == SUBJECT


def test_starttls_untrusted_certificate(
    start_server: Callable[..., tuple[Controller, Handler]], server_tls: ssl.SSLContext
) -> None:
    controller, handler = start_server(tls_context=server_tls, require_starttls=True)
    # default context: the self-signed certificate is not trusted
    results = send_each(_settings(controller, "starttls"), [_weekly("a@example.gov.cn")])
    assert not results[0].ok and "certificate" in (results[0].error or "")
    assert handler.received == []


def test_implicit_ssl(
    start_server: Callable[..., tuple[Controller, Handler]],
    server_tls: ssl.SSLContext,
    client_tls: ssl.SSLContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controller, handler = start_server(
        ssl_context=server_tls, authenticator=Authenticator(), auth_require_tls=False
    )
    monkeypatch.setenv(USER_ENV, USER)
    monkeypatch.setenv(PASS_ENV, PASSWORD)

    results = send_each(
        _settings(controller, "ssl", auth=True),
        [_weekly("a@example.gov.cn"), _weekly("b@example.gov.cn")],
        ssl_context=client_tls,
    )

    assert [r.ok for r in results] == [True, True]
    assert all(r.tls for r in handler.received)
    assert len(handler.sessions) == 1
    csv = next(_parse(handler.received[1].content).iter_attachments())
    assert csv.get_filename() == CSV_NAME and csv.get_payload(decode=True) == CSV_DATA


def test_settings_from_config_mapping() -> None:
    s = SmtpSettings.from_config(
        {"host": "smtp.example.gov.cn", "security": "starttls", "sender": SENDER, "timeout_s": 12}
    )
    assert (s.effective_port, s.timeout, s.username_env) == (587, 12.0, None)
    assert SmtpSettings("h", None, "ssl", None, None, SENDER).effective_port == 465
