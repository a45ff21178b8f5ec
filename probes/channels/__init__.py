"""Inquiry channels: how a test inquiry reaches an account and how its replies come back.

``emulator`` (demo/tests), ``manual`` (an inspector sends and records), ``bridge``
(an HTTP service driving a tester device). :func:`channel_for` builds the
account's channel from the configuration.
"""

from __future__ import annotations

import os

from monitor.clock import Clock
from monitor.config import Account, Config
from monitor.netpolicy import AddressPolicy
from monitor.proxy import Proxies
from monitor.store import Store
from probes.channels.base import Channel, ChannelError, Reply, SentMessage
from probes.channels.bridge import BridgeChannel
from probes.channels.emulator import EmulatorChannel
from probes.channels.manual import ApiFor, ManualChannel, TaskDesk

__all__ = ["BridgeChannel", "Channel", "ChannelError", "EmulatorChannel", "ManualChannel", "Reply", "SentMessage",
           "TaskDesk", "channel_for"]


def channel_for(config: Config, account: Account, *, clock: Clock | None = None, store: Store | None = None,
                api_for: ApiFor | None = None) -> Channel | None:
    """The account's inquiry channel (a new object: close it with ``aclose``), None for ``none``.
    ``store`` and ``api_for`` (the round's): the manual channel's tasks and records (without a
    store it opens its own from the configuration)."""
    kind = account.inquiry.channel
    if kind == "emulator":
        return EmulatorChannel(config.emulator_base_url, timeout_s=config.wechat.timeout_s,
                               proxies=Proxies.resolve(config.http))
    if kind == "manual":
        return ManualChannel(config, store=store, clock=clock, api_for=api_for)
    if kind == "bridge":
        bridge = config.channels.bridge
        if bridge.url is None:
            raise ChannelError("channel bridge needs channels.bridge.url")
        token = os.environ.get(bridge.token_env) if bridge.token_env else None
        return BridgeChannel(bridge.url, token or None, token_env=bridge.token_env,
                             policy=AddressPolicy.from_cidrs(config.checks.allow_private),
                             proxies=Proxies.resolve(config.http))
    return None
