import ipaddress

import pytest

from shipshape.domain.network import (
    TrustedProxies,
    anonymize_ip,
    forwarded_chain,
    parse_ip,
    resolve_client_ip,
)

TRUSTED = [
    ipaddress.ip_network("127.0.0.1/32"),
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("fd00::/8"),
]
XFF, FWD = "x-forwarded-for", "forwarded"


@pytest.mark.parametrize(
    ("peer", "header", "lines", "expected"),
    [
        ("198.51.100.1", XFF, ["1.2.3.4"], "198.51.100.1"),  # untrusted peer: header ignored
        ("127.0.0.1", XFF, ["198.51.100.2"], "198.51.100.2"),
        ("127.0.0.1", XFF, ["6.6.6.6, 198.51.100.2"], "198.51.100.2"),  # spoofed prefix
        ("127.0.0.1", XFF, ["198.51.100.2, 10.1.2.3"], "198.51.100.2"),  # chain of proxies
        # Two header lines (HAProxy `option forwardfor` appends its own): joined in order,
        # so the line the proxy appended is the nearest hop and the client's line loses.
        ("127.0.0.1", XFF, ["6.6.6.6", "198.51.100.9"], "198.51.100.9"),
        ("127.0.0.1", XFF, ["6.6.6.6, 7.7.7.7", "10.0.0.3, 198.51.100.9"], "198.51.100.9"),
        ("127.0.0.1", XFF, ["garbage"], "127.0.0.1"),
        ("127.0.0.1", XFF, ["198.51.100.2, unknown"], "127.0.0.1"),  # stops at garbage
        ("127.0.0.1", XFF, ["198.51.100.2:4711"], "198.51.100.2"),  # v4 with port
        ("127.0.0.1", XFF, ["[2001:db8::1]:4711"], "2001:db8::1"),  # v6 with port
        ("127.0.0.1", XFF, ["2001:DB8:0::1"], "2001:db8::1"),  # canonical spelling
        ("127.0.0.1", XFF, ["::ffff:198.51.100.4"], "198.51.100.4"),  # v4-mapped
        ("fd00::5", XFF, ["198.51.100.2"], "198.51.100.2"),  # trusted IPv6 proxy
        ("127.0.0.1", XFF, [""], "127.0.0.1"),
        ("127.0.0.1", XFF, [], "127.0.0.1"),
        ("127.0.0.1", FWD, ['for="[2001:db8::1]:4711";proto=https'], "2001:db8::1"),
        ("127.0.0.1", FWD, ["for=192.0.2.60;proto=http, for=10.0.0.5"], "192.0.2.60"),
        ("127.0.0.1", FWD, ["for=6.6.6.6", "for=192.0.2.61"], "192.0.2.61"),  # two lines
        ("127.0.0.1", FWD, ["For = 192.0.2.62"], "192.0.2.62"),  # case, spaces
        ("127.0.0.1", FWD, ["for=192.0.2.60, by=10.0.0.1"], "127.0.0.1"),  # hidden hop
        ("127.0.0.1", FWD, ["for=_hidden"], "127.0.0.1"),  # obfuscated id
        ("::ffff:198.51.100.3", XFF, [], "198.51.100.3"),
        (None, XFF, ["1.2.3.4"], "unknown"),
        ("not-an-ip", XFF, ["1.2.3.4"], "unknown"),
        ("127.0.0.1", XFF, ["10.0.0.1, 10.0.0.2"], "10.0.0.1"),  # all trusted: the farthest
    ],
)
def test_client_ip(peer, header, lines, expected):
    chain = forwarded_chain(header, lines)
    assert TrustedProxies(TRUSTED).client_ip(peer, chain) == expected
    assert resolve_client_ip(peer, chain, TRUSTED) == expected


def test_only_the_configured_header_is_read():
    """A proxy that writes only `Forwarded` leaves a client's own X-Forwarded-For in place:
    with the header set to `forwarded`, that X-Forwarded-For is never read (and vice versa)."""
    trusted = TrustedProxies(TRUSTED)
    spoofed_xff, real_forwarded = ["6.6.6.6"], ["for=198.51.100.7"]
    assert trusted.client_ip("127.0.0.1", forwarded_chain(FWD, real_forwarded)) == ("198.51.100.7")
    # The middleware passes the lines of the configured header only; XFF lines parsed as
    # Forwarded have no `for=`, so they cannot name a client.
    assert trusted.client_ip("127.0.0.1", forwarded_chain(FWD, spoofed_xff)) == "127.0.0.1"
    assert trusted.client_ip("127.0.0.1", forwarded_chain(XFF, real_forwarded)) == "127.0.0.1"


@pytest.mark.parametrize(
    "value", ["1.2.3.4", "::1", "2001:db8::1", "::ffff:1.2.3.4", "10.0.0.1:80", "[fd00::1]:8"]
)
def test_parse_ip_agrees_with_ipaddress(value):
    bare = value.rsplit(":", 1)[0].strip("[]") if value.count(":") == 1 or "]" in value else value
    expected = ipaddress.ip_address(bare)
    if isinstance(expected, ipaddress.IPv6Address) and expected.ipv4_mapped:
        expected = expected.ipv4_mapped
    assert parse_ip(value) == expected


@pytest.mark.parametrize("value", ["", "junk", "1.2.3", "1.2.3.4.5", "999.1.1.1", "::g", "[::1"])
def test_parse_ip_rejects_garbage(value):
    assert parse_ip(value) is None


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("198.51.100.77", "198.51.100.0"),
        ("2001:db8:abcd:1234::1", "2001:db8:abcd::"),
        ("junk", "junk"),
    ],
)
def test_anonymize(ip, expected):
    assert anonymize_ip(ip) == expected


@pytest.mark.parametrize(
    "peer",
    [
        "198.51.100.1",
        "127.0.0.1",
        "0.0.0.0",
        "01.2.3.4",
        "1.2.3",
        " 1.2.3.4",
        "1.2.3.4:80",
        "256.1.1.1",
        "::ffff:198.51.100.3",
        "2001:DB8::1",
        "testclient",
        "",
        None,
    ],
)
def test_a_peer_without_forwarding_is_the_client_in_canonical_form(peer):
    """With no forwarding header the peer is the client, spelled as the address parser spells
    it (the common case skips the parse when the peer is already a canonical dotted quad)."""
    parsed = parse_ip(peer) if peer else None
    expected = "unknown" if parsed is None else str(parsed)
    assert TrustedProxies(TRUSTED).client_ip(peer, ()) == expected
    assert TrustedProxies([]).client_ip(peer, []) == expected
