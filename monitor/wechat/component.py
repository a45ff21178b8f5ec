"""wxmon as a WeChat 开放平台 third-party platform (第三方平台): access without the units' AppSecrets.

Each unit's administrator authorizes wxmon once by scanning a QR code; from then on wxmon calls
the account's API with an *authorizer* token, on the same endpoints as with an access token.

The flow (WECHAT.md, "Access without each unit's AppSecret"):

- the platform pushes ``component_verify_ticket`` to our callback every 10 minutes, encrypted
  (wechatpy's :class:`~wechatpy.crypto.WeChatCrypto`); :meth:`ComponentAuth.handle_push` checks the
  signature, decrypts and keeps the latest ticket, sealed, in the store;
- ``api_component_token`` (ticket + AppSecret) gives the component token, cached until shortly
  before it expires; ``api_create_preauthcode`` a pre-auth code for the authorization link;
- after the scan, the authorization code (on the redirect and in the ``authorized`` notice) goes
  to ``api_query_auth``: an authorizer token and the long-lived refresh token (sealed in the store);
- ``api_authorizer_token`` refreshes the authorizer token before it expires;
- revocation (the ``unauthorized`` notice, or 61003/61023 on a refresh) marks the authorization
  revoked with a Chinese reason: the account becomes ``unverifiable``, never ``broken``.

All calls go through :class:`~monitor.wechat.client.WeChatAPI` (bounded answers, typed errors).
No secret, ticket or token is ever logged or put in an exception's text.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import xmltodict
from wechatpy.component import COMPONENT_MESSAGE_TYPES, ComponentUnknownMessage
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

from monitor.clock import Clock, get_clock, to_local
from monitor.errors import BadInput
from monitor.wechat import errors as E
from monitor.wechat.client import AccountAPI, WeChatAPI
from monitor.wechat.sealed import Sealer
from monitor.wechat.tokens import REFRESH_MARGIN, TokenCache

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.store.authorizations import Authorization, AuthorizationStore

log = logging.getLogger(__name__)

MAX_PUSH_BYTES = 64 * 1024  # a ticket push is under 1 KB; anything far larger is not the platform's
MAX_PUSH_SKEW = timedelta(hours=1)  # a signed push this far off our clock is a replay (retries come in seconds)
CALLBACK_PREFIX = "/wxmon/component"
TICKET_PATH = f"{CALLBACK_PREFIX}/ticket"  # 授权事件接收URL: tickets and authorization notices
REDIRECT_PATH = f"{CALLBACK_PREFIX}/authorized"  # where the unit's browser lands after authorizing
LINK_PATH = f"{CALLBACK_PREFIX}/connect"  # a page with an account's link as a QR code
_COMPONENT_KEY = "component:"  # the component token's key in the token cache (no appid starts so)

NOT_AUTHORIZED = "公众号尚未授权本平台（第三方平台），请单位管理员扫码授权（wxmon connect {account}）"
REVOKED_NOTICE = "公众号管理员已于{at}取消对本平台的授权，请重新扫码授权（wxmon connect {account}）"
REVOKED_CODE = "第三方平台授权已失效（errcode {code}），请公众号管理员重新扫码授权（wxmon connect {account}）"


class PushRejected(Exception):
    """A push that is not from the platform (bad signature, wrong appid, not decryptable, too large)."""


@dataclass(frozen=True)
class Notice:
    """What one push said: ``kind`` is component_verify_ticket | authorized | updateauthorized |
    unauthorized | unknown."""

    kind: str
    authorizer_appid: str | None = None
    authorization_code: str | None = field(default=None, repr=False)


@dataclass(frozen=True, repr=False)
class ComponentSecrets:
    """The platform's AppSecret and message crypto settings (from the environment)."""

    appsecret: str
    token: str
    aes_key: str

    def __repr__(self) -> str:
        return "ComponentSecrets(<hidden>)"


class ComponentAuth:
    """One third-party platform: tickets, component token, links, authorizations, authorizer tokens."""

    def __init__(self, *, appid: str, secrets: ComponentSecrets, sealer: Sealer, store: AuthorizationStore,
                 api: WeChatAPI, tokens: TokenCache, login_page: str, redirect_uri: str,
                 account_ids: Mapping[str, str] | None = None, clock: Clock | None = None,
                 owns_api: bool = False) -> None:
        self.appid = appid
        self._secrets = secrets
        self._sealer = sealer
        self.store = store
        self.api = api  # for the component endpoints
        self.tokens = tokens  # authorizer tokens live where AccountAPI.call finds and drops them
        self.login_page = login_page
        self.redirect_uri = redirect_uri
        self.account_ids = dict(account_ids or {})  # authorizer appid -> account id (for messages)
        self._clock = clock
        self._owns_api = owns_api
        self._crypto = WeChatCrypto(secrets.token, secrets.aes_key, appid)

    def __repr__(self) -> str:
        return f"ComponentAuth(appid={self.appid!r})"

    @classmethod
    def from_config(cls, config: Config, store: AuthorizationStore, *, api: WeChatAPI | None = None,
                    tokens: TokenCache | None = None, clock: Clock | None = None,
                    environ: Mapping[str, str] | None = None) -> ComponentAuth:
        """From accounts.yaml's ``component:`` and the environment; BadInput (one line) when unusable."""
        comp = config.component
        if comp is None:
            raise BadInput("accounts.yaml has no component: block (needed for access: component)")
        env = os.environ if environ is None else environ
        values = {}
        for key in ("secret_env", "token_env", "aes_key_env"):
            name = getattr(comp, key)
            values[key] = env.get(name) or ""
            if not values[key]:
                raise BadInput(f"component.{key}: environment variable {name} is not set")
        if len(values["aes_key_env"]) != 43:
            raise BadInput(f"component.aes_key_env: {comp.aes_key_env} must hold the 43-character EncodingAESKey")
        sealer = Sealer.from_env(comp.store_key_env, env)
        base = (comp.api_base or config.wechat.api_base).rstrip("/")
        owns = api is None or api.api_base != base
        if owns:
            api = WeChatAPI(base, timeout=config.wechat.timeout_s, clock=clock,
                            max_answer_bytes=config.wechat.max_answer_bytes)
        assert api is not None
        public = (comp.public_url or f"http://{comp.callback_listen}").rstrip("/")
        return cls(appid=comp.appid, secrets=ComponentSecrets(values["secret_env"], values["token_env"],
                                                              values["aes_key_env"]),
                   sealer=sealer, store=store, api=api, tokens=tokens or TokenCache(), login_page=comp.login_page,
                   redirect_uri=public + REDIRECT_PATH, clock=clock, owns_api=owns,
                   account_ids={a.appid: a.id for a in config.accounts if a.appid})

    async def aclose(self) -> None:
        if self._owns_api:
            await self.api.aclose()

    def now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def _account_name(self, appid: str) -> str:
        return self.account_ids.get(appid, appid)

    # -- the push (授权事件接收URL) ---------------------------------------------------------------

    def handle_push(self, body: bytes, params: Mapping[str, str]) -> Notice:
        """Check, decrypt and apply one push; :class:`PushRejected` if it is not the platform's."""
        if len(body) > MAX_PUSH_BYTES:
            raise PushRejected("push too large")
        try:
            outer = xmltodict.parse(body.decode("utf-8"), disable_entities=True).get("xml")
        except Exception:  # expat raises several kinds on garbage
            raise PushRejected("push is not XML") from None
        if not isinstance(outer, dict) or not isinstance(outer.get("Encrypt"), str):
            raise PushRejected("push has no Encrypt element")
        signature, timestamp, nonce = (params.get("msg_signature"), params.get("timestamp"), params.get("nonce"))
        if not (signature and timestamp and nonce):
            raise PushRejected("push without msg_signature, timestamp and nonce")
        if not timestamp.isdigit() or len(timestamp) > 12 or abs(
                int(timestamp) - self.now().timestamp()) > MAX_PUSH_SKEW.total_seconds():
            raise PushRejected("push timestamp too far from our clock (a replay?)")
        try:
            plain = self._crypto.decrypt_message({"Encrypt": outer["Encrypt"]}, signature, timestamp, nonce)
            inner = xmltodict.parse(plain if isinstance(plain, str) else plain.decode("utf-8"),
                                    disable_entities=True).get("xml")
        except InvalidSignatureException:
            raise PushRejected("bad signature") from None
        except InvalidAppIdException:
            raise PushRejected("sealed for another appid") from None
        except Exception:  # a bad key, padding or XML: not a push of ours
            raise PushRejected("push does not decrypt") from None
        if not isinstance(inner, dict) or inner.get("AppId") != self.appid:
            raise PushRejected("push for another component appid")
        info = inner.get("InfoType")
        kind = info.lower() if isinstance(info, str) else "unknown"
        message = COMPONENT_MESSAGE_TYPES.get(kind, ComponentUnknownMessage)(inner)
        now = self.now()
        if kind == "component_verify_ticket":
            ticket = message.verify_ticket
            if not isinstance(ticket, str) or not ticket or len(ticket) > 512:
                raise PushRejected("ticket push without a usable ticket")
            self.store.put_component_ticket(self.appid, self._sealer.seal(ticket), now)
            log.info("component ticket received")
            return Notice(kind)
        appid = inner.get("AuthorizerAppid")  # other notices (e.g. fast registration) have none
        if not isinstance(appid, str) or not appid or len(appid) > 64:
            log.info("component notice %s ignored", kind[:40])
            return Notice("unknown")
        if kind == "unauthorized":
            reason = REVOKED_NOTICE.format(at=to_local(now).strftime("%Y-%m-%d %H:%M"),
                                           account=self._account_name(appid))
            self.store.revoke_authorization(appid, self.appid, now, reason)
            self.tokens.drop(appid)
            log.warning("authorization revoked by the unit: %s", self._account_name(appid))
            return Notice(kind, appid)
        if kind in ("authorized", "updateauthorized"):
            code = inner.get("AuthorizationCode")
            return Notice(kind, appid, code if isinstance(code, str) and 0 < len(code) <= 512 else None)
        return Notice("unknown", appid)

    async def handle_notice(self, body: bytes, params: Mapping[str, str]) -> Notice:
        """:meth:`handle_push`, then an authorization notice's code exchanged (:meth:`complete`)."""
        notice = self.handle_push(body, params)
        if notice.authorization_code:
            await self.complete(notice.authorization_code)
        return notice

    # -- component token, pre-auth code, link ----------------------------------------------------

    async def component_token(self) -> str:
        key = _COMPONENT_KEY + self.appid
        value = self.tokens.get(key, self.now())
        if value:
            return value
        async with self.tokens.lock(key):
            value = self.tokens.get(key, self.now())
            if value:
                return value
            stored = self.store.get_component_ticket(self.appid)
            if stored is None:
                raise E.ComponentUnavailable("no component_verify_ticket received yet",
                                             reason="尚未收到微信推送的第三方平台票据（component_verify_ticket），"
                                                    "请检查授权事件接收URL")
            body = {"component_appid": self.appid, "component_appsecret": self._secrets.appsecret,
                    "component_verify_ticket": self._sealer.open(stored.ticket_sealed)}
            endpoint = "cgi-bin/component/api_component_token"
            try:
                data = await self.api.request("POST", endpoint, body=body)
            except E.APIError as exc:
                if exc.code in E.TICKET_CODES:
                    raise E.ComponentUnavailable(
                        "component ticket expired or invalid", endpoint=endpoint, code=exc.code,
                        reason=f"第三方平台票据过期或无效（errcode {exc.code}），等待微信推送新票据") from None
                if isinstance(exc, E.BadCredentials):
                    raise E.ComponentUnavailable(
                        "component appid or secret refused", endpoint=endpoint, code=exc.code,
                        reason=f"第三方平台AppID或AppSecret有误（errcode {exc.code}）") from None
                raise
            value = _text(data, "component_access_token", endpoint)
            self.tokens.put(key, value, _expires(data, "expires_in"), self.now())
            return value

    async def _component_call(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """A call authenticated with the component token; one token refetch on a refused token."""
        key = _COMPONENT_KEY + self.appid
        for attempt in (0, 1):
            token = await self.component_token()
            try:
                return await self.api.request("POST", endpoint, params={"component_access_token": token},
                                              body={"component_appid": self.appid, **body})
            except E.TokenInvalid:
                self.tokens.drop(key, token)
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    async def preauth_code(self) -> tuple[str, int]:
        """A pre-auth code and its lifetime in seconds."""
        endpoint = "cgi-bin/component/api_create_preauthcode"
        data = await self._component_call(endpoint, {})
        return _text(data, "pre_auth_code", endpoint), _expires(data, "expires_in", 600)

    async def authorization_link(self, account_appid: str | None = None) -> tuple[str, int]:
        """The link a unit's administrator opens (or scans as a QR code) to authorize wxmon, and how
        many seconds it stays valid. ``account_appid`` limits the page to that account."""
        code, expires_in = await self.preauth_code()
        query = {"component_appid": self.appid, "pre_auth_code": code, "redirect_uri": self.redirect_uri,
                 "auth_type": "1"}  # 1: official accounts only
        if account_appid:
            query["biz_appid"] = account_appid
        return f"{self.login_page}?{urlencode(query, quote_via=quote)}", expires_in

    # -- authorizations ----------------------------------------------------------------------------

    async def complete(self, authorization_code: str) -> Authorization:
        """Exchange the authorization code (api_query_auth) and keep the authorization."""
        endpoint = "cgi-bin/component/api_query_auth"
        data = await self._component_call(endpoint, {"authorization_code": authorization_code})
        info = data.get("authorization_info")
        if not isinstance(info, dict):
            raise E.MalformedAnswer("no authorization_info", endpoint=endpoint, field="authorization_info")
        appid = _text(info, "authorizer_appid", endpoint)
        token = _text(info, "authorizer_access_token", endpoint)
        refresh = _text(info, "authorizer_refresh_token", endpoint)
        funcs = info.get("func_info")
        granted = [f.get("funcscope_category", {}).get("id") for f in funcs if isinstance(f, dict)
                   and isinstance(f.get("funcscope_category"), dict)] if isinstance(funcs, list) else []
        now = self.now()
        self.store.put_authorization(appid, self.appid, self._sealer.seal(refresh),
                                     [g for g in granted if isinstance(g, int)], now)
        self.tokens.put(appid, token, _expires(info, "expires_in"), now)
        log.info("authorization received: %s", self._account_name(appid))
        stored = self.store.get_authorization(appid)
        assert stored is not None
        return stored

    async def refresh(self, appid: str) -> tuple[str, int]:
        """A new authorizer token for ``appid`` (api_authorizer_token): (token, expires_in).

        :class:`~monitor.wechat.errors.AuthorizationGone` when the unit has not authorized wxmon
        or revoked it; a refusal of the refresh (61003/61023) is stored as a revocation.
        """
        account = self._account_name(appid)
        stored = self.store.get_authorization(appid)
        if stored is None or (stored.status == "authorized" and not stored.refresh_token_sealed):
            raise E.AuthorizationGone("not authorized", reason=NOT_AUTHORIZED.format(account=account))
        if stored.status != "authorized":
            raise E.AuthorizationGone("authorization revoked", reason=stored.reason or "")
        assert stored.refresh_token_sealed is not None
        endpoint = "cgi-bin/component/api_authorizer_token"
        refresh_token = self._sealer.open(stored.refresh_token_sealed)
        try:
            data = await self._component_call(endpoint, {"authorizer_appid": appid,
                                                         "authorizer_refresh_token": refresh_token})
        except E.AuthorizationGone as exc:
            reason = REVOKED_CODE.format(code=exc.code, account=account)
            self.store.revoke_authorization(appid, self.appid, self.now(), reason)
            log.warning("authorization of %s is gone (errcode %s)", account, exc.code)
            raise E.AuthorizationGone(exc.message, endpoint=endpoint, code=exc.code, reason=reason) from None
        token = _text(data, "authorizer_access_token", endpoint)
        new_refresh = data.get("authorizer_refresh_token")
        if isinstance(new_refresh, str) and new_refresh and new_refresh != refresh_token:
            self.store.update_refresh_token(appid, self._sealer.seal(new_refresh))
        return token, _expires(data, "expires_in")

    async def authorizer_token(self, appid: str) -> str:
        """The cached authorizer token, refreshed when it is within the margin of expiring."""
        value = self.tokens.get(appid, self.now())
        if value:
            return value
        async with self.tokens.lock(appid):
            value = self.tokens.get(appid, self.now())
            if value:
                return value
            value, expires_in = await self.refresh(appid)
            self.tokens.put(appid, value, expires_in, self.now())
            return value

    async def refresh_due(self, ahead: timedelta = 2 * REFRESH_MARGIN) -> int:
        """Refresh every authorized account's token that a call ``ahead`` from now would refresh (the
        daemon's job, so rounds find fresh tokens). Returns how many were refreshed; failures are
        logged (a revocation is kept in the store), never raised, and a token still valid is kept."""
        done = 0
        for auth in self.store.list_authorizations(self.appid):
            appid = auth.authorizer_appid
            if auth.status != "authorized" or self.tokens.get(appid, self.now() + ahead):
                continue
            async with self.tokens.lock(appid):
                try:
                    value, expires_in = await self.refresh(appid)
                except E.WeChatError as exc:
                    log.warning("refreshing the authorizer token of %s failed: %s", self._account_name(appid),
                                type(exc).__name__)
                    continue
                self.tokens.put(appid, value, expires_in, self.now())
                done += 1
        return done

    def account(self, api: WeChatAPI, appid: str) -> AuthorizerAPI:
        """The account's API with its authorizer token: every AccountAPI endpoint works unchanged."""
        return AuthorizerAPI(api, appid, self)


class AuthorizerAPI(AccountAPI):
    """An account's API through the unit's authorization (authorizer token instead of stable_token)."""

    remote_ok = False  # the API helper process fetches tokens by secret: these calls stay inline

    def __init__(self, api: WeChatAPI, appid: str, component: ComponentAuth) -> None:
        super().__init__(api, appid, "")
        self.component = component

    def __repr__(self) -> str:
        return f"AuthorizerAPI(appid={self.appid!r})"

    async def token(self) -> str:
        return await self.component.authorizer_token(self.appid)


def _text(data: Mapping[str, Any], name: str, endpoint: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value or len(value) > 2048:
        raise E.MalformedAnswer(f"{name} missing or not a string", endpoint=endpoint, field=name)
    return value


def _expires(data: Mapping[str, Any], name: str, default: int = 7200) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 60 <= value <= 30 * 86400:
        return default
    return value
