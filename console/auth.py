"""Passwords (Argon2), the session key, CSRF tokens and the login rate limit."""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import make_url

from monitor import clock
from monitor.config import Config
from monitor.errors import BadInput

_HASHER = PasswordHasher()  # argon2id with the library's current parameters
# Compared against when the user does not exist, so a missing name costs the same time.
_DUMMY_HASH = _HASHER.hash("wxmon-no-such-user")
KEY_FILE = "console-session.key"
MIN_KEY_LENGTH = 32
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing user is checked against a dummy hash (same cost)."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)


def password_problem(password: str) -> str | None:
    """Why ``password`` is refused (Chinese, for the office), or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"密码至少{MIN_PASSWORD_LENGTH}个字符"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"密码不能超过{MAX_PASSWORD_LENGTH}个字符"
    return None


def key_file_path(config: Config) -> Path:
    """Beside the SQLite store file; beside accounts.yaml for a PostgreSQL store."""
    url = make_url(config.store_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" \
            and not url.database.startswith("file:"):
        return Path(url.database).parent / KEY_FILE
    return config.config_dir / KEY_FILE


def session_key(config: Config, env: dict[str, str] | None = None) -> str:
    """The key that signs session cookies: ``web.secret_env`` if set, else a generated key kept
    (mode 0600) in :func:`key_file_path`, so sessions survive a restart without a secret to manage."""
    environ = os.environ if env is None else env
    name = config.web.secret_env
    value = environ.get(name)
    if value is not None:
        if len(value) < MIN_KEY_LENGTH:
            raise BadInput(f"{name}: the console's session key must be at least {MIN_KEY_LENGTH} characters "
                           "(e.g. python3 -c 'import secrets; print(secrets.token_hex(32))')")
        return value
    path = key_file_path(config)
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read the console's session key: {exc}") from None
    if text:
        if path.stat().st_mode & 0o077:
            raise BadInput(f"{path}: the console's session key is readable by others; chmod 600 it")
        if len(text) < MIN_KEY_LENGTH:
            raise BadInput(f"{path}: the console's session key is too short; delete the file to make a new one")
        return text
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it just now
        return session_key(config, env)
    except OSError as exc:
        raise BadInput(f"{path}: cannot create the console's session key ({exc.strerror}); "
                       f"set {name} instead") from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key + "\n")
    return key


# -- CSRF: one random token per session, required in every form -------------------------------------

CSRF_FIELD = "csrf_token"


def csrf_token(session: dict[str, object]) -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csrf_ok(session: dict[str, object], given: object) -> bool:
    expected = session.get("csrf")
    return isinstance(expected, str) and isinstance(given, str) and hmac.compare_digest(expected, given)


# -- the login rate limit ---------------------------------------------------------------------------

FREE_FAILURES = 5  # wrong passwords before the next try has to wait
FIRST_WAIT = timedelta(seconds=30)
MAX_WAIT = timedelta(minutes=15)
_MAX_KEYS = 10_000  # bounded memory under a spray of names


@dataclass
class _Record:
    failures: int = 0
    wait_until: datetime | None = None


@dataclass
class LoginLimiter:
    """After :data:`FREE_FAILURES` wrong passwords for one name (or from one address), the next
    try is refused until a wait has passed, doubling with each further failure. Kept in memory:
    a restart forgives, which costs an attacker a restart they cannot cause from outside."""

    records: dict[str, _Record] = field(default_factory=dict)

    def wait(self, *keys: str) -> timedelta | None:
        """How long these keys must still wait (None: they may try now)."""
        now = clock.now()
        waits = [r.wait_until - now for k in keys if (r := self.records.get(k)) and r.wait_until and r.wait_until > now]
        return max(waits) if waits else None

    def failed(self, *keys: str) -> None:
        now = clock.now()
        if len(self.records) > _MAX_KEYS:
            self.records.clear()
        for key in keys:
            record = self.records.setdefault(key, _Record())
            record.failures += 1
            if record.failures >= FREE_FAILURES:
                extra = record.failures - FREE_FAILURES
                record.wait_until = now + min(FIRST_WAIT * (2 ** min(extra, 10)), MAX_WAIT)

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self.records.pop(key, None)
