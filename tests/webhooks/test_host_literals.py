"""Hosts written as numbers are read the way resolvers read them: every spelling of an
address libc's inet_aton (behind getaddrinfo, and so httpx) accepts is that address here."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from openline.webhooks.host_literals import NotAnAddress, literal_address, parse_ipv4
from openline.webhooks.targets import private_kind


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2852039166", "169.254.169.254"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("0XA9FEA9FE", "169.254.169.254"),
        ("169.254.43518", "169.254.169.254"),
        ("169.16689662", "169.254.169.254"),
        ("10.1", "10.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x", "0.0.0.0"),
        ("127.0.0.1.", "127.0.0.1"),  # the root's trailing dot
        ("8.8.8.8", "8.8.8.8"),
    ],
)
def test_numeric_spellings_are_addresses(host, address):
    assert literal_address(host) == ipaddress.IPv4Address(address)


@pytest.mark.parametrize(
    "host", ["hooks.example.com", "1e100.net", "0x7f.example", "localhost", "a.0x1g", "example."]
)
def test_names_are_names(host):
    assert literal_address(host) is None


@pytest.mark.parametrize(
    "host",
    ["1.2.3.256", "1.2.3.4.5", "256.1", "08.1", "1.09", "0x100.1", "4294967296", "1..2", "a.1"],
)
def test_a_host_ending_in_a_number_must_be_a_valid_address(host):
    """Nothing resolves these (no top-level domain is a number): refused, not looked up."""
    with pytest.raises(NotAnAddress, match="is not a valid IPv4 address"):
        literal_address(host)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("fe80::1%25eth0", "fe80::1%25eth0"),
    ],
)
def test_ipv6_literals(host, address):
    assert literal_address(host) == ipaddress.IPv6Address(address)


def test_a_malformed_ipv6_literal_is_refused():
    with pytest.raises(NotAnAddress, match="is not a valid IPv6 address"):
        literal_address("::ffff:0x7f.1")


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd00:ec2::254", "private"),
        ("169.254.169.254", "link-local"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 around 169.254.169.254
        ("fe80::1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
    ],
)
def test_what_counts_as_private(address, kind):
    assert private_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    "address",
    [
        "240.0.0.1",  # reserved
        "255.255.255.255",  # broadcast
        "192.0.2.1",  # documentation
        "198.18.0.1",  # benchmarking
        "::127.0.0.1",  # IPv4-compatible (deprecated)
        "2001:db8::1",  # documentation
    ],
)
def test_special_purpose_ranges_are_not_public(address):
    """Which word Python's tables give these varies between versions; refused either way."""
    assert private_kind(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "93.184.215.14", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses_are_public(address):
    assert private_kind(ipaddress.ip_address(address)) is None


@st.composite
def spelled(draw, number: int) -> str:
    """``number`` in decimal, octal or hex, with or without extra leading zeros."""
    radix = draw(st.sampled_from(["decimal", "octal", "hex"]))
    if radix == "decimal":
        return str(number)  # a leading zero would make it octal
    zeros = "0" * draw(st.integers(0, 3))
    if radix == "octal":
        return "0" + zeros + format(number, "o")
    prefix = draw(st.sampled_from(["0x", "0X"]))
    return prefix + zeros + format(number, draw(st.sampled_from(["x", "X"])))


@st.composite
def spellings(draw) -> tuple[ipaddress.IPv4Address, str]:
    """An address and one way of writing it: one to four parts, the last filling the rest."""
    address = ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1)))
    count = draw(st.integers(1, 4))
    packed = address.packed
    numbers = [*packed[: count - 1], int.from_bytes(packed[count - 1 :], "big")]
    parts = [draw(spelled(number)) for number in numbers]
    return address, ".".join(parts) + draw(st.sampled_from(["", "."]))


@given(spellings())
def test_every_spelling_of_an_address_is_that_address(spelling):
    address, host = spelling
    assert parse_ipv4(host) == address


# Strings shaped like addresses, some of them not quite: what a resolver could be fed.
NUMBERISH_PART = st.one_of(
    st.text(alphabet="0123456789", min_size=1, max_size=11),  # decimal, or octal if 0…
    st.text(alphabet="01234567", max_size=11).map("0".__add__),  # octal
    st.text(alphabet="0123456789abcdefABCDEF", max_size=9).map("0x".__add__),  # hex
    st.text(alphabet="0123456789abcdefxX", max_size=6),  # mostly garbage
)
NUMBERISH = st.lists(NUMBERISH_PART, min_size=1, max_size=5).map(".".join)


@given(NUMBERISH)
@example("0x0.0x.1")
@example("1.2.3.4.")
@example("0251.0376.0251.0376")
def test_libc_and_we_read_the_same_address(host):
    try:
        libc = ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        libc = None  # a name to libc: looked up, and its addresses checked then
    try:
        ours = parse_ipv4(host)
    except NotAnAddress:
        ours = None
    if libc is None and ours is not None:
        # The URL standard reads a little more than libc: a bare "0x" (zero) and one
        # trailing dot. Refusing those as addresses is the safe side.
        assert host.endswith(".") or {"0x", "0X"} & set(host.split(".")), host
    else:
        assert ours == libc
