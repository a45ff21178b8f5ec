"""The outbound address policy: which addresses pages, redirects and channels may reach.

Anything not globally routable (loopback, private, link-local, shared, multicast,
documentation, reserved, ...) is refused unless inside a CIDR of
``checks.allow_private``. The check is made on the addresses a connection is
actually made to: :class:`PolicyResolver` filters the answer the connector gets
(and caches), so a name cannot resolve to a public address when checked and a
private one when connected (DNS rebinding). aiohttp never asks the resolver about
an IP-literal host, so callers check literal hosts themselves with
:meth:`AddressPolicy.permits_host`, for the first URL and every redirect hop.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp.abc import AbstractResolver, ResolveResult

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Written out rather than taken from ``is_global``: that property differs between
# Python releases (3.11.7 calls 224.0.0.1, fec0::1 and ::ffff:8.8.8.8 global).
# ``is_global`` is still required on top, so a newer Python can only be stricter.
_V4_NOT_GLOBAL = tuple(ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8",  # "this network", unspecified
    "10.0.0.0/8",
    "100.64.0.0/10",  # shared address space (carrier-grade NAT)
    "127.0.0.0/8",
    "169.254.0.0/16",  # link-local, cloud metadata services
    "172.16.0.0/12",
    "192.0.0.0/24",  # IETF protocol assignments
    "192.0.2.0/24",  # documentation
    "192.88.99.0/24",  # deprecated 6to4 relay anycast
    "192.168.0.0/16",
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",  # documentation
    "203.0.113.0/24",  # documentation
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, broadcast
))
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_V6_NOT_GLOBAL = tuple(ipaddress.IPv6Network(n) for n in (
    "2001::/23",  # IETF protocol assignments, Teredo included
    "2001:db8::/32",  # documentation
    "3fff::/20",  # documentation
))
_V4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known NAT64 prefix: public v4 behind it is public
_SIXTOFOUR = ipaddress.IPv6Network("2002::/16")
_IPV4_CHARS = frozenset("0123456789abcdefABCDEFxX.")  # all an IPv4 literal, in any spelling, is made of


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for or carries (mapped, compatible, NAT64, 6to4)."""
    if ip in _V4_MAPPED:
        return ip.ipv4_mapped
    low = int(ip) & 0xFFFFFFFF
    if ip in _NAT64 or (int(ip) >> 32 == 0 and low > 1):  # NAT64 or IPv4-compatible (::a.b.c.d)
        return ipaddress.IPv4Address(low)
    if ip in _SIXTOFOUR:
        return ip.sixtofour
    return None


def is_public(ip: IPAddress) -> bool:
    """Whether ``ip`` is globally routable, judging an embedded IPv4 address as well."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip.is_global and not any(ip in net for net in _V4_NOT_GLOBAL)
    inner = embedded_ipv4(ip)
    if ip in _V4_MAPPED or ip in _NAT64:
        return inner is not None and is_public(inner)  # the v4 address is what is reached
    if inner is not None and not is_public(inner):
        return False
    # Only 2000::/3 is allocated as global unicast; the rest (::/8 with IPv4-compatible and
    # SIIT forms, fc00::/7, fe80::/10, fec0::/10, ff00::/8, 100::/64, 5f00::/16 ...) is not.
    return (ip in _V6_GLOBAL_UNICAST and ip.is_global and not ip.is_multicast
            and not any(ip in net for net in _V6_NOT_GLOBAL))


def parse_ip(text: str) -> IPAddress | None:
    """An IP address from a URL host or a resolver answer (brackets, zone ids allowed), else None."""
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def literal_ip(host: str) -> IPAddress | None:
    """The address an IP-literal URL host names, legacy IPv4 forms included, else None (a name)."""
    if ":" not in host and not _IPV4_CHARS.issuperset(host):
        return None  # hot path: nearly every host is a name such as www.example.gov.cn
    address = parse_ip(host)
    if address is not None:
        return address
    try:
        # 127.1, 0x7f.0.0.1, 2130706433, 017700000001: browsers and libc read these as IPv4
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class AddressPolicy:
    """Refuse every address that is not public, except those inside ``allow``."""

    allow: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_cidrs(cls, cidrs: Iterable[str]) -> AddressPolicy:
        return cls(tuple(ipaddress.ip_network(c, strict=False) for c in cidrs))

    def permits(self, ip: IPAddress | str) -> bool:
        address = parse_ip(ip) if isinstance(ip, str) else ip
        if address is None:
            return False
        if is_public(address):
            return True
        forms: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address):
            if address.scope_id:
                forms[0] = ipaddress.IPv6Address(str(address).split("%", 1)[0])
            if address.ipv4_mapped is not None:
                # the one form that reaches the IPv4 address itself: 127.0.0.1/32 allows ::ffff:127.0.0.1
                # (IPv4-compatible, 6to4 and NAT64 forms go elsewhere: they are allowed only as written)
                forms.append(address.ipv4_mapped)
        return any(f.version == net.version and f in net for f in forms for net in self.allow)

    def permits_host(self, host: str | None) -> bool | None:
        """For an IP-literal URL host: whether it may be reached; None for a name (see the resolver)."""
        if not host:
            return None
        address = literal_ip(host)
        if address is None:
            # An IPv6-looking host we cannot read is never passed on to be connected to.
            return False if ":" in host else None
        return self.permits(address)


class AddressRefused(OSError):
    """Every address the host resolved to is refused by the policy: nothing was connected to."""

    def __init__(self, host: str, addresses: Iterable[str]) -> None:
        self.host = host
        self.addresses = tuple(addresses)
        super().__init__(f"{host}: address refused by the outbound address policy "
                         f"({', '.join(self.addresses) or 'no address'}; see checks.allow_private)")


def refusal_in(exc: BaseException | None) -> AddressRefused | None:
    """The :class:`AddressRefused` behind ``exc`` (aiohttp and httpx wrap it), if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, AddressRefused):
            return exc
        seen.add(id(exc))
        exc = getattr(exc, "os_error", None) or exc.__cause__ or exc.__context__
    return None


class PolicyResolver(AbstractResolver):
    """The default resolver's answer without the refused addresses; raises when none is left."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        from aiohttp.resolver import DefaultResolver

        self.policy = policy
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        kept = [a for a in answers if self.policy.permits(a["host"])]
        if not kept:
            raise AddressRefused(host, [a["host"] for a in answers])
        return kept

    async def close(self) -> None:
        await self._inner.close()
