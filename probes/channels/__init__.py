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
from probes.channels.base import Channel, ChannelError, Reply, SentMessage
from probes.channels.bridge import BridgeChannel
from probes.channels.emulator import EmulatorChannel
from probes.channels.manual import DEFAULT_FILE as MANUAL_FILE
from probes.channels.manual import ManualChannel, ManualLog

__all__ = ["BridgeChannel", "Channel", "ChannelError", "EmulatorChannel", "ManualChannel", "ManualLog",
           "Reply", "SentMessage", "channel_for", "manual_path"]


def manual_path(config: Config) -> str:
    """Where the manual channel keeps its tasks and records: beside accounts.yaml."""
    return str(config.config_dir / MANUAL_FILE)


def channel_for(config: Config, account: Account, *, clock: Clock | None = None) -> Channel | None:
    """The account's inquiry channel (a new object: close it with ``aclose``), None for ``none``."""
    kind = account.inquiry.channel
    if kind == "emulator":
        return EmulatorChannel(config.emulator_base_url, timeout_s=config.wechat.timeout_s,
                               proxies=Proxies.resolve(config.http))
    if kind == "manual":
        return ManualChannel(manual_path(config), clock=clock)
    if kind == "bridge":
        bridge = config.channels.bridge
        if bridge.url is None:
            raise ChannelError("channel bridge needs channels.bridge.url")
        token = os.environ.get(bridge.token_env) if bridge.token_env else None
        return BridgeChannel(bridge.url, token or None, token_env=bridge.token_env,
                             policy=AddressPolicy.from_cidrs(config.checks.allow_private),
                             proxies=Proxies.resolve(config.http))
    return None
