"""wechatpy clients pointed at any API base (the emulator), for the compatibility tests.

wxmon itself calls the platform through :mod:`monitor.wechat.client`; this module
exists so tests/test_wechatpy_compat.py can check that the emulator answers the
unmodified wechatpy client as the platform would.

wechatpy builds URLs from ``API_BASE_URL`` except the token fetch and the
customer-service record calls, which are absolute. Instead of patching wechatpy,
we mount a requests transport adapter that rebases those absolute URLs, so the
client itself stays unmodified.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from wechatpy import WeChatClient

from monitor.wechat.client import DEFAULT_API_BASE


class RebaseAdapter(HTTPAdapter):
    """Sends requests for ``https://api.weixin.qq.com/...`` to another base URL."""

    def __init__(self, api_base: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_base = api_base.rstrip("/")

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        if request.url and request.url.startswith(DEFAULT_API_BASE + "/"):
            request.url = self.api_base + request.url[len(DEFAULT_API_BASE):]
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


def point_at(client: WeChatClient, api_base: str) -> WeChatClient:
    """Make an existing wechatpy client talk to ``api_base`` for every call."""
    api_base = api_base.rstrip("/")
    client.API_BASE_URL = api_base + "/cgi-bin/"
    if api_base != DEFAULT_API_BASE:
        client._http.mount(DEFAULT_API_BASE + "/", RebaseAdapter(api_base))
    return client


class StableTokenClient(WeChatClient):  # type: ignore[misc]  # wechatpy is untyped: its classes are Any
    """A wechatpy client that only uses ``stable_token`` in normal mode.

    ``cgi-bin/token`` would invalidate the token of the account's own server,
    and ``auto_retry`` refetches without limit, so it is off.
    """

    def __init__(self, appid: str, secret: str, **kwargs: Any) -> None:
        kwargs.setdefault("auto_retry", False)
        super().__init__(appid, secret, **kwargs)

    def fetch_access_token(self) -> dict[str, Any]:
        res = self._http.post(
            url=DEFAULT_API_BASE + "/cgi-bin/stable_token",
            json={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret,
                  "force_refresh": False},
            timeout=self.timeout,
        )
        res.raise_for_status()
        result: dict[str, Any] = res.json()
        if result.get("errcode"):
            # wechatpy would put the request (with the secret) in its exception: keep only the code.
            from wechatpy.exceptions import WeChatClientException

            raise WeChatClientException(result["errcode"], result.get("errmsg", ""), client=self)
        self.session.set(self.access_token_key, result["access_token"], result["expires_in"])
        self.expires_at = int(time.time()) + int(result["expires_in"])
        return result


def wechatpy_client(api_base: str, appid: str, secret: str, **kwargs: Any) -> StableTokenClient:
    client = StableTokenClient(appid, secret, **kwargs)
    point_at(client, api_base)
    return client
