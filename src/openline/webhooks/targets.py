"""Which URLs openline will send webhooks to.

HTTPS always; plain HTTP only to loopback unless allowed. Hosts that resolve into
private, link-local, carrier-grade NAT or cloud-metadata ranges are refused unless
allowed, so a webhook cannot be used to reach a network openline sits in. The check
runs when a webhook is saved and again, on the resolved addresses, before each send.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


class TargetRefused(ValueError):
    """The URL is not an allowed webhook target; the message says why."""


@dataclass(frozen=True)
class TargetPolicy:
    allow_http: bool = False
    allow_private: bool = False


def check_url(url: str, policy: TargetPolicy) -> None:
    """Refuse what can be judged from the URL alone."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise TargetRefused("must not carry credentials; the secret header authenticates")
    literal = _ip_or_none(parts.hostname)
    if literal is not None:
        _check_address(literal, parts.scheme, policy)
    elif parts.scheme == "http" and not policy.allow_http and parts.hostname != "localhost":
        raise TargetRefused("plain http is only allowed to loopback; use https")


async def check_resolved(url: str, policy: TargetPolicy) -> None:
    """Refuse a host whose addresses (as resolved now) fall in a refused range."""
    check_url(url, policy)
    parts = urlsplit(url)
    if _ip_or_none(parts.hostname) is not None:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname,
            parts.port or (443 if parts.scheme == "https" else 80),
            type=socket.SOCK_STREAM,
        )
    except socket.gaierror as error:
        raise TargetRefused(f"cannot resolve {parts.hostname}: {error}") from error
    for info in infos:
        _check_address(ipaddress.ip_address(info[4][0]), parts.scheme, policy)


def _check_address(address, scheme: str, policy: TargetPolicy) -> None:
    if address.is_loopback:
        return  # local development receivers
    if scheme == "http" and not policy.allow_http:
        raise TargetRefused("plain http is only allowed to loopback; use https")
    if policy.allow_private:
        return
    if (
        address.is_link_local
        or address.is_private
        or address.is_reserved
        or (address.is_multicast or address.is_unspecified or address in _CGNAT)
    ):
        raise TargetRefused(f"{address} is in a private, link-local or metadata range")


_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def _ip_or_none(host: str | None):
    try:
        return ipaddress.ip_address((host or "").strip("[]"))
    except ValueError:
        return None
