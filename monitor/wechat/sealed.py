"""Secrets kept in the store are sealed (Fernet: AES-128-CBC + HMAC-SHA256) with a key from the environment.

The store only ever sees the sealed text; the key is never logged, stored or shown.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken

from monitor.errors import BadInput

MAKE_KEY = "python -c \"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())\""


class WrongStoreKey(BadInput):
    """Sealed text that this key cannot open (another key sealed it, or it was altered)."""


class Sealer:
    """Seals and opens short secrets with one Fernet key."""

    def __init__(self, key: str, *, env_name: str = "the store key") -> None:
        self.env_name = env_name
        try:
            self._fernet = Fernet(key.strip().encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise BadInput(f"environment variable {env_name} is not a Fernet key (32 bytes, url-safe base64); "
                           f"make one with: {MAKE_KEY}") from None

    def __repr__(self) -> str:  # never show the key
        return f"Sealer(env={self.env_name!r})"

    @classmethod
    def from_env(cls, env_name: str, environ: Mapping[str, str] | None = None) -> Sealer:
        value = (os.environ if environ is None else environ).get(env_name)
        if not value:
            raise BadInput(f"environment variable {env_name} is not set: component access keeps refresh tokens "
                           f"in the store encrypted with it (make one with: {MAKE_KEY})")
        return cls(value, env_name=env_name)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError, UnicodeError):
            raise WrongStoreKey(f"a secret in the store cannot be opened with {self.env_name} (sealed with "
                                "another key, or altered); set the key it was sealed with, or have the units "
                                "authorize again") from None
