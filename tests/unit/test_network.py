import ipaddress

import pytest

from shipshape.domain.network import anonymize_ip, forwarded_for_chain, resolve_client_ip

TRUSTED = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8")]


@pytest.mark.parametrize(
    ("peer", "xff", "forwarded", "expected"),
    [
        ("198.51.100.1", "1.2.3.4", None, "198.51.100.1"),  # untrusted peer: header ignored
        ("127.0.0.1", "198.51.100.2", None, "198.51.100.2"),
        ("127.0.0.1", "6.6.6.6, 198.51.100.2", None, "198.51.100.2"),  # spoofed prefix ignored
        ("127.0.0.1", "198.51.100.2, 10.1.2.3", None, "198.51.100.2"),  # chain of proxies
        ("127.0.0.1", "garbage", None, "127.0.0.1"),
        ("127.0.0.1", None, 'for="[2001:db8::1]:4711";proto=https', "2001:db8::1"),
        ("127.0.0.1", None, "for=192.0.2.60;proto=http, for=10.0.0.5", "192.0.2.60"),
        ("127.0.0.1", None, None, "127.0.0.1"),
        ("::ffff:198.51.100.3", None, None, "198.51.100.3"),
        (None, "1.2.3.4", None, "unknown"),
        ("127.0.0.1", "10.0.0.1, 10.0.0.2", None, "10.0.0.1"),  # all trusted: the farthest
    ],
)
def test_resolve_client_ip(peer, xff, forwarded, expected):
    assert resolve_client_ip(peer, forwarded_for_chain(xff, forwarded), TRUSTED) == expected


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
