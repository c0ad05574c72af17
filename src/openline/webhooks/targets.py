"""Which URLs openline will send webhooks to.

HTTPS always; plain HTTP only to loopback unless allowed. Hosts in loopback, private,
link-local (cloud metadata), carrier-grade NAT, multicast or reserved ranges are refused
unless the operator allows private targets, so a key holder cannot point a webhook at
services on openline's own machine or network. The check runs when a webhook is saved
(the URL, with numeric disguises of addresses read as resolvers read them) and again, on
the addresses the host resolves to then, before each send: DNS can change after a save.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from openline.webhooks.host_literals import Address, NotAnAddress, literal_address

PRIVATE_SETTING = "OPENLINE_WEBHOOK_ALLOW_PRIVATE"
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_NAME = re.compile(r"[a-z0-9._-]+")


class TargetRefused(ValueError):
    """The URL is not an allowed webhook target; the message says why."""


@dataclass(frozen=True)
class TargetPolicy:
    allow_http: bool = False
    allow_private: bool = False  # loopback included: the operator's choice, off by default


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # as resolvers see it: ASCII, lower case
    port: int
    address: Address | None  # when the host is written as an address


def check_url(url: str, policy: TargetPolicy) -> None:
    """Refuse what can be judged from the URL alone."""
    _target(url, policy)


async def check_resolved(url: str, policy: TargetPolicy) -> None:
    """Refuse a host whose addresses (as resolved now) fall in a refused range."""
    target = _target(url, policy)
    if target.address is not None:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM
        )
    except socket.gaierror as error:
        raise TargetRefused(f"cannot resolve {target.host}: {error}") from error
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        _check_address(address, f"{target.host} resolves to {address},", target.scheme, policy)


def private_kind(address: Address) -> str | None:
    """What makes ``address`` private ("loopback", "link-local", …), or None if public."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return private_kind(address.ipv4_mapped)
        embedded = _embedded_ipv4(address)
        if embedded is not None and (kind := private_kind(embedded)):
            return kind
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address in _CGNAT:
        return "carrier-grade NAT"
    if address.is_private:
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


def _target(url: str, policy: TargetPolicy) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise TargetRefused(f"is not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise TargetRefused("must not carry credentials; the secret header authenticates")
    host = _ascii_host(parts.hostname)
    try:
        address = literal_address(host)
    except NotAnAddress as error:
        raise TargetRefused(str(error)) from None
    if address is not None:
        disguised = address.version == 4 and host.rstrip(".") != str(address)
        shown = f"{host} is {address}," if disguised else f"{host} is"
        _check_address(address, shown, parts.scheme, policy)
    elif host.rstrip(".") == "localhost" or host.rstrip(".").endswith(".localhost"):
        # Always loopback (RFC 6761), whatever DNS says: refused here, not only at send.
        _check_address(ipaddress.IPv4Address("127.0.0.1"), f"{host} is", parts.scheme, policy)
    elif parts.scheme == "http" and not policy.allow_http:
        raise TargetRefused("plain http is only allowed to loopback; use https")
    return _Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), address)


def _ascii_host(host: str) -> str:
    """The host as a resolver gets it. IDNA maps look-alikes (fullwidth digits,
    ideographic full stops) to ASCII, so ``１２７。０。０。１`` is 127.0.0.1 here too."""  # noqa: RUF002 (the look-alikes are the point)
    try:
        ascii_host = host if host.isascii() else host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise TargetRefused(f"{host} is not a valid host name") from None
    if not _HOST_NAME.fullmatch(ascii_host) and ":" not in ascii_host:
        raise TargetRefused(f"{host} is not a valid host name")
    return ascii_host


def _check_address(address: Address, shown: str, scheme: str, policy: TargetPolicy) -> None:
    """``shown`` starts the refusal: "10.0.0.1 is", "hooks.example.com resolves to 10.0.0.1,"."""
    kind = private_kind(address)
    if kind is not None and not policy.allow_private:
        article = "an" if kind[0] in "aeiou" else "a"
        raise TargetRefused(
            f"{shown} {article} {kind} address; private targets are refused unless the "
            f"operator sets {PRIVATE_SETTING}=true"
        )
    if scheme == "http" and kind != "loopback" and not policy.allow_http:
        raise TargetRefused("plain http is only allowed to loopback; use https")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a 6to4, Teredo or NAT64 address routes to."""
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None
