"""Access by authorization (third-party platform): ``wxmon connect ACCOUNT`` and the daemon's side.

``wxmon connect`` prints the account's authorization link (for the unit's administrator to open or
scan), the page that shows it as a QR code, and the endpoints to register on the 开放平台. The
daemon (``wxmon run``) serves those endpoints (:mod:`monitor.wechat.callback`) and refreshes the
authorizer tokens before they expire.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.clock import to_local
from monitor.errors import BadInput, RuntimeFailure
from monitor.wechat import errors as E

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.context import ProbeContext
    from monitor.store import Store
    from monitor.wechat.callback import CallbackServer
    from monitor.wechat.component import ComponentAuth

log = logging.getLogger("wxmon.connect")

REFRESH_EVERY = timedelta(minutes=10)  # the refresh job; tokens due within 2x the margin are renewed


def component_accounts(config: Config) -> dict[str, tuple[str, str]]:
    """account id -> (name, appid) of the accounts with access: component."""
    return {a.id: (a.name, a.appid) for a in config.accounts if a.access == "component" and a.appid}


def uses_component(config: Config) -> bool:
    return config.component is not None and bool(component_accounts(config))


def endpoints(config: Config) -> dict[str, str]:
    """The URLs the platform and the units' browsers use (component.public_url, else the listener)."""
    from monitor.wechat.component import LINK_PATH, REDIRECT_PATH, TICKET_PATH

    assert config.component is not None
    public = (config.component.public_url or f"http://{config.component.callback_listen}").rstrip("/")
    return {"ticket": public + TICKET_PATH, "redirect": public + REDIRECT_PATH, "page": public + LINK_PATH}


def status_line(store: Store, appid: str) -> str:
    auth = store.get_authorization(appid)
    if auth is None:
        return "未授权（等待单位管理员扫码）"
    if auth.status == "revoked":
        return f"已取消授权：{auth.reason or ''}"
    at = to_local(auth.authorized_at).strftime("%Y-%m-%d %H:%M") if auth.authorized_at else "?"
    return f"已授权（{at}）"


def authorization_lines(config: Config, store: Store, limit: int = 50) -> list[str]:
    """For ``wxmon status``: how many component accounts are authorized, and those that are not."""
    accounts = component_accounts(config)
    if not accounts:
        return []
    found = {a.authorizer_appid: a for a in store.list_authorizations(config.component.appid)} \
        if config.component is not None else {}
    missing = [(account_id, appid) for account_id, (_, appid) in accounts.items()
               if (a := found.get(appid)) is None or a.status != "authorized"]
    lines = [f"authorizations (access: component): {len(accounts) - len(missing)} of {len(accounts)} authorized"]
    lines += [f"  {account_id:<20} {status_line(store, appid)}" for account_id, appid in missing[:limit]]
    if len(missing) > limit:
        lines.append(f"  ... {len(missing) - limit} more (wxmon connect ACCOUNT prints an account's link)")
    return lines


def connect_lines(config: Config, store: Store, account_id: str, link: str, expires_in: int) -> list[str]:
    account = config.account(account_id)
    urls = endpoints(config)
    assert account.appid is not None
    return [
        f"{account.name}（{account.id}，{account.appid}）的授权链接，{expires_in // 60} 分钟内有效：",
        link,
        f"二维码页面（wxmon run 运行时可用，过期自动换新链接）：{urls['page']}/{account.id}",
        f"当前状态：{status_line(store, account.appid)}",
        f"开放平台“授权事件接收URL”：{urls['ticket']}",
        f"授权完成后的回调地址（redirect_uri）：{urls['redirect']}",
    ]


async def _link(config: Config, store: Store, appid: str) -> tuple[str, int]:
    from monitor.wechat.component import ComponentAuth

    auth = ComponentAuth.from_config(config, store)
    try:
        return await auth.authorization_link(appid)
    finally:
        await auth.aclose()


def run_connect(config_path: Path, account_id: str) -> list[str]:
    """The lines ``wxmon connect`` prints; BadInput (exit 2) for a wrong setup, RuntimeFailure (1)
    when the platform cannot give a link now."""
    from monitor.config import load_config
    from monitor.store import Store

    config = load_config(config_path, check_env=True)
    account = config.account(account_id)
    if account.access != "component":
        raise BadInput(f"{config_path}: account '{account_id}' has access: {account.access}; set access: "
                       "component (and the top-level component: block) to connect it by authorization")
    assert account.appid is not None
    with Store.open(config.store_url) as store:
        try:
            link, expires_in = asyncio.run(_link(config, store, account.appid))
        except E.ComponentUnavailable as exc:
            raise RuntimeFailure(f"无法生成授权链接：{exc.reason}（wxmon run 需在运行并能收到推送）") from None
        except E.WeChatError as exc:
            raise RuntimeFailure(f"无法生成授权链接：微信接口错误（{type(exc).__name__}"
                                 f"{f'，errcode {exc.code}' if exc.code is not None else ''}）") from None
        return connect_lines(config, store, account_id, link, expires_in)


def _cmd_connect(args: argparse.Namespace) -> int:
    for line in run_connect(Path(args.config), args.account):
        print(line)
    return 0


def register(sub: argparse._SubParsersAction[Any],
             with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
             parser_class: type[argparse.ArgumentParser]) -> None:
    p = with_config(sub.add_parser(
        "connect", help="print an account's authorization link (third-party-platform access)",
        description="Prints the link the unit's administrator opens (or scans) to authorize wxmon's "
                    "third-party platform for the account (access: component), and the endpoints "
                    "wxmon run serves. Needs the ticket pushed to wxmon run. Exit 0 printed, 1 the platform "
                    "could not give a link now, 2 bad input."))
    p.add_argument("account", metavar="ACCOUNT", help="the account's id in accounts.yaml")
    p.set_defaults(func=_cmd_connect)


# -- the daemon's side -----------------------------------------------------------------------------

class ComponentService:
    """What ``wxmon run`` adds when accounts use component access: the endpoints and the refresh job."""

    def __init__(self, auth: ComponentAuth, server: CallbackServer, public: str) -> None:
        self.auth = auth
        self.server = server
        self.public = public  # how the platform reaches us: component.public_url, else the listener

    @property
    def ticket_url(self) -> str:
        from monitor.wechat.component import TICKET_PATH

        return self.public + TICKET_PATH

    @classmethod
    async def start(cls, ctx: ProbeContext) -> ComponentService | None:
        """Started when accounts use component access; BadInput (the daemon refuses to start, exit 2)
        when the key or the platform's settings are unusable or the listener's port is taken."""
        from monitor.wechat.callback import CallbackServer
        from monitor.wechat.component import REDIRECT_PATH, TICKET_PATH

        config = ctx.config
        if not uses_component(config):
            return None
        assert config.component is not None
        auth = ctx.component(strict=True)  # a missing or wrong key stops the start with its one line
        assert auth is not None
        host, _, port = config.component.callback_listen.rpartition(":")
        server = CallbackServer(auth, component_accounts(config), host.strip("[]"), int(port))
        try:
            await server.start()
        except OSError as exc:
            raise BadInput(f"component.callback_listen: cannot listen on {config.component.callback_listen}: "
                           f"{exc.strerror or exc}") from None
        public = (config.component.public_url or server.base_url).rstrip("/")
        auth.redirect_uri = public + REDIRECT_PATH  # the port as bound (callback_listen may say 0)
        log.info("third-party platform endpoints on %s (ticket push: %s)", server.base_url, public + TICKET_PATH)
        return cls(auth, server, public)

    async def refresh(self) -> int:
        return await self.auth.refresh_due()

    async def stop(self) -> None:
        await self.server.stop()


# -- simulations (wxmon demo / simulate --access component) ------------------------------------------

ACCESS_MODES = ("secret", "component")
SIM_COMPONENT_APPID = "wx0c0a0b0c0d0e0f10"  # the emulated third-party platform of a simulation
SIM_ENV = {"secret": "WXMON_SIMULATE_COMPONENT_SECRET", "token": "WXMON_SIMULATE_COMPONENT_TOKEN",
           "aes_key": "WXMON_SIMULATE_COMPONENT_AES_KEY", "store_key": "WXMON_SIMULATE_STORE_KEY"}


def simulation_env(access: str) -> dict[str, str]:
    """For ``--access component``: fresh platform credentials and store key for this run, in the
    environment of the monitor (the run config names them). Returns the previous values ("" unset)."""
    if access not in ACCESS_MODES:
        raise BadInput(f"--access: {access!r} is not one of {', '.join(ACCESS_MODES)}")
    if access != "component":
        return {}
    import os
    import secrets
    import string

    from cryptography.fernet import Fernet

    previous = {name: os.environ.get(name, "") for name in SIM_ENV.values()}
    alphabet = string.ascii_letters + string.digits
    os.environ.update({
        SIM_ENV["secret"]: secrets.token_hex(16), SIM_ENV["token"]: secrets.token_urlsafe(16),
        SIM_ENV["aes_key"]: "".join(secrets.choice(alphabet) for _ in range(43)),
        SIM_ENV["store_key"]: Fernet.generate_key().decode()})
    return previous


def simulation_config_data(data: dict[str, object], api_base: str) -> dict[str, object]:
    """The run config with every account that has API access reached by authorization instead of its
    AppSecret, and the emulator as the third-party platform."""
    data["component"] = {"appid": SIM_COMPONENT_APPID, "secret_env": SIM_ENV["secret"],
                         "token_env": SIM_ENV["token"], "aes_key_env": SIM_ENV["aes_key"],
                         "store_key_env": SIM_ENV["store_key"], "callback_listen": "127.0.0.1:0",  # any free port
                         "login_page": f"{api_base}/cgi-bin/componentloginpage"}
    accounts = data.get("accounts")
    for acct in accounts if isinstance(accounts, list) else []:
        if isinstance(acct, dict) and acct.get("api", True) and acct.get("access", "secret") == "secret":
            acct.pop("secret_env", None)
            acct.pop("api", None)
            acct["access"] = "component"
    return data


class SimulatedAuthorizations:
    """A simulation's third-party platform: the callback served, every unit authorized on the emulator's
    page once at the start, and the ticket pushed as the virtual clock passes (:meth:`tick`)."""

    def __init__(self, service: ComponentService, emulator_base: str) -> None:
        self.service = service
        self.emulator_base = emulator_base

    @classmethod
    async def start(cls, ctx: ProbeContext, emulator_base: str) -> SimulatedAuthorizations | None:
        import os

        service = await ComponentService.start(ctx)
        if service is None:
            return None
        sim = cls(service, emulator_base)
        try:
            comp = ctx.config.component
            assert comp is not None
            await sim._post("/_emu/component", json={
                "appid": comp.appid, "secret": os.environ[comp.secret_env], "token": os.environ[comp.token_env],
                "aes_key": os.environ[comp.aes_key_env], "callback_url": service.ticket_url,
                "push_every_minutes": 10, "poll": False})
            await sim.tick()
            for account_id, (_, appid) in component_accounts(ctx.config).items():
                await sim._authorize(account_id, appid)
        except BaseException:
            await service.stop()
            raise
        return sim

    async def _post(self, path: str, **kwargs: object) -> dict[str, object]:
        import aiohttp

        async with aiohttp.ClientSession(trust_env=False) as http, \
                http.post(self.emulator_base + path, **kwargs) as resp:  # type: ignore[arg-type]
            answer = await resp.json(content_type=None)
            if resp.status != 200 or not isinstance(answer, dict):
                raise RuntimeFailure(f"the emulator refused {path} (HTTP {resp.status})")
            return answer

    async def _authorize(self, account_id: str, appid: str) -> None:
        """What the unit's administrator does: open the link and confirm (the emulator's page)."""
        from urllib.parse import parse_qs, urlsplit

        import aiohttp

        link, _ = await self.service.auth.authorization_link(appid)
        query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
        async with aiohttp.ClientSession(trust_env=False) as http, http.post(
                link.split("?", 1)[0], data={"pre_auth_code": query["pre_auth_code"], "appid": appid,
                                             "redirect_uri": query["redirect_uri"]}) as resp:
            if resp.status != 200:
                raise RuntimeFailure(f"the emulated authorization of {account_id} failed (HTTP {resp.status})")

    async def tick(self) -> None:
        """The ticket push, when due on the emulator's clock (every 10 virtual minutes)."""
        await self._post("/_emu/component/tick")

    async def stop(self) -> None:
        await self.service.stop()
