"""Which address a URL host names when it is written as a number.

Resolvers read more than dotted decimal: libc's ``inet_aton`` (which ``getaddrinfo``,
and so httpx, uses) and browsers' URL parsers take ``2852039166``,
``0xa9.0xfe.0xa9.0xfe``, ``0251.0376.0251.0376`` and ``10.1`` as addresses.
``ipaddress`` reads only dotted decimal, so a check built on it alone would take these
for names and let them through.
"""

from __future__ import annotations

import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_DIGITS = {
    8: frozenset("01234567"),
    10: frozenset("0123456789"),
    16: frozenset("0123456789abcdefABCDEF"),
}


class NotAnAddress(ValueError):
    """The host is written as an address but is not a valid one (``1.2.3.256``)."""


def literal_address(host: str) -> Address | None:
    """The address ``host`` (a URL's hostname, brackets optional) spells, or None for a name."""
    if host.startswith("[") or ":" in host:
        try:
            return ipaddress.IPv6Address(host.removeprefix("[").removesuffix("]"))
        except ValueError:
            raise NotAnAddress(f"{host} is not a valid IPv6 address") from None
    return parse_ipv4(host)


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Read ``host`` as the WHATWG URL standard's IPv4 parser does.

    That is what ``inet_aton`` accepts (one to four parts, each decimal, ``0``-prefixed
    octal or ``0x``-prefixed hex; the last part fills the remaining bytes), plus one
    trailing dot and a bare ``0x``: a superset, so nothing a resolver reads as an
    address passes here as a name. None when the last part is not a number (a name);
    NotAnAddress when it is but the whole is not a valid address.
    """
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    last = parts[-1]
    if _number(last) is None and not (last and set(last) <= _DIGITS[10]):
        return None
    numbers = [number for number in map(_number, parts) if number is not None]
    if (
        len(parts) > 4
        or len(numbers) < len(parts)  # a part that is not a number
        or any(number > 255 for number in numbers[:-1])
        or numbers[-1] >= 256 ** (5 - len(numbers))
    ):
        raise NotAnAddress(f"{host} is not a valid IPv4 address")
    value = numbers[-1]
    for position, number in enumerate(numbers[:-1]):
        value += number << (8 * (3 - position))
    return ipaddress.IPv4Address(value)


def _number(part: str) -> int | None:
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    if not digits:
        return 0 if base == 16 else None  # "0x" is zero; an empty part is nothing
    if not set(digits) <= _DIGITS[base]:
        return None
    return int(digits, base)
